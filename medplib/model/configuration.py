"""MedPLIB configuration: one class for every size (the released 7B values are the defaults)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ..constants import QUESTION_NORMALIZATIONS, REGION_GRID_MODES
from .sam.config import SamConfig

# LLaMA-2-7B / llava-v1.5-7b numbers with the 267 MedPLIB tokens added (architecture.md §8).
LLAMA_7B = dict(
    vocab_size=32267, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
    num_attention_heads=32, num_key_value_heads=32, hidden_act="silu", rms_norm_eps=1e-5,
    max_position_embeddings=4096, rope_theta=10000.0, tie_word_embeddings=False,
    bos_token_id=1, eos_token_id=2, pad_token_id=0,
)
# openai/clip-vit-large-patch14-336 (architecture.md §3).
CLIP_L_336 = dict(
    hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
    image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu", layer_norm_eps=1e-5,
)

MASK_POSTPROCESS_MODES = ("original", "exact")
REGION_SAMPLING_MODES = ("original", "centered")
# Keys PreTrainedConfig itself passes through from_dict / from_pretrained.
_PASSTHROUGH_KEYS = {"model_type", "transformers_version", "_name_or_path", "attn_implementation"}


@strict(accept_kwargs=True)
class MedPLIBConfig(PreTrainedConfig):
    r"""Configuration of [`MedPLIBForCausalLM`].

    Sub-configs: `text_config` (LLaMA), `vision_config` (CLIP vision tower), `sam_config` (SAM-Med2D head,
    a plain dict of [`SamConfig`] fields). MoE settings (architecture.md §5): `moe_num_experts` experts per MoE layer,
    top-1 routing, `moe_layers` (None = every layer when `moe_num_experts > 1`; [] = a dense model, as in the
    stage-2/3 single-expert models). `mask_postprocess` is "original" (the crop arithmetic the released
    weights were trained with) or "exact" (geometrically correct un-padding). `region_grid` is how a region
    mask becomes CLIP patches: "nearest" (the original: one pixel per patch, small regions can vanish) or
    "cover" (every patch the region touches; architecture.md §7). `region_sampling` is "original" (bilinear samples at
    index·(g−1)/g, biased to the top-left, as the released adapter was trained) or "centered" (the patches
    themselves; the architecture.md §7 fix, for models trained with it). `mask_scores` off: the IoU head was
    never trained (iou_loss_weight 0), so its outputs are not reported (`Answer.scores` entries are None).
    `question_normalization` "lower" (our models trained with it): questions are lower-cased without final punctuation
    before the prompt is built (processing/normalize.py); "none" (the default, the released 7B): used as typed.
    """

    model_type = "medplib"
    sub_configs_defaults = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama", init_kwargs=LLAMA_7B),
        "vision_config": SubConfigSpec(
            config_class=AutoConfig, model_type="clip_vision_model", init_kwargs=CLIP_L_336
        ),
    }

    text_config: dict | PreTrainedConfig | None = None
    vision_config: dict | PreTrainedConfig | None = None
    sam_config: dict | None = None

    vision_feature_layer: int = -2
    projector_type: str = "mlp2x_gelu"
    max_sample_point: int = 512
    region_grid: str = "cover"
    region_sampling: str = "original"

    moe_num_experts: int = 2
    moe_layers: list[int] | None = None
    moe_top_k: int = 1
    moe_capacity_factor: float = 1.5
    moe_eval_capacity_factor: float = 2.0
    moe_min_capacity: int = 0
    router_aux_loss_coef: float = 0.0

    seg_token_id: int = 32000
    mask_postprocess: str = "exact"
    mask_threshold: float = 0.1
    mask_scores: bool = True
    question_normalization: str = "none"

    ce_loss_weight: float = 1.0
    bce_loss_weight: float = 2.0
    dice_loss_weight: float = 0.5
    focal_loss_weight: float = 0.0
    iou_loss_weight: float = 0.0
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        unknown = sorted(set(kwargs) - _PASSTHROUGH_KEYS)
        if unknown:
            raise ValueError(f"MedPLIBConfig: unknown config key(s) {unknown}")
        self.sam_config = SamConfig.from_dict(self.sam_config or {}).to_dict()
        super().__post_init__(**kwargs)
        self._check()

    def _check(self) -> None:
        n_layers = self.text_config.num_hidden_layers
        if self.moe_num_experts < 1:
            raise ValueError(f"moe_num_experts must be >= 1, got {self.moe_num_experts}")
        if self.moe_top_k != 1:
            raise ValueError(f"only top-1 routing is implemented (MedPLIB uses top-1), got moe_top_k={self.moe_top_k}")
        # Inference is drop-free; that is only faithful when the original's eval capacity could not drop either.
        if self.moe_num_experts > 1 and self.moe_eval_capacity_factor < self.moe_num_experts:
            raise ValueError(
                f"moe_eval_capacity_factor={self.moe_eval_capacity_factor} < moe_num_experts={self.moe_num_experts} "
                "would drop tokens at inference; token dropping is not implemented"
            )
        if self.moe_layers is not None and any(not 0 <= i < n_layers for i in self.moe_layers):
            raise ValueError(f"moe_layers {self.moe_layers} out of range for {n_layers} layers")
        if self.mask_postprocess not in MASK_POSTPROCESS_MODES:
            raise ValueError(f"mask_postprocess must be one of {MASK_POSTPROCESS_MODES}, got {self.mask_postprocess!r}")
        if self.region_grid not in REGION_GRID_MODES:
            raise ValueError(f"region_grid must be one of {REGION_GRID_MODES}, got {self.region_grid!r}")
        if self.region_sampling not in REGION_SAMPLING_MODES:
            raise ValueError(f"region_sampling must be one of {REGION_SAMPLING_MODES}, got {self.region_sampling!r}")
        if self.question_normalization not in QUESTION_NORMALIZATIONS:
            raise ValueError(f"question_normalization must be one of {QUESTION_NORMALIZATIONS}, "
                             f"got {self.question_normalization!r}")
        if self.projector_type != "mlp2x_gelu":
            raise ValueError(f"projector_type {self.projector_type!r} is not supported (only 'mlp2x_gelu')")

    @property
    def moe_layer_indices(self) -> list[int]:
        """Decoder layers whose MLP is a mixture of experts."""
        if self.moe_num_experts == 1:
            return []
        if self.moe_layers is None:
            return list(range(self.text_config.num_hidden_layers))
        return sorted(self.moe_layers)

    @property
    def sam(self) -> SamConfig:
        return SamConfig.from_dict(self.sam_config)

    @property
    def num_image_tokens(self) -> int:
        return (self.vision_config.image_size // self.vision_config.patch_size) ** 2
