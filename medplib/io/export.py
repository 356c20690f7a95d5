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
  another geometry; ``export_masks(..., source=loaded)`` passes the source's own geometry
  (:attr:`LoadedImage.slice_affine`: the NIfTI header of the shown slice, or the DICOM position /
  orientation / spacing), so the mask overlays the source volume in a viewer.
* DICOM-SEG (``.seg.dcm``, via highdicom): when the source is a DICOM, one binary Segmentation object
  holding every mask as a segment, referencing the source image (same study, frame of reference and
  geometry); a multi-frame source takes one mask per frame (:mod:`medplib.volume`).
* 3-D NIfTI (:func:`volume_nifti`): a label volume on the source volume's affine.
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
    p = _target(path, (".nii", ".nii.gz"))
    m = _as_mask(mask)
    data = np.ascontiguousarray(m.astype(np.uint8)[:, :, None])
    aff = default_affine(spacing) if affine is None else np.asarray(affine, dtype=float)
    return _save_nifti(data, aff, p, "scanner" if affine is not None else "aligned")


def volume_nifti(labels: Any, path: str | os.PathLike, affine: np.ndarray) -> Path:
    """Write a 3-D label volume (0 = background, k = structure k; ``uint8``, ``uint16`` above 255 labels)
    as NIfTI-1 on ``affine`` (voxel -> scanner RAS mm, the source's geometry); returns the path."""
    p = _target(path, (".nii", ".nii.gz"))
    vol = np.asarray(labels)
    if vol.ndim != 3 or vol.size == 0 or vol.dtype.kind not in "biu" or (vol.size and vol.min() < 0):
        raise ValueError(f"expected a 3-D non-negative integer label volume, got {vol.dtype} {vol.shape}")
    dtype = np.uint8 if vol.max() < 256 else np.uint16
    return _save_nifti(np.ascontiguousarray(vol.astype(dtype)), np.asarray(affine, dtype=float), p, "scanner")


def _save_nifti(data: np.ndarray, affine: np.ndarray, p: Path, code: str) -> Path:
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(data.dtype)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = b"MedPLIB demo mask (research use only)"
    img.set_sform(affine, code=code)
    img.set_qform(affine, code=code)
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


def mask_dicom_seg(masks: Sequence[Any], path: str | os.PathLike, source: Any,
                   labels: Sequence[str] | None = None) -> Path:
    """Write ``masks`` as one binary DICOM-SEG referencing ``source`` (a pydicom dataset: ``LoadedImage.dicom``
    with masks H x W at its size, or a multi-frame ``LoadedImage.volume_dicom`` with masks frames x H x W);
    segment k is mask k. Returns the path."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    p = _target(path, (".dcm",))
    frames = int(source.get("NumberOfFrames", 1) or 1)
    as_frames = (lambda m: np.asarray(m).astype(bool)) if frames > 1 else (lambda m: _as_mask(m)[None])
    stack = np.stack([as_frames(m) for m in masks]) if len(masks) else np.zeros((0, 0, 0, 0), bool)
    shape = (frames, int(source.Rows), int(source.Columns))
    if stack.shape[0] == 0 or stack.shape[1:] != shape:
        raise ValueError(f"DICOM-SEG needs at least one mask of the source's size {shape}, got {stack.shape[1:]}")
    algorithm = hd.AlgorithmIdentificationSequence(name="MedPLIB", version="0.1.0",
                                                   family=codes.cid7162.ArtificialIntelligence)
    segments = [hd.seg.SegmentDescription(
        segment_number=k + 1, segment_label=(labels[k] if labels and k < len(labels) and labels[k] else f"mask {k + 1}"),
        segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm,
    ) for k in range(stack.shape[0])]
    labelled = np.moveaxis(stack, 0, -1).astype(np.uint8)  # (frames, H, W, segments)
    seg = hd.seg.Segmentation(
        source_images=[source], pixel_array=labelled, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments, series_instance_uid=hd.UID(), series_number=9000,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="MedPLIB", manufacturer_model_name="MedPLIB",
        software_versions="0.1.0", device_serial_number="0",
        series_description="MedPLIB masks (research use only)",
    )
    seg.save_as(p)
    return p


def export_masks(masks: Sequence[Any], out_dir: str | os.PathLike, stem: str = "mask",
                 labels: Sequence[str] | None = None, spacing: Sequence[float] | None = None,
                 formats: Sequence[str] | None = None, source: Any = None) -> list[Path]:
    """Write every mask in each format into ``out_dir`` (caller-owned); returns the files.

    Names: ``{stem}_mask{k}[_{label}].{fmt}`` with ``k`` starting at 1, and ``{stem}_masks.seg.dcm``
    (all masks in one DICOM-SEG). ``source``: the :class:`LoadedImage` the masks belong to; it gives
    the spacing, the NIfTI affine and (single-frame DICOM) the DICOM-SEG reference. ``formats``
    defaults to PNG + NIfTI, plus ``seg.dcm`` when the source is a single-frame DICOM that highdicom
    accepts (one it refuses keeps its PNG / NIfTI files; an explicit ``seg.dcm`` raises instead).
    """
    out = Path(os.fspath(out_dir))
    dicom = getattr(source, "dicom", None)
    affine = getattr(source, "slice_affine", None)
    if source is not None and spacing is None:
        spacing = source.pixel_spacing_mm
    auto = formats is None
    if auto:
        formats = ("png", "nii.gz") + (("seg.dcm",) if dicom is not None else ())
    files: list[Path] = []
    stem = safe_stem(stem, "mask")
    names = [safe_stem(labels[i], "") if labels is not None and i < len(labels) else "" for i in range(len(masks))]
    for i, m in enumerate(masks):
        base = f"{stem}_mask{i + 1}" + (f"_{names[i]}" if names[i] else "")
        for fmt in formats:
            fmt = fmt.lower().lstrip(".")
            if fmt == "png":
                files.append(mask_png(m, out / f"{base}.png"))
            elif fmt in ("nii", "nii.gz"):
                files.append(mask_nifti(m, out / f"{base}.{fmt}", spacing=spacing, affine=affine))
            elif fmt != "seg.dcm":
                raise ValueError(f"unknown export format {fmt!r}")
    if "seg.dcm" in [f.lower().lstrip(".") for f in formats] and len(masks):
        if dicom is None:
            raise ValueError("DICOM-SEG export needs a single-frame DICOM source")
        try:
            files.append(mask_dicom_seg(masks, out / f"{stem}_masks.seg.dcm", dicom, labels))
        except (ValueError, AttributeError, TypeError, KeyError):
            if not auto:  # asked for explicitly: say why; by default a source highdicom refuses
                raise     # (e.g. lacking study / frame-of-reference UIDs) keeps its PNG / NIfTI files
    return files
