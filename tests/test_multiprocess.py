"""`accelerate launch --num_processes 2 --cpu` (gloo): evaluation gives the one-process report, training keeps
the ranks' weights identical while each rank trains on its own data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = shutil.which("accelerate") or str(Path(sys.executable).with_name("accelerate"))
pytestmark = pytest.mark.skipif(not Path(ACCELERATE).exists(), reason="accelerate launcher not installed")


def launch(args: list[str], cwd: Path, n: int = 2) -> subprocess.CompletedProcess:
    """n processes on CPU through torchrun (gloo). `accelerate launch --cpu --num_processes 2` alone starts one
    process in this accelerate version; ACCELERATE_USE_CPU with the torchrun launcher gives a real world of n."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
           "ACCELERATE_USE_CPU": "true"}
    cmd = [ACCELERATE, "launch", "--multi_gpu", "--num_processes", str(n), "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0", *args] \
        if n > 1 else [sys.executable, *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_process_evaluation_gives_the_one_process_report(tmp_path):
    common = ["-m", "medplib.evaluate", "--synthetic", "6", "--max-new-tokens", "8"]
    launch(common + ["--out", str(tmp_path / "one.json")], tmp_path, n=1)
    launch(common + ["--out", str(tmp_path / "two.json")], tmp_path, n=2)
    one, two = (json.loads((tmp_path / f"{k}.json").read_text()) for k in ("one", "two"))
    assert len(one["samples"]) == 6
    assert two["samples"] == one["samples"]  # same rows, same order
    assert two["summary"] == one["summary"]


def test_two_process_training_keeps_ranks_in_sync(tmp_path):
    """A MoE stage with an expert and a head that get no gradient (the worker's docstring): DDP only runs it with
    `find_unused_parameters` (medplib.training.cli.make_accelerator); without, step 2 fails on both ranks."""
    launch([str(ROOT / "tests" / "multiprocess_worker.py"), str(tmp_path)], tmp_path, n=2)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    assert ranks[0]["digest"] == ranks[1]["digest"]  # gradients all-reduced: identical weights on both ranks
    assert ranks[0]["losses"] != ranks[1]["losses"]  # ...although each rank saw its own data
    gathered = [[[round(v, 4) for v in row] for row in r["all_losses"]] for r in ranks]  # history is rounded
    assert gathered[0] == gathered[1] == [ranks[0]["losses"], ranks[1]["losses"]]
