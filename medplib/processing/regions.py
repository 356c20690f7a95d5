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


GAP_FRACTION = 0.2  # free-form: gaps up to this fraction of the outline's extent are closed
OPEN_DILATE_FRACTION = 0.01  # free-form open scribble: dilation radius / longer image side


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """`mask` plus every background area not connected to the border (4-connectivity, so an 8-connected
    diagonal outline still seals its interior)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(padded, flood, (0, 0), 2, flags=4)
    return padded[1:-1, 1:-1] != 2


def _disk(radius: int) -> np.ndarray:
    d = 2 * int(radius) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))


def freeform_region(stroke_mask: np.ndarray) -> np.ndarray:
    """A free-form outline -> the region it marks (the one rule for the API, the app and evaluation).

    * A closed outline becomes the outline plus its interior.
    * An outline with a gap up to ~`GAP_FRACTION` of its extent (a hand-drawn loop that does not quite meet)
      is closed first: dilate, fill what is then enclosed, erode back (a plain closing does not join two line
      ends), so the result does not depend on how exactly the ends meet.
    * An open scribble encloses nothing and keeps its painted pixels, dilated by ~1 % of the image's longer
      side so a thin line keeps an area (not the convex hull: an L-shaped scribble along a structure would
      otherwise swallow the tissue between its arms).
    """
    stroke = np.asarray(stroke_mask)
    if stroke.ndim != 2 or stroke.size == 0:
        raise ValueError(f"stroke mask must be a non-empty HxW array, got shape {stroke.shape}")
    stroke = stroke > 0
    if not stroke.any():
        raise ValueError("stroke mask is empty")
    filled = _fill_holes(stroke)
    if filled.sum() > stroke.sum():
        return filled
    rows, cols = np.nonzero(stroke)
    extent = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    radius = max(1, int(round(GAP_FRACTION * extent / 2)))
    pad = radius + 2
    dilated = cv2.dilate(np.pad(stroke.astype(np.uint8), pad), _disk(radius)) > 0
    dilated_filled = _fill_holes(dilated)
    if dilated_filled.sum() > dilated.sum():
        closed = cv2.erode(dilated_filled.astype(np.uint8), _disk(radius))
        return (closed[pad:-pad, pad:-pad] > 0) | stroke
    r = max(1, int(round(OPEN_DILATE_FRACTION * max(stroke.shape))))
    return cv2.dilate(stroke.astype(np.uint8), _disk(r)) > 0




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
