"""The error the file readers raise, and the wording shared by them."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import MedPLIBInputError


class ImageInputError(MedPLIBInputError):
    """A problem with a file the user supplied (unreadable, unsupported, empty, too large, ...).

    A :class:`~medplib.errors.MedPLIBInputError` (so a `ValueError`); ``message`` holds the user-facing text (also ``str(err)``): what is
    wrong and what to do, without stack traces or file-system paths. The demo shows it as it is.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


EXT_TO_KIND = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
    ".bmp": "BMP", ".webp": "WebP", ".gif": "GIF", ".dcm": "DICOM", ".dicom": "DICOM",
    ".nii": "NIfTI", ".nii.gz": "NIfTI (gzip)",
}
SUPPORTED_TEXT = "PNG, JPEG, TIFF, BMP, WebP, GIF, DICOM (.dcm) or NIfTI (.nii / .nii.gz)"


def file_ext(name: str) -> str:
    low = name.lower()
    if low.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(low).suffix


def unsupported_message(name: str, head: bytes) -> str:
    ext = file_ext(name)
    claimed = EXT_TO_KIND.get(ext)
    if claimed:
        return (
            f"'{name}' has a {ext} extension but its contents are not a valid {claimed} file; "
            f"it may be damaged or mislabelled. Supported: {SUPPORTED_TEXT}."
        )
    textish = head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:512])
    what = "a text file" if textish else "a file type this demo cannot read"
    return f"'{name}' looks like {what}, not an image. Supported: {SUPPORTED_TEXT}."


def error_detail(e: BaseException, limit: int = 200) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    msg = re.sub(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/]+){2,}", "<file>", msg)  # no server paths
    return msg if len(msg) <= limit else msg[: limit - 1].rstrip() + "…"
