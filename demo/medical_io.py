"""Loading uploaded medical images for display and prompting (no model dependency).

``load_upload(path)`` accepts ordinary pictures (PNG, JPEG, TIFF, BMP, WebP, GIF — 8-bit or 16-bit
greyscale), DICOM files and NIfTI volumes (``.nii`` / ``.nii.gz``) and returns a
:class:`LoadedImage` whose ``display_rgb`` is the H x W x 3 ``uint8`` picture that the demo shows,
draws on and sends to the model. Everything the user can get wrong raises
:class:`demo.errors.InputError` with a message meant for the user.

Choices (documented here once):

* File type is decided from the **contents** (magic bytes), never from the extension alone. A
  ``.png`` that is not a PNG is refused; Pillow is restricted to a short list of raster formats so
  that exotic plugins (EPS/Ghostscript, ...) are never reached.
* Size guards: files above :data:`MAX_FILE_BYTES`, 2D images above :data:`MAX_PIXELS` pixels, and
  volumes above :data:`MAX_VOXELS` voxels are refused. Pillow's own decompression-bomb guard
  (``Image.MAX_IMAGE_PIXELS``) is respected: an image above it is refused too (without touching the
  process-wide warning filters, which are not thread-safe).
* 16-bit / float pictures are windowed to 8 bit with the 0.5–99.5 percentile range.
* DICOM values go through the modality LUT (RescaleSlope/RescaleIntercept), so CT values are
  Hounsfield units. Window ``"auto"`` = the file's first WindowCenter/WindowWidth when present,
  else the abdomen (soft-tissue) preset for CT, else the 0.5–99.5 percentile range. MONOCHROME1 is
  inverted after windowing. Multi-frame DICOM becomes a volume of frames.
* Windowing is the plain linear ramp: ``center - width/2`` -> 0, ``center + width/2`` -> 255.
* NIfTI volumes are reoriented to RAS (closest canonical) and shown in radiological convention
  (patient right on the viewer's left, anterior / superior at the top). The default slice axis is
  axial (2). Spacing comes from the header zooms (converted to mm from the header's unit).
  Window ``"auto"`` = abdomen preset when the values look like Hounsfield units (min <= -900,
  max >= 300), else the 0.5–99.5 percentile range of the whole volume (so every slice uses the
  same mapping).
"""

from __future__ import annotations

import dataclasses
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from demo.errors import InputError

# --------------------------------------------------------------------------------------------
# Limits and presets
# --------------------------------------------------------------------------------------------

#: Largest 2D picture accepted (pixels). Pillow's ``Image.MAX_IMAGE_PIXELS`` applies as well.
MAX_PIXELS = 50_000_000
#: Largest volume accepted (voxels; ~800 MB as float32).
MAX_VOXELS = 200_000_000
#: Largest upload (bytes on disk, and bytes after gunzip for .nii.gz).
MAX_FILE_BYTES = 1 << 30

#: CT window presets: name -> (center, width) in Hounsfield units.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "abdomen": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}
#: Names accepted by ``window=`` (besides an explicit ``(center, width)`` pair).
WINDOW_CHOICES: tuple[str, ...] = ("auto", *WINDOW_PRESETS)

PERCENTILES = (0.5, 99.5)

# Raster formats Pillow may open (everything else is refused before any plugin runs).
_PIL_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "WEBP", "GIF")
_DICOM_EXTS = {".dcm", ".dicom", ".dic", ".ima", ""}
_EXT_TO_KIND = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
    ".bmp": "BMP", ".webp": "WebP", ".gif": "GIF", ".dcm": "DICOM", ".dicom": "DICOM",
    ".nii": "NIfTI", ".nii.gz": "NIfTI (gzip)",
}
SUPPORTED_TEXT = "PNG, JPEG, TIFF, BMP, WebP, GIF, DICOM (.dcm) or NIfTI (.nii / .nii.gz)"

Window = Union[str, tuple[float, float], None]


# --------------------------------------------------------------------------------------------
# Result type
# --------------------------------------------------------------------------------------------


@dataclass
class LoadedImage:
    """An upload, decoded and rendered for display.

    Attributes:
        kind: ``"image"`` (PNG/JPEG/TIFF/...), ``"dicom"`` or ``"nifti"``.
        display_rgb: H x W x 3 ``uint8`` — what is shown, drawn on and sent to the model.
        pixel_spacing_mm: ``(row, col)`` spacing of ``display_rgb`` in millimetres, or ``None``.
        filename: the original file name (base name only, for labels and export names).
        values: 2D ``float32`` values of the shown slice before windowing (HU for CT DICOM);
            ``None`` for 8-bit and colour pictures (they are shown as they are).
        is_ct: CT data (DICOM Modality CT, or a NIfTI whose values look like HU).
        window: name of the window in use (``"auto"``, a preset name, ``"custom"``) or ``None``.
        window_cw: ``(center, width)`` actually applied, or ``None`` (no windowing).
        auto_window: the ``(center, width)`` that ``"auto"`` resolves to, or ``None``.
        volume: 3D ``float32`` data for NIfTI (RAS) and multi-frame DICOM (frames first), else None.
        layout: ``"ras"`` (NIfTI, radiological display) or ``"frames"`` (DICOM frames) or None.
        axis: slice axis of ``volume`` (NIfTI default 2 = axial; DICOM frames 0), None for 2D.
        n_slices: number of slices along ``axis`` (1 for 2D).
        slice_index: index of the shown slice.
        voxel_spacing_mm: spacing of the volume's three axes in mm (NIfTI), else None.
        invert: MONOCHROME1 (display is inverted after windowing).
        modality: DICOM Modality (``"CT"``, ``"MR"`` ...) or None.
        notes: short user-facing remarks (first frame used, spacing source, ...).
    """

    kind: str
    display_rgb: np.ndarray
    pixel_spacing_mm: tuple[float, float] | None
    filename: str
    values: np.ndarray | None = None
    is_ct: bool = False
    window: str | None = None
    window_cw: tuple[float, float] | None = None
    auto_window: tuple[float, float] | None = None
    volume: np.ndarray | None = field(default=None, repr=False)
    layout: str | None = None
    axis: int | None = None
    n_slices: int = 1
    slice_index: int = 0
    voxel_spacing_mm: tuple[float, float, float] | None = None
    invert: bool = False
    modality: str | None = None
    notes: tuple[str, ...] = ()

    # ---- convenience -------------------------------------------------------------------------
    @property
    def hu(self) -> np.ndarray | None:
        """Hounsfield units of the shown slice (CT only), else ``None``."""
        return self.values if self.is_ct else None

    @property
    def is_volume(self) -> bool:
        return self.volume is not None and self.n_slices > 1

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.display_rgb.shape[0]), int(self.display_rgb.shape[1])

    @property
    def can_window(self) -> bool:
        """Whether window presets change anything (greyscale data with real values)."""
        return self.values is not None or self.volume is not None

    def describe(self) -> str:
        """One line for the UI, e.g. ``CT DICOM · 512×512 px · 0.70×0.70 mm · window abdomen``."""
        h, w = self.image_hw
        kind = {"image": "Image", "dicom": "DICOM", "nifti": "NIfTI"}.get(self.kind, self.kind)
        if self.modality:
            kind = f"{self.modality} {kind}"
        elif self.is_ct:
            kind = f"CT {kind}"
        parts = [kind, f"{w}×{h} px"]
        if self.pixel_spacing_mm:
            parts.append(f"{self.pixel_spacing_mm[0]:.2f}×{self.pixel_spacing_mm[1]:.2f} mm/px")
        if self.is_volume:
            parts.append(f"slice {self.slice_index + 1}/{self.n_slices}")
        if self.window_cw is not None:
            c, wd = self.window_cw
            parts.append(f"window {self.window} (W{wd:g}/L{c:g})")
        return " · ".join(parts)

    def with_window(self, window: Window) -> "LoadedImage":
        """Re-render with another window (name or ``(center, width)``); no-op for 8-bit pictures."""
        if not self.can_window:
            return self
        name, cw = _resolve_window(window, self.auto_window, self.values)
        disp = _to_rgb(apply_window(self.values, *cw), invert=self.invert)
        return dataclasses.replace(self, display_rgb=disp, window=name, window_cw=cw)

    def with_slice(self, index: int, axis: int | None = None) -> "LoadedImage":
        """Show another slice (and optionally another axis, NIfTI only) with the same window."""
        if self.volume is None:
            return self
        axis = self.axis if axis is None else int(axis)
        if self.layout == "frames" and axis != 0:
            raise InputError("This DICOM series can only be browsed frame by frame.")
        if axis not in (0, 1, 2):
            raise InputError("The slice axis must be 0 (sagittal), 1 (coronal) or 2 (axial).")
        n = int(self.volume.shape[axis])
        index = int(min(max(int(index), 0), n - 1))
        vals = slice_values(self.volume, index, axis, oriented=self.layout == "ras")
        name, cw = _resolve_window(self.window or "auto", self.auto_window, vals)
        if self.window == "custom" and self.window_cw is not None:
            name, cw = "custom", self.window_cw
        disp = _to_rgb(apply_window(vals, *cw), invert=self.invert)
        spacing = self.pixel_spacing_mm
        if self.voxel_spacing_mm is not None:
            spacing = _slice_spacing(self.voxel_spacing_mm, axis)
        return dataclasses.replace(
            self, display_rgb=disp, values=vals, axis=axis, n_slices=n, slice_index=index,
            window=name, window_cw=cw, pixel_spacing_mm=spacing,
        )


# --------------------------------------------------------------------------------------------
# Windowing
# --------------------------------------------------------------------------------------------


def apply_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear window: ``center - width/2`` -> 0 and ``center + width/2`` -> 255 (clipped, rounded).

    NaN maps to 0. A width <= 0 becomes a threshold at ``center`` (above -> 255).
    """
    v = np.asarray(values, dtype=np.float32)
    center = float(center)
    width = float(width)
    if not np.isfinite(center) or not np.isfinite(width):
        raise ValueError("window center/width must be finite")
    if width <= 0:
        out = np.where(v > center, 255, 0).astype(np.uint8)
        return out
    lo = center - width / 2.0
    scaled = (v - np.float32(lo)) * np.float32(255.0 / width)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(scaled).astype(np.uint8)


def percentile_window(values: np.ndarray, lo: float = PERCENTILES[0], hi: float = PERCENTILES[1],
                      max_samples: int = 2_000_000) -> tuple[float, float]:
    """``(center, width)`` spanning the ``lo``–``hi`` percentiles of the finite values.

    Large arrays are sub-sampled with a fixed stride (deterministic). Constant data gives width 0.
    """
    v = np.asarray(values).ravel()
    if v.size > max_samples:
        v = v[:: int(np.ceil(v.size / max_samples))]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 0.0
    p_lo, p_hi = np.percentile(v.astype(np.float64), [lo, hi])
    if p_hi <= p_lo:  # (nearly) constant: fall back to the full range
        p_lo, p_hi = float(v.min()), float(v.max())
    return float((p_lo + p_hi) / 2.0), float(p_hi - p_lo)


def _resolve_window(window: Window, auto: tuple[float, float] | None,
                    values: np.ndarray | None) -> tuple[str, tuple[float, float]]:
    if window is None:
        window = "auto"
    if isinstance(window, (tuple, list)) and len(window) == 2:
        return "custom", (float(window[0]), float(window[1]))
    if isinstance(window, str):
        key = window.strip().lower()
        # accept UI labels such as "Lung (W1500/L-600)"
        key = key.split("(")[0].strip()
        if key in WINDOW_PRESETS:
            return key, WINDOW_PRESETS[key]
        if key == "auto":
            if auto is not None:
                return "auto", auto
            return "auto", percentile_window(values if values is not None else np.zeros(1))
        if key == "custom":
            raise InputError("A custom window needs a centre and a width.")
    raise InputError(
        f"Unknown window {window!r}; choose one of: {', '.join(WINDOW_CHOICES)}."
    )


def window_label(name: str) -> str:
    """UI label such as ``"lung (W1500/L-600)"`` for a preset name, or the name itself."""
    if name in WINDOW_PRESETS:
        c, w = WINDOW_PRESETS[name]
        return f"{name} (W{w:g}/L{c:g})"
    return name


# --------------------------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------------------------


def slice_values(volume: np.ndarray, index: int, axis: int = 2, *,
                 oriented: bool = True) -> np.ndarray:
    """The 2D ``float32`` slice ``index`` along ``axis``.

    ``oriented=True`` (NIfTI in RAS): the slice is transposed and flipped to radiological display
    (rows top->bottom = anterior->posterior for axial, superior->inferior otherwise; columns =
    patient right -> left). ``oriented=False`` (DICOM frames): ``volume[index]`` as stored.
    """
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise InputError("Slicing needs a 3D volume.")
    axis = int(axis)
    if axis not in (0, 1, 2):
        raise InputError("The slice axis must be 0, 1 or 2.")
    n = vol.shape[axis]
    if not 0 <= int(index) < n:
        raise InputError(f"Slice {index} is outside the volume (0–{n - 1}).")
    sl = np.take(vol, int(index), axis=axis)
    if oriented:
        sl = sl.T[::-1, ::-1]
    return np.ascontiguousarray(sl, dtype=np.float32)


def slice_image(volume: np.ndarray, index: int, window: Window = "auto", axis: int = 2, *,
                oriented: bool = True, invert: bool = False) -> np.ndarray:
    """H x W x 3 ``uint8`` picture of one slice.

    ``window``: a preset name, ``(center, width)``, or ``"auto"`` (percentile range of the whole
    volume, so all slices share one mapping).
    """
    vals = slice_values(volume, index, axis, oriented=oriented)
    auto = None
    if isinstance(window, str) and window.strip().lower() == "auto":
        auto = percentile_window(volume)
    _, cw = _resolve_window(window, auto, vals)
    return _to_rgb(apply_window(vals, *cw), invert=invert)


def _slice_spacing(zooms: Sequence[float], axis: int) -> tuple[float, float]:
    # display rows/cols after the transpose in slice_values(oriented=True)
    zx, zy, zz = (float(z) for z in zooms)
    return {2: (zy, zx), 1: (zz, zx), 0: (zz, zy)}[axis]


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def load_upload(path: Union[str, os.PathLike], *, filename: str | None = None,
                window: Window = "auto") -> LoadedImage:
    """Decode an uploaded file into a :class:`LoadedImage`.

    Args:
        path: the file on disk (e.g. Gradio's temporary copy of the upload).
        filename: the user's original file name (defaults to ``path``'s base name); only used
            for messages, labels and the extension hint.
        window: initial window for DICOM / NIfTI / 16-bit data (name or ``(center, width)``).

    Raises:
        InputError: unreadable, truncated, unsupported, empty or too large input.
    """
    if path is None:
        raise InputError("No file was uploaded.")
    p = Path(os.fspath(path))
    name = Path(filename).name if filename else p.name
    if not p.is_file():
        raise InputError(f"The upload '{name}' could not be found; please upload it again.")
    size = p.stat().st_size
    if size == 0:
        raise InputError(f"The file '{name}' is empty (0 bytes).")
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"The file '{name}' is too large ({size / 2**20:.0f} MB; the limit is "
            f"{MAX_FILE_BYTES / 2**20:.0f} MB)."
        )
    with open(p, "rb") as fh:
        head = fh.read(1024)
    kind = _sniff(head, name)
    if kind == "image":
        return _load_picture(p, name, window)
    if kind in ("dicom", "dicom-raw"):
        return _load_dicom(p, name, window, force=kind == "dicom-raw")
    if kind in ("nifti", "nifti-gz"):
        return _load_nifti(p, name, window, gz=kind == "nifti-gz")
    if kind == "analyze-pair":
        raise InputError(
            f"'{name}' is the header of a two-file NIfTI/Analyze image (.hdr + .img). "
            "Please upload a single-file .nii or .nii.gz instead."
        )
    raise InputError(_unsupported_message(name, head))


# --------------------------------------------------------------------------------------------
# Type sniffing
# --------------------------------------------------------------------------------------------


def _ext(name: str) -> str:
    low = name.lower()
    if low.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(low).suffix


def _sniff(head: bytes, name: str) -> str | None:
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
        return "image"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image"
    if head[:2] == b"BM" and len(head) >= 26 or head[:6] in (b"GIF87a", b"GIF89a"):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:2] == b"\x1f\x8b":
        try:
            inner = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 600)
        except zlib.error:
            inner = b""
        if _nifti_version(inner) in (1, 2):
            return "nifti-gz"
        return None
    ver = _nifti_version(head)
    if ver in (1, 2):
        return "nifti"
    if ver == -1:
        return "analyze-pair"
    # DICOM without the 128-byte preamble ("raw" dataset): starts with a group 0x0002/0x0008 tag
    if _ext(name) in _DICOM_EXTS and len(head) >= 8:
        group = int.from_bytes(head[:2], "little")
        if group in (0x0002, 0x0008):
            return "dicom-raw"
    return None


def _nifti_version(head: bytes) -> int | None:
    """1 / 2 for single-file NIfTI-1/2, -1 for a .hdr of a pair, None otherwise."""
    if len(head) >= 348:
        for order in ("little", "big"):
            if int.from_bytes(head[:4], order) == 348:
                magic = head[344:348]
                if magic == b"n+1\x00":
                    return 1
                if magic == b"ni1\x00":
                    return -1
    if len(head) >= 8:
        for order in ("little", "big"):
            if int.from_bytes(head[:4], order) == 540 and head[4:8] == b"n+2\x00":
                return 2
    return None


def _unsupported_message(name: str, head: bytes) -> str:
    ext = _ext(name)
    claimed = _EXT_TO_KIND.get(ext)
    if claimed:
        return (
            f"'{name}' has a {ext} extension but its contents are not a valid {claimed} file; "
            f"it may be damaged or mislabelled. Supported: {SUPPORTED_TEXT}."
        )
    textish = head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:512])
    what = "a text file" if textish else "a file type this demo cannot read"
    return f"'{name}' looks like {what}, not an image. Supported: {SUPPORTED_TEXT}."


# --------------------------------------------------------------------------------------------
# Ordinary pictures (Pillow)
# --------------------------------------------------------------------------------------------


def _pixel_limit() -> int:
    lim = MAX_PIXELS
    pil = Image.MAX_IMAGE_PIXELS
    if pil is not None:
        lim = min(lim, int(pil))
    return lim


def _too_big_message(name: str, w: int, h: int) -> str:
    return (
        f"'{name}' is too large ({w}×{h} = {w * h / 1e6:.1f} megapixels; the limit is "
        f"{_pixel_limit() / 1e6:.0f} megapixels). Please downscale it before uploading."
    )


def _load_picture(p: Path, name: str, window: Window) -> LoadedImage:
    notes: list[str] = []
    try:
        im = Image.open(p, formats=_PIL_FORMATS)
    except Image.DecompressionBombError:
        raise InputError(
            f"'{name}' is too large to open safely (it declares more pixels than the "
            "decompression-bomb guard allows). Please downscale it before uploading."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise InputError(
            f"'{name}' could not be read as an image; it may be damaged, truncated or mislabelled."
            f" Supported: {SUPPORTED_TEXT}."
        ) from e
    with im:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise InputError(f"'{name}' is an empty image (0 pixels).")
        if w * h > _pixel_limit():
            raise InputError(_too_big_message(name, w, h))
        n_frames = int(getattr(im, "n_frames", 1) or 1)
        if n_frames > 1:
            notes.append(f"The file has {n_frames} frames/pages; only the first is shown.")
        try:
            im.load()
            if im.format in ("JPEG", "TIFF", "WEBP", "PNG"):
                im = ImageOps.exif_transpose(im)
        except Image.DecompressionBombError:
            raise InputError(_too_big_message(name, w, h)) from None
        except (OSError, SyntaxError, ValueError, EOFError, zlib.error, MemoryError) as e:
            raise InputError(
                f"'{name}' could not be decoded: the file appears truncated or corrupted."
            ) from e
        return _picture_to_loaded(im, name, window, notes)


def _picture_to_loaded(im: Image.Image, name: str, window: Window, notes: list[str]) -> LoadedImage:
    mode = im.mode
    if mode.startswith("I") or mode == "F":  # 16/32-bit greyscale or float
        arr = np.asarray(im)
        if arr.ndim != 2:
            raise InputError(f"'{name}' has an unsupported pixel layout ({mode}).")
        vals = arr.astype(np.float32)
        if not np.isfinite(vals).any():
            raise InputError(f"'{name}' contains no finite pixel values.")
        auto = percentile_window(vals)
        wname, cw = _resolve_window(window, auto, vals)
        disp = _to_rgb(apply_window(vals, *cw))
        return LoadedImage(
            kind="image", display_rgb=disp, pixel_spacing_mm=None, filename=name, values=vals,
            window=wname, window_cw=cw, auto_window=auto, notes=tuple(notes),
        )
    if "A" in im.getbands() or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        rgb = Image.alpha_composite(black, rgba).convert("RGB")
        notes.append("Transparent areas are shown as black.")
    else:
        try:
            rgb = im.convert("RGB")
        except (ValueError, OSError) as e:
            raise InputError(f"'{name}' uses an unsupported colour mode ({mode}).") from e
    disp = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    return LoadedImage(kind="image", display_rgb=disp, pixel_spacing_mm=None, filename=name,
                       notes=tuple(notes))


def _to_rgb(grey: np.ndarray, invert: bool = False) -> np.ndarray:
    g = grey.astype(np.uint8, copy=False)
    if invert:
        g = 255 - g
    return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))


# --------------------------------------------------------------------------------------------
# DICOM
# --------------------------------------------------------------------------------------------


def _detail(e: BaseException, limit: int = 200) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    msg = re.sub(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/]+){2,}", "<file>", msg)  # no server paths
    return msg if len(msg) <= limit else msg[: limit - 1].rstrip() + "…"


def _first_float(v: Any) -> float | None:
    if v is None:
        return None
    try:
        if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
            v = v[0] if len(v) else None
        f = float(v)
    except (TypeError, ValueError, IndexError):
        return None
    return f if np.isfinite(f) else None


def _spacing_pair(v: Any) -> tuple[float, float] | None:
    try:
        r, c = float(v[0]), float(v[1])
    except (TypeError, ValueError, IndexError):
        return None
    if not (np.isfinite(r) and np.isfinite(c) and r > 0 and c > 0):
        return None
    return r, c


def _dicom_spacing(ds: Any, notes: list[str]) -> tuple[float, float] | None:
    sp = _spacing_pair(ds.get("PixelSpacing"))
    if sp is None:
        # enhanced multi-frame objects keep it in the shared functional groups
        try:
            sp = _spacing_pair(
                ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
            )
        except (AttributeError, IndexError, KeyError):
            sp = None
    if sp is None:
        sp = _spacing_pair(ds.get("ImagerPixelSpacing"))
        if sp is not None:
            notes.append("Pixel spacing is measured at the detector (ImagerPixelSpacing), "
                         "not corrected for magnification.")
    return sp


def _load_dicom(p: Path, name: str, window: Window, force: bool) -> LoadedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError

    notes: list[str] = []
    try:
        ds = pydicom.dcmread(p, force=force)
    except InvalidDicomError as e:
        raise InputError(f"'{name}' is not a valid DICOM file.") from e
    except Exception as e:  # pydicom raises many types for damaged files
        raise InputError(
            f"'{name}' could not be read as DICOM; it may be damaged or truncated "
            f"({_detail(e)})."
        ) from e
    if force and not any(k in ds for k in ("SOPClassUID", "Modality", "PixelData", "Rows")):
        raise InputError(_unsupported_message(name, b""))
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        what = str(ds.get("Modality", "") or "").strip()
        extra = f" (Modality: {what})" if what else ""
        raise InputError(
            f"'{name}' is a DICOM file without image data{extra}, e.g. a report, RT plan, "
            "structure set or DICOMDIR. Please upload a DICOM image."
        )
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as e:
        raise InputError(f"'{name}' lacks the image size (Rows/Columns); it is damaged.") from e
    if rows <= 0 or cols <= 0 or frames <= 0:
        raise InputError(f"'{name}' is an empty DICOM image (0 pixels).")
    if rows * cols > _pixel_limit():
        raise InputError(_too_big_message(name, cols, rows))
    if rows * cols * frames > MAX_VOXELS:
        raise InputError(
            f"'{name}' has too many frames ({frames} of {cols}×{rows}); the limit is "
            f"{MAX_VOXELS / 1e6:.0f} million pixels in total."
        )
    try:
        arr = ds.pixel_array
    except MemoryError as e:
        raise InputError(f"'{name}' is too large to decode.") from e
    except Exception as e:
        syntax = ""
        try:
            syntax = f" (transfer syntax: {ds.file_meta.TransferSyntaxUID.name})"
        except AttributeError:
            pass
        raise InputError(
            f"The pixel data of '{name}' could not be decoded{syntax}: it is truncated, damaged "
            f"or compressed in a format this installation cannot decode ({_detail(e)})."
        ) from e
    arr = np.asarray(arr)
    if arr.size == 0:
        raise InputError(f"'{name}' is an empty DICOM image (0 pixels).")

    modality = str(ds.get("Modality", "") or "").strip().upper() or None
    spacing = _dicom_spacing(ds, notes)
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)

    if samples > 1 or photometric == "PALETTE COLOR":
        return _dicom_colour(ds, arr, name, spacing, modality, frames, photometric, notes)

    try:
        from pydicom.pixels import apply_modality_lut

        vals = np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    except Exception:  # odd LUTs: fall back to the plain rescale
        slope = _first_float(ds.get("RescaleSlope")) or 1.0
        inter = _first_float(ds.get("RescaleIntercept")) or 0.0
        vals = arr.astype(np.float32) * np.float32(slope) + np.float32(inter)
    is_ct = modality == "CT"
    invert = photometric == "MONOCHROME1"
    fc, fw = _first_float(ds.get("WindowCenter")), _first_float(ds.get("WindowWidth"))
    if fc is not None and fw is not None and fw > 0:
        auto = (fc, fw)
    elif is_ct:
        auto = WINDOW_PRESETS["abdomen"]
    else:
        auto = percentile_window(vals)

    volume, layout, axis, n, idx = None, None, None, 1, 0
    if frames > 1 and vals.ndim == 3:
        volume, layout, axis, n = vals, "frames", 0, vals.shape[0]
        idx = n // 2
        shown = vals[idx]
        notes.append(f"Multi-frame DICOM with {n} frames; showing frame {idx + 1}.")
    else:
        shown = vals.reshape(vals.shape[-2:]) if vals.ndim == 3 else vals
    if shown.ndim != 2:
        raise InputError(f"'{name}' has an unsupported pixel layout {tuple(arr.shape)}.")
    shown = np.ascontiguousarray(shown, dtype=np.float32)
    wname, cw = _resolve_window(window, auto, shown)
    disp = _to_rgb(apply_window(shown, *cw), invert=invert)
    return LoadedImage(
        kind="dicom", display_rgb=disp, pixel_spacing_mm=spacing, filename=name, values=shown,
        is_ct=is_ct, window=wname, window_cw=cw, auto_window=auto, volume=volume, layout=layout,
        axis=axis, n_slices=n, slice_index=idx, invert=invert, modality=modality,
        notes=tuple(notes),
    )


def _dicom_colour(ds: Any, arr: np.ndarray, name: str, spacing, modality, frames: int,
                  photometric: str, notes: list[str]) -> LoadedImage:
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        try:
            arr = np.asarray(apply_color_lut(arr, ds))
        except Exception as e:
            raise InputError(f"The colour palette of '{name}' could not be applied.") from e
    if frames > 1 and arr.ndim == 4:
        arr = arr[0]
        notes.append(f"Multi-frame colour DICOM with {frames} frames; only the first is shown.")
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise InputError(f"'{name}' has an unsupported colour layout {tuple(arr.shape)}.")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        bits = int(ds.get("BitsStored", 8) or 8)
        if photometric == "PALETTE COLOR":
            bits = 16 if arr.max() > 255 else 8
        scale = 255.0 / float((1 << bits) - 1)
        arr = np.clip(np.rint(arr.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    return LoadedImage(
        kind="dicom", display_rgb=np.ascontiguousarray(arr), pixel_spacing_mm=spacing,
        filename=name, modality=modality, notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# NIfTI
# --------------------------------------------------------------------------------------------

_UNIT_TO_MM = {"mm": 1.0, "meter": 1000.0, "micron": 0.001}


def _read_limited(p: Path, name: str, gz: bool) -> bytes:
    raw = p.read_bytes()
    if not gz:
        return raw
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, MAX_FILE_BYTES + 1)
    except zlib.error as e:
        raise InputError(f"'{name}' is a damaged gzip file and could not be decompressed.") from e
    if len(out) > MAX_FILE_BYTES:
        raise InputError(
            f"'{name}' is too large once decompressed (over {MAX_FILE_BYTES / 2**20:.0f} MB)."
        )
    if not d.eof:
        raise InputError(f"'{name}' is truncated: the compressed data ends early.")
    return out


def _load_nifti(p: Path, name: str, window: Window, gz: bool) -> LoadedImage:
    import nibabel as nib
    from nibabel import orientations as ornt_mod

    notes: list[str] = []
    data = _read_limited(p, name, gz)
    ver = _nifti_version(data[:600])
    cls = nib.Nifti2Image if ver == 2 else nib.Nifti1Image
    try:
        img = cls.from_bytes(data)
        shape = tuple(int(s) for s in img.shape)
    except Exception as e:
        raise InputError(f"'{name}' could not be read as NIfTI ({_detail(e)}).") from e
    if len(shape) == 0 or any(s <= 0 for s in shape):
        raise InputError(f"'{name}' is an empty NIfTI image (shape {shape}).")
    core = list(shape)
    while len(core) > 3 and core[-1] == 1:
        core.pop()
    if len(core) not in (2, 3):
        raise InputError(
            f"'{name}' is a {len(core)}D NIfTI image (shape {shape}); only 2D images and 3D "
            "volumes are supported. Please upload a single 3D volume."
        )
    n_vox = int(np.prod(core))
    if n_vox > MAX_VOXELS:
        raise InputError(
            f"'{name}' is too large ({n_vox / 1e6:.0f} million voxels; the limit is "
            f"{MAX_VOXELS / 1e6:.0f} million)."
        )
    dtype = img.header.get_data_dtype()
    if dtype.fields is not None or not (np.issubdtype(dtype, np.integer)
                                        or np.issubdtype(dtype, np.floating)
                                        or np.issubdtype(dtype, np.bool_)):
        raise InputError(f"'{name}' stores {dtype} voxels; only greyscale volumes are supported.")
    try:
        vol = np.asarray(img.dataobj, dtype=np.float32).reshape(core)
    except Exception as e:
        raise InputError(f"The voxel data of '{name}' is truncated or damaged.") from e
    if vol.ndim == 2:
        vol = vol[:, :, None]
    if not np.isfinite(vol).any():
        raise InputError(f"'{name}' contains no finite voxel values.")

    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    zooms += [1.0] * (3 - len(zooms))
    zooms = [z if np.isfinite(z) and z > 0 else 1.0 for z in zooms]
    unit = img.header.get_xyzt_units()[0]
    factor = _UNIT_TO_MM.get(unit)
    if factor is None:
        factor = 1.0
        notes.append("The file does not state its spatial unit; millimetres are assumed.")
    zooms = [z * factor for z in zooms]

    # reorient to RAS (closest canonical) so that axis 2 is axial
    try:
        ornt = ornt_mod.io_orientation(img.affine)
        if np.isnan(ornt).any():
            raise ValueError("degenerate affine")
        to_ras = ornt_mod.ornt_transform(ornt, ornt_mod.axcodes2ornt("RAS"))
        vol = np.ascontiguousarray(ornt_mod.apply_orientation(vol, to_ras))
        ras_zooms = [0.0, 0.0, 0.0]
        for in_axis, (out_axis, _flip) in enumerate(ornt):
            ras_zooms[int(out_axis)] = zooms[in_axis]
        zooms = ras_zooms
    except Exception:
        notes.append("The orientation in the header is unusable; axes are shown as stored.")

    finite = vol[np.isfinite(vol)] if not np.isfinite(vol).all() else vol
    sample = finite.ravel()[:: max(1, finite.size // 2_000_000)]
    vmin, vmax = float(sample.min()), float(sample.max())
    is_ct = vmin <= -900.0 and vmax >= 300.0
    auto = WINDOW_PRESETS["abdomen"] if is_ct else percentile_window(vol)

    axis = 2
    n = int(vol.shape[axis])
    idx = n // 2
    vals = slice_values(vol, idx, axis, oriented=True)
    wname, cw = _resolve_window(window, auto, vals)
    disp = _to_rgb(apply_window(vals, *cw))
    zt = (float(zooms[0]), float(zooms[1]), float(zooms[2]))
    return LoadedImage(
        kind="nifti", display_rgb=disp, pixel_spacing_mm=_slice_spacing(zt, axis), filename=name,
        values=vals, is_ct=is_ct, window=wname, window_cw=cw, auto_window=auto, volume=vol,
        layout="ras", axis=axis, n_slices=n, slice_index=idx, voxel_spacing_mm=zt,
        notes=tuple(notes),
    )
