"""Configuration of the SAM-Med2D segmentation head (defaults = the MedPLIB-7B ViT-B/256 build)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Names used by the original `build_sam` / the parity fixture's `_tiny_sam` -> our field names.
_ALIASES: dict[str, str] = {
    "encoder_global_attn_indexes": "global_attn_indexes",
    "vit_patch_size": "patch_size",
    "encoder_adapter": "adapter",
}


@dataclass
class SamConfig:
    # ViT image encoder
    image_size: int = 256
    patch_size: int = 16
    encoder_embed_dim: int = 768
    encoder_depth: int = 12
    encoder_num_heads: int = 12
    mlp_ratio: float = 4.0
    window_size: int = 14
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    qkv_bias: bool = True
    use_rel_pos: bool = True
    rel_pos_zero_init: bool = True  # only affects random init (checkpoints overwrite rel_pos)
    adapter: bool = True  # SAM-Med2D adapters in every block
    norm_eps: float = 1e-6  # encoder block LayerNorms (adapter/decoder norms use torch's 1e-5)
    # prompt encoder / mask decoder
    prompt_embed_dim: int = 256  # also the encoder neck's output channels
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    # SAM input normalisation (0-255 scale); kept here, not as module buffers (not in state dicts)
    pixel_mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    pixel_std: tuple[float, float, float] = (58.395, 57.12, 57.375)

    def __post_init__(self) -> None:
        self.global_attn_indexes = tuple(int(i) for i in self.global_attn_indexes)
        self.pixel_mean = tuple(float(v) for v in self.pixel_mean)  # type: ignore[assignment]
        self.pixel_std = tuple(float(v) for v in self.pixel_std)  # type: ignore[assignment]
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.encoder_embed_dim % self.encoder_num_heads:
            raise ValueError("encoder_embed_dim must be divisible by encoder_num_heads")
        if self.prompt_embed_dim % 8:
            raise ValueError("prompt_embed_dim must be divisible by 8 (x4 upscaling halves channels twice)")

    @property
    def grid_size(self) -> int:
        """Side of the image-embedding grid (S / patch)."""
        return self.image_size // self.patch_size

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)  # JSON friendly
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SamConfig":
        """Build from our names or the original/fixture names; unknown keys raise ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in d.items():
            name = _ALIASES.get(key, key)
            if name not in known:
                unknown.append(key)
                continue
            if name in kwargs and kwargs[name] != value:
                raise ValueError(f"SamConfig: conflicting values for {name!r} (given twice under different names)")
            kwargs[name] = value
        if unknown:
            raise ValueError(f"SamConfig: unknown key(s) {sorted(unknown)}")
        return cls(**kwargs)


__all__ = ["SamConfig"]
