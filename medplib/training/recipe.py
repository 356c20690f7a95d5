"""The multi-stage MedPLIB recipe (architecture.md §9) at any size, and the tiny built-in configuration.

Stage 2 trains a dense model on VQA + region VQA (the visual-language expert), stage 3 continues it on
grounding with only the MLPs and the mask head trainable (the grounding expert), stage 4 joins them into a
2-expert MoE (expert 0 = grounding, expert 1 = VL, as in the release) and trains everything on the mixture.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ..model.configuration import MedPLIBConfig
from ..model.modeling import MedPLIBForCausalLM


@dataclass(frozen=True)
class Stage:
    name: str
    kinds: tuple[str, ...]  # sample kinds in this stage's data
    trainable: tuple[str, ...] | None  # parameter-name substrings; None = everything
    share: float  # fraction of the total steps


STAGES = {
    # Stage 1 stand-in for small models (no pretrained CLIP / SAM exists): dense-label pretraining of both image
    # encoders on phantoms (training/towers.py); its own step count (--tower-steps), not a share of the total.
    "towers": Stage("towers", (), None, 0.0),
    "vl": Stage("vl", ("vqa", "region"), None, 0.40),
    # Like the original's stage 3 (LoRA on the MLPs + mask decoder + text head), plus the token rows: the tiny
    # model starts from scratch, so <SEG> must be learnt somewhere before the router exists.
    "grounding": Stage("grounding", ("grounding",), (".mlp.", "seg_projector", "model.sam.", "lm_head",
                                                     "embed_tokens"), 0.35),
    # Measured at 2400-2800 steps: shares 0.2/0.2/0.6 gave a weaker grounding expert and a worse final model
    # (mDice 0.55 vs 0.70) than these.
    "moe": Stage("moe", ("vqa", "region", "grounding"), None, 0.25),
    # The ablation: one dense model trained on everything for the same total number of steps. Followed by `moe`
    # (--stages towers,joint,moe) it is the upcycling variant: stage 4 starts from the joint model (`upcycle`).
    "joint": Stage("joint", ("vqa", "region", "grounding"), None, 1.0),
}
RECIPE = ("towers", "vl", "grounding", "moe")


def micro_config(vocab_size: int, seg_token_id: int, num_experts: int = 2) -> MedPLIBConfig:
    """A smaller sibling of `tiny_config` for smoke tests of the recipe (seconds per run)."""
    return MedPLIBConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=56, patch_size=14, projection_dim=32),
        sam_config=dict(image_size=64, patch_size=8, encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2,
                        window_size=4, global_attn_indexes=[1], prompt_embed_dim=32, decoder_mlp_dim=64,
                        decoder_num_heads=2, iou_head_hidden_dim=32),
        moe_num_experts=num_experts, seg_token_id=seg_token_id, mask_postprocess="exact", region_sampling="centered",
    )


def tiny_config(vocab_size: int, seg_token_id: int, num_experts: int = 2) -> MedPLIBConfig:
    """The built-in demo model: same classes as the 7B, small enough to train on 2 CPU cores."""
    return MedPLIBConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
                         num_attention_heads=6, num_key_value_heads=6, max_position_embeddings=512,
                         rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=0),
        vision_config=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
                           image_size=112, patch_size=14, projection_dim=128),
        sam_config=dict(image_size=128, patch_size=8, encoder_embed_dim=64, encoder_depth=2, encoder_num_heads=2,
                        window_size=8, global_attn_indexes=[1], prompt_embed_dim=64, decoder_mlp_dim=256,
                        decoder_num_heads=4, iou_head_hidden_dim=64),
        moe_num_experts=num_experts,
        seg_token_id=seg_token_id,
        mask_postprocess="exact",
        region_sampling="centered",
        router_aux_loss_coef=0.0,
        mask_scores=False,  # the IoU head is not trained (iou_loss_weight 0): its outputs would mean nothing
    )


PRESETS = {"tiny": tiny_config, "micro": micro_config}

# Named training recipes for `python -m medplib.train --recipe NAME`: the flags that made a shipped checkpoint.
# "builtin" is medplib/assets/medplib-tiny: the dense `joint` model upcycled into the MoE (docs/experiments.md).
# "rich" is the same with the rich training wording and lower-case questions (issue 18; docs/experiments.md): better
# on unseen wordings, worse on the templates, so not shipped.
_BUILTIN = dict(stages="towers,joint,moe", total_steps=2200, tower_steps=1200, tower_images=6000)
RECIPES = {"builtin": _BUILTIN, "rich": dict(_BUILTIN, wording="rich", question_normalization="lower")}


def set_trainable(model: torch.nn.Module, patterns: tuple[str, ...] | None) -> int:
    """Freeze everything whose name matches none of `patterns` (None: train all). Returns #trainable."""
    count = 0
    for name, param in model.named_parameters():
        param.requires_grad = patterns is None or any(p in name for p in patterns)
        count += param.numel() if param.requires_grad else 0
    return count


def _empty_moe(dense: MedPLIBForCausalLM, num_experts: int) -> tuple[MedPLIBForCausalLM, dict]:
    """A fresh MoE model of `dense`'s config (every layer MoE) and its state dict to fill."""
    config = copy.deepcopy(dense.config)
    config.moe_num_experts = num_experts
    config.moe_layers = None
    model = MedPLIBForCausalLM(config)
    return model, model.state_dict()


def _expert_source(key: str) -> tuple[int, str, str]:
    """`...layers.L.mlp.experts.E.up_proj.weight` -> (E, the dense key `...layers.L.mlp.up_proj.weight`, `up_proj.weight`)."""
    layer_prefix, rest = key.split(".mlp.experts.")
    expert, proj = rest.split(".", 1)
    return int(expert), f"{layer_prefix}.mlp.{proj}", proj


def build_moe(vl: MedPLIBForCausalLM, grounding: MedPLIBForCausalLM, num_experts: int = 2) -> MedPLIBForCausalLM:
    """Stage 4 initialisation (architecture.md §5): everything from the VL model, expert 0 <- grounding MLPs,
    expert 1 <- VL MLPs, the mask head (and, at tiny size, the SAM encoder trained in stage 3) from the
    grounding model; the router starts from a fresh init."""
    model, state = _empty_moe(vl, num_experts)
    source_vl, source_g = vl.state_dict(), grounding.state_dict()
    for key in state:
        if ".mlp.router." in key:
            continue
        if ".mlp.experts." in key:
            expert, dense_key, _proj = _expert_source(key)
            state[key] = (source_g if expert == 0 else source_vl)[dense_key].clone()
        elif key.startswith(("model.seg_projector.", "model.sam.")):
            state[key] = source_g[key].clone()
        else:
            state[key] = source_vl[key].clone()
    model.load_state_dict(state)
    return model


def upcycle(dense: MedPLIBForCausalLM, num_experts: int = 2, router_std: float = 1e-3) -> MedPLIBForCausalLM:
    """Stage 4 from one dense model instead of two experts' models (sparse upcycling): every expert starts as a copy
    of the dense MLP with its `down_proj` scaled by `num_experts`, the router from a near-zero init, so that p is
    about 1/E for every token and the MoE starts as (almost exactly) the dense model's function instead of a fresh
    router halving every MLP output; the small random router still splits the tokens between the experts, which
    then diverge in training. Top-1 routing and the combine weight are the original's, unchanged."""
    model, state = _empty_moe(dense, num_experts)
    source = dense.state_dict()
    generator = torch.Generator().manual_seed(0)
    for key in state:
        if ".mlp.router." in key:
            state[key] = torch.randn(state[key].shape, generator=generator) * router_std
        elif ".mlp.experts." in key:
            _expert, dense_key, proj = _expert_source(key)
            value = source[dense_key].clone()
            state[key] = value * num_experts if proj.startswith("down_proj") else value
        else:
            state[key] = source[key].clone()
    model.load_state_dict(state)
    return model
