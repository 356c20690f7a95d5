"""Small models, tokenizers and checkpoints built inside the tests (never downloaded)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from transformers import LogitsProcessor

from medplib import MedPLIBConfig, MedPLIBForCausalLM
from medplib.checkpoints.tokenizer import train_bpe_tokenizer

CORPUS = [
    "A chat between a curious human and an artificial intelligence assistant.",
    "What modality is this image? Segment the left kidney. Sure, it is done.",
    "Is the region abnormal? Yes. No. The liver, the spleen and a lesion.",
]

TINY_VISION = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                   image_size=56, patch_size=14)
TINY_SAM = dict(image_size=64, encoder_embed_dim=16, encoder_depth=2, encoder_num_heads=2, global_attn_indexes=[1],
                window_size=2, prompt_embed_dim=16, decoder_mlp_dim=32, decoder_num_heads=2, iou_head_hidden_dim=16)


def tiny_tokenizer():
    return train_bpe_tokenizer(CORPUS * 4, vocab_size=200)


def tiny_model(tokenizer, seed: int = 0, **overrides) -> MedPLIBForCausalLM:
    kwargs = dict(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256),
        vision_config=TINY_VISION, sam_config=TINY_SAM, seg_token_id=tokenizer.convert_tokens_to_ids("<SEG>"),
    )
    kwargs.update(overrides)
    torch.manual_seed(seed)
    return MedPLIBForCausalLM(MedPLIBConfig(**kwargs)).eval()


class ScriptedTokens(LogitsProcessor):
    """Forces a fixed answer, so SEG bookkeeping can be tested without a trained model."""

    def __init__(self, script):
        self.script = list(script)
        self.step = 0

    def __call__(self, input_ids, scores):
        forced = torch.full_like(scores, -1e9)
        forced[:, self.script[min(self.step, len(self.script) - 1)]] = 0
        self.step += 1
        return forced


_TO_ORIGINAL = [
    (r"^model\.language_model\.layers\.(\d+)\.mlp\.router\.weight$", r"model.layers.\1.mlp.deepspeed_moe.gate.wg.weight"),
    (r"^model\.language_model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.", r"model.layers.\1.mlp.deepspeed_moe.experts.deepspeed_experts.\2."),
    (r"^model\.language_model\.", r"model."),
    (r"^model\.vision_tower\.", r"model.vision_tower.vision_tower.vision_model."),
    (r"^model\.mm_projector\.linear_1\.", r"model.mm_projector.0."),
    (r"^model\.mm_projector\.linear_2\.", r"model.mm_projector.2."),
    (r"^model\.region_adapter\.", r"model.region_fea_adapter."),
    (r"^model\.seg_projector\.linear_1\.", r"model.text_hidden_fcs.0.0."),
    (r"^model\.seg_projector\.linear_2\.", r"model.text_hidden_fcs.0.2."),
    (r"^model\.sam\.", r"model.visual_model."),
]


def to_original_key(key: str) -> str:
    for pattern, repl in _TO_ORIGINAL:
        if re.search(pattern, key):
            return re.sub(pattern, repl, key)
    return key


def write_released(model: MedPLIBForCausalLM, tokenizer, folder: Path, n_shards: int = 2) -> Path:
    """The released layout: LLaMA-style config with a `moe` dict, DeepSpeed names, sharded .bin + index."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    text = cfg.text_config
    n_layers = text.num_hidden_layers
    original = {
        "architectures": ["MedPLIBForCausalLM"], "model_type": "medplib_moe_llama",
        "vocab_size": text.vocab_size, "hidden_size": text.hidden_size, "intermediate_size": text.intermediate_size,
        "num_hidden_layers": n_layers, "num_attention_heads": text.num_attention_heads,
        "num_key_value_heads": text.num_key_value_heads, "hidden_act": "silu", "rms_norm_eps": text.rms_norm_eps,
        "max_position_embeddings": text.max_position_embeddings, "rope_scaling": None, "tie_word_embeddings": False,
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "use_cache": False, "torch_dtype": "float32",
        "mm_vision_tower": "/root/authors/machine/clip", "mm_hidden_size": cfg.vision_config.hidden_size,
        "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2, "mm_use_im_start_end": True,
        "out_dim": cfg.sam.prompt_embed_dim, "max_sample_point": 512, "pretrain_mm_mlp_adapter": None,
        "moe": {"moe_enable": True, "moe_mode": "dense", "num_experts": [2] * n_layers, "top_k_experts": 1,
                "capacity_factor": 1.5, "eval_capacity_factor": 2, "min_capacity": 0, "use_residual": False,
                "router_aux_loss_coef": 0.0, "moe_layers_idx": list(range(n_layers)), "ep_size": 1},
    }
    (folder / "config.json").write_text(json.dumps(original, indent=1))
    state = {to_original_key(k): v.clone() for k, v in model.state_dict().items()}
    head_dim = text.hidden_size // text.num_attention_heads
    for layer in range(n_layers):  # saved by transformers 4.31; the converter drops them
        state[f"model.layers.{layer}.self_attn.rotary_emb.inv_freq"] = 1.0 / (10000 ** (torch.arange(0, head_dim, 2) / head_dim))
    keys = sorted(state)
    weight_map = {}
    for i in range(n_shards):
        name = f"pytorch_model-{i + 1:05d}-of-{n_shards:05d}.bin"
        part = {k: state[k] for k in keys[i::n_shards]}
        torch.save(part, folder / name)
        weight_map.update({k: name for k in part})
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    tokenizer.save_pretrained(str(folder))
    return folder
