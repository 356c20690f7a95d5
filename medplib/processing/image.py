"""Image normalisation and the original CLIP / SAM preprocessing (architecture.md §3, §6)."""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch
from PIL import Image

from ..io.pictures import array_rgb, picture_rgb

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SAM_MEAN = (123.675, 116.28, 103.53)
SAM_STD = (58.395, 57.12, 57.375)

ImageLike = Union[Image.Image, np.ndarray]


def to_rgb_uint8(img: ImageLike) -> np.ndarray:
    """Any PIL image or numpy array -> contiguous HxWx3 uint8 RGB, by the one rule the app and evaluation
    use too (:func:`medplib.io.picture_rgb` / :func:`medplib.io.array_rgb`).

    EXIF orientation is applied; uint8 is kept as is; 16-bit, 32-bit and float data are windowed to
    0..255 over their 0.5-99.5 percentile range (all colour channels together);
    grayscale is replicated; alpha (RGBA, LA, La, PA, P with transparency) is composited on black.
    Raises ValueError (``medplib.io.ImageInputError``) on empty, wrongly shaped or non-finite input.
    """
    if isinstance(img, Image.Image):
        return picture_rgb(img).rgb
    if isinstance(img, torch.Tensor):
        raise ValueError("pass a PIL image or a numpy array, not a torch tensor")
    return array_rgb(np.asarray(img)).rgb


def longest_side_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """SAM ResizeLongestSide target shape: round half up (int(x + 0.5)); at least 1 pixel."""
    scale = size * 1.0 / max(h, w)
    return max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))


def resize_longest(img: np.ndarray, size: int) -> np.ndarray:
    """Resize (HxW or HxWx3 uint8) so the longer side is ``size``: PIL bilinear, like the original."""
    arr = np.asarray(img)
    if arr.size == 0 or arr.ndim not in (2, 3):
        raise ValueError(f"cannot resize an image of shape {arr.shape}")
    h, w = arr.shape[:2]
    nh, nw = longest_side_shape(h, w, size)
    return np.array(Image.fromarray(arr).resize((nw, nh), Image.BILINEAR))  # writable copy


def pad_center(arr: np.ndarray, size: int, value: Union[float, Sequence[float]] = 0) -> np.ndarray:
    """Pad HxW or HxWxC to size x size; top/left get floor(pad/2), the odd pixel goes bottom/right."""
    h, w = arr.shape[:2]
    if h > size or w > size:
        raise ValueError(f"cannot pad a {h}x{w} image to {size}x{size}")
    top, left = (size - h) // 2, (size - w) // 2
    out = np.empty((size, size) + arr.shape[2:], dtype=arr.dtype)
    out[...] = np.asarray(value, dtype=arr.dtype)
    out[top:top + h, left:left + w] = arr
    return out


def clip_pixel_values(img_rgb_uint8: np.ndarray, image_size: int,
                      mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD) -> torch.Tensor:
    """CLIP input [3,S,S] float32: resize longest side to S, centre-pad with floor(255*mean), normalise.

    The arithmetic follows CLIPImageProcessor in the original (x * (1/255) in float64, cast to float32,
    then (x - mean) / std in float32), so values match bit for bit.
    """
    fill = [int(255 * m) for m in mean]
    padded = pad_center(resize_longest(img_rgb_uint8, image_size), image_size, fill)
    x = (padded * (1 / 255)).astype(np.float32)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def sam_pixel_values(img: np.ndarray, image_size: int = 256, mean: Sequence[float] = SAM_MEAN,
                     std: Sequence[float] = SAM_STD) -> tuple[torch.Tensor, tuple[int, int]]:
    """SAM input [3,S,S]: resize longest side to S, normalise on 0..255, then centre-pad with 0.

    Returns the tensor and the resized (h', w') that mask post-processing needs.
    """
    resized = resize_longest(img, image_size)
    x = torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1).float()
    x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    h, w = resized.shape[:2]
    top, left = (image_size - h) // 2, (image_size - w) // 2
    x = torch.nn.functional.pad(x, (left, image_size - w - left, top, image_size - h - top), value=0.0)
    return x, (h, w)
