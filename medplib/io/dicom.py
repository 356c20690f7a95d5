"""DICOM: modality LUT (HU for CT), stored / preset windows, spacing, multi-frame, MONOCHROME1, colour.

Window ``"auto"`` = the file's first WindowCenter/WindowWidth when present, else the abdomen
(soft-tissue) preset for CT, else the 0.5-99.5 percentile range. MONOCHROME1 is inverted after
windowing. Multi-frame DICOM becomes a volume of frames.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from . import limits
from .errors import ImageInputError, error_detail, unsupported_message
from .limits import pixel_limit, too_big_message
from .loaded import LoadedImage
from .windowing import WINDOW_PRESETS, Window, apply_window, grey_to_rgb, percentile_window, resolve_window


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


def _read_dataset(p: Path, name: str, force: bool) -> Any:
    """Read the file as a DICOM dataset that carries image data, or raise ImageInputError."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(p, force=force)
    except Exception as e:  # pydicom raises many types for damaged files
        if _ran_out(e):
            raise ImageInputError(TRUNCATED.format(name=name, detail="it ends in the middle of a data element")) from e
        if isinstance(e, InvalidDicomError):
            raise ImageInputError(f"'{name}' is not a valid DICOM file.") from e
        raise ImageInputError(
            f"'{name}' could not be read as DICOM; it may be damaged or truncated "
            f"({error_detail(e)})."
        ) from e
    if force and not any(k in ds for k in ("SOPClassUID", "Modality", "PixelData", "Rows")):
        raise ImageInputError(unsupported_message(name, b""))
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        cut = _cut_short(ds, p.stat().st_size)
        if cut:
            raise ImageInputError(TRUNCATED.format(name=name, detail=cut))
        what = str(ds.get("Modality", "") or "").strip()
        extra = f" (Modality: {what})" if what else ""
        raise ImageInputError(
            f"'{name}' is a DICOM file without image data{extra}, e.g. a report, RT plan, "
            "structure set or DICOMDIR. Please upload a DICOM image."
        )
    return ds


TRUNCATED = "'{name}' is a truncated (incomplete) DICOM file: {detail}. Please upload the complete file."


def _ran_out(err: BaseException | None) -> bool:
    """Whether pydicom failed because the file ended (inside a sequence item or an element header)."""
    while err is not None:
        if isinstance(err, (struct.error, EOFError)) or str(err).startswith("No tag to read at file position"):
            return True
        err = err.__cause__ or err.__context__
    return False


def _cut_short(ds: Any, size: int) -> str | None:
    """How a dataset without pixel data shows it was cut short (pydicom stops quietly at the end of a
    truncated file): it gives an image size, or it ends inside its last element."""
    if "Rows" in ds and "Columns" in ds:
        return "it ends before its pixel data"
    if len(ds):
        last = ds.get_item(max(ds.keys()))
        tell, length = getattr(last, "value_tell", None), getattr(last, "length", None)
        if isinstance(tell, int) and isinstance(length, int) and length != 0xFFFFFFFF and tell + length != size:
            return "it ends in the middle of a data element"
    return None


def _missing_pixel_bytes(ds: Any, frames: int) -> tuple[int, int] | None:
    """(bytes present, bytes expected) when native (uncompressed) pixel data is cut short, else None."""
    try:
        if ds.file_meta.TransferSyntaxUID.is_encapsulated:
            return None
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        expected = int(ds.Rows) * int(ds.Columns) * frames * samples * int(ds.BitsAllocated) // 8
        present = len(ds.PixelData)
    except (AttributeError, TypeError, ValueError, KeyError):
        return None
    return (present, expected) if present < expected else None


def _checked_frames(ds: Any, name: str) -> int:
    """The frame count, after checking Rows / Columns / frames against the size limits."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as e:
        raise ImageInputError(f"'{name}' lacks the image size (Rows/Columns); it is damaged.") from e
    if rows <= 0 or cols <= 0 or frames <= 0:
        raise ImageInputError(f"'{name}' is an empty DICOM image (0 pixels).")
    if rows * cols > pixel_limit():
        raise ImageInputError(too_big_message(name, cols, rows))
    if rows * cols * frames > limits.MAX_VOXELS:
        raise ImageInputError(
            f"'{name}' has too many frames ({frames} of {cols}×{rows}); the limit is "
            f"{limits.MAX_VOXELS / 1e6:.0f} million pixels in total."
        )
    return frames


def _decode_pixels(ds: Any, name: str, frames: int = 1) -> np.ndarray:
    """The decoded, non-empty pixel array."""
    short = _missing_pixel_bytes(ds, frames)
    if short is not None:
        raise ImageInputError(TRUNCATED.format(
            name=name, detail=f"it holds {short[0]:,} of the {short[1]:,} bytes of pixel data its header announces"))
    try:
        arr = ds.pixel_array
    except MemoryError as e:
        raise ImageInputError(f"'{name}' is too large to decode.") from e
    except Exception as e:
        syntax = ""
        try:
            syntax = f" (transfer syntax: {ds.file_meta.TransferSyntaxUID.name})"
        except AttributeError:
            pass
        raise ImageInputError(
            f"The pixel data of '{name}' could not be decoded{syntax}: it is truncated, damaged "
            f"or compressed in a format this installation cannot decode ({error_detail(e)})."
        ) from e
    arr = np.asarray(arr)
    if arr.size == 0:
        raise ImageInputError(f"'{name}' is an empty DICOM image (0 pixels).")
    return arr


def _modality_values(ds: Any, arr: np.ndarray) -> np.ndarray:
    """float32 values after the modality LUT (HU for CT), or the plain rescale for odd LUTs."""
    try:
        from pydicom.pixels import apply_modality_lut

        return np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    except Exception:  # odd LUTs: fall back to the plain rescale
        slope = _first_float(ds.get("RescaleSlope")) or 1.0
        inter = _first_float(ds.get("RescaleIntercept")) or 0.0
        return arr.astype(np.float32) * np.float32(slope) + np.float32(inter)


def _auto_window(ds: Any, vals: np.ndarray, is_ct: bool) -> tuple[float, float]:
    """The file's first stored window, else the abdomen preset for CT, else the percentile range."""
    fc, fw = _first_float(ds.get("WindowCenter")), _first_float(ds.get("WindowWidth"))
    if fc is not None and fw is not None and fw > 0:
        return (fc, fw)
    if is_ct:
        return WINDOW_PRESETS["abdomen"]
    return percentile_window(vals)


def load_dicom(p: Path, name: str, window: Window, force: bool) -> LoadedImage:
    notes: list[str] = []
    ds = _read_dataset(p, name, force)
    frames = _checked_frames(ds, name)
    arr = _decode_pixels(ds, name, frames)

    modality = str(ds.get("Modality", "") or "").strip().upper() or None
    spacing = _dicom_spacing(ds, notes)
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)

    if samples > 1 or photometric == "PALETTE COLOR":
        return _dicom_colour(ds, arr, name, spacing, modality, frames, photometric, notes)

    vals = _modality_values(ds, arr)
    is_ct = modality == "CT"
    invert = photometric == "MONOCHROME1"
    auto = _auto_window(ds, vals, is_ct)

    volume, layout, axis, n, idx = None, None, None, 1, 0
    if frames > 1 and vals.ndim == 3:
        volume, layout, axis, n = vals, "frames", 0, vals.shape[0]
        idx = n // 2
        shown = vals[idx]
        notes.append(f"Multi-frame DICOM with {n} frames; showing frame {idx + 1}.")
    else:
        shown = vals.reshape(vals.shape[-2:]) if vals.ndim == 3 else vals
    if shown.ndim != 2:
        raise ImageInputError(f"'{name}' has an unsupported pixel layout {tuple(arr.shape)}.")
    shown = np.ascontiguousarray(shown, dtype=np.float32)
    wname, cw = resolve_window(window, auto, shown)
    disp = grey_to_rgb(apply_window(shown, *cw), invert=invert)
    return LoadedImage(
        kind="dicom", display_rgb=disp, pixel_spacing_mm=spacing, filename=name, values=shown,
        is_ct=is_ct, window=wname, window_cw=cw, auto_window=auto, volume=volume, layout=layout,
        axis=axis, n_slices=n, slice_index=idx, invert=invert, modality=modality,
        slice_affine=dicom_affine(ds, spacing) if volume is None else None,
        dicom=ds if volume is None else None, notes=tuple(notes),
        volume_affine=None if volume is None else frames_affine(ds, spacing, n),
        volume_dicom=None if volume is None else ds,
    )


def _dicom_colour(ds: Any, arr: np.ndarray, name: str, spacing, modality, frames: int,
                  photometric: str, notes: list[str]) -> LoadedImage:
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        try:
            arr = np.asarray(apply_color_lut(arr, ds))
        except Exception as e:
            raise ImageInputError(f"The colour palette of '{name}' could not be applied.") from e
    if frames > 1 and arr.ndim == 4:
        arr = arr[0]
        notes.append(f"Multi-frame colour DICOM with {frames} frames; only the first is shown.")
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ImageInputError(f"'{name}' has an unsupported colour layout {tuple(arr.shape)}.")
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
        slice_affine=dicom_affine(ds, spacing) if frames == 1 else None, dicom=ds if frames == 1 else None,
    )


def dicom_affine(ds: Any, spacing: tuple[float, float] | None) -> np.ndarray | None:
    """Scanner RAS (mm) affine of a single-frame image stored as ``(rows, columns, 1)``, from
    ImagePositionPatient / ImageOrientationPatient / PixelSpacing (DICOM is LPS), or None without them."""
    try:
        position = np.array([float(v) for v in ds.ImagePositionPatient], dtype=float)
        orient = np.array([float(v) for v in ds.ImageOrientationPatient], dtype=float)
    except (AttributeError, TypeError, ValueError):
        return None
    if spacing is None or position.shape != (3,) or orient.shape != (6,) or not np.isfinite(orient).all():
        return None
    along_row, along_col = orient[:3], orient[3:]  # direction of increasing column / row index
    normal = np.cross(along_row, along_col)
    thickness = _first_float(ds.get("SliceThickness")) or 1.0
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1] = along_col * spacing[0], along_row * spacing[1]
    lps[:3, 2], lps[:3, 3] = normal * thickness, position
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def _orientation(ds: Any) -> np.ndarray | None:
    """ImageOrientationPatient (6 direction cosines), top level or in the shared functional groups."""
    for get in (lambda: ds.ImageOrientationPatient,
                lambda: ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient):
        try:
            orient = np.array([float(v) for v in get()], dtype=float)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            continue
        if orient.shape == (6,) and np.isfinite(orient).all():
            return orient
    return None


def _frame_positions(ds: Any, frames: int) -> np.ndarray | None:
    """(frames, 3) ImagePositionPatient of every frame (per-frame functional groups), else None."""
    try:
        pos = np.array([[float(v) for v in g.PlanePositionSequence[0].ImagePositionPatient]
                        for g in ds.PerFrameFunctionalGroupsSequence], dtype=float)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    return pos if pos.shape == (frames, 3) and np.isfinite(pos).all() else None


def frames_affine(ds: Any, spacing: tuple[float, float] | None, frames: int) -> np.ndarray | None:
    """Scanner RAS (mm) affine of a multi-frame image stored as ``(frames, rows, columns)``: voxel (f, r, c).

    The frame step comes from the per-frame positions (first to last, evenly spread) or, for a single
    ImagePositionPatient, from SpacingBetweenSlices (else SliceThickness) along the slice normal. None
    without orientation, spacing or a position."""
    orient = _orientation(ds)
    positions = _frame_positions(ds, frames)
    if positions is None:
        try:
            first = np.array([float(v) for v in ds.ImagePositionPatient], dtype=float)
        except (AttributeError, TypeError, ValueError):
            return None
        if first.shape != (3,) or not np.isfinite(first).all():
            return None
    if orient is None or spacing is None:
        return None
    along_row, along_col = orient[:3], orient[3:]
    if positions is not None:
        first = positions[0]
        step = (positions[-1] - positions[0]) / max(frames - 1, 1)
    else:
        gap = _first_float(ds.get("SpacingBetweenSlices")) or _first_float(ds.get("SliceThickness")) or 1.0
        step = np.cross(along_row, along_col) * gap
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = step, along_col * spacing[0], along_row * spacing[1], first
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
