"""Image normalisation and the original CLIP / SAM preprocessing (architecture.md §3, §6)."""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SAM_MEAN = (123.675, 116.28, 103.53)
SAM_STD = (58.395, 57.12, 57.375)

ImageLike = Union[Image.Image, np.ndarray]


def _minmax_uint8(arr: np.ndarray) -> np.ndarray:
    """Stretch any numeric array to 0..255 (16-bit / float medical images have no fixed range)."""
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinite values")
    lo, hi = arr.min(), arr.max()
    if hi == lo:
        return np.zeros(arr.shape, np.uint8)
    return np.rint((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _alpha_uint8(alpha: np.ndarray) -> np.ndarray:
    # Alpha has a fixed meaning (0 = transparent), so scale by the dtype's range, not min-max.
    if alpha.dtype == np.uint8:
        return alpha
    if alpha.dtype == np.bool_:
        return alpha.astype(np.uint8) * 255
    if np.issubdtype(alpha.dtype, np.integer):
        return np.rint(alpha.astype(np.float64) * 255.0 / np.iinfo(alpha.dtype).max).clip(0, 255).astype(np.uint8)
    return np.rint(np.clip(alpha.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def _channels_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    return _minmax_uint8(arr)


def _from_array(arr: np.ndarray) -> np.ndarray:
    if arr.size == 0:
        raise ValueError(f"image is empty (shape {arr.shape})")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"unsupported image dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        gray = _channels_uint8(arr)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (2, 3, 4):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {arr.shape}")
    if arr.shape[2] == 3:
        return _channels_uint8(arr)
    # Gray+alpha or RGBA: composite on black, the natural background of medical images.
    colour = _channels_uint8(arr[:, :, :-1])
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    alpha = _alpha_uint8(arr[:, :, -1]).astype(np.uint16)[:, :, None]
    return ((colour.astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)


def to_rgb_uint8(img: ImageLike) -> np.ndarray:
    """Any PIL image or numpy array -> contiguous HxWx3 uint8 RGB.

    uint8 is kept as is; 16-bit, 32-bit and float data are min-max stretched to 0..255 (over all
    colour channels together); grayscale is replicated; alpha (RGBA, LA, P with transparency) is
    composited on black. Raises ValueError on empty or wrongly shaped input.
    """
    if isinstance(img, Image.Image):
        if img.width == 0 or img.height == 0:
            raise ValueError(f"image is empty ({img.width}x{img.height})")
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode == "PA":
            img = img.convert("RGBA")
        elif img.mode == "1":
            img = img.convert("L")
        elif not (img.mode in ("RGB", "RGBA", "L", "LA", "I", "F") or img.mode.startswith("I;16")):
            img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBa, ...
        arr = np.array(img)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return np.ascontiguousarray(_from_array(arr))
    if isinstance(img, torch.Tensor):
        raise ValueError("pass a PIL image or a numpy array, not a torch tensor")
    return np.ascontiguousarray(_from_array(np.asarray(img)))


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
