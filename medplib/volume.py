"""Whole-volume grounding: one grounding question asked slice by slice over a loaded volume, the answers'
masks gathered into a 3-D result in the source's geometry.

    from medplib import MedPLIB
    from medplib.io import load_image
    from medplib.volume import segment_volume

    loaded = load_image("scan.nii.gz")                     # NIfTI, or a multi-frame DICOM
    result = segment_volume(MedPLIB.from_pretrained(), loaded, "Please segment the liver.",
                            progress=lambda done, total: print(done, "/", total))
    result.names, result.slices_with_masks                 # ["liver"], [12, 13, ...]
    result.export(out_dir)                                 # 3-D NIfTI label map (+ DICOM-SEG for DICOM)

Choices: each slice along ``axis`` (default: the axis shown) is rendered exactly as the app shows it (the
loaded image's window) and asked alone, greedy, without history or regions, so a slice's masks equal asking
that slice alone. Every ``<SEG>`` is named by :func:`medplib.structure_names.structure_names`; one structure
per distinct name (an unnamed one is "structure K"), masks with the same name on a slice are joined. A slice
whose answer grounds nothing (or only empty masks) stays empty. ``stop_event`` ends the run: the answer in
progress is cut short and dropped, the slices asked before it are kept (``stopped`` is then True).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MedPLIBInputError
from .io import LoadedImage, mask_dicom_seg, safe_stem, volume_nifti
from .io.export import default_affine
from .structure_names import structure_names

Progress = Callable[[int, int], None]  # (slices done, slices in all)


@dataclass
class VolumeSegmentation:
    """The masks of a whole-volume question.

    Attributes:
        source: the :class:`LoadedImage` asked about (its ``volume`` gives the layout of ``masks``).
        question: the question asked of every slice.
        axis: the slice axis of ``source.volume`` the question went along.
        names: one name per structure; structure k is label k + 1 of :attr:`labels`.
        masks: one bool volume per structure, each ``source.volume.shape``.
        slices_with_masks: slice indices (0-based, along ``axis``) where a structure was found.
        slices_done: how many slices were asked completely (``n_slices`` unless stopped).
        n_slices: the slices along ``axis``.
        stopped: the stop event ended the run early.
    """

    source: LoadedImage
    question: str
    axis: int
    names: list[str] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list, repr=False)
    slices_with_masks: list[int] = field(default_factory=list)
    slices_done: int = 0
    n_slices: int = 0
    stopped: bool = False

    @property
    def labels(self) -> np.ndarray:
        """Label map, ``source.volume.shape``: 0 = nothing, k = structure k (the first-named wins where two overlap)."""
        out = np.zeros(self.source.volume.shape, np.uint8 if len(self.masks) < 256 else np.uint16)
        for k in range(len(self.masks) - 1, -1, -1):
            out[self.masks[k]] = k + 1
        return out

    def summary(self) -> str:
        """One line for people, e.g. ``liver found in 14 of 40 slices``."""
        found = ", ".join(self.names) if self.names else "nothing"
        text = f"{found} found in {len(self.slices_with_masks)} of {self.n_slices} slices"
        return text + (f" (stopped after {self.slices_done} slices)" if self.stopped else "")

    def nifti_geometry(self) -> tuple[np.ndarray, np.ndarray]:
        """``(label data, affine)`` in the source's own voxel layout and geometry: a NIfTI source's header
        orientation, shape and affine; a multi-frame DICOM as (rows, columns, frames) on its frames' positions."""
        labels, src = self.labels, self.source
        if src.layout == "frames":
            data = np.ascontiguousarray(np.transpose(labels, (1, 2, 0)))  # (f, r, c) -> (r, c, f)
            if src.volume_affine is None:
                return data, default_affine(src.pixel_spacing_mm)
            return data, np.asarray(src.volume_affine, dtype=float)[:, [1, 2, 0, 3]]
        if src.volume_affine is None or src.source_affine is None:  # shown as stored: the header's own affine
            affine = src.source_affine if src.source_affine is not None else np.eye(4)
            return labels, np.asarray(affine, dtype=float)
        from nibabel import orientations as ornt

        back = ornt.ornt_transform(ornt.axcodes2ornt("RAS"), ornt.io_orientation(src.source_affine))
        affine = np.asarray(src.volume_affine, dtype=float) @ ornt.inv_ornt_aff(back, labels.shape)
        return np.ascontiguousarray(ornt.apply_orientation(labels, back)), affine

    def export(self, out_dir: str | os.PathLike, stem: str | None = None) -> list[Path]:
        """Write the result into ``out_dir`` (caller-owned): ``{stem}_volume_labels.nii.gz`` always, and
        ``{stem}_volume.seg.dcm`` (one segment per structure) for a DICOM source highdicom accepts."""
        out = Path(os.fspath(out_dir))
        stem = safe_stem(stem or self.source.filename, "volume")
        data, affine = self.nifti_geometry()
        files = [volume_nifti(data, out / f"{stem}_volume_labels.nii.gz", affine)]
        if self.source.volume_dicom is not None and self.masks:
            try:
                files.append(mask_dicom_seg(self.masks, out / f"{stem}_volume.seg.dcm", self.source.volume_dicom,
                                            self.names))
            except (ValueError, AttributeError, TypeError, KeyError):
                pass  # a source highdicom refuses (e.g. no study / frame-of-reference UIDs) keeps its NIfTI
        return files


def slice_to_volume(mask: np.ndarray, loaded: LoadedImage, index: int, axis: int, into: np.ndarray) -> None:
    """Put a mask of the shown slice ``index`` (display orientation, H x W) into the volume array ``into``."""
    if loaded.layout == "ras":  # undo slice_values' transpose + flips
        mask = np.asarray(mask)[::-1, ::-1].T
    where = [slice(None)] * 3
    where[axis] = index
    into[tuple(where)] |= np.asarray(mask, dtype=bool)


def segment_volume(medplib: Any, loaded: LoadedImage, question: str, *, axis: int | None = None,
                   progress: Progress | None = None, stop_event: threading.Event | None = None,
                   **generate: Any) -> VolumeSegmentation:
    """Ask ``question`` about every slice of ``loaded`` (NIfTI or multi-frame DICOM) along ``axis``.

    ``medplib``: a :class:`medplib.MedPLIB` (anything with its ``ask``); ``generate``: its generation keywords
    (``max_new_tokens``, ``max_time`` ...). ``progress(done, total)`` is called after every slice. Raises
    :class:`MedPLIBInputError` for a 2-D image, a bad axis or a question the model refuses (e.g. one that
    refers to regions: drawn regions belong to one slice)."""
    if not isinstance(loaded, LoadedImage) or not loaded.is_volume:
        raise MedPLIBInputError("loaded: whole-volume grounding needs a volume (a NIfTI or a multi-frame DICOM)")
    axis = loaded.axis if axis is None else axis
    if loaded.layout == "frames" and axis != 0 or axis not in (0, 1, 2):
        raise MedPLIBInputError(f"axis: expected {'0 (frames)' if loaded.layout == 'frames' else '0, 1 or 2'}, "
                                f"got {axis!r}")
    total = int(loaded.volume.shape[axis])
    result = VolumeSegmentation(loaded, question, axis, n_slices=total)
    index_of: dict[str, int] = {}
    for i in range(total):
        if stop_event is not None and stop_event.is_set():
            result.stopped = True
            break
        answer = medplib.ask(loaded.with_slice(i, axis).display_rgb, question, stop_event=stop_event, **generate)
        if stop_event is not None and stop_event.is_set():  # cut short: not this slice's real answer
            result.stopped = True
            break
        found = False
        names = structure_names(answer.raw_text, question)
        for name, mask in zip(names + [None] * (len(answer.masks) - len(names)), answer.masks):
            if not np.any(mask):
                continue
            name = name or f"structure {len(result.names) + 1}"
            if name not in index_of:
                index_of[name] = len(result.names)
                result.names.append(name)
                result.masks.append(np.zeros(loaded.volume.shape, bool))
            slice_to_volume(mask, loaded, i, axis, result.masks[index_of[name]])
            found = True
        if found:
            result.slices_with_masks.append(i)
        result.slices_done = i + 1
        if progress is not None:
            progress(i + 1, total)
    return result
