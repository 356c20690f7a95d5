"""Turn MeCoVQA-style samples into model batches (prompt ids, labels, CLIP / SAM pixels, region grids, GT masks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..constants import IGNORE_INDEX
from ..data import Sample
from ..processing import MedPLIBProcessor, build_labels, build_prompt, encode_prompt, region_grid


@dataclass
class EncodedSample:
    input_ids: torch.Tensor  # [T] compressed ids (-200 image, -300 regions)
    labels: torch.Tensor  # [T]
    pixel_values: torch.Tensor | None  # [3, C, C]; None once replaced by clip_features
    sam_pixel_values: torch.Tensor | None  # [3, S, S]; None once replaced by sam_embedding
    sam_resized_hw: tuple[int, int]
    region_masks: torch.Tensor | None  # [n, g, g] in prompt order
    seg_masks: torch.Tensor | None  # [n, H, W] float, one per <SEG>
    kind: str
    image_key: str = ""  # samples with the same key share one image
    clip_features: torch.Tensor | None = None  # [P, Dv] output of a frozen vision tower
    sam_embedding: torch.Tensor | None = None  # [C, g, g] output of a frozen SAM image encoder


def encode_sample(sample: Sample, processor: MedPLIBProcessor) -> EncodedSample:
    """Single-turn training example in the Vicuna-v1 template with the original label masking."""
    prepared = processor.prepare_image(sample.load_image())
    prompt = build_prompt([(sample.question, sample.answer)], processor.system)
    tok, strip = processor.tokenizer, processor.strip_whitespace
    ids = encode_prompt(tok, prompt, strip_whitespace=strip)
    labels = build_labels(prompt, tok, strip_whitespace=strip)
    if all(label == IGNORE_INDEX for label in labels):
        raise ValueError(f"sample {sample.id}: label masking failed (prompt/answer tokenisation mismatch)")
    regions = None
    if sample.region_masks:
        regions = torch.stack([region_grid(m, processor.clip_image_size, processor.patch_size) for m in sample.region_masks])
    segs = torch.from_numpy(np.stack(sample.seg_masks).astype(np.float32)) if sample.seg_masks else None
    return EncodedSample(
        input_ids=torch.tensor(ids), labels=torch.tensor(labels), pixel_values=prepared.pixel_values[0],
        sam_pixel_values=prepared.sam_pixel_values[0], sam_resized_hw=prepared.sam_resized_hw,
        region_masks=regions, seg_masks=segs, kind=sample.kind, image_key=sample.image_path or sample.id,
    )


@torch.no_grad()
def cache_tower_outputs(encoded: list[EncodedSample], model, batch_size: int = 64) -> None:
    """Run the (frozen) CLIP and SAM encoders once per image and keep their outputs in place of the pixels, so
    that training steps skip both encoders. Only valid while the encoders stay frozen."""
    by_image: dict[str, list[EncodedSample]] = {}
    for e in encoded:
        by_image.setdefault(e.image_key, []).append(e)
    groups = list(by_image.values())
    device = next(model.parameters()).device
    for start in range(0, len(groups), batch_size):
        chunk = groups[start : start + batch_size]
        clip = model.model.encode_image(torch.stack([g[0].pixel_values for g in chunk]).to(device))[0].cpu()
        sam = model.model.encode_sam(torch.stack([g[0].sam_pixel_values for g in chunk]).to(device)).cpu()
        for k, group in enumerate(chunk):
            for e in group:
                e.clip_features, e.sam_embedding = clip[k], sam[k]
                e.pixel_values = e.sam_pixel_values = None


def collate(batch: list[EncodedSample], pad_id: int = 0) -> dict:
    """Right-padded batch in the keyword form `MedPLIBForCausalLM.forward` takes."""
    length = max(len(s.input_ids) for s in batch)
    ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), length), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), length), dtype=torch.bool)
    for i, s in enumerate(batch):
        n = len(s.input_ids)
        ids[i, :n], labels[i, :n], mask[i, :n] = s.input_ids, s.labels, True
    cached = all(s.clip_features is not None for s in batch)
    out = {"input_ids": ids, "labels": labels, "attention_mask": mask, "region_masks": [s.region_masks for s in batch]}
    if cached:
        out["clip_features"] = torch.stack([s.clip_features for s in batch])
    else:
        out["pixel_values"] = torch.stack([s.pixel_values for s in batch])
    if any(s.seg_masks is not None for s in batch):
        out.update(seg_masks=[s.seg_masks for s in batch], sam_resized_hw=[s.sam_resized_hw for s in batch])
        if cached:
            out["sam_image_embeddings"] = torch.stack([s.sam_embedding for s in batch])
        else:
            out["sam_pixel_values"] = torch.stack([s.sam_pixel_values for s in batch])
    return out
