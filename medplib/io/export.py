"""Writing predicted masks as files the user can download.

The caller owns the directory (e.g. a per-request ``tempfile.TemporaryDirectory`` it cleans up);
these helpers never pick a location themselves, refuse relative paths (they would land in the
working directory) and refuse the working directory itself. Nothing is written next to uploads.

* PNG: 8-bit greyscale, 0 = background, 255 = mask, at the original image size.
* NIfTI: ``uint8`` labels 0/1, data shape ``(H, W, 1)`` — voxel axis 0 = image row, axis 1 =
  image column — so ``nib.load(p).get_fdata()[..., 0]`` equals the mask exactly. The default
  affine places it like a DICOM slice shown in the usual radiological way: columns run towards
  patient left (RAS −x) and rows towards posterior (RAS −y), scaled by the pixel spacing in mm
  (1 mm when unknown), so viewers (ITK-SNAP, 3D Slicer) show it upright. Pass ``affine`` to use
  another geometry.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image


def _target(path: str | os.PathLike, suffixes: tuple[str, ...]) -> Path:
    p = Path(os.fspath(path))
    if not p.is_absolute():
        raise ValueError(f"export path must be absolute (inside a caller-provided temporary "
                         f"directory), got {str(p)!r}")
    if not p.parent.is_dir():
        raise ValueError(f"export directory does not exist: {str(p.parent)!r}")
    if p.parent.resolve() == Path.cwd().resolve():
        raise ValueError("refusing to write exports into the current working directory")
    if not p.name.lower().endswith(suffixes):
        raise ValueError(f"file name must end with one of {suffixes}: {p.name!r}")
    return p


def _as_mask(mask: Any) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[:, :, 0]
    elif m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"expected a 2D mask, got shape {np.shape(mask)}")
    return m >= 0.5 if m.dtype.kind == "f" else m.astype(bool)


def mask_png(mask: Any, path: str | os.PathLike) -> Path:
    """Write ``mask`` as an 8-bit PNG (0 / 255) at its own (original) size; returns the path."""
    p = _target(path, (".png",))
    m = _as_mask(mask)
    Image.fromarray(m.astype(np.uint8) * 255, mode="L").save(p, format="PNG")
    return p


def default_affine(spacing: Sequence[float] | None = None) -> np.ndarray:
    """RAS affine for a ``(H, W, 1)`` slice with ``(row, col)`` spacing in mm (1 mm if None)."""
    sr, sc = (1.0, 1.0) if spacing is None else (float(spacing[0]), float(spacing[1]))
    if not (np.isfinite(sr) and np.isfinite(sc)) or sr <= 0 or sc <= 0:
        sr, sc = 1.0, 1.0
    aff = np.zeros((4, 4))
    aff[0, 1] = -sc  # voxel axis 1 (column) -> towards patient left
    aff[1, 0] = -sr  # voxel axis 0 (row) -> towards posterior
    aff[2, 2] = 1.0
    aff[3, 3] = 1.0
    return aff


def mask_nifti(mask: Any, path: str | os.PathLike, spacing: Sequence[float] | None = None,
               affine: np.ndarray | None = None) -> Path:
    """Write ``mask`` as a ``uint8`` (0/1) NIfTI-1 file of shape ``(H, W, 1)``; returns the path.

    ``spacing`` = ``(row, col)`` pixel spacing in mm (sets the voxel size); ``affine`` overrides
    the default geometry (:func:`default_affine`).
    """
    import nibabel as nib

    p = _target(path, (".nii", ".nii.gz"))
    m = _as_mask(mask)
    data = np.ascontiguousarray(m.astype(np.uint8)[:, :, None])
    aff = default_affine(spacing) if affine is None else np.asarray(affine, dtype=float)
    img = nib.Nifti1Image(data, aff)
    img.header.set_data_dtype(np.uint8)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = b"MedPLIB demo mask (research use only)"
    code = "scanner" if affine is not None else "aligned"
    img.set_sform(aff, code=code)
    img.set_qform(aff, code=code)
    nib.save(img, str(p))
    return p


def read_mask_nifti(path: str | os.PathLike) -> np.ndarray:
    """Inverse of :func:`mask_nifti`: the 2D boolean mask."""
    import nibabel as nib

    data = np.asanyarray(nib.load(os.fspath(path)).dataobj)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    return data > 0


def safe_stem(name: str | None, default: str = "image") -> str:
    """A file-name stem from an upload's name: extension(s) dropped, only ``[A-Za-z0-9_-]``."""
    base = Path(str(name or "")).name
    for ext in (".nii.gz", ".gz"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    base = Path(base).stem if "." in base else base
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_")[:60]
    return base or default


def export_masks(masks: Sequence[Any], out_dir: str | os.PathLike, stem: str = "mask",
                 labels: Sequence[str] | None = None, spacing: Sequence[float] | None = None,
                 formats: Sequence[str] = ("png", "nii.gz")) -> list[Path]:
    """Write every mask in each format into ``out_dir`` (caller-owned); returns the files.

    Names: ``{stem}_mask{k}[_{label}].{fmt}`` with ``k`` starting at 1.
    """
    out = Path(os.fspath(out_dir))
    files: list[Path] = []
    stem = safe_stem(stem, "mask")
    for i, m in enumerate(masks):
        label = safe_stem(labels[i], "") if labels is not None and i < len(labels) else ""
        base = f"{stem}_mask{i + 1}" + (f"_{label}" if label else "")
        for fmt in formats:
            fmt = fmt.lower().lstrip(".")
            if fmt == "png":
                files.append(mask_png(m, out / f"{base}.png"))
            elif fmt in ("nii", "nii.gz"):
                files.append(mask_nifti(m, out / f"{base}.{fmt}", spacing=spacing))
            else:
                raise ValueError(f"unknown export format {fmt!r}")
    return files
