"""Prompt, image and region preprocessing for MedPLIB (no model code, no UI imports)."""

from .conversation import (
    SYSTEM_EVAL,
    REGION_REF,
    SYSTEM_TRAINING,
    build_prompt,
    expand_region_refs,
)
from .image import (
    CLIP_MEAN,
    CLIP_STD,
    SAM_MEAN,
    SAM_STD,
    clip_pixel_values,
    longest_side_shape,
    pad_center,
    resize_longest,
    sam_pixel_values,
    to_rgb_uint8,
)
from .processor import MedPLIBProcessor, PreparedImage
from .regions import REGION_GRID_MODES, box_region, freeform_region, point_region, region_grid
from .tokens import add_medplib_tokens, build_labels, decode_answer, encode_prompt, special_ids, tidy_spacing

__all__ = [
    "REGION_REF", "SYSTEM_EVAL", "SYSTEM_TRAINING", "build_prompt", "expand_region_refs",
    "CLIP_MEAN", "CLIP_STD", "SAM_MEAN", "SAM_STD", "clip_pixel_values", "longest_side_shape",
    "pad_center", "resize_longest", "sam_pixel_values", "to_rgb_uint8",
    "MedPLIBProcessor", "PreparedImage",
    "REGION_GRID_MODES", "box_region", "freeform_region", "point_region", "region_grid",
    "add_medplib_tokens", "build_labels", "decode_answer", "encode_prompt", "special_ids",
    "tidy_spacing",
]
