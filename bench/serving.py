"""Concurrent users on one model: answers per second and per-request latency, batched vs one at a time.

Benchmark script (prints numbers; asserts nothing). The built-in model on CPU. The same requests (the shipped
examples: open questions, grounding with <SEG> masks, region questions) are answered (1) sequentially, one
`ask` after the other as the old one-generation-at-a-time lock served them, and (2) by N threads at once with
`enable_batching(max_batch=N)`, the micro-batcher folding them into batches. Latency = submit -> final answer
(sequential: all N are taken as submitted at once, so the k-th waits for the k-1 before it). Images are encoded
(CLIP and SAM) before timing, the same for both.

    python bench/serving.py [--quick] [--concurrency 8] [--rounds 3] [--wait-ms 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import LogitsProcessorList, MinLengthLogitsProcessor  # noqa: E402

from medplib import MedPLIB  # noqa: E402


def workload(medplib, n: int) -> list[tuple]:
    """n (encoded image, question, regions) from the shipped examples, cycling over images and question kinds."""
    examples = json.loads((common.ROOT / "examples" / "examples.json").read_text())
    items = []
    for k in range(n):
        ex = examples[k % len(examples)]
        j = (k // len(examples)) % len(ex["questions"]) if n > len(examples) else k % len(ex["questions"])
        regions = [{"point": tuple(ex["region_hint"]["point_xy"])}] if ex["kinds"][j] == "region" else []
        encoded = medplib.encode(Image.open(common.ROOT / "examples" / ex["file"]))
        items.append((encoded, ex["questions"][j], regions))
    return items


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def sequential(medplib, items, new_tokens: dict) -> tuple[float, float, list[float], list]:
    """(wall s, process CPU s, latencies, answers)."""
    lat, answers = [], []
    c0, t0 = time.process_time(), time.perf_counter()
    for enc, q, regions in items:  # all submitted at t0, served one after the other
        answers.append(medplib.ask(enc, q, regions=regions, **new_tokens))
        lat.append(time.perf_counter() - t0)
    return time.perf_counter() - t0, time.process_time() - c0, lat, answers


def concurrent(medplib, items, new_tokens: dict) -> tuple[float, float, list[float], list]:
    lat, answers = [0.0] * len(items), [None] * len(items)
    start = threading.Barrier(len(items) + 1)

    def user(k: int) -> None:
        enc, q, regions = items[k]
        start.wait()
        t = time.perf_counter()
        answers[k] = medplib.ask(enc, q, regions=regions, **new_tokens)
        lat[k] = time.perf_counter() - t

    threads = [threading.Thread(target=user, args=(k,)) for k in range(len(items))]
    for t in threads:
        t.start()
    start.wait()
    c0, t0 = time.process_time(), time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, time.process_time() - c0, lat, answers


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 round")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--wait-ms", type=float, default=50.0, help="the batcher's collection window")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--min-new-tokens", type=int, default=0,
                   help="force answers this long (a decode-heavy load; the built-in model's answers are 1-8 tokens)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: fair on a shared machine, where OpenMP "
                   "threads spinning against other processes slow both modes down by an order of magnitude)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rounds = 1 if args.quick else args.rounds
    medplib = MedPLIB.from_pretrained()
    lengths = dict(max_new_tokens=max(args.new_tokens, args.min_new_tokens))
    if args.min_new_tokens:  # one shared processor object, so that requests still batch together
        lengths["logits_processor"] = LogitsProcessorList(
            [MinLengthLogitsProcessor(args.min_new_tokens, eos_token_id=medplib.tokenizer.eos_token_id)])
    items = workload(medplib, args.concurrency)
    sequential(medplib, items, lengths)  # warm-up; also caches each image's SAM embedding for both modes
    seq_runs, con_runs, sizes = [], [], []
    for r in range(rounds):
        for mode in (("seq", "con") if r % 2 == 0 else ("con", "seq")):
            if mode == "seq":
                medplib.enable_batching(max_batch=1)
                seq_runs.append(sequential(medplib, items, lengths))
            else:
                medplib.enable_batching(max_batch=args.concurrency, wait_ms=args.wait_ms)
                con_runs.append(concurrent(medplib, items, lengths))
                sizes += medplib.batcher.batch_sizes
    medplib.enable_batching(max_batch=1)
    same = all(a.token_ids == b.token_ids for s, c in zip(seq_runs, con_runs) for a, b in zip(s[3], c[3]))
    print(f"# built-in model, CPU, {torch.get_num_threads()} threads; {args.concurrency} requests "
          f"({sum(bool(i[2]) for i in items)} with a region), "
          f"{args.min_new_tokens}-{lengths['max_new_tokens']} new tokens, {rounds} round(s); "
          f"batch sizes seen {sorted(set(sizes))}; answers identical to sequential: {same}")
    print(f"{'mode':<12}{'answers/s':>11}{'answers/CPU-s':>15}{'latency p50 s':>15}{'p95 s':>9}")
    wall, cpu = {}, {}
    for name, runs in (("sequential", seq_runs), ("concurrent", con_runs)):
        lat = [x for run in runs for x in run[2]]
        wall[name] = statistics.median(len(items) / run[0] for run in runs)
        cpu[name] = statistics.median(len(items) / run[1] for run in runs)
        print(f"{name:<12}{wall[name]:>11.2f}{cpu[name]:>15.2f}{percentile(lat, 0.5):>15.3f}{percentile(lat, 0.95):>9.3f}")
    by_cpu = args.threads == 1  # one thread: CPU time is what the work cost, whatever else the machine runs
    ratio = (cpu if by_cpu else wall)["concurrent"] / (cpu if by_cpu else wall)["sequential"]
    print(f"wall-clock ratio {wall['concurrent'] / wall['sequential']:.2f}, CPU-time ratio "
          f"{cpu['concurrent'] / cpu['sequential']:.2f}")
    print(f"concurrent throughput ratio: {ratio:.2f}  (target >= 3.0; {'CPU' if by_cpu else 'wall'} time)")


if __name__ == "__main__":
    main()
