"""Generation overhead of MedPLIB vs transformers' bare LLaMA, and peak-memory growth with answer length.

Benchmark script (prints numbers; asserts nothing about speed). Random weights, fp32, CPU.

(a) `generate_grounded` on one prompt with one image vs `LlamaForCausalLM.generate` with the same LLM dims and the
    same token counts (prompt after splicing = text ids - 1 + image tokens; the Llama prompt is random ids of that
    length), greedy, exactly --new-tokens new tokens on both (EOS suppressed). Runs are interleaved (order alternating
    per round); ratios are the median over rounds of the paired per-round ratio (robust to drift).
    "ours (features)" = the LLM generate part (CLIP features precomputed, as `MedPLIB.ask` does with its image
    cache) <- the --target; "ours (pixels)" also runs the vision tower + projector inside the call.
    MedPLIB's MLPs are 2-expert top-1 MoE: per token one expert (a LlamaMLP of the same size) runs, so the FLOPs per
    token equal the dense LLaMA's; only the routing is extra. Also: top-level aten ops per decode step (noise-free).
(b) Memory of 32 vs 512 new tokens, each in a fresh subprocess, ours next to bare LlamaForCausalLM.generate with
    the same prompt and answer lengths: the prefill's peak, and the decode phase's growth (VmHWM reset at the first
    logits, minus the RSS there), whose difference between the lengths is compared with the expected growth
    (KV cache 2 * layers * dN * hidden * 4 B) and with bare's. A peak of the whole call would hide bare's KV growth
    under its larger prefill peak (the allocator reuses that memory).

    python bench/generate_overhead.py --threads 1 --new-tokens 32 --repeats 7
    python bench/generate_overhead.py --skip-memory / --skip-speed

On a shared machine use --threads 1: the clock is then this process's CPU time (--clock auto), which ignores time
lost to other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (SMALL_SAM, decode_step_fns, gen_kwargs, llama_config, med, n_generated,  # noqa: E402
                    prompt_ids, stamped_generate, timed, top_level_ops)
from transformers import LlamaForCausalLM, LogitsProcessor, LogitsProcessorList  # noqa: E402

from medplib import MedPLIBConfig, MedPLIBForCausalLM  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--intermediate", type=int, default=1376)
    p.add_argument("--vocab", type=int, default=32267)
    p.add_argument("--vision-width", type=int, default=256)
    p.add_argument("--vision-layers", type=int, default=2)
    p.add_argument("--image-size", type=int, default=336)
    p.add_argument("--patch", type=int, default=14)
    p.add_argument("--text-tokens", type=int, default=60, help="prompt text ids (one is the image placeholder)")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all CPUs available)")
    p.add_argument("--clock", default="auto", choices=["auto", "wall", "cpu"],
                   help="wall (perf_counter) or process CPU time (meaningful with 1 thread); auto: cpu iff 1 thread")
    p.add_argument("--experts", type=int, default=2, help="MoE experts per layer (1 = dense MedPLIB)")
    p.add_argument("--attn", default="sdpa", help="attention implementation for both models")
    p.add_argument("--target", type=float, default=1.10)
    p.add_argument("--mem-new-tokens", type=int, nargs=2, default=[32, 512], metavar=("SHORT", "LONG"))
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--memory-case", type=int, default=None, help=argparse.SUPPRESS)  # internal: one subprocess
    p.add_argument("--memory-bare", action="store_true", help=argparse.SUPPRESS)  # internal: that case on bare Llama
    return p.parse_args(argv)


def setup(args):
    """Threads, clock and the model config."""
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    clock_name = args.clock if args.clock != "auto" else ("cpu" if threads == 1 else "wall")
    text = dict(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
                num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.heads,
                max_position_embeddings=4096)
    vision = dict(hidden_size=args.vision_width, intermediate_size=4 * args.vision_width,
                  num_hidden_layers=args.vision_layers, num_attention_heads=max(1, args.vision_width // 64),
                  image_size=args.image_size, patch_size=args.patch)
    cfg = MedPLIBConfig(text_config=text, vision_config=vision, sam_config=SMALL_SAM, moe_num_experts=args.experts,
                        attn_implementation=args.attn)
    return threads, clock_name, cfg


def build(cfg, args):
    torch.manual_seed(0)
    ours = MedPLIBForCausalLM(cfg).eval()
    torch.manual_seed(1)
    bare = LlamaForCausalLM(llama_config(cfg.text_config, args.attn)).eval()
    ids = prompt_ids(cfg.text_config.bos_token_id, args.text_tokens, torch.Generator().manual_seed(2))
    s = cfg.vision_config.image_size
    px = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(3))
    return ours, bare, ids, px


# ----------------------------------------------------------------------------------------------------------------
# (a) speed
# ----------------------------------------------------------------------------------------------------------------
def speed(args) -> None:
    threads, clock_name, cfg = setup(args)
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    ours, bare, ids, px = build(cfg, args)
    t, n_new, n_img = cfg.text_config, args.new_tokens, cfg.num_image_tokens
    prompt_len = args.text_tokens - 1 + n_img
    bare_ids = prompt_ids(t.bos_token_id, prompt_len, torch.Generator().manual_seed(4), image=False)
    with torch.no_grad():
        features = ours.model.encode_image(px)
    n_ours = sum(p.numel() for p in ours.parameters()) / 1e6
    n_bare = sum(p.numel() for p in bare.parameters()) / 1e6
    print(f"# torch {torch.__version__}, threads {threads}, fp32, attn={args.attn}, clock={clock_name}")
    print(f"# LLM hidden {t.hidden_size} x{t.num_hidden_layers} layers, heads {t.num_attention_heads}, intermediate "
          f"{t.intermediate_size}, vocab {t.vocab_size}; MoE {args.experts} experts top-1; params ours {n_ours:.1f}M "
          f"(incl. vision, SAM, unused experts), bare {n_bare:.1f}M")
    print(f"# prompt {args.text_tokens} text ids (1 = <image>) -> {prompt_len} tokens ({n_img} image); bare prompt "
          f"{prompt_len} random ids; {n_new} new tokens on both")

    calls = {
        "bare generate": partial(bare.generate, bare_ids, attention_mask=torch.ones_like(bare_ids)),
        "ours (features)": partial(ours.generate_grounded, ids, image_features=features),
        "ours (pixels)": partial(ours.generate_grounded, ids, pixel_values=px),
    }
    names = list(calls)

    def vision():
        with torch.no_grad():
            return timed(lambda: ours.model.encode_image(px), clock=clock)[0]

    for name, call in calls.items():  # warm-up, and check the token counts
        got = n_generated(stamped_generate(call, n_new, clock)["out"], prompt_len if name == "bare generate" else 0)
        if got != n_new:
            raise SystemExit(f"{name}: generated {got} tokens, expected {n_new}")
    vision()

    res, vis = {k: [] for k in names}, []
    load0 = os.getloadavg()[0]
    for r in range(args.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):  # alternate the order against drift
            res[name].append(stamped_generate(calls[name], n_new, clock))
        vis.append(vision())
        print(f"  round {r + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]['total'] * 1e3:.0f} ms" for k, v in
                                                          res.items()) + f", vision {vis[-1] * 1e3:.0f} ms", flush=True)

    print(f"\n== (a) generate: {args.repeats} interleaved runs, {n_new} new tokens, prompt {prompt_len} (1-min load "
          f"{load0:.2f} -> {os.getloadavg()[0]:.2f} on {len(os.sched_getaffinity(0))} CPUs) ==")
    print("median [min]; prefill = start -> first logits; decode = median step time within a run")
    print(f"{'case':<18}{'total ms':>16}{'tok/s':>8}{'prefill ms':>17}{'decode ms/tok':>17}{'decode tok/s':>13}")
    for name in names:
        s = {k: (med([x[k] for x in res[name]]), min(x[k] for x in res[name])) for k in ("total", "prefill", "step")}
        print(f"{name:<18}{s['total'][0] * 1e3:>9.1f} [{s['total'][1] * 1e3:>4.0f}]{n_new / s['total'][0]:>8.2f}"
              f"{s['prefill'][0] * 1e3:>10.1f} [{s['prefill'][1] * 1e3:>4.0f}]"
              f"{s['step'][0] * 1e3:>10.2f} [{s['step'][1] * 1e3:>4.1f}]{1 / s['step'][0]:>13.2f}")
    print(f"{'vision (CLIP+proj)':<18}{med(vis) * 1e3:>9.1f} [{min(vis) * 1e3:>4.0f}]")

    def paired(name, key):
        r = sorted(x[key] / y[key] for x, y in zip(res[name], res["bare generate"]))
        return f"{med(r):.3f}x [IQR {r[len(r) // 4]:.3f}-{r[(3 * len(r)) // 4]:.3f}]", med(r)

    print("\nratio ours / bare (same prompt + new token counts), median [IQR] over rounds of the paired ratio:")
    print(f"{'':<34}{'total':>26}{'prefill':>26}{'decode/token':>26}")
    for name, label in (("ours (features)", "LLM generate part (no vision)"), ("ours (pixels)", "incl. vision")):
        print(f"  {label:<32}" + "".join(f"{paired(name, k)[0]:>26}" for k in ("total", "prefill", "step")))
    ratio = paired("ours (features)", "total")[1]
    print(f"  => LLM generate part {'within' if ratio <= args.target else 'ABOVE'} target "
          f"({ratio:.3f}x vs {args.target:.2f}x)")

    # Op count per decode step (one token, KV cache of the real prompt): independent of timing noise.
    with torch.no_grad():
        mm = ours.model.prepare_multimodal_inputs(ids, image_features=features)
    steps = decode_step_fns(ours, bare, mm, bare_ids)
    ops = {k: top_level_ops(fn) for k, fn in steps.items()}
    print(f"\ntop-level aten ops per decode step: bare {ops['bare']}, ours {ops['ours']} "
          f"({ops['ours'] - ops['bare']:+d}, {(ops['ours'] - ops['bare']) / t.num_hidden_layers:+.1f} per layer)")


# ----------------------------------------------------------------------------------------------------------------
# (b) memory
# ----------------------------------------------------------------------------------------------------------------
def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class _AfterPrefill(LogitsProcessor):
    """At the first logits (the prefill done): note the RSS and reset VmHWM, so the peak that follows is the
    decode phase's own (a prefill's transient peak would otherwise hide the KV cache's growth under it)."""

    def __init__(self):
        self.rss = None

    def __call__(self, input_ids, scores):
        if self.rss is None:
            self.rss = _status_kib("VmRSS")
            _reset_hwm()
        return scores


def _reset_hwm() -> bool:
    try:  # reset VmHWM to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_case(args) -> None:
    """One subprocess: build, a 1-token call (its peak: the prefill, allocator pools included), then n tokens;
    prints the RSS before the first call, that call's peak, the RSS after the prefill and the decode phase's peak."""
    _, _, cfg = setup(args)
    ours, bare, ids, px = build(cfg, args)
    if args.memory_bare:  # the same prompt length as ours after splicing, random ids
        del ours
        n_prompt = args.text_tokens - 1 + cfg.num_image_tokens
        bare_ids = prompt_ids(cfg.text_config.bos_token_id, n_prompt, torch.Generator().manual_seed(4), image=False)
        run = partial(bare.generate, bare_ids, attention_mask=torch.ones_like(bare_ids))
    else:
        del bare
        with torch.no_grad():
            features = ours.model.encode_image(px)
        run = partial(ours.generate_grounded, ids, image_features=features)
    rss0 = _status_kib("VmRSS")
    reset = _reset_hwm()
    run(**gen_kwargs(1))  # the first call's peak: a prefill (one token: no decode step) and the allocator's pools
    hwm_prefill = _status_kib("VmHWM")
    _reset_hwm()
    probe = _AfterPrefill()
    out = run(**gen_kwargs(args.memory_case), logits_processor=LogitsProcessorList([probe]))
    hwm = _status_kib("VmHWM")
    prompt = (args.text_tokens - 1 + cfg.num_image_tokens) if args.memory_bare else 0
    print(json.dumps(dict(generated=n_generated(out, prompt), rss0=rss0, hwm_prefill=hwm_prefill, rss1=probe.rss,
                          hwm=hwm, reset=reset)))


def memory(args) -> None:
    short, long = args.mem_new_tokens
    t = setup(args)[2].text_config
    base = [sys.executable, str(Path(__file__).resolve())] + [a for a in sys.argv[1:] if a != "--skip-speed"]
    print(f"\n== (b) memory: {short} vs {long} new tokens, fp32, fresh subprocess each ==", flush=True)
    print("  first-call peak = VmHWM of a first, 1-token call - RSS before it; decode growth = VmHWM after the "
          "prefill - RSS at the first logits")
    # Blocks of 64 KiB and more are mmapped and returned to the system when freed, so RSS follows the live
    # tensors (glibc's default reuses freed heap, and how much of the KV cache fits into what the prefill freed
    # varies from run to run).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    decode: dict = {}
    for who in ("ours", "bare"):
        for n in (short, long):
            extra = ["--memory-bare"] if who == "bare" else []
            proc = subprocess.run(base + ["--memory-case", str(n)] + extra, capture_output=True, text=True, env=env)
            if proc.returncode:
                raise SystemExit(f"memory case {who} {n} failed:\n{proc.stderr[-3000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            decode[who, n] = (r["hwm"] - r["rss1"]) * 1024
            print(f"  {who} {n:>4} new tokens (generated {r['generated']}): RSS before {r['rss0'] / 1024:.1f} MiB, "
                  f"first-call peak +{(r['hwm_prefill'] - r['rss0']) / 1024:.2f} MiB, decode growth "
                  f"+{decode[who, n] / 2**20:.2f} MiB"
                  f"{'' if r['reset'] else ' (VmHWM reset unsupported: peaks include earlier phases)'}", flush=True)
    dn = long - short
    kv = 2 * t.num_hidden_layers * dn * t.hidden_size * 4
    grow = {who: decode[who, long] - decode[who, short] for who in ("ours", "bare")}
    print(f"  expected growth {short} -> {long}: KV cache 2 x {t.num_hidden_layers} layers x {dn} x {t.hidden_size} x "
          f"4 B = {kv / 2**20:.2f} MiB (ours keeps the hidden state of each <SEG> only: none here)")
    print(f"  decode growth {short} -> {long}: ours {grow['ours'] / 2**20:.2f} MiB ({grow['ours'] / kv:.2f}x expected), "
          f"bare LlamaForCausalLM.generate {grow['bare'] / 2**20:.2f} MiB ({grow['bare'] / kv:.2f}x)")
    ratio = grow["ours"] / grow["bare"] if grow["bare"] > 0 else float("nan")
    print(f"  ours/bare growth: {ratio:.2f}x (goal ~1.0)")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.memory_case is not None:
        return memory_case(args)
    if not args.skip_speed:
        speed(args)
    if not args.skip_memory:
        memory(args)


if __name__ == "__main__":
    main()
