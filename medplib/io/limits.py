"""Size limits for reading files (one home; the readers look them up at call time so they can be lowered).

Files above :data:`MAX_FILE_BYTES`, 2D images above :data:`MAX_PIXELS` pixels and volumes above
:data:`MAX_VOXELS` voxels are refused. Pillow's own decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``)
is respected too (without touching the process-wide warning filters, which are not thread-safe).
"""

from __future__ import annotations

from PIL import Image


#: Largest 2D picture accepted (pixels). Pillow's ``Image.MAX_IMAGE_PIXELS`` applies as well.
MAX_PIXELS = 50_000_000
#: Largest volume accepted (voxels; ~800 MB as float32).
MAX_VOXELS = 200_000_000
#: Largest upload (bytes on disk, and bytes after gunzip for .nii.gz).
MAX_FILE_BYTES = 1 << 30


def pixel_limit() -> int:
    lim = MAX_PIXELS
    pil = Image.MAX_IMAGE_PIXELS
    if pil is not None:
        lim = min(lim, int(pil))
    return lim


def too_big_message(name: str, w: int, h: int) -> str:
    return (
        f"'{name}' is too large ({w}×{h} = {w * h / 1e6:.1f} megapixels; the limit is "
        f"{pixel_limit() / 1e6:.0f} megapixels). Please downscale it before uploading."
    )
