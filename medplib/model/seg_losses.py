"""The training-side SEG -> mask chain: hidden states at <SEG>, one batched SAM decode, weighted mask losses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .configuration import MedPLIBConfig
from .losses import mask_bce, mask_dice, mask_focal, mask_iou_head
from .sam import postprocess_masks

if TYPE_CHECKING:
    from .modeling import MedPLIBModel


def gather_seg_states(hidden: torch.Tensor, selected: torch.Tensor, seg_masks: list) -> tuple[list, list[int]]:
    """-> (per sample the hidden states [n_i, H] that predict its <SEG>s, the owning sample of every mask);
    checks one <SEG> per GT mask."""
    states, owners = [], []
    for b, gt in enumerate(seg_masks):
        found = hidden[b][selected[b].to(hidden.device)]
        wanted = 0 if gt is None else len(gt)
        if found.shape[0] != wanted:
            raise ValueError(f"sample {b}: {found.shape[0]} <SEG> token(s) but {wanted} GT mask(s)")
        states.append(found)
        owners += [b] * wanted
    return states, owners


def decode_seg_masks(model: MedPLIBModel, cfg: MedPLIBConfig, states: list, owners: list[int], seg_masks: list,
                     sam_pixel_values, sam_image_embeddings, sam_resized_hw):
    """-> (per-sample mask logits at the GT size or None, per-sample IoU predictions or None,
    logits / targets / IoU predictions of the samples with masks, in order)."""
    with_masks = sorted(set(owners))
    preds: list = [None] * len(seg_masks)
    ious: list = [None] * len(seg_masks)
    all_logits, all_targets, all_iou = [], [], []
    if with_masks:
        if sam_image_embeddings is None:
            if sam_pixel_values is None:
                raise ValueError("seg_masks need sam_pixel_values or sam_image_embeddings")
            # Only the samples that have masks go through the SAM encoder.
            embeddings = model.encode_sam(sam_pixel_values[with_masks])
        else:
            embeddings = sam_image_embeddings[with_masks]
        # Every mask of the batch goes through the decoder in one call, then is un-padded per sample.
        per_mask = embeddings[[with_masks.index(b) for b in owners]]
        prompts = model.seg_projector(torch.cat(states))
        low_res, iou = model.sam.decode(per_mask, prompts, multimask_output=False)
        start = 0
        for b in with_masks:
            gt = torch.as_tensor(seg_masks[b])
            n = gt.shape[0]
            logits = postprocess_masks(
                low_res[start : start + n], tuple(sam_resized_hw[b]), tuple(gt.shape[-2:]),
                mode=cfg.mask_postprocess, image_size=cfg.sam.image_size,
            )[:, 0]
            preds[b], ious[b] = logits, iou[start : start + n, 0]
            all_logits.append(logits)
            all_targets.append(gt.to(logits.device, logits.dtype))
            all_iou.append(ious[b])
            start += n
    return preds, ious, all_logits, all_targets, all_iou


def weighted_mask_losses(cfg: MedPLIBConfig, hidden: torch.Tensor, all_logits: list, all_targets: list,
                         all_iou: list) -> dict:
    """The config-weighted bce / dice / focal / iou losses, their sum ("mask_loss") and the "unscaled" ones;
    zeros tied to `hidden` when no sample has a mask."""
    if not all_logits:
        zero = hidden.sum() * 0.0
        unscaled = {k: zero for k in ("bce", "dice", "focal", "iou")}
    else:
        # Masks of different samples can differ in size: mean per sample, weighted by its mask count.
        counts = torch.tensor([l.shape[0] for l in all_logits], dtype=torch.float32, device=hidden.device)
        weights = counts / counts.sum()

        def weighted(values: list[torch.Tensor]) -> torch.Tensor:
            return (torch.stack(values).to(weights.device) * weights).sum()

        unscaled = {
            "bce": weighted([mask_bce(l, t) for l, t in zip(all_logits, all_targets)]),
            "dice": weighted([mask_dice(l, t) for l, t in zip(all_logits, all_targets)]),
            "focal": weighted([mask_focal(l, t) for l, t in zip(all_logits, all_targets)]),
            "iou": weighted([mask_iou_head(l, t, i) for l, t, i in zip(all_logits, all_targets, all_iou)]),
        }
    losses = {
        "bce": cfg.bce_loss_weight * unscaled["bce"],
        "dice": cfg.dice_loss_weight * unscaled["dice"],
        "focal": cfg.focal_loss_weight * unscaled["focal"],
        "iou": cfg.iou_loss_weight * unscaled["iou"],
    }
    losses["mask_loss"] = losses["bce"] + losses["dice"] + losses["focal"] + losses["iou"]
    losses["unscaled"] = unscaled
    return losses
