"""Helpers shared by bench/generate_overhead.py and bench/gpu_check.py (importing this also puts the repo root on
sys.path, so `medplib` imports from a `python bench/x.py` run)."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from transformers import LlamaConfig, LogitsProcessor, LogitsProcessorList  # noqa: E402

from medplib.constants import IMAGE_TOKEN_INDEX  # noqa: E402

# A SAM small enough to be negligible when the LLM is what is measured.
SMALL_SAM = dict(image_size=64, encoder_embed_dim=16, encoder_depth=2, encoder_num_heads=2, global_attn_indexes=[1],
                 window_size=2, prompt_embed_dim=16, decoder_mlp_dim=32, decoder_num_heads=2, iou_head_hidden_dim=16)


def med(xs) -> float:
    return statistics.median(xs)


def llama_config(text_config, attn: str) -> LlamaConfig:
    """A transformers LlamaConfig with the same dims as MedPLIB's text config (for the bare baseline)."""
    d = text_config.to_dict()
    for k in ("model_type", "transformers_version", "architectures", "_name_or_path", "_attn_implementation_autoset"):
        d.pop(k, None)
    c = LlamaConfig(**d)
    c._attn_implementation = attn
    return c


def prompt_ids(bos: int, text_tokens: int, generator: torch.Generator, image: bool = True) -> torch.Tensor:
    """[1, T] random ids in [3, 32000) (never EOS / pad / <SEG>), BOS first, the image placeholder second."""
    ids = torch.randint(3, 32000, (1, text_tokens), generator=generator)
    ids[0, 0] = bos
    if image:
        ids[0, 1] = IMAGE_TOKEN_INDEX
    return ids


def gen_kwargs(n: int) -> dict:
    """Greedy, exactly n new tokens: min_new_tokens masks EOS out until max_new_tokens (same on both models)."""
    return dict(max_new_tokens=n, min_new_tokens=n, do_sample=False)


def no_sync() -> None:
    pass


def timed(fn, reps: int = 1, clock=time.perf_counter, sync=no_sync, warmup: int = 0):
    """(seconds per call, last output) of `reps` calls of fn, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    sync()
    t0 = clock()
    for _ in range(reps):
        out = fn()
    sync()
    return (clock() - t0) / reps, out


class Stamps(LogitsProcessor):
    """Timestamps each logits call: the first ends the prefill, each later one ends a decode step."""

    def __init__(self, clock=time.perf_counter, sync=no_sync):
        self.clock, self.sync, self.t = clock, sync, []

    def __call__(self, input_ids, scores):
        self.sync()
        self.t.append(self.clock())
        return scores


def stamped_generate(call, n_new: int, clock=time.perf_counter, sync=no_sync) -> dict:
    """Run `call(**generate_kwargs)` for exactly n_new tokens; total, prefill (start -> first logits), decode step
    (median of the step times) and the output."""
    stamps = Stamps(clock, sync)
    sync()
    t0 = clock()
    out = call(**gen_kwargs(n_new), logits_processor=LogitsProcessorList([stamps]))
    sync()
    t1 = clock()
    steps = [b - a for a, b in zip(stamps.t, stamps.t[1:])]
    return dict(total=t1 - t0, prefill=stamps.t[0] - t0, step=med(steps) if steps else float("nan"), out=out)


def n_generated(out, prompt_len: int = 0) -> int:
    """New tokens in a generate output (`prompt_len` for input_ids-based generate, 0 for inputs_embeds-based)."""
    seq = out.sequences if hasattr(out, "sequences") else out
    return seq.shape[1] - prompt_len


def top_level_ops(fn) -> int:
    """aten ops called directly from Python (not from inside another aten op) during one call of fn: on a GPU about
    the number of kernel launches, independent of timing noise."""
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for e in prof.events() if e.name.startswith("aten::")
               and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")))


def decode_step_fns(ours, bare, mm, bare_ids) -> dict:
    """One-token forward of each model on a KV cache of the same real prompt (cropped back after each call)."""
    from transformers.cache_utils import DynamicCache

    with torch.no_grad():
        oc = DynamicCache(config=ours.config.text_config)
        ours(inputs_embeds=mm.inputs_embeds, attention_mask=mm.attention_mask.long(), past_key_values=oc,
             use_cache=True, logits_to_keep=1)
        bc = DynamicCache(config=bare.config)
        bare(input_ids=bare_ids, past_key_values=bc, use_cache=True, logits_to_keep=1)
    n = oc.get_seq_length()
    assert n == bc.get_seq_length(), (n, bc.get_seq_length())
    tok = torch.tensor([[1000]], device=bare_ids.device)
    am = torch.ones(1, n + 1, dtype=torch.long, device=bare_ids.device)

    def step(model, cache):
        def fn():
            model(input_ids=tok, attention_mask=am, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache.crop(-1)
        return fn

    return {"bare": step(bare, bc), "ours": step(ours, oc)}
