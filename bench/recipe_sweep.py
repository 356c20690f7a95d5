"""Train and evaluate several recipe variants side by side, then print one table (closed / open / region VQA, mDice).

    python bench/recipe_sweep.py --out runs/sweep --parallel 4 --eval 600 \
        recipe="--total-steps 3000" joint="--stages towers,joint --total-steps 3000"

Each NAME="ARGS" runs `python -m medplib.train --out OUT/NAME ARGS`, then `python -m medplib.evaluate` on its final
stage with N fresh synthetic test samples. Variants run as parallel processes (on one GPU, or on CPU cores with
--threads each); the table also gives each variant's training seconds, which are only comparable between variants
that ran under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run_variant(name: str, train_args: str, out: Path, n_eval: int, threads: int, deadline: float) -> dict:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    log = open(folder / "log.txt", "w")
    t0 = time.time()
    train = [sys.executable, "-m", "medplib.train", "--out", str(folder), "--threads", str(threads), "--save-every", "0",
             *shlex.split(train_args)]
    result = {"name": name, "args": train_args}
    try:
        subprocess.run(train, env=env, stdout=log, stderr=subprocess.STDOUT, check=True,
                       timeout=max(1.0, deadline - time.time()))
        result["train_s"] = round(time.time() - t0, 1)
        summary = json.loads((folder / "run_summary.json").read_text())
        result["stage_s"] = {s["stage"]: s.get("seconds") for s in summary["stages"]}
        t1 = time.time()
        evaluate = [sys.executable, "-m", "medplib.evaluate", "--model", summary["final"], "--synthetic", str(n_eval),
                    "--out", str(folder / "eval.json")]
        try:
            subprocess.run(evaluate, env=env, stdout=log, stderr=subprocess.STDOUT, check=True,
                           timeout=max(1.0, deadline - time.time()))
        except subprocess.CalledProcessError:  # an accelerator problem should not lose the trained variant
            result["eval_on"] = "cpu (accelerator run failed)"
            subprocess.run(evaluate, env=dict(env, CUDA_VISIBLE_DEVICES=""), stdout=log, stderr=subprocess.STDOUT,
                           check=True, timeout=max(1.0, deadline - time.time()))
        result["eval_s"] = round(time.time() - t1, 1)
        overall = json.loads((folder / "eval.json").read_text())["summary"]["overall"]
        result.update(closed=overall["closed_vqa"]["accuracy"], open=overall["open_vqa"]["accuracy"],
                      region=overall["region_vqa"]["accuracy"], mdice=overall["grounding"]["mDice"])
    except subprocess.TimeoutExpired:
        result["error"] = "deadline"
    except subprocess.CalledProcessError as err:
        result["error"] = f"exit {err.returncode} (see {folder / 'log.txt'})"
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", help='NAME="train args"')
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per variant")
    parser.add_argument("--eval", type=int, default=600, help="synthetic test samples per variant")
    parser.add_argument("--deadline-s", type=float, default=3600.0, help="stop unfinished variants after this long")
    args = parser.parse_args(argv)
    variants = [v.split("=", 1) for v in args.variants]
    if any(len(v) != 2 for v in variants):
        parser.error('each variant is NAME="ARGS"')
    deadline = time.time() + args.deadline_s
    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(lambda v: run_variant(v[0], v[1], args.out, args.eval, args.threads, deadline), variants))
    print("\n| variant | closed VQA | open VQA | region VQA | mDice | train s | args |\n|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['name']} | {r['error']} | | | | | `{r['args']}` |")
        else:
            metrics = " | ".join("-" if r[k] is None else f"{r[k]:.3f}" for k in ("closed", "open", "region", "mdice"))
            print(f"| {r['name']} | {metrics} | {r['train_s']} | `{r['args']}` |")
    (args.out / "sweep.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
