"""Image-side heads: the `mlp2x_gelu` projector, the SEG projector and region-feature sampling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TwoLayerMLP(nn.Module):
    """Linear -> activation -> Linear (the original's `mm_projector` uses exact GELU, `text_hidden_fcs` ReLU)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, act: str):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, hidden_dim)
        self.act = nn.GELU() if act == "gelu" else nn.ReLU()
        self.linear_2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


def sample_region_feature(feature_map: torch.Tensor, mask: torch.Tensor, max_points: int,
                          centered: bool = False) -> torch.Tensor:
    """Mean of bilinear samples of `feature_map` at the mask's grid points (architecture.md §4, bit-faithful).

    feature_map [g_h, g_w, D] (row-major patch grid), mask [g_h, g_w] -> [D].
    The original normalises points by the grid size (not size-1) and samples with align_corners=True, i.e.
    at (col*(g-1)/g, row*(g-1)/g): the adapter was trained with that offset, so it is kept. Above
    `max_points` it took a random subset; we take an evenly spaced one so answers are reproducible.
    An empty mask gives the zero vector (the original's nan_to_num of an empty mean).
    `centered` (the architecture.md §7 fix, for models trained with it) samples at the patch centres themselves, i.e. the
    plain mean of the region's patch features; on an 8x8 grid the original's offset is up to 7/8 of a patch.
    """
    gh, gw, dim = feature_map.shape
    points = mask.nonzero().to(torch.float32)  # [n, 2] (row, col)
    if points.shape[0] == 0:
        return feature_map.new_zeros(dim)
    if points.shape[0] > max_points:
        keep = torch.linspace(0, points.shape[0] - 1, max_points, device=points.device).round().long()
        points = points[keep]
    scale = [max(gh - 1, 1), max(gw - 1, 1)] if centered else [gh, gw]
    norm = points / torch.tensor(scale, dtype=torch.float32, device=points.device)
    grid = (2 * norm.flip(-1) - 1).view(1, 1, -1, 2)  # (x, y) in [-1, 1]
    fmap = feature_map.permute(2, 0, 1)[None].float()  # [1, D, g_h, g_w]
    samples = F.grid_sample(fmap, grid, mode="bilinear", align_corners=True)  # [1, D, 1, n]
    return samples[0, :, 0].to(feature_map.dtype).mean(dim=-1)
