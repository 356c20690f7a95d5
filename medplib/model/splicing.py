"""Multimodal input splicing: image patches and region vectors in place of their placeholder ids, batch padding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX, REGION_TOKEN_INDEX

if TYPE_CHECKING:
    from .modeling import MedPLIBModel


@dataclass
class MultimodalInputs:
    """A batch after splicing: image patches and region vectors replace their placeholder ids."""

    inputs_embeds: torch.Tensor  # [B, N, H]
    attention_mask: torch.Tensor  # [B, N] bool
    labels: torch.Tensor | None  # [B, N]
    expanded_ids: torch.Tensor  # [B, N]: token ids, IMAGE/REGION placeholders, pad id after the end


def splice_sample(
    model: MedPLIBModel,
    b: int,
    sample_ids: torch.Tensor,
    sample_mask: torch.Tensor,
    sample_labels: torch.Tensor | None,
    regions,
    image_features: tuple[torch.Tensor, torch.Tensor] | None,
    image_index: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, bool]:
    """Sample `b` -> (embeds [N, H], mask [N], labels [N] or None, expanded ids [N], whether it used an image).

    `regions`: its region masks ([n, g, g] or a list of [g, g]) or None; `image_index`: its row of `image_features`.
    """
    text = model.embed_text(sample_ids)
    region_pos = (sample_ids == REGION_TOKEN_INDEX).nonzero(as_tuple=True)[0]
    n_regions = 0 if regions is None else len(regions)
    if len(region_pos) != n_regions:
        raise ValueError(
            f"sample {b}: the prompt has {len(region_pos)} <region> placeholder(s) but {n_regions} region "
            "mask(s) were given"
        )
    image_pos = (sample_ids == IMAGE_TOKEN_INDEX).nonzero(as_tuple=True)[0]
    if len(image_pos) > 1:
        raise ValueError(f"sample {b}: only one <image> per sample is supported, found {len(image_pos)}")
    if len(image_pos) == 0:
        if n_regions:
            raise ValueError(f"sample {b}: <region> placeholders need an image")
        return text, sample_mask, sample_labels, sample_ids, False
    q = int(image_pos[0])
    if n_regions and bool((region_pos < q).any()):
        raise ValueError(f"sample {b}: a <region> placeholder comes before the image")
    patch_features, projected = image_features[0][image_index], image_features[1][image_index]
    n_patches = projected.shape[0]
    device = text.device
    seq = torch.cat([text[:q], projected.to(device, text.dtype), text[q + 1 :]])
    if n_regions:
        rmasks = torch.stack(list(regions)) if not torch.is_tensor(regions) else regions
        vectors = model.region_features(patch_features, rmasks).to(device, text.dtype)
        seq = seq.index_put((region_pos.to(device) + n_patches - 1,), vectors)
    mask = torch.cat([sample_mask[:q], sample_mask.new_ones(n_patches), sample_mask[q + 1 :]])
    ids = torch.cat([sample_ids[:q], sample_ids.new_full((n_patches,), IMAGE_TOKEN_INDEX), sample_ids[q + 1 :]])
    lab = None
    if sample_labels is not None:
        lab = torch.cat([sample_labels[:q], sample_labels.new_full((n_patches,), IGNORE_INDEX), sample_labels[q + 1 :]])
        lab = lab.masked_fill(ids == REGION_TOKEN_INDEX, IGNORE_INDEX)
    return seq, mask, lab, ids, True


def pad_batch(embeds: list, masks: list, labs: list, ids: list, pad_id: int, with_labels: bool) -> MultimodalInputs:
    """Right-pad the spliced samples to the longest and stack them (labels only `with_labels`)."""
    length = max(e.shape[0] for e in embeds)

    def pad(t: torch.Tensor, value) -> torch.Tensor:
        return F.pad(t, (0, 0, 0, length - t.shape[0])) if t.dim() == 2 else F.pad(t, (0, length - t.shape[0]), value=value)

    return MultimodalInputs(
        inputs_embeds=torch.stack([pad(e, 0) for e in embeds]),
        attention_mask=torch.stack([pad(m.to(embeds[0].device), False) for m in masks]),
        labels=torch.stack([pad(l.to(embeds[0].device), IGNORE_INDEX) for l in labs]) if with_labels else None,
        expanded_ids=torch.stack([pad(i.to(embeds[0].device), pad_id) for i in ids]),
    )
