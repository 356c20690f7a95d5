"""SAM-Med2D ViT image encoder: windowed + global attention with decomposed relative positions,
a SAM-Med2D adapter in every block, and a conv neck down to the prompt dimension.

Tokens are kept channels-last, [B, H, W, C], as in the original (the adapter and the neck
permute to channels-first locally).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d, MLPBlock
from .config import SamConfig


def _window_partition(x: torch.Tensor, ws: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[B, H, W, C] -> ([B * nWin, ws, ws, C], padded (Hp, Wp)).

    The grid is zero-padded bottom/right to a multiple of the window; the padded tokens are NOT
    masked in attention (the original does not mask them either, and the weights expect that).
    """
    b, h, w, c = x.shape
    pad_h, pad_w = (-h) % ws, (-w) % ws
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws, ws, c), (hp, wp)


def _window_unpartition(
    windows: torch.Tensor, ws: int, padded: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """[B * nWin, ws, ws, C] -> [B, H, W, C] (drops the padding)."""
    hp, wp = padded
    b = windows.shape[0] // ((hp // ws) * (wp // ws))
    x = windows.view(b, hp // ws, wp // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, hp, wp, -1)
    return x[:, : size[0], : size[1]].contiguous()


def _rel_pos_table(size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative-position embeddings for a side of `size` tokens: [size(q), size(k), head_dim].

    Entry (i, j) is rel_pos[i - j + size - 1]. A table trained for another size is resized
    linearly along the offset axis (what the original does when the grid changes).
    """
    n = 2 * size - 1
    if rel_pos.shape[0] != n:
        rel_pos = F.interpolate(rel_pos.T[None].float(), size=n, mode="linear")[0].T.to(rel_pos.dtype)
    idx = torch.arange(size, device=rel_pos.device)
    return rel_pos[idx[:, None] - idx[None, :] + (size - 1)]


class SamMed2DAttention(nn.Module):
    """Multi-head self-attention over a [B, H, W, C] grid with decomposed rel-pos (MViTv2 style)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, use_rel_pos: bool, rel_size: int,
                 rel_pos_zero_init: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            # rel_size = window side for windowed blocks, grid side for global blocks
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * rel_size - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * rel_size - 1, head_dim))
            if not rel_pos_zero_init:
                nn.init.trunc_normal_(self.rel_pos_h, std=0.02)
                nn.init.trunc_normal_(self.rel_pos_w, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, H, W, C] -> [B, H, W, C]."""
        b, h, w, _ = x.shape
        nh = self.num_heads
        # [3, B*heads, H*W, head_dim]
        qkv = self.qkv(x).reshape(b, h * w, 3, nh, -1).permute(2, 0, 3, 1, 4).reshape(3, b * nh, h * w, -1)
        q, k, v = qkv.unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # [B*heads, HW, HW]
        if self.use_rel_pos:
            # bias uses the *unscaled* q, added as (attn + rel_h) + rel_w like the original
            rh = _rel_pos_table(h, self.rel_pos_h)
            rw = _rel_pos_table(w, self.rel_pos_w)
            rq = q.reshape(b * nh, h, w, -1)
            rel_h = torch.einsum("bhwc,hkc->bhwk", rq, rh)  # [B*heads, H, W, kH]
            rel_w = torch.einsum("bhwc,wkc->bhwk", rq, rw)  # [B*heads, H, W, kW]
            attn = attn.view(b * nh, h, w, h, w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
            attn = attn.view(b * nh, h * w, h * w)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).view(b, nh, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
        return self.proj(out)


class SamMed2DAdapter(nn.Module):
    """SAM-Med2D adapter on the normed tokens x_n [B, H, W, C] (architecture.md §6).

    gate = sigmoid(MLP(mean_hw x_n)); out = LayerNorm(x_n + spatial(gate * x_n)). The skip adds
    the *un-gated* x_n; the adapter LayerNorm uses torch's default eps 1e-5.
    The spatial branch (stride-2 conv, 4x4 stride-2 transposed conv) needs an even grid.
    """

    def __init__(self, dim: int, reduction: float = 0.25) -> None:
        super().__init__()
        hidden = int(dim * reduction)
        self.norm = nn.LayerNorm(dim)
        self.channel = nn.Sequential(
            nn.Linear(dim, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, dim, bias=False), nn.Sigmoid()
        )
        self.spatial = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=3, stride=2, padding=1, bias=False),
            nn.ReLU(),
            nn.ConvTranspose2d(dim, dim, kernel_size=4, stride=2, padding=1, bias=False),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, H, W, C] -> [B, H, W, C]."""
        x = x.permute(0, 3, 1, 2)  # [B, C, H, W]
        gate = self.channel(x.mean(dim=(2, 3)))[:, :, None, None]
        x = x + self.spatial(gate * x)
        return self.norm(x.permute(0, 2, 3, 1))


class SamMed2DBlock(nn.Module):
    """Pre-norm ViT block; x <- x + attn(norm1 x); x <- x + mlp(norm2 x) + Adapter(norm2 x)."""

    def __init__(self, cfg: SamConfig, window_size: int) -> None:
        super().__init__()
        dim = cfg.encoder_embed_dim
        self.window_size = window_size  # 0 = global attention over the whole grid
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn = SamMed2DAttention(
            dim, cfg.encoder_num_heads, cfg.qkv_bias, cfg.use_rel_pos,
            rel_size=window_size if window_size > 0 else cfg.grid_size,
            rel_pos_zero_init=cfg.rel_pos_zero_init,
        )
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.mlp = MLPBlock(dim, int(dim * cfg.mlp_ratio), nn.GELU)
        # attribute name "Adapter" is what the checkpoint keys use
        self.Adapter = SamMed2DAdapter(dim) if cfg.adapter else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, H, W, C] -> [B, H, W, C]."""
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            h, w = x.shape[1:3]
            x, padded = _window_partition(x, self.window_size)
            x = self.attn(x)
            x = _window_unpartition(x, self.window_size, padded, (h, w))
        else:
            x = self.attn(x)
        x = shortcut + x
        xn = self.norm2(x)
        x = x + self.mlp(xn)
        if self.Adapter is not None:
            x = x + self.Adapter(xn)
        return x


class PatchEmbed(nn.Module):
    """Non-overlapping patch conv: [B, 3, S, S] -> [B, S/p, S/p, C]."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class SamMed2DImageEncoder(nn.Module):
    """[B, 3, S, S] normalised, centre-padded image -> [B, prompt_dim, S/16, S/16]."""

    def __init__(self, cfg: SamConfig) -> None:
        super().__init__()
        dim, out, g = cfg.encoder_embed_dim, cfg.prompt_embed_dim, cfg.grid_size
        self.patch_embed = PatchEmbed(cfg.patch_size, 3, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, g, g, dim))  # absolute, one per grid cell
        globals_ = set(cfg.global_attn_indexes)
        self.blocks = nn.ModuleList(
            SamMed2DBlock(cfg, window_size=0 if i in globals_ else cfg.window_size)
            for i in range(cfg.encoder_depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(dim, out, kernel_size=1, bias=False),
            LayerNorm2d(out),
            nn.Conv2d(out, out, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out),
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixel_values) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.neck(x.permute(0, 3, 1, 2))
