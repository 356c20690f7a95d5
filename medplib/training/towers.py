"""Stage 1 stand-in for small models: pretrain the two image encoders on dense phantom labels.

The 7B starts from pretrained encoders (OpenAI CLIP ViT-L/14-336 and SAM-Med2D ViT-B) and keeps them frozen
through every stage (architecture.md §9). No pretrained encoders exist at tiny size, so this stage gives them features
before the language model sees them: each encoder predicts, for every patch of its own grid, which phantom
structures cover that patch (area fractions and any-pixel flags; soft-target BCE), which instances are centred
there, whether the patch is abnormal, the image's modality and the patch's own position; CLIP also learns
image-level facts in every patch (which structures are present, where they lie, whether anything is abnormal),
standing in for what CLIP's image-text pretraining gives the 7B. The prediction heads
are thrown away afterwards; later stages keep the encoders frozen, as the original does. Needs label maps, so it
runs on synthetic phantoms only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..synthetic import MODALITIES, STRUCTURE_INFO, Case, image_path, iter_cases
from ..model.modeling import MedPLIBForCausalLM
from ..processing import MedPLIBProcessor
from .data import ImageInputs

# Per patch: the area fraction of each structure and of "abnormal"; the same as any-pixel flags (a small lesion
# still registers); whether an instance's centroid falls in the patch (a count is then a sum over patches); the
# image's modality (constant); the patch's own x / y position. Then image-level facts, the same in every patch (the
# job CLIP's image-text pretraining does for the 7B): which structures the image holds, whether anything is
# abnormal, and the share of each structure lying in the right / lower half of the image (0.5 when absent). Left to
# the language model, finding a structure's patches and reading their position from 1-2 % of the questions stayed
# at chance (eye 0/4, side 0.58 at commit b3a7504, although a probe reads the patch position at R² 0.97).
_STRUCTURES = tuple(STRUCTURE_INFO)
_GLOBAL_NAMES: tuple[str, ...] = (tuple(f"image:{n}" for n in _STRUCTURES + ("abnormal",))
                                  + tuple(f"right:{n}" for n in _STRUCTURES) + tuple(f"lower:{n}" for n in _STRUCTURES))
TARGET_NAMES: tuple[str, ...] = (_STRUCTURES + ("abnormal",) + tuple(f"modality:{m}" for m in MODALITIES)
                                 + tuple(f"any:{n}" for n in _STRUCTURES + ("abnormal",))
                                 + tuple(f"centre:{n}" for n in _STRUCTURES) + ("x", "y") + _GLOBAL_NAMES)
# SAM's encoder (64 channels at tiny size) learns the per-patch labels only: with the image facts as well, masks lost
# 0.09 mDice (0.900 -> 0.811), while the LLM reads its image facts from CLIP alone.
N_LOCAL = len(TARGET_NAMES) - len(_GLOBAL_NAMES)
# Parameter-name prefixes of the two encoders (frozen after this stage, like the original's CLIP and SAM encoder).
TOWER_PREFIXES: tuple[str, ...] = ("model.vision_tower.", "model.sam.image_encoder.")


def _centres(masks: list[np.ndarray], grid: int) -> np.ndarray:
    """[grid, grid] 1 where some mask's centroid lies."""
    out = np.zeros((grid, grid), np.float32)
    for m in masks:
        ys, xs = np.nonzero(m)
        if ys.size:
            out[min(grid - 1, int(ys.mean() * grid / m.shape[0])), min(grid - 1, int(xs.mean() * grid / m.shape[1]))] = 1
    return out


def _fill_image_facts(out: np.ndarray, case: Case) -> None:
    """Write the image-level channels of TARGET_NAMES (constant over the grid) into `out` [K, g, g]."""
    half = case.image.shape[0] // 2
    for name in _STRUCTURES:
        mask = case.structures.get(name)
        present = mask is not None and mask.any()
        out[TARGET_NAMES.index(f"image:{name}")] = float(present)
        out[TARGET_NAMES.index(f"right:{name}")] = mask[:, half:].sum() / mask.sum() if present else 0.5
        out[TARGET_NAMES.index(f"lower:{name}")] = mask[half:].sum() / mask.sum() if present else 0.5
    out[TARGET_NAMES.index("image:abnormal")] = float(any(case.is_abnormal(n) for n in case.structures))


def dense_targets(case: Case, grid: int, image_facts: bool = True) -> torch.Tensor:
    """[K, grid, grid] per-patch targets in [0, 1], K = len(TARGET_NAMES) (see there), or only the first N_LOCAL
    (the per-patch labels) without `image_facts`.

    The phantom is square and both processors resize it onto the whole input, so the patch grid tiles the image.
    """
    if case.image.shape[0] != case.image.shape[1]:
        raise ValueError("dense targets need a square phantom")
    n = len(_STRUCTURES)
    out = np.zeros((len(TARGET_NAMES) if image_facts else N_LOCAL, grid, grid), np.float32)
    abnormal = np.zeros(case.image.shape[:2], np.float32)
    for k, name in enumerate(_STRUCTURES):
        mask = case.structures.get(name)
        if mask is None:
            continue
        m = mask.astype(np.float32)
        out[k] = cv2.resize(m, (grid, grid), interpolation=cv2.INTER_AREA)
        out[TARGET_NAMES.index(f"centre:{name}")] = _centres(case.instance_masks(name), grid)
        if case.is_abnormal(name):
            abnormal = np.maximum(abnormal, m)
    out[n] = cv2.resize(abnormal, (grid, grid), interpolation=cv2.INTER_AREA)
    any_start = TARGET_NAMES.index(f"any:{_STRUCTURES[0]}")
    out[any_start : any_start + n + 1] = out[: n + 1] > 0
    out[TARGET_NAMES.index(f"modality:{case.modality}")] = 1.0
    if image_facts:
        _fill_image_facts(out, case)
    centres = (np.arange(grid, dtype=np.float32) + 0.5) / grid
    out[TARGET_NAMES.index("x")] = centres[None, :]
    out[TARGET_NAMES.index("y")] = centres[:, None]
    return torch.from_numpy(out)


@dataclass
class TowerBatchItem:
    pixel_values: torch.Tensor  # [3, C, C] CLIP input
    sam_pixel_values: torch.Tensor  # [3, S, S] SAM input
    clip_targets: torch.Tensor  # [K, g, g] on the CLIP patch grid
    sam_targets: torch.Tensor  # [N_LOCAL, gs, gs] on the SAM embedding grid (per-patch labels only)


def encode_case(case: Case, processor: MedPLIBProcessor, sam_grid: int, inputs: ImageInputs | None = None) -> TowerBatchItem:
    """`inputs`: this image's already prepared pixels (from `prepare_images`), if any."""
    if inputs is None:
        prepared = processor.prepare_image(case.image)
        inputs = ImageInputs(prepared.pixel_values[0], prepared.sam_pixel_values[0], prepared.sam_resized_hw)
    clip_grid = processor.clip_image_size // processor.patch_size
    return TowerBatchItem(inputs.pixel_values, inputs.sam_pixel_values,
                          dense_targets(case, clip_grid), dense_targets(case, sam_grid, image_facts=False))


def tower_items(n_images: int, processor: MedPLIBProcessor, sam_grid: int, seed: int, size: int = 128,
                split: str = "train", prepared: Mapping[str, ImageInputs] | None = None) -> list[TowerBatchItem]:
    """The training split's phantoms (the same images the question samples of that seed use, and more if
    n_images is larger), encoded for both towers; pixels already in `prepared` (keyed by image path) are reused."""
    prepared = prepared or {}
    return [encode_case(case, processor, sam_grid, prepared.get(image_path(stem)))
            for _i, stem, case, _rng in iter_cases(n_images, seed, split, size)]


def collate_towers(items: list[TowerBatchItem]) -> dict[str, torch.Tensor]:
    return {f: torch.stack([getattr(it, f) for it in items]) for f in TowerBatchItem.__dataclass_fields__}


class TowerPretraining(nn.Module):
    """The model plus per-patch linear read-outs on the CLIP features the LLM sees (layer -2, CLS dropped) and on
    the SAM image embedding. Only the read-outs are new; they are discarded after the stage."""

    def __init__(self, model: MedPLIBForCausalLM):
        super().__init__()
        k = len(TARGET_NAMES)
        self.model = model
        self.clip_head = nn.Linear(model.config.vision_config.hidden_size, k)
        self.sam_head = nn.Conv2d(model.config.sam.prompt_embed_dim, N_LOCAL, kernel_size=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Soft-target BCE (`_bce`) of both encoders' per-patch predictions (batch from `collate_towers`)."""
        features = self.model.model.encode_image(batch["pixel_values"])[0]  # [B, g*g, Dv]
        b, p, _ = features.shape
        g = int(p ** 0.5)
        clip_logits = self.clip_head(features).transpose(1, 2).reshape(b, -1, g, g)
        sam_logits = self.sam_head(self.model.model.encode_sam(batch["sam_pixel_values"]))
        return _bce(clip_logits, batch["clip_targets"]) + _bce(sam_logits, batch["sam_targets"])


def _bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Soft-target BCE [B, K, g, g]: the mean over the per-patch channels plus the mean over the image-level ones, so
    that adding image facts does not dilute the per-patch labels the region and mask paths rely on."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return bce[:, :N_LOCAL].mean() + (bce[:, N_LOCAL:].mean() if bce.shape[1] > N_LOCAL else 0.0)


def freeze_towers(model: nn.Module) -> None:
    for name, param in model.named_parameters():
        if name.startswith(TOWER_PREFIXES):
            param.requires_grad = False
