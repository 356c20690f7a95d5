"""SAM prompt encoder. MedPLIB prompts with a projected LLM hidden state ("text_embeds") as the
only sparse token and no mask; the point/box/mask paths are kept for completeness."""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import LayerNorm2d


class PositionEmbeddingRandom(nn.Module):
    """Random-Fourier positional encoding: [sin, cos](2*pi * (2c - 1) @ G), G ~ N(0, 1) [2, C/2]."""

    def __init__(self, num_pos_feats: int, scale: float = 1.0) -> None:
        super().__init__()
        # persistent: the matrix is part of the checkpoint and must be loaded
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn(2, num_pos_feats))

    def _encode(self, coords: torch.Tensor) -> torch.Tensor:
        """coords [..., 2] in [0, 1] (x, y), float32 -> [..., C]. Always computed in float32."""
        coords = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix.float()
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        """PE of the cell centres of an h x w grid: [C, h, w] (float32)."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        grid = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
        return self._encode(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """coords [B, N, 2] in input pixels (x, y) -> [B, N, C] (float32)."""
        coords = coords.float()
        norm = torch.stack([coords[..., 0] / image_size[1], coords[..., 1] / image_size[0]], dim=-1)
        return self._encode(norm)


class PromptEncoder(nn.Module):
    def __init__(self, embed_dim: int, image_embedding_size: tuple[int, int], input_image_size: tuple[int, int],
                 mask_in_chans: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = image_embedding_size
        self.input_image_size = input_image_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        # 0/1: negative/positive point, 2/3: box corners
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """PE of the image-embedding grid: [1, C, g, g] float32."""
        return self.pe_layer(self.image_embedding_size)[None]

    def _embed_points(self, coords: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """coords [B, N, 2] pixels, labels [B, N] (1 pos, 0 neg, -1 padding) -> [B, N(+1), C]."""
        coords = coords + 0.5  # pixel centres
        if pad:  # a "not a point" token when there is no box, as in SAM
            coords = torch.cat([coords, coords.new_zeros(coords.shape[0], 1, 2)], dim=1)
            labels = torch.cat([labels, -labels.new_ones(labels.shape[0], 1)], dim=1)
        emb = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        lab = labels[..., None]
        emb = torch.where(lab == -1, self.not_a_point_embed.weight.float(), emb)  # PE zeroed for padding
        emb = emb + (lab == 0) * self.point_embeddings[0].weight.float()
        emb = emb + (lab == 1) * self.point_embeddings[1].weight.float()
        return emb

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """boxes [B, 4] (x0, y0, x1, y1) pixels -> [B, 2, C]."""
        corners = (boxes + 0.5).reshape(-1, 2, 2)
        emb = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        corner_embed = torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight]).float()
        return emb + corner_embed

    def forward(self, points: tuple[torch.Tensor, torch.Tensor] | None = None, boxes: torch.Tensor | None = None,
                masks: torch.Tensor | None = None, text_embeds: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (sparse [B, T, C], dense [B, C, g, g]).

        text_embeds [B, 1, C] are appended as sparse tokens; when they are the only prompt the
        sparse output keeps their dtype (MedPLIB casts it back after concatenating to an empty
        float32 tensor).
        """
        for x in (points[0] if points is not None else None, boxes, masks, text_embeds):
            if x is not None:
                bs = x.shape[0]
                break
        else:
            bs = 1
        parts: list[torch.Tensor] = []
        if points is not None:
            parts.append(self._embed_points(points[0], points[1], pad=boxes is None))
        if boxes is not None:
            parts.append(self._embed_boxes(boxes))
        if text_embeds is not None:
            parts.append(text_embeds)
        if parts:
            dtype = text_embeds.dtype if text_embeds is not None else parts[0].dtype
            sparse = torch.cat([p.to(dtype) for p in parts], dim=1)
        else:
            w = self.no_mask_embed.weight
            sparse = w.new_empty(bs, 0, self.embed_dim)
        if masks is not None:
            dense = self.mask_downscaling(masks.to(self.no_mask_embed.weight.dtype))
        else:
            h, w_ = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(bs, -1, h, w_)
        return sparse, dense
