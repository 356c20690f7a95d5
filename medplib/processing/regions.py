"""Region ("pixel prompt") masks: point / box / free-form shapes and the CLIP patch grid (architecture.md §4)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..constants import REGION_GRID_MODES
from .image import longest_side_shape, pad_center, resize_longest


def _check_size(h: int, w: int) -> None:
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {h}x{w}")


def point_region(h: int, w: int, x: float, y: float, span: int = 20) -> np.ndarray:
    """A (2*span+1)-pixel square centred on (x=col, y=row), clipped to the image (demo Point mode)."""
    _check_size(h, w)
    c, r = int(round(x)), int(round(y))
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"point (x={x}, y={y}) lies outside the {h}x{w} image")
    mask = np.zeros((h, w), dtype=bool)
    mask[max(0, r - span):r + span + 1, max(0, c - span):c + span + 1] = True
    return mask


def box_region(h: int, w: int, x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """Solid box: rows y1..y2, cols x1..x2 inclusive, corners in any order, clipped to the image.

    (The original demo filled the transposed box; this is the intended behaviour, architecture.md §4.)
    """
    _check_size(h, w)
    r0, r1 = sorted((int(round(y1)), int(round(y2))))
    c0, c1 = sorted((int(round(x1)), int(round(x2))))
    r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h - 1), min(c1, w - 1)
    if r0 > r1 or c0 > c1:
        raise ValueError(f"box ({x1}, {y1})-({x2}, {y2}) lies outside the {h}x{w} image")
    mask = np.zeros((h, w), dtype=bool)
    mask[r0:r1 + 1, c0:c1 + 1] = True
    return mask


def freeform_region(stroke_mask: np.ndarray) -> np.ndarray:
    """The stroke plus the area it encloses (a closed outline becomes a filled shape).

    Background is flood-filled from outside with 4-connectivity, so an 8-connected (diagonal) stroke
    still seals its interior; an open scribble encloses nothing and stays the stroke pixels.
    """
    stroke = np.asarray(stroke_mask)
    if stroke.ndim != 2 or stroke.size == 0:
        raise ValueError(f"stroke mask must be a non-empty HxW array, got shape {stroke.shape}")
    m = np.pad((stroke > 0).astype(np.uint8), 1)
    if not m.any():
        raise ValueError("stroke mask is empty")
    flood = np.zeros((m.shape[0] + 2, m.shape[1] + 2), np.uint8)
    cv2.floodFill(m, flood, (0, 0), 2, flags=4)
    return m[1:-1, 1:-1] != 2




def region_grid(mask_hw: np.ndarray, image_size: int, patch_size: int, mode: str = "nearest") -> torch.Tensor:
    """Region mask at original size -> [g, g] float 0/1 on the CLIP patch grid (g = image_size/patch).

    "nearest" (the original, architecture.md §7): PIL-bilinear resize of the 0/1 uint8 mask to longest side image_size
    (values stay 0/1), centre zero-pad, then OpenCV nearest down-sampling by 1/patch_size, which keeps only the
    top-left pixel of each patch, so a small or thin region can vanish (zero region feature).
    "cover": a patch is in the region when any region pixel's centre falls in it, after the same resize and
    padding; a non-empty mask never vanishes.
    """
    mask = np.asarray(mask_hw)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"region mask must be a non-empty HxW array, got shape {mask.shape}")
    if mode == "cover":
        h, w = mask.shape
        nh, nw = longest_side_shape(h, w, image_size)
        top, left = (image_size - nh) // 2, (image_size - nw) // 2
        g = image_size // patch_size
        ys, xs = np.nonzero(mask > 0)
        rows = np.clip(((ys + 0.5) * nh / h + top) // patch_size, 0, g - 1).astype(np.int64)
        cols = np.clip(((xs + 0.5) * nw / w + left) // patch_size, 0, g - 1).astype(np.int64)
        grid = np.zeros((g, g), np.float32)
        grid[rows, cols] = 1.0
        return torch.from_numpy(grid)
    if mode != "nearest":
        raise ValueError(f"region grid mode must be one of {REGION_GRID_MODES}, got {mode!r}")
    padded = pad_center(resize_longest((mask > 0).astype(np.uint8), image_size), image_size, 0)
    grid = cv2.resize(padded, None, fx=1 / patch_size, fy=1 / patch_size, interpolation=cv2.INTER_NEAREST)
    return torch.from_numpy(grid.astype(np.float32))
