"""Ordinary pictures (PNG, JPEG, TIFF, BMP, WebP, GIF) and the one rule "picture -> 8-bit RGB".

:func:`picture_rgb` is what the app, ``MedPLIB.encode`` and evaluation all use (through
:func:`medplib.processing.image.to_rgb_uint8`): EXIF orientation applied; 8-bit kept as it is;
16-bit / 32-bit / float greyscale windowed to 8 bit (0.5-99.5 percentile range unless a window is
given); palette, alpha (``LA``, ``La``, ``PA``, ``RGBA``, ``RGBa``, ``P`` with transparency) composited on
black, the natural background of medical images.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import SUPPORTED_TEXT, ImageInputError
from .limits import pixel_limit, too_big_message
from .loaded import LoadedImage
from .windowing import Window, apply_window, grey_to_rgb, percentile_window, resolve_window

# Raster formats Pillow may open (everything else is refused before any plugin runs).
_PIL_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "WEBP", "GIF")


_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


@dataclass(frozen=True)
class PictureRGB:
    """A picture as the model sees it.

    ``rgb``: H x W x 3 ``uint8``. For windowed (high-bit-depth greyscale) input ``values`` holds the
    H x W ``float32`` values before windowing and ``window`` / ``window_cw`` / ``auto_window`` the
    window applied; otherwise they are ``None``. ``transparent``: alpha was composited on black.
    """

    rgb: np.ndarray
    values: np.ndarray | None = None
    window: str | None = None
    window_cw: tuple[float, float] | None = None
    auto_window: tuple[float, float] | None = None
    transparent: bool = False


def picture_rgb(im: Image.Image, window: Window = "auto", name: str = "image") -> PictureRGB:
    """The one rule "picture -> 8-bit RGB" for a PIL image (EXIF orientation applied first).

    Raises :class:`ImageInputError` (naming ``name``) for empty images, undecodable data or modes
    that cannot be shown.
    """
    if im.width <= 0 or im.height <= 0:
        raise ImageInputError(f"'{name}' is an empty image ({im.width}x{im.height} pixels).")
    try:
        im = ImageOps.exif_transpose(im)
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as e:
        raise ImageInputError(f"'{name}' could not be decoded: the file appears truncated or corrupted.") from e
    mode = im.mode
    if mode.startswith("I") or mode == "F":  # 16/32-bit greyscale or float
        return array_rgb(np.asarray(im), window, name)
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        rgba = (im.convert("LA") if mode == "La" else im).convert("RGBA")
        return dataclasses.replace(array_rgb(np.asarray(rgba), window, name), transparent=True)
    try:
        rgb = im.convert("RGB")
    except (ValueError, OSError) as e:
        raise ImageInputError(f"'{name}' uses an unsupported colour mode ({mode}).") from e
    return PictureRGB(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)))


def array_rgb(arr: np.ndarray, window: Window = "auto", name: str = "image") -> PictureRGB:
    """The same rule for a numpy array: H x W, H x W x 1 (grey), H x W x 2 (grey + alpha),
    H x W x 3 (RGB) or H x W x 4 (RGBA).

    ``uint8`` is kept; ``bool`` becomes 0 / 255; any other integer or float data is windowed as in
    :func:`picture_rgb` (percentile range over all colour channels together).
    Alpha keeps its fixed meaning (0 = transparent; scaled by the dtype's range) and is composited on
    black. Raises :class:`ImageInputError` for empty, complex, non-numeric, wrongly shaped, NaN or
    infinite input.
    """
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise ImageInputError(f"{name}: unsupported pixel type {arr.dtype}; expected integers, floats or bool.")
    if arr.size == 0:
        raise ImageInputError(f"{name} is empty (shape {arr.shape}).")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ImageInputError(f"{name}: expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {arr.shape}.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ImageInputError(f"{name} contains NaN or infinite pixel values; expected finite numbers.")
    has_alpha = arr.ndim == 3 and arr.shape[2] in (2, 4)
    colour = arr[:, :, :-1] if has_alpha else arr
    if colour.dtype == np.uint8 or colour.dtype == np.bool_:
        grey = colour.astype(np.uint8) * 255 if colour.dtype == np.bool_ else colour
        pixels = PictureRGB(_rgb(grey))
    else:
        vals = colour.astype(np.float32)
        auto = percentile_window(vals)
        wname, cw = resolve_window(window, auto, vals)
        pixels = PictureRGB(_rgb(apply_window(vals, *cw)), vals if vals.ndim == 2 else None, wname, cw, auto)
    if not has_alpha:
        return pixels
    alpha = _alpha_uint8(arr[:, :, -1]).astype(np.uint16)[:, :, None]
    rgb = ((pixels.rgb.astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    return dataclasses.replace(pixels, rgb=rgb, transparent=True)


def _rgb(grey_or_rgb: np.ndarray) -> np.ndarray:
    if grey_or_rgb.ndim == 2 or grey_or_rgb.shape[2] == 1:
        return grey_to_rgb(grey_or_rgb.reshape(grey_or_rgb.shape[:2]))
    return np.ascontiguousarray(grey_or_rgb, dtype=np.uint8)


def _alpha_uint8(alpha: np.ndarray) -> np.ndarray:
    # Alpha has a fixed meaning (0 = transparent), so scale by the dtype's range, not by windowing.
    if alpha.dtype == np.uint8:
        return alpha
    if alpha.dtype == np.bool_:
        return alpha.astype(np.uint8) * 255
    if np.issubdtype(alpha.dtype, np.integer):
        scaled = alpha.astype(np.float64) * 255.0 / np.iinfo(alpha.dtype).max
        return np.rint(scaled).clip(0, 255).astype(np.uint8)
    return np.rint(np.clip(alpha.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def load_picture(p: Path, name: str, window: Window) -> LoadedImage:
    notes: list[str] = []
    try:
        im = Image.open(p, formats=_PIL_FORMATS)
    except Image.DecompressionBombError:
        raise ImageInputError(
            f"'{name}' is too large to open safely (it declares more pixels than the "
            "decompression-bomb guard allows). Please downscale it before uploading."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageInputError(
            f"'{name}' could not be read as an image; it may be damaged, truncated or mislabelled."
            f" Supported: {SUPPORTED_TEXT}."
        ) from e
    with im:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ImageInputError(f"'{name}' is an empty image (0 pixels).")
        if w * h > pixel_limit():
            raise ImageInputError(too_big_message(name, w, h))
        n_frames = int(getattr(im, "n_frames", 1) or 1)
        if n_frames > 1:
            notes.append(f"The file has {n_frames} frames/pages; only the first is shown.")
        try:
            im.load()
        except Image.DecompressionBombError:
            raise ImageInputError(too_big_message(name, w, h)) from None
        except (OSError, SyntaxError, ValueError, EOFError, zlib.error, MemoryError) as e:
            raise ImageInputError(
                f"'{name}' could not be decoded: the file appears truncated or corrupted."
            ) from e
        pixels = picture_rgb(im, window, name)
    if pixels.transparent:
        notes.append("Transparent areas are shown as black.")
    return LoadedImage(
        kind="image", display_rgb=pixels.rgb, pixel_spacing_mm=None, filename=name, values=pixels.values,
        window=pixels.window, window_cw=pixels.window_cw, auto_window=pixels.auto_window, notes=tuple(notes),
    )
