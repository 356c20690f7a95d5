"""Loading uploaded medical images for display and prompting (no model dependency).

``load_upload(path)`` (also ``medplib.io.load_image``) accepts ordinary pictures (PNG, JPEG, TIFF, BMP, WebP, GIF — 8-bit or 16-bit
greyscale), DICOM files and NIfTI volumes (``.nii`` / ``.nii.gz``) and returns a
:class:`LoadedImage` whose ``display_rgb`` is the H x W x 3 ``uint8`` picture that the demo shows,
draws on and sends to the model. Everything the user can get wrong raises
:class:`medplib.io.ImageInputError` with a message meant for the user.

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

import os
import zlib
from pathlib import Path
from typing import Union

from . import limits
from .dicom import load_dicom
from .errors import ImageInputError, file_ext, unsupported_message
from .loaded import LoadedImage
from .nifti import load_nifti, nifti_version
from .pictures import load_picture
from .windowing import Window

_DICOM_EXTS = {".dcm", ".dicom", ".dic", ".ima", ""}


def load_upload(path: Union[str, os.PathLike], *, filename: str | None = None,
                window: Window = "auto") -> LoadedImage:
    """Decode an uploaded file into a :class:`LoadedImage`.

    Args:
        path: the file on disk (e.g. Gradio's temporary copy of the upload).
        filename: the user's original file name (defaults to ``path``'s base name); only used
            for messages, labels and the extension hint.
        window: initial window for DICOM / NIfTI / 16-bit data (name or ``(center, width)``).

    Raises:
        ImageInputError: unreadable, truncated, unsupported, empty or too large input.
    """
    if path is None:
        raise ImageInputError("No file was uploaded.")
    p = Path(os.fspath(path))
    name = Path(filename).name if filename else p.name
    name = name if len(name) <= 80 else name[:77] + "..."  # messages stay short whatever the name
    if not os.path.isfile(p):  # False (not an error) for a name too long for the file system, too
        raise ImageInputError(f"The upload '{name}' could not be found; please upload it again.")
    size = p.stat().st_size
    if size == 0:
        raise ImageInputError(f"The file '{name}' is empty (0 bytes).")
    if size > limits.MAX_FILE_BYTES:
        raise ImageInputError(
            f"The file '{name}' is too large ({size / 2**20:.0f} MB; the limit is "
            f"{limits.MAX_FILE_BYTES / 2**20:.0f} MB)."
        )
    with open(p, "rb") as fh:
        head = fh.read(1024)
    kind = _sniff(head, name)
    if kind == "image":
        return load_picture(p, name, window)
    if kind in ("dicom", "dicom-raw"):
        return load_dicom(p, name, window, force=kind == "dicom-raw")
    if kind in ("nifti", "nifti-gz"):
        return load_nifti(p, name, window, gz=kind == "nifti-gz")
    if kind == "analyze-pair":
        raise ImageInputError(
            f"'{name}' is the header of a two-file NIfTI/Analyze image (.hdr + .img). "
            "Please upload a single-file .nii or .nii.gz instead."
        )
    raise ImageInputError(unsupported_message(name, head))


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
        if nifti_version(inner) in (1, 2):
            return "nifti-gz"
        return None
    ver = nifti_version(head)
    if ver in (1, 2):
        return "nifti"
    if ver == -1:
        return "analyze-pair"
    # DICOM without the 128-byte preamble ("raw" dataset): starts with a group 0x0002/0x0008 tag
    if file_ext(name) in _DICOM_EXTS and len(head) >= 8:
        group = int.from_bytes(head[:2], "little")
        if group in (0x0002, 0x0008):
            return "dicom-raw"
    return None
