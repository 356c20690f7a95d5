"""GPU check of the 7B MedPLIB (random bf16 weights, nothing downloaded): prefill, decode tok/s vs the HBM bandwidth
bound, peak memory per GPU, SAM encoder + grounding decode; then a bare transformers LlamaForCausalLM with the same
LLM dims on the same GPU(s) for an ours/bare ratio. Also batched decode throughput (batch sizes 1 / 8 / 32) and the
follow-up time to first token with the conversation's KV cache reused (`--no-serving` skips them).
Every number is printed (flushed) as soon as it is measured.

    python bench/gpu_check.py                # on a machine with CUDA GPUs (< 5 min on one H100)
    python bench/gpu_check.py --dry-run      # CPU: builds the 7B model on the meta device, prints the plan
    python bench/gpu_check.py --cpu-smoke    # CPU: the whole GPU code path on a tiny config (numbers meaningless)

Bound tok/s = HBM bandwidth / bytes read per token: the LLM weights except the embedding table and the unused
experts (top-1 MoE reads one expert per layer); a second bound adds the KV cache at the mean context length.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import SMALL_SAM, llama_config, n_generated, prompt_ids, stamped_generate  # noqa: E402

T_START = time.perf_counter()
# HBM bandwidth (bytes/s) by device-name substring; first match wins. Other GPUs: measured with a large copy.
HBM_BANDWIDTH = [("H200", 4.8e12), ("H100 PCIe", 2.0e12), ("H100 NVL", 3.9e12), ("H100", 3.35e12),
                 ("A100-SXM4-80GB", 2.0e12), ("A100 80GB", 2.0e12), ("A100-PCIE-80GB", 2.0e12)]
TINY = dict(  # --cpu-smoke only
    text_config=dict(vocab_size=32267, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024),
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       image_size=336, patch_size=14),
    sam_config=SMALL_SAM)


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T_START:6.1f}s] {msg}", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dry-run", action="store_true", help="build on the meta device, print the plan, no GPU needed")
    p.add_argument("--cpu-smoke", action="store_true", help="run the GPU code path on CPU with a tiny config")
    p.add_argument("--text-tokens", type=int, default=60, help="prompt text ids besides the 576 image tokens")
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp16"])
    p.add_argument("--gpus", type=int, default=0, help="use the first N GPUs (0 = all)")
    p.add_argument("--gpu-fraction", type=float, default=0.90, help="max_memory per GPU, fraction of its total")
    p.add_argument("--no-bare", action="store_true", help="skip the bare LlamaForCausalLM comparison")
    p.add_argument("--no-sam", action="store_true")
    p.add_argument("--no-serving", action="store_true", help="skip batched decode and follow-up TTFT")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32], help="batched decode throughput at these")
    p.add_argument("--attn", default="sdpa")
    p.add_argument("--budget-s", type=float, default=240.0,
                   help="skip the bare-Llama comparison if this many seconds have passed before it starts")
    return p.parse_args(argv)


# Building: meta device -> device map -> random weights created on their device.
def empty_model(cls, config, dtype):
    """On the meta device; parameters in `dtype` except `_keep_in_fp32_modules` (the router), buffers kept fp32."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = cls(config)
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or [])
    for name, module in model.named_modules():
        if keep & set(name.split(".")):
            continue
        for key, p in module._parameters.items():
            if p is not None and p.is_floating_point():
                module._parameters[key] = torch.nn.Parameter(p.to(dtype), requires_grad=False)
    return model.eval()


def device_map_for(model, devices: list, fraction: float, fake_total: dict | None = None) -> dict:
    """One device: everything on it. Several: accelerate's balanced map, never splitting a decoder layer."""
    from accelerate import infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    if len(devices) == 1 and fake_total is None:
        return {"": devices[0]}
    if fake_total is None:
        fake_total = {i: int(torch.cuda.get_device_properties(i).total_memory * fraction) for i in range(len(devices))}
    no_split = list(model._no_split_modules)
    max_memory = get_balanced_memory(model, max_memory=fake_total, no_split_module_classes=no_split)
    dmap = infer_auto_device_map(model, max_memory=max_memory, no_split_module_classes=no_split)
    return {k: (f"cuda:{v}" if isinstance(v, int) else v) for k, v in dmap.items()}


def device_of(name: str, dmap: dict):
    """Device of a parameter / module name: the longest matching device-map key."""
    keys = [k for k in dmap if k == "" or name == k or name.startswith(k + ".")]
    if not keys:
        raise KeyError(f"{name} is not in the device map")
    return dmap[max(keys, key=len)]


@torch.no_grad()
def materialise(model, dmap: dict, seed: int = 0, std: float = 0.02):
    """Random weights created on their device (normal(0, std), norms 1, biases 0), then dispatched if split."""
    from accelerate import dispatch_model
    from accelerate.utils import set_module_tensor_to_device

    torch.manual_seed(seed)
    for name, p in list(model.named_parameters()):
        dev = device_of(name, dmap)
        t = torch.empty(p.shape, dtype=p.dtype, device=dev)
        if name.endswith(".bias"):
            t.zero_()
        elif p.dim() == 1 and "norm" in name:
            t.fill_(1.0)
        else:
            t.normal_(0.0, std)
        set_module_tensor_to_device(model, name, dev, value=t, clear_cache=False)
    for name, b in list(model.named_buffers()):
        assert b.device.type != "meta", f"buffer {name} was created on meta"
        set_module_tensor_to_device(model, name, device_of(name, dmap), value=b, clear_cache=False)
    if len({str(d) for d in dmap.values()}) == 1:
        return model
    return dispatch_model(model, device_map=dmap, skip_keys=getattr(model, "_skip_keys_device_placement", None))


# Accounting and measuring.
def nbytes(params) -> int:
    return sum(p.numel() * p.element_size() for p in params)


def decode_bytes_ours(model) -> dict:
    """Bytes of weights read per decode step (one token)."""
    lm = model.model.language_model
    moe = [layer.mlp.experts for layer in lm.layers if hasattr(layer.mlp, "experts")]
    experts_all = sum(nbytes(e.parameters()) for experts in moe for e in experts)
    experts_used = sum(max(nbytes(e.parameters()) for e in experts) for experts in moe)  # one expert (all equal)
    embed, head = nbytes(lm.embed_tokens.parameters()), nbytes(model.lm_head.parameters())
    non_expert = nbytes(lm.parameters()) - experts_all - embed + head
    return dict(non_expert=non_expert, experts_used=experts_used, experts_all=experts_all, embed=embed,
                per_token=non_expert + experts_used, total_model=nbytes(model.parameters()))


def decode_bytes_bare(model) -> int:
    return nbytes(model.parameters()) - nbytes(model.model.embed_tokens.parameters())


GPUS = range(torch.cuda.device_count())  # 0 without CUDA


def sync() -> None:
    for i in GPUS:
        torch.cuda.synchronize(i)


def reset_peaks() -> None:
    for i in GPUS:
        torch.cuda.reset_peak_memory_stats(i)


def peaks() -> str:
    return ", ".join(f"cuda:{i} {torch.cuda.max_memory_allocated(i) / 2**30:.2f} GiB" for i in GPUS) or "n/a (CPU)"


timed = partial(common.timed, sync=sync)  # (seconds per call, last output), GPUs synchronised


def bandwidth(dev_index: int | None) -> tuple[float, str]:
    if dev_index is None:
        return float("nan"), "n/a (CPU)"
    name = torch.cuda.get_device_name(dev_index)
    for key, bw in HBM_BANDWIDTH:
        if key.lower() in name.lower():
            return bw, f"{name} (table)"
    a, b = (torch.empty(1 << 28, device=f"cuda:{dev_index}") for _ in range(2))  # 1 GiB each
    b.copy_(a)
    return 2 * 2**30 / timed(lambda: b.copy_(a), reps=20)[0], f"{name} (measured by a 1 GiB copy)"


def grounded_once(model, ids, features, sam_px, cfg):
    """generate_grounded with a scripted answer '<SEG>' then EOS, so the SAM branch runs."""
    from transformers import LogitsProcessor, LogitsProcessorList

    script = [cfg.seg_token_id, cfg.text_config.eos_token_id]

    class Script(LogitsProcessor):
        def __call__(self, input_ids, scores):  # input_ids: the tokens generated so far (inputs_embeds prompt)
            forced = torch.full_like(scores, -1e9)
            forced[:, script[min(input_ids.shape[1], len(script) - 1)]] = 0
            return forced

    ss = cfg.sam.image_size
    return model.generate_grounded(ids, image_features=features, sam_pixel_values=sam_px, sam_resized_hw=(ss, ss),
                                   original_hw=(512, 512), max_new_tokens=4,
                                   logits_processor=LogitsProcessorList([Script()]))


def serving_figures(model, ids, features, cfg, args) -> None:
    """Batched decode throughput (B rows, each with its own image features: no prefix is shared, as for B users with
    their own images) and follow-up time to first token with the conversation's KV cache reused (turn 2 = turn 1's
    prompt + answer + a new question)."""
    from transformers import LogitsProcessorList

    from medplib.generation import GroundedRequest, PrefixCache, generate_grounded_batch

    n = max(8, args.new_tokens // 4)
    for b in args.batch_sizes:
        stamps = common.Stamps(sync=sync)
        reqs = [GroundedRequest(ids, image_features=tuple(f + 1e-2 * k for f in features)) for k in range(b)]
        sync()
        t0 = time.perf_counter()
        generate_grounded_batch(model, reqs, **common.gen_kwargs(n), logits_processor=LogitsProcessorList([stamps]))
        steps = [y - x for x, y in zip(stamps.t, stamps.t[1:])]
        step = common.med(steps)
        log(f"batch {b}: prefill {(stamps.t[0] - t0) * 1e3:.1f} ms; decode {step * 1e3:.2f} ms/step = "
            f"{b / step:.1f} tok/s total ({1 / step:.1f} per row); peak {peaks()}")
    cache, g = PrefixCache(max_bytes=64 * 2**30), torch.Generator().manual_seed(5)
    ttft = []
    prompt = ids
    for turn in range(3):
        stamps = common.Stamps(sync=sync)
        sync()
        t0 = time.perf_counter()
        out = model.generate_grounded(prompt, image_features=features, prefix_cache=cache, session="s",
                                      **common.gen_kwargs(n), logits_processor=LogitsProcessorList([stamps]))
        ttft.append(stamps.t[0] - t0)
        log(f"turn {turn + 1}: {prompt.shape[1] - 1 + cfg.num_image_tokens} prompt positions, {cache.last_reused} "
            f"reused, time to first token {ttft[-1] * 1e3:.1f} ms")
        question = torch.randint(3, 32000, (1, 20), generator=g).to(prompt.device)
        prompt = torch.cat([prompt, out.sequences.to(prompt.device), question], dim=1)
    log(f"follow-up TTFT ratio (turn 3 / turn 1, KV reuse): {ttft[2] / ttft[0]:.3f}")


def dry_run(model, bare, args) -> None:
    """Device maps for 1 x 80 GiB and 2 x 40 GiB (fake GPUs) and the bare model's size; nothing allocated."""
    logging.getLogger("accelerate.utils.modeling").setLevel(logging.ERROR)  # "Device 0 is not available"
    for plan in ({0: 80 * 2**30}, {0: 40 * 2**30, 1: 40 * 2**30}):
        dmap = device_map_for(model, list(plan), args.gpu_fraction, fake_total=plan)
        by_dev = Counter()
        for name, p in model.named_parameters():
            by_dev[str(device_of(name, dmap))] += nbytes([p])
        log(f"dry-run device map for {len(plan)} GPU(s) of {list(plan.values())[0] / 2**30:.0f} GiB: {len(dmap)} "
            f"entries ({sum('language_model.layers.' in k for k in dmap)} decoder-layer entries); weights per "
            "device: " + ", ".join(f"{d}: {b / 2**30:.2f} GiB" for d, b in sorted(by_dev.items())))
    log(f"bare LlamaForCausalLM on meta: {sum(p.numel() for p in bare.parameters()) / 1e9:.3f}B params, "
        f"{decode_bytes_bare(bare) / 1e9:.3f} GB read per token")
    log("dry-run OK (no GPU used)")


def main(argv=None) -> int:
    args = parse_args(argv)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    if not args.dry_run and not args.cpu_smoke and not GPUS:
        print("gpu_check: no CUDA GPU available; use --dry-run (7B build on the meta device) or --cpu-smoke "
              "(the code path on CPU with a tiny config).", file=sys.stderr)
        return 2

    from transformers import LlamaForCausalLM

    from medplib import MedPLIBConfig, MedPLIBForCausalLM

    cfg = MedPLIBConfig(attn_implementation=args.attn, **(TINY if args.cpu_smoke else {}))  # defaults = the 7B
    t, n_img = cfg.text_config, cfg.num_image_tokens
    log(f"torch {torch.__version__}; LLaMA hidden {t.hidden_size} x{t.num_hidden_layers} layers, "
        f"{cfg.moe_num_experts} experts top-{cfg.moe_top_k} on {len(cfg.moe_layer_indices)} layers; CLIP "
        f"{cfg.vision_config.image_size}/{cfg.vision_config.patch_size} -> {n_img} image tokens; SAM "
        f"{cfg.sam.image_size}px ViT dim {cfg.sam.encoder_embed_dim} x{cfg.sam.encoder_depth}; {args.dtype}")
    t0 = time.perf_counter()
    model = empty_model(MedPLIBForCausalLM, cfg, dtype)
    acc = decode_bytes_ours(model)
    log(f"built on meta in {time.perf_counter() - t0:.1f}s: {sum(p.numel() for p in model.parameters()) / 1e9:.3f}B "
        f"params, {acc['total_model'] / 2**30:.2f} GiB in {args.dtype} (router fp32)")
    prompt_len = args.text_tokens - 1 + n_img
    ctx = prompt_len + args.new_tokens // 2  # mean context during decode
    kv = 2 * t.num_hidden_layers * ctx * t.num_key_value_heads * (t.hidden_size // t.num_attention_heads) * \
        torch.tensor([], dtype=dtype).element_size()
    log(f"bytes read per decode token: non-expert LLM weights + lm_head {acc['non_expert'] / 1e9:.3f} GB + one expert "
        f"per MoE layer {acc['experts_used'] / 1e9:.3f} GB = {acc['per_token'] / 1e9:.3f} GB (all experts "
        f"{acc['experts_all'] / 1e9:.3f} GB; embedding {acc['embed'] / 1e9:.3f} GB not read); KV cache at mean "
        f"context {ctx}: {kv / 1e9:.3f} GB")
    log("bound tok/s, weights only / with KV: " + ", ".join(
        f"{k} {bw / acc['per_token']:.1f} / {bw / (acc['per_token'] + kv):.1f}" for k, bw in HBM_BANDWIDTH[:5]))
    if args.dry_run:
        dry_run(model, empty_model(LlamaForCausalLM, llama_config(t, args.attn), dtype), args)
        return 0

    # ---- ours, on the GPU(s) (or CPU with --cpu-smoke) --------------------------------------------------------------
    devices = ["cpu"] if args.cpu_smoke else [f"cuda:{i}" for i in GPUS][: args.gpus or None]
    for i, pr in enumerate(torch.cuda.get_device_properties(d) for d in devices if d != "cpu"):
        log(f"cuda:{i}: {pr.name}, {pr.total_memory / 2**30:.1f} GiB, {pr.multi_processor_count} SMs")
    bw, bw_src = bandwidth(None if args.cpu_smoke else 0)
    bound, bound_kv = bw / acc["per_token"], bw / (acc["per_token"] + kv)
    log(f"HBM bandwidth {bw / 1e12:.2f} TB/s, {bw_src}")
    t0 = time.perf_counter()
    dmap = device_map_for(model, devices, args.gpu_fraction)
    model = materialise(model, dmap)
    sync()
    log(f"random weights on {sorted({str(d) for d in dmap.values()})} in {time.perf_counter() - t0:.1f}s; "
        f"allocated: {peaks()}")

    g = torch.Generator().manual_seed(0)

    def on(x, param: str):  # to the device of a parameter; floats to the model dtype
        return x.to(device_of(param, dmap), dtype if x.is_floating_point() else None)

    ids = on(prompt_ids(t.bos_token_id, args.text_tokens, g), "model.language_model.embed_tokens.weight")
    s = cfg.vision_config.image_size
    px = on(torch.randn(1, 3, s, s, generator=g), "model.vision_tower.embeddings.patch_embedding.weight")
    with torch.inference_mode():
        tv, features = timed(lambda: model.model.encode_image(px), reps=3, warmup=1)
        log(f"vision (CLIP-L + projector): {tv * 1e3:.1f} ms")
        mm = model.model.prepare_multimodal_inputs(ids, image_features=features)

        prefill = partial(model, inputs_embeds=mm.inputs_embeds, attention_mask=mm.attention_mask.long(),
                          use_cache=True, logits_to_keep=1)
        reset_peaks()
        tp, _ = timed(prefill, reps=3, warmup=1)
        log(f"prefill of {prompt_len} tokens ({n_img} image + {args.text_tokens - 1} text): {tp * 1e3:.1f} ms "
            f"({prompt_len / tp:.0f} tok/s); peak {peaks()}")

        ours_call = partial(model.generate_grounded, ids, image_features=features)
        stamped_generate(ours_call, 8, sync=sync)  # warm-up
        reset_peaks()
        r = stamped_generate(ours_call, args.new_tokens, sync=sync)
        log(f"ours generate_grounded: {n_generated(r['out'])} new tokens in {r['total']:.2f} s; first token "
            f"{r['prefill'] * 1e3:.1f} ms; decode {r['step'] * 1e3:.2f} ms/token = {1 / r['step']:.1f} tok/s")
        log(f"  bandwidth bound {bound:.1f} tok/s (weights) / {bound_kv:.1f} (weights+KV) -> ours at "
            f"{100 / r['step'] / bound:.1f}% / {100 / r['step'] / bound_kv:.1f}% of the bound; "
            f"peak memory during generate: {peaks()}")

        if not args.no_serving:
            serving_figures(model, ids, features, cfg, args)

        if not args.no_sam:  # SAM encoder + grounding decode
            ss = cfg.sam.image_size
            sam_px = on(torch.randn(1, 3, ss, ss, generator=g), "model.sam.image_encoder.patch_embed.proj.weight")
            te, emb = timed(lambda: model.model.encode_sam(sam_px), reps=3, warmup=1)
            hidden = on(torch.randn(1, t.hidden_size, generator=g), "model.seg_projector.linear_1.weight")
            td, _ = timed(lambda: model.model.decode_masks(hidden, emb, (ss, ss), (512, 512)), reps=3, warmup=1)
            log(f"SAM encoder ({ss}px): {te * 1e3:.1f} ms; grounding decode (SEG projector + prompt encoder + mask "
                f"decoder + upsample to 512x512): {td * 1e3:.1f} ms")
            tg, out = timed(lambda: grounded_once(model, ids, features, sam_px, cfg))
            log(f"full grounded answer (forced '<SEG>' then EOS: generate + SAM encode + mask decode): "
                f"{tg * 1e3:.1f} ms, {len(out.seg_positions)} mask(s) of shape {tuple(out.masks.shape)}")
        log(f"peak memory so far: {peaks()}")

    if args.no_bare:
        return 0
    if time.perf_counter() - T_START > args.budget_s:
        log(f"skipping the bare Llama: {time.perf_counter() - T_START:.0f}s > --budget-s {args.budget_s:.0f}")
        return 0
    # ---- bare transformers LLaMA with the same LLM dims, same device(s) --------------------------------------------
    del model, features, mm
    torch.cuda.empty_cache()
    bare = empty_model(LlamaForCausalLM, llama_config(t, args.attn), dtype)
    dmap = device_map_for(bare, devices, args.gpu_fraction)  # `on` now places tensors by the bare model's map
    bare = materialise(bare, dmap, seed=1000)
    bare_ids = on(prompt_ids(t.bos_token_id, prompt_len, g, image=False), "model.embed_tokens.weight")
    with torch.inference_mode():
        bare_call = partial(bare.generate, bare_ids, attention_mask=torch.ones_like(bare_ids))
        stamped_generate(bare_call, 8, sync=sync)
        tb, _ = timed(lambda: bare(bare_ids, use_cache=True, logits_to_keep=1), reps=3)
        log(f"bare Llama prefill of {prompt_len} tokens: {tb * 1e3:.1f} ms; ours/bare {tp / tb:.3f}x")
        rb = stamped_generate(bare_call, args.new_tokens, sync=sync)
        bb = decode_bytes_bare(bare)
        log(f"bare LlamaForCausalLM generate: first token {rb['prefill'] * 1e3:.1f} ms; decode {rb['step'] * 1e3:.2f} "
            f"ms/token = {1 / rb['step']:.1f} tok/s ({100 / rb['step'] / (bw / bb):.1f}% of its bound "
            f"{bw / bb:.1f} tok/s for {bb / 1e9:.3f} GB/token)")
        log(f"ours/bare: decode time per token {r['step'] / rb['step']:.3f}x; total generate "
            f"{r['total'] / rb['total']:.3f}x")
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
