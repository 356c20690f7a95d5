"""Follow-up questions with and without prefix (KV-cache) reuse: time to first token per turn, same image.

Benchmark script (prints numbers; asserts nothing). CPU, two models: the built-in tiny model (64 image tokens,
where fixed per-call costs - tokenising, generate's set-up, ~10 ms of per-layer overhead - dominate the prefill),
and random weights at the size the issue measured (LLaMA 512 x 8, CLIP 336/14 = 576 image tokens), which gives
the `follow-up TTFT ratio` line. The image is encoded once (CLIP is cached either way), so time to first token
is the prefill the turn has to compute: the whole conversation (image + every earlier turn) without reuse, only
the new question (plus what the re-tokenised previous answer changed) with it.

    python bench/multiturn.py [--quick] [--rounds 7] [--scaled 512 8] [--image examples/ct.png]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401  (puts the repo root on sys.path)
import torch  # noqa: E402
from common import Stamps  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import LogitsProcessorList  # noqa: E402

from medplib import MedPLIB, MedPLIBConfig, MedPLIBForCausalLM  # noqa: E402
from medplib.pipeline import BUILTIN  # noqa: E402
from medplib.checkpoints.tokenizer import load_tokenizer  # noqa: E402

TURNS = ["What modality is this image?", "Is there an abnormality in this image?",
         "Which organ is on the left side of the image?"]


def conversation(medplib, encoded, session, new_tokens: int, clock) -> list[tuple[float, int]]:
    """(time to first token in s, positions reused) per turn."""
    history, out = [], []
    for q in TURNS:
        stamps = Stamps(clock)
        t0 = clock()
        answer = medplib.ask(encoded, q, history=list(history), max_new_tokens=new_tokens, session=session,
                             logits_processor=LogitsProcessorList([stamps]))
        out.append((stamps.t[0] - t0, medplib.prefix_cache.last_reused if session is not None else 0))
        history.append((q, answer.text))
    return out


def scaled_model(hidden: int, layers: int) -> MedPLIB:
    """Random weights at the issue's measuring size (LLaMA hidden x layers, CLIP 336/14 = 576 image tokens), with
    the built-in tokenizer: a prefill large enough that per-call overheads no longer dominate it."""
    tokenizer = load_tokenizer(BUILTIN)
    text = dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                num_hidden_layers=layers, num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64,
                max_position_embeddings=4096)
    vision = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=2, num_attention_heads=4,
                  image_size=336, patch_size=14)
    cfg = MedPLIBConfig(text_config=text, vision_config=vision, sam_config=common.SMALL_SAM,
                        seg_token_id=tokenizer.convert_tokens_to_ids("<SEG>"))
    torch.manual_seed(0)
    return MedPLIB(MedPLIBForCausalLM(cfg), tokenizer, name=f"random {hidden}x{layers}")


def measure(medplib, image, rounds: int, new_tokens: int, clock) -> dict:
    """Median time to first token per turn, with and without reuse; prints the table."""
    encoded = medplib.encode(image)
    conversation(medplib, encoded, "warm-up", new_tokens, clock)  # first-call costs out of the way
    runs = {"reuse": [], "full": []}
    for r in range(rounds):  # alternate against drift; a new session per round
        for mode in (("reuse", "full") if r % 2 == 0 else ("full", "reuse")):
            runs[mode].append(conversation(medplib, encoded, f"round{r}" if mode == "reuse" else None,
                                           new_tokens, clock))
    print(f"\n# {medplib.name}: {medplib.model.config.num_image_tokens} image tokens, {rounds} rounds; median "
          "time to first token per turn (ms), from the ask() call")
    print(f"{'turn':<6}{'full prefill':>14}{'with reuse':>14}{'reused positions':>18}")
    ttft = {m: [statistics.median(run[t][0] for run in runs[m]) for t in range(len(TURNS))] for m in runs}
    for t in range(len(TURNS)):
        print(f"{t + 1:<6}{ttft['full'][t] * 1e3:>14.1f}{ttft['reuse'][t] * 1e3:>14.1f}{runs['reuse'][0][t][1]:>18}")
    print(f"turn-3 / turn-1 without reuse: {ttft['full'][2] / ttft['full'][0]:.3f}; with reuse: "
          f"{ttft['reuse'][2] / ttft['reuse'][0]:.3f}")
    return ttft


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="3 rounds")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--new-tokens", type=int, default=24)
    p.add_argument("--scaled", type=int, nargs=2, default=[512, 8], metavar=("HIDDEN", "LAYERS"),
                   help="the second, random-weight model (the issue measured at 512 x 8, 576 image tokens)")
    p.add_argument("--image", default=str(common.ROOT / "examples" / "ct.png"))
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; with 1 the clock is this process's CPU time (robust on a shared machine)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    rounds = 3 if args.quick else args.rounds
    image = Image.open(args.image)
    print(f"# {args.threads} thread(s), {'CPU' if args.threads == 1 else 'wall'} clock")
    builtin = measure(MedPLIB.from_pretrained(), image, rounds, args.new_tokens, clock)
    hidden, layers = args.scaled
    scaled = measure(scaled_model(hidden, layers), image, rounds, args.new_tokens, clock)
    print(f"\nbuilt-in model (64 image tokens) turn-3 / turn-1 with reuse: {builtin['reuse'][2] / builtin['reuse'][0]:.3f}"
          " (per-call overheads dominate its ~100-token prefill)")
    print(f"follow-up TTFT ratio: {scaled['reuse'][2] / scaled['reuse'][0]:.3f}  (target <= 0.25; random "
          f"{hidden}x{layers}, 576 image tokens)")


if __name__ == "__main__":
    main()
