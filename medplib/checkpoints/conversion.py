"""Map the released MedPLIB layout (DeepSpeed-MoE names, LLaMA-style config) onto ours."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ..model.configuration import CLIP_L_336, MedPLIBConfig

# (pattern, replacement) applied in order; the first that matches wins. None drops the key on purpose.
_KEY_RULES: list[tuple[re.Pattern, str | None]] = [
    # Buffers we recompute: RoPE frequencies and CLIP position ids.
    (re.compile(r"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$"), None),
    (re.compile(r"^model\.vision_tower\.vision_tower\.vision_model\.embeddings\.position_ids$"), None),
    (re.compile(r"^model\.layers\.(\d+)\.mlp\.deepspeed_moe\.gate\.wg\.weight$"), r"model.language_model.layers.\1.mlp.router.weight"),
    (
        re.compile(r"^model\.layers\.(\d+)\.mlp\.deepspeed_moe\.experts\.deepspeed_experts\.(\d+)\.(gate|up|down)_proj\.weight$"),
        r"model.language_model.layers.\1.mlp.experts.\2.\3_proj.weight",
    ),
    (re.compile(r"^model\.(embed_tokens|norm|layers)\."), r"model.language_model.\1."),
    (re.compile(r"^model\.vision_tower\.vision_tower\.vision_model\."), r"model.vision_tower."),
    (re.compile(r"^model\.mm_projector\.0\."), r"model.mm_projector.linear_1."),
    (re.compile(r"^model\.mm_projector\.2\."), r"model.mm_projector.linear_2."),
    (re.compile(r"^model\.region_fea_adapter\."), r"model.region_adapter."),
    (re.compile(r"^model\.text_hidden_fcs\.0\.0\."), r"model.seg_projector.linear_1."),
    (re.compile(r"^model\.text_hidden_fcs\.0\.2\."), r"model.seg_projector.linear_2."),
    (re.compile(r"^model\.visual_model\."), r"model.sam."),
    (re.compile(r"^lm_head\.weight$"), r"lm_head.weight"),
]
_PEFT_PREFIX = "base_model.model."
# What the converter drops on purpose (documented for users and checked by the tests).
DROPPED_ON_PURPOSE = ("model.layers.*.self_attn.rotary_emb.inv_freq", "...embeddings.position_ids")


def convert_key(key: str) -> str | None:
    """Original name -> our name; None for buffers we drop on purpose. Raises on unknown / LoRA keys."""
    key = key.removeprefix(_PEFT_PREFIX)
    if "lora_" in key or ".base_layer." in key:
        raise ValueError(f"checkpoint key {key!r} is an unmerged LoRA weight: merge the adapters first")
    for pattern, replacement in _KEY_RULES:
        if pattern.search(key):
            return None if replacement is None else pattern.sub(replacement, key)
    raise ValueError(f"unexpected key in the original MedPLIB layout: {key!r}")


def convert_state_dict(state_dict: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """Rename every key; returns (converted dict, dropped original keys)."""
    out: dict[str, object] = {}
    dropped: list[str] = []
    for key, value in state_dict.items():
        new = convert_key(key)
        if new is None:
            dropped.append(key)
        else:
            out[new] = value
    return out, dropped


def convert_keys(keys: Iterable[str]) -> dict[str, str]:
    """Original key -> our key for every kept key."""
    return {k: n for k in keys if (n := convert_key(k)) is not None}


_TEXT_KEYS = (
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "hidden_act", "rms_norm_eps", "max_position_embeddings", "tie_word_embeddings",
    "bos_token_id", "eos_token_id", "pad_token_id",
)


def config_from_original(
    original: Mapping,
    vision_config: Mapping | None = None,
    sam_config: Mapping | None = None,
    seg_token_id: int = 32000,
) -> MedPLIBConfig:
    """Build our config from a released `config.json` (model_type `medplib_moe_llama` or `medplib`).

    The original never stored the CLIP / SAM sizes (it rebuilt them from paths): pass them for non-7B
    checkpoints; by default CLIP ViT-L/14-336 and SAM-Med2D ViT-B/256. Paths in the config
    (`mm_vision_tower`, `pretrain_mm_mlp_adapter`) are ignored on purpose (architecture.md §8).
    """
    text = {k: original[k] for k in _TEXT_KEYS if k in original}
    text["rope_theta"] = float(original.get("rope_theta") or 10000.0)
    text.setdefault("num_key_value_heads", text.get("num_attention_heads"))
    text.setdefault("pad_token_id", 0)
    if original.get("rope_scaling"):
        raise ValueError(f"rope_scaling {original['rope_scaling']!r} is not supported")
    moe = original.get("moe") or {}
    if moe.get("moe_enable", bool(moe)):
        experts = moe.get("num_experts", 2)
        counts = set(experts) if isinstance(experts, list) else {experts}
        if len(counts) != 1:
            raise ValueError(f"per-layer expert counts differ ({experts}); not supported")
        num_experts = counts.pop()
        layers = moe.get("moe_layers_idx")
        if layers is not None and sorted(layers) == list(range(text["num_hidden_layers"])):
            layers = None
        moe_kwargs = dict(
            moe_num_experts=num_experts,
            moe_layers=layers,
            moe_top_k=moe.get("top_k_experts", 1),
            moe_capacity_factor=float(moe.get("capacity_factor", 1.5)),
            moe_eval_capacity_factor=float(moe.get("eval_capacity_factor", 2.0)),
            moe_min_capacity=int(moe.get("min_capacity", 0)),
            router_aux_loss_coef=float(moe.get("router_aux_loss_coef", 0.0)),
        )
        if moe.get("use_residual"):
            raise ValueError("residual MoE (use_residual=true) is not part of MedPLIB and is not supported")
    else:
        moe_kwargs = dict(moe_num_experts=1)
    if original.get("mm_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
        raise ValueError(f"mm_projector_type {original['mm_projector_type']!r} is not supported")
    vision = dict(vision_config) if vision_config is not None else dict(CLIP_L_336)
    for drop in ("model_type", "transformers_version", "_name_or_path", "architectures", "torch_dtype", "dtype"):
        vision.pop(drop, None)
    if "mm_hidden_size" in original and original["mm_hidden_size"] != vision.get("hidden_size"):
        raise ValueError(
            f"mm_hidden_size {original['mm_hidden_size']} does not match the CLIP hidden size {vision.get('hidden_size')}"
        )
    sam = dict(sam_config or {})
    config = MedPLIBConfig(
        text_config=text,
        vision_config=vision,
        sam_config=sam,
        vision_feature_layer=int(original.get("mm_vision_select_layer", -2)),
        max_sample_point=int(original.get("max_sample_point", 512)),
        seg_token_id=seg_token_id,
        mask_postprocess="original",
        region_grid="nearest",  # the released weights were trained with the original's down-sampling
        region_sampling="original",  # and with its offset bilinear region sampling
        **moe_kwargs,
    )
    out_dim = original.get("out_dim")
    if out_dim is not None and out_dim != config.sam.prompt_embed_dim:
        raise ValueError(f"out_dim {out_dim} does not match the SAM prompt dim {config.sam.prompt_embed_dim}")
    return config
