"""One call from (image, question, regions, history) to model inputs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

from .conversation import SYSTEM_TRAINING, build_prompt, expand_region_refs
from .normalize import normalize_question
from .image import CLIP_MEAN, CLIP_STD, SAM_MEAN, SAM_STD, ImageLike, clip_pixel_values, sam_pixel_values, to_rgb_uint8
from .regions import region_grid
from .tokens import encode_prompt


@dataclass(frozen=True)
class PreparedImage:
    """Image tensors computed once per image and reusable for every follow-up question."""

    pixel_values: torch.Tensor  # [1, 3, C, C] CLIP input
    sam_pixel_values: torch.Tensor  # [1, 3, S, S] SAM input
    sam_resized_hw: tuple[int, int]  # image size inside the SAM square before padding
    original_hw: tuple[int, int]


class MedPLIBProcessor:
    """Builds MedPLIB inputs: Vicuna-v1 prompt ids plus CLIP, SAM and region tensors.

    ``strip_whitespace`` selects the tokenizer whitespace behaviour (see ``tokens.encode_prompt``);
    keep True for the released checkpoint.
    """

    def __init__(self, tokenizer, clip_image_size: int = 336, patch_size: int = 14, sam_image_size: int = 256,
                 clip_mean: Sequence[float] = CLIP_MEAN, clip_std: Sequence[float] = CLIP_STD,
                 system: str = SYSTEM_TRAINING, strip_whitespace: bool = True,
                 sam_mean: Sequence[float] = SAM_MEAN, sam_std: Sequence[float] = SAM_STD,
                 region_grid_mode: str = "nearest", question_normalization: str = "none"):
        self.tokenizer = tokenizer
        self.clip_image_size, self.patch_size, self.sam_image_size = clip_image_size, patch_size, sam_image_size
        self.clip_mean, self.clip_std = tuple(clip_mean), tuple(clip_std)
        self.sam_mean, self.sam_std = tuple(sam_mean), tuple(sam_std)
        self.system, self.strip_whitespace = system, strip_whitespace
        self.region_grid_mode = region_grid_mode  # the model config's `region_grid`
        self.question_normalization = question_normalization  # the model config's; "none" for the released 7B

    def normalize(self, question: str) -> str:
        """A question as this model sees it (the config's `question_normalization`)."""
        return normalize_question(question, self.question_normalization)

    def prepare_image(self, image: ImageLike) -> PreparedImage:
        rgb = to_rgb_uint8(image)
        clip = clip_pixel_values(rgb, self.clip_image_size, self.clip_mean, self.clip_std)
        sam, resized_hw = sam_pixel_values(rgb, self.sam_image_size, self.sam_mean, self.sam_std)
        return PreparedImage(clip[None], sam[None], resized_hw, (rgb.shape[0], rgb.shape[1]))

    def build_prompt(self, question: str, n_regions: int = 0,
                     history: Sequence[tuple[str, str]] = ()) -> tuple[str, list[int]]:
        """Prompt text and region order (0-based region index per ``<region></region>`` pair).

        Regions belong to the image, so earlier questions may reference them too. If no turn references
        any region, all drawn regions are appended to the current question; a region that some turns
        reference while another drawn region is never referenced raises ValueError.
        """
        turns: list[tuple[str, Optional[str]]] = []
        order: list[int] = []
        for q, a in history:
            text, o = expand_region_refs(self.normalize(q), n_regions, auto_append=False)
            turns.append((text, a))
            order += o
        text, o = expand_region_refs(self.normalize(question), n_regions, auto_append=not order)
        turns.append((text, None))
        order += o
        unused = sorted(set(range(n_regions)) - set(order))
        if unused:
            names = ", ".join(f"<region{i + 1}>" for i in unused)
            raise ValueError(f"{names} drawn but not referenced; reference every drawn region or remove it")
        return build_prompt(turns, self.system), order

    def _region_mask(self, region: Any, k: int, hw: tuple[int, int]) -> np.ndarray:
        mask = np.asarray(region)
        if mask.shape != hw:
            raise ValueError(f"region {k + 1} has shape {mask.shape}; expected {hw[0]}x{hw[1]} "
                             "(the original image size)")
        mask = mask > 0
        if not mask.any():
            raise ValueError(f"region {k + 1} is empty")
        return mask

    def region_grid(self, mask: np.ndarray) -> torch.Tensor:
        """[H, W] region mask -> [g, g] CLIP patch grid, in this processor's mode."""
        return region_grid(mask, self.clip_image_size, self.patch_size, self.region_grid_mode)

    def __call__(self, image: Union[ImageLike, PreparedImage], question: str, regions: Sequence[Any] = (),
                 history: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        prepared = image if isinstance(image, PreparedImage) else self.prepare_image(image)
        masks = [self._region_mask(r, k, prepared.original_hw) for k, r in enumerate(regions)]
        prompt, order = self.build_prompt(question, len(masks), history)
        grids = [self.region_grid(m) for m in masks]
        for k, g in enumerate(grids):
            if not g.any():
                # The model then gets a zero region vector (original nan_to_num behaviour).
                warnings.warn(f"region {k + 1} is too small to cover any CLIP patch; its feature will be zero")
        ids = encode_prompt(self.tokenizer, prompt, strip_whitespace=self.strip_whitespace)
        input_ids = torch.tensor([ids], dtype=torch.long)
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": prepared.pixel_values,
            "sam_pixel_values": prepared.sam_pixel_values,
            "sam_resized_hw": prepared.sam_resized_hw,
            "original_hw": prepared.original_hw,
            "region_masks": [grids[i] for i in order],
            "region_order": order,
            "prompt": prompt,
        }
