"""Low-res mask logits -> masks at the original image size.

"original" copies MedPLIB's `postprocess_masks` arithmetic (architecture.md §6, tests/data/PARITY.md): the crop is
computed with 256-space sizes on the low-res map, which only matches the geometry for (near)
square images. "exact" undoes the centred SAM padding correctly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MODES = ("original", "exact")


def _original_crop(length: int, size: int) -> slice:
    """The original's slice along one axis: pad = length - size; [pad//2 : pad//2 + length - pad],
    with Python's slicing rules (negative starts count from the end, ends are clamped)."""
    pad = length - size
    start = pad // 2  # floor, also for negative pads
    return slice(*slice(start, start + length - pad).indices(length))


def postprocess_masks(low_res: torch.Tensor, input_size: tuple[int, int], original_size: tuple[int, int],
                      mode: str = "original", image_size: int = 256) -> torch.Tensor:
    """low_res [n, k, h, w] logits; input_size (h', w') = resized image size in S-space (before
    the centred padding); original_size (H, W) -> float32 logits [n, k, H, W].

    Interpolation runs in float32 whatever the input dtype (bilinear, align_corners=False).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if low_res.dim() != 4:
        raise ValueError(f"low_res must be [n, k, h, w], got {tuple(low_res.shape)}")
    ih, iw = int(input_size[0]), int(input_size[1])
    out_hw = (int(original_size[0]), int(original_size[1]))
    x = low_res.float()
    if x.shape[0] == 0:
        return x.new_zeros(0, x.shape[1], *out_hw)
    if mode == "original":
        x = x[:, :, _original_crop(x.shape[-2], ih), _original_crop(x.shape[-1], iw)]
    else:
        if not (0 < ih <= image_size and 0 < iw <= image_size):
            raise ValueError(f"input_size {input_size} must lie within the {image_size}x{image_size} SAM input")
        x = F.interpolate(x, (image_size, image_size), mode="bilinear", align_corners=False)
        top, left = (image_size - ih) // 2, (image_size - iw) // 2  # same offsets as the preprocessing
        x = x[:, :, top : top + ih, left : left + iw]
    return F.interpolate(x, out_hw, mode="bilinear", align_corners=False)
