"""NIfTI-1/2 (``.nii`` / ``.nii.gz``): canonical (RAS) orientation, slices on any axis, spacing in mm.

Volumes are reoriented to RAS (closest canonical) and shown in radiological convention (patient right
on the viewer's left, anterior / superior at the top). The default slice axis is axial (2). Spacing
comes from the header zooms (converted to mm from the header's unit). Window ``"auto"`` = abdomen
preset when the values look like Hounsfield units (min <= -900, max >= 300), else the 0.5-99.5
percentile range of the whole volume (so every slice uses the same mapping).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from . import limits
from .errors import ImageInputError, error_detail
from .loaded import LoadedImage, ras_slice_affine, slice_spacing, slice_values
from .windowing import WINDOW_PRESETS, Window, apply_window, grey_to_rgb, percentile_window, resolve_window


def nifti_version(head: bytes) -> int | None:
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


_UNIT_TO_MM = {"mm": 1.0, "meter": 1000.0, "micron": 0.001}


def _read_limited(p: Path, name: str, gz: bool) -> bytes:
    raw = p.read_bytes()
    if not gz:
        return raw
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, limits.MAX_FILE_BYTES + 1)
    except zlib.error as e:
        raise ImageInputError(f"'{name}' is a damaged gzip file and could not be decompressed.") from e
    if len(out) > limits.MAX_FILE_BYTES:
        raise ImageInputError(
            f"'{name}' is too large once decompressed (over {limits.MAX_FILE_BYTES / 2**20:.0f} MB)."
        )
    if not d.eof:
        raise ImageInputError(f"'{name}' is truncated: the compressed data ends early.")
    return out


def _open_image(data: bytes, name: str):
    """(nibabel image, its core shape: trailing singleton axes beyond 3 dropped), checked against the limits."""
    import nibabel as nib

    ver = nifti_version(data[:600])
    cls = nib.Nifti2Image if ver == 2 else nib.Nifti1Image
    try:
        img = cls.from_bytes(data)
        shape = tuple(int(s) for s in img.shape)
    except Exception as e:
        raise ImageInputError(f"'{name}' could not be read as NIfTI ({error_detail(e)}).") from e
    if len(shape) == 0 or any(s <= 0 for s in shape):
        raise ImageInputError(f"'{name}' is an empty NIfTI image (shape {shape}).")
    core = list(shape)
    while len(core) > 3 and core[-1] == 1:
        core.pop()
    if len(core) not in (2, 3):
        raise ImageInputError(
            f"'{name}' is a {len(core)}D NIfTI image (shape {shape}); only 2D images and 3D "
            "volumes are supported. Please upload a single 3D volume."
        )
    n_vox = int(np.prod(core))
    if n_vox > limits.MAX_VOXELS:
        raise ImageInputError(
            f"'{name}' is too large ({n_vox / 1e6:.0f} million voxels; the limit is "
            f"{limits.MAX_VOXELS / 1e6:.0f} million)."
        )
    return img, core


def _read_volume(img, core: list[int], name: str) -> np.ndarray:
    """The voxels as a float32 [X, Y, Z] volume (2D images get Z = 1) with at least one finite value."""
    dtype = img.header.get_data_dtype()
    if dtype.fields is not None or not (np.issubdtype(dtype, np.integer)
                                        or np.issubdtype(dtype, np.floating)
                                        or np.issubdtype(dtype, np.bool_)):
        raise ImageInputError(f"'{name}' stores {dtype} voxels; only greyscale volumes are supported.")
    try:
        vol = np.asarray(img.dataobj, dtype=np.float32).reshape(core)
    except Exception as e:
        raise ImageInputError(f"The voxel data of '{name}' is truncated or damaged.") from e
    if vol.ndim == 2:
        vol = vol[:, :, None]
    if not np.isfinite(vol).any():
        raise ImageInputError(f"'{name}' contains no finite voxel values.")
    return vol


def _zooms_mm(img, notes: list[str]) -> list[float]:
    """The three voxel sizes in mm (unusable ones -> 1; an unstated unit is taken as mm, with a note)."""
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    zooms += [1.0] * (3 - len(zooms))
    zooms = [z if np.isfinite(z) and z > 0 else 1.0 for z in zooms]
    unit = img.header.get_xyzt_units()[0]
    factor = _UNIT_TO_MM.get(unit)
    if factor is None:
        factor = 1.0
        notes.append("The file does not state its spatial unit; millimetres are assumed.")
    return [z * factor for z in zooms]


def _to_ras(img, vol: np.ndarray, zooms: list[float], notes: list[str]):
    """(volume, zooms, affine) reoriented to RAS (closest canonical) so that axis 2 is axial; as stored, with
    a None affine and a note, when the header's orientation is unusable."""
    from nibabel import orientations as ornt_mod

    affine = None
    try:
        ornt = ornt_mod.io_orientation(img.affine)
        if np.isnan(ornt).any():
            raise ValueError("degenerate affine")
        to_ras = ornt_mod.ornt_transform(ornt, ornt_mod.axcodes2ornt("RAS"))
        affine = np.asarray(img.affine, dtype=float) @ ornt_mod.inv_ornt_aff(to_ras, vol.shape)
        vol = np.ascontiguousarray(ornt_mod.apply_orientation(vol, to_ras))
        ras_zooms = [0.0, 0.0, 0.0]
        for in_axis, (out_axis, _flip) in enumerate(ornt):
            ras_zooms[int(out_axis)] = zooms[in_axis]
        zooms = ras_zooms
    except Exception:
        notes.append("The orientation in the header is unusable; axes are shown as stored.")
    return vol, zooms, affine


def _auto_window(vol: np.ndarray) -> tuple[bool, tuple[float, float]]:
    """(looks like CT, auto window): abdomen preset for Hounsfield-like values, else the volume's percentiles."""
    finite = vol[np.isfinite(vol)] if not np.isfinite(vol).all() else vol
    sample = finite.ravel()[:: max(1, finite.size // 2_000_000)]
    vmin, vmax = float(sample.min()), float(sample.max())
    is_ct = vmin <= -900.0 and vmax >= 300.0
    return is_ct, WINDOW_PRESETS["abdomen"] if is_ct else percentile_window(vol)


def load_nifti(p: Path, name: str, window: Window, gz: bool) -> LoadedImage:
    import nibabel  # noqa: F401  (a missing nibabel fails here, before the file is read)

    notes: list[str] = []
    data = _read_limited(p, name, gz)
    img, core = _open_image(data, name)
    vol = _read_volume(img, core, name)
    zooms = _zooms_mm(img, notes)
    vol, zooms, affine = _to_ras(img, vol, zooms, notes)
    is_ct, auto = _auto_window(vol)

    axis = 2
    n = int(vol.shape[axis])
    idx = n // 2
    vals = slice_values(vol, idx, axis, oriented=True)
    wname, cw = resolve_window(window, auto, vals)
    disp = grey_to_rgb(apply_window(vals, *cw))
    zt = (float(zooms[0]), float(zooms[1]), float(zooms[2]))
    return LoadedImage(
        kind="nifti", display_rgb=disp, pixel_spacing_mm=slice_spacing(zt, axis), filename=name,
        values=vals, is_ct=is_ct, window=wname, window_cw=cw, auto_window=auto, volume=vol,
        layout="ras", axis=axis, n_slices=n, slice_index=idx, voxel_spacing_mm=zt, volume_affine=affine,
        slice_affine=None if affine is None else ras_slice_affine(affine, vol.shape, axis, idx), notes=tuple(notes),
        source_affine=np.asarray(img.affine, dtype=float),
    )
