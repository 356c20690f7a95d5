"""SAM-Med2D segmentation head as used by MedPLIB (state-dict compatible with the original's
`model.visual_model.*` keys once that prefix is stripped)."""

from __future__ import annotations

import torch
from torch import nn

from .config import SamConfig
from .image_encoder import SamMed2DImageEncoder
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder

ORIGINAL_PREFIX = "model.visual_model."


class SamMed2D(nn.Module):
    """Image encoder + prompt encoder + mask decoder. Device and dtype follow the parameters."""

    def __init__(self, config: SamConfig | None = None) -> None:
        super().__init__()
        cfg = config or SamConfig()
        self.config = cfg
        g = cfg.grid_size
        self.image_encoder = SamMed2DImageEncoder(cfg)
        self.prompt_encoder = PromptEncoder(
            cfg.prompt_embed_dim, (g, g), (cfg.image_size, cfg.image_size), cfg.mask_in_chans
        )
        self.mask_decoder = MaskDecoder(
            cfg.prompt_embed_dim, cfg.decoder_depth, cfg.decoder_num_heads, cfg.decoder_mlp_dim,
            cfg.num_multimask_outputs, cfg.iou_head_depth, cfg.iou_head_hidden_dim,
        )

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values [B, 3, S, S] (normalised, centre-padded) -> [B, C, S/16, S/16].

        The input is cast to the encoder's dtype (the original feeds images in the model dtype).
        """
        w = self.image_encoder.patch_embed.proj.weight
        return self.image_encoder(pixel_values.to(dtype=w.dtype))  # devices: caller / accelerate hooks

    def decode(self, image_embedding: torch.Tensor, text_embeds: torch.Tensor, multimask_output: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode n prompt vectors against one image.

        image_embedding [1, C, g, g] (or [n, C, g, g]), text_embeds [n, C]
        -> low_res_masks [n, k, 4g, 4g] logits, iou [n, k]; k = 3 if multimask_output else 1.
        n = 0 gives empty outputs of the right shape.
        """
        if text_embeds.dim() != 2:
            raise ValueError(f"text_embeds must be [n, C], got {tuple(text_embeds.shape)}")
        n = text_embeds.shape[0]
        k = self.config.num_multimask_outputs if multimask_output else 1
        if n == 0:
            side = 4 * image_embedding.shape[-1]
            ref = self.mask_decoder.iou_token.weight
            return (ref.new_zeros(0, k, 4 * image_embedding.shape[-2], side), ref.new_zeros(0, k))
        sparse, dense = self.prompt_encoder(text_embeds=text_embeds[:, None, :])
        image_pe = self.prompt_encoder.get_dense_pe()
        return self.mask_decoder(image_embedding, image_pe, sparse, dense, multimask_output)

    @staticmethod
    def strip_original_prefix(state_dict: dict[str, torch.Tensor], prefix: str = ORIGINAL_PREFIX
                              ) -> dict[str, torch.Tensor]:
        """Keep the `model.visual_model.*` entries of a full MedPLIB state dict, prefix removed."""
        return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
