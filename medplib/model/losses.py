"""Segmentation losses of the original (architecture.md §6); each returns the mean over masks.

All take `logits` and `targets` of shape [n, H, W] (targets in {0, 1}).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mask_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(1).mean(1).mean()


def mask_dice(logits: torch.Tensor, targets: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    p, t = logits.sigmoid().flatten(1), targets.flatten(1)
    return (1 - (2 * (p * t).sum(-1) + eps) / (p.sum(-1) + t.sum(-1) + eps)).mean()


def mask_focal(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    p, t = logits.sigmoid().flatten(1), targets.flatten(1)
    ce = F.binary_cross_entropy_with_logits(logits.flatten(1), t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    return ((alpha * t + (1 - alpha) * (1 - t)) * ce * (1 - p_t) ** gamma).flatten(1).mean(1).mean()


def mask_iou_head(logits: torch.Tensor, targets: torch.Tensor, iou_pred: torch.Tensor) -> torch.Tensor:
    """Squared error between the IoU head's prediction [n] and the soft IoU of sigmoid(logits) with targets."""
    p, t = logits.sigmoid().flatten(1), targets.flatten(1)
    inter = (p * t).sum(-1)
    soft_iou = inter / (p.sum(-1) + t.sum(-1) - inter).clamp_min(1e-12)
    return ((iou_pred.flatten() - soft_iou) ** 2).mean()
