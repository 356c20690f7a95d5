"""SAM mask decoder: two-way transformer over [IoU token, 4 mask tokens, prompt tokens] and the
image embedding, x4 upscaling, one hypernetwork MLP per mask token, and an IoU head."""

from __future__ import annotations

import torch
from torch import nn

from .common import MLP, LayerNorm2d
from .transformer import TwoWayTransformer


class MaskDecoder(nn.Module):
    def __init__(self, dim: int, depth: int, num_heads: int, mlp_dim: int, num_multimask_outputs: int = 3,
                 iou_head_depth: int = 3, iou_head_hidden_dim: int = 256) -> None:
        super().__init__()
        self.num_multimask_outputs = num_multimask_outputs
        self.num_mask_tokens = num_multimask_outputs + 1  # token 0 = the single-mask output
        self.transformer = TwoWayTransformer(depth, dim, num_heads, mlp_dim, downsample_rate=2)
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(dim, dim, dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth)

    def forward(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor, sparse_prompt_embeddings: torch.Tensor,
                dense_prompt_embeddings: torch.Tensor, multimask_output: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        image_embeddings [1 or n, C, g, g]  (one image is shared by all n prompts)
        image_pe [1, C, g, g], sparse [n, T, C], dense [n, C, g, g]
        -> masks [n, k, 4g, 4g], iou [n, k]; k = num_multimask_outputs (tokens 1..) or 1 (token 0).
        """
        n = sparse_prompt_embeddings.shape[0]
        dtype = self.iou_token.weight.dtype  # run in the decoder's dtype whatever the prompts' dtype
        out_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([out_tokens[None].expand(n, -1, -1), sparse_prompt_embeddings.to(dtype)], dim=1)

        if image_embeddings.shape[0] == 1 and n != 1:
            image_embeddings = image_embeddings.expand(n, -1, -1, -1)
        elif image_embeddings.shape[0] != n:
            raise ValueError(f"image_embeddings batch {image_embeddings.shape[0]} vs {n} prompts")
        src = (image_embeddings + dense_prompt_embeddings).to(dtype)
        pos = image_pe.expand(n, -1, -1, -1)  # float32; cast inside the attention projections
        b, c, h, w = src.shape

        hs, src = self.transformer(src, pos, tokens)
        iou_token_out = hs[:, 0]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens]

        upscaled = self.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))  # [n, C/8, 4g, 4g]
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )  # [n, tokens, C/8]
        _, c8, hh, ww = upscaled.shape
        masks = (hyper_in @ upscaled.view(b, c8, hh * ww)).view(b, -1, hh, ww)
        iou = self.iou_prediction_head(iou_token_out)

        sel = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, sel], iou[:, sel]
