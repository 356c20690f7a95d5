"""`LoadedImage`: a decoded file, rendered for display and for the model, and slicing of volumes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import ImageInputError
from .windowing import Window, apply_window, grey_to_rgb, percentile_window, resolve_window


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
        volume_affine: 4 x 4 voxel -> scanner RAS (mm) affine of ``volume`` (NIfTI: after reorientation;
            multi-frame DICOM: voxel = (frame, row, column), from the frames' position / orientation / spacing).
        source_affine: the NIfTI header's own affine (the file's voxel order before reorientation), so that
            3-D exports can be written in the source's layout (:mod:`medplib.volume`); else None.
        slice_affine: 4 x 4 affine of the shown slice as an ``(H, W, 1)`` array (voxel = (row, column, 0))
            -> scanner RAS mm, from the source's geometry (NIfTI header; DICOM position / orientation /
            spacing), or None when the file has none. Mask exports use it so they overlay the source.
        dicom: the source pydicom dataset of a single-frame DICOM (DICOM-SEG export), else None.
        volume_dicom: the source pydicom dataset of a multi-frame DICOM (3-D DICOM-SEG export), else None.
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
    volume_affine: np.ndarray | None = field(default=None, repr=False)
    slice_affine: np.ndarray | None = field(default=None, repr=False)
    dicom: Any = field(default=None, repr=False)
    source_affine: np.ndarray | None = field(default=None, repr=False)
    volume_dicom: Any = field(default=None, repr=False)
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
        name, cw = resolve_window(window, self.auto_window, self.values)
        disp = grey_to_rgb(apply_window(self.values, *cw), invert=self.invert)
        return dataclasses.replace(self, display_rgb=disp, window=name, window_cw=cw)

    def with_slice(self, index: int, axis: int | None = None) -> "LoadedImage":
        """Show another slice (and optionally another axis, NIfTI only) with the same window."""
        if self.volume is None:
            return self
        axis = self.axis if axis is None else int(axis)
        if self.layout == "frames" and axis != 0:
            raise ImageInputError("This DICOM series can only be browsed frame by frame.")
        if axis not in (0, 1, 2):
            raise ImageInputError("The slice axis must be 0 (sagittal), 1 (coronal) or 2 (axial).")
        n = int(self.volume.shape[axis])
        index = int(min(max(int(index), 0), n - 1))
        vals = slice_values(self.volume, index, axis, oriented=self.layout == "ras")
        name, cw = resolve_window(self.window or "auto", self.auto_window, vals)
        if self.window == "custom" and self.window_cw is not None:
            name, cw = "custom", self.window_cw
        disp = grey_to_rgb(apply_window(vals, *cw), invert=self.invert)
        spacing, affine = self.pixel_spacing_mm, None
        if self.voxel_spacing_mm is not None:
            spacing = slice_spacing(self.voxel_spacing_mm, axis)
        if self.volume_affine is not None and self.layout == "ras":
            affine = ras_slice_affine(self.volume_affine, self.volume.shape, axis, index)
        return dataclasses.replace(
            self, display_rgb=disp, values=vals, axis=axis, n_slices=n, slice_index=index,
            window=name, window_cw=cw, pixel_spacing_mm=spacing, slice_affine=affine,
        )


def slice_values(volume: np.ndarray, index: int, axis: int = 2, *,
                 oriented: bool = True) -> np.ndarray:
    """The 2D ``float32`` slice ``index`` along ``axis``.

    ``oriented=True`` (NIfTI in RAS): the slice is transposed and flipped to radiological display
    (rows top->bottom = anterior->posterior for axial, superior->inferior otherwise; columns =
    patient right -> left). ``oriented=False`` (DICOM frames): ``volume[index]`` as stored.
    """
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise ImageInputError("Slicing needs a 3D volume.")
    axis = int(axis)
    if axis not in (0, 1, 2):
        raise ImageInputError("The slice axis must be 0, 1 or 2.")
    n = vol.shape[axis]
    if not 0 <= int(index) < n:
        raise ImageInputError(f"Slice {index} is outside the volume (0–{n - 1}).")
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
    _, cw = resolve_window(window, auto, vals)
    return grey_to_rgb(apply_window(vals, *cw), invert=invert)


def slice_spacing(zooms: Sequence[float], axis: int) -> tuple[float, float]:
    # display rows/cols after the transpose in slice_values(oriented=True)
    zx, zy, zz = (float(z) for z in zooms)
    return {2: (zy, zx), 1: (zz, zx), 0: (zz, zy)}[axis]


def ras_slice_affine(volume_affine: np.ndarray, shape: Sequence[int], axis: int, index: int) -> np.ndarray:
    """Affine of ``slice_values(volume, index, axis, oriented=True)`` stored as ``(H, W, 1)``.

    That slice shows voxel ``(i = N_i - 1 - col, j = N_j - 1 - row)`` of the two remaining axes
    ``i < j`` at ``axis = index``; this composes that map with the volume's affine.
    """
    i, j = (a for a in range(3) if a != axis)
    m = np.zeros((4, 4))
    m[j, 0], m[i, 1], m[axis, 2] = -1.0, -1.0, 1.0
    m[i, 3], m[j, 3], m[axis, 3], m[3, 3] = shape[i] - 1, shape[j] - 1, index, 1.0
    return np.asarray(volume_affine, dtype=float) @ m
