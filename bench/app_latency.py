"""Latency of the demo through its live server (gradio_client -> /ask), with the built-in model.

    python bench/app_latency.py [--model NAME_OR_PATH] [--repeats 3] [--max-new-tokens 64]

Times, per turn, submit -> first streamed text and submit -> final result (answer + mask PNGs + overlay
downloaded by the client), for a VQA and a grounding question on an example image, each followed by
the same question again on the same image. Counts image-encoder runs (CLIP, SAM) by wrapping the
model's encoders: a repeated question must not run them again (the session caches the encoding).
Without the built-in checkpoint it falls back to a small random one whose grounding answer is forced.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint (default: built-in, else a random tiny one)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()

    import torch
    from gradio_client import Client, handle_file

    from demo import ui
    from demo.handlers import load_examples
    from medplib import MedPLIB
    from medplib.pipeline import BUILTIN
    from tests.app_helpers import ForcedAnswer, free_port, load_test_model

    t0 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="medplib-bench-")
    if args.model:
        medplib = MedPLIB.from_pretrained(args.model)
    else:
        medplib = load_test_model(Path(tmp))
    builtin = args.model is None and (BUILTIN / "config.json").exists()
    load_s = time.perf_counter() - t0

    calls = {"clip": 0, "sam": 0}
    inner = medplib.model.model
    real_clip, real_sam = inner.encode_image, inner.encode_sam

    def clip(*a, **k):
        calls["clip"] += 1
        return real_clip(*a, **k)

    def sam(*a, **k):
        calls["sam"] += 1
        return real_sam(*a, **k)

    inner.encode_image, inner.encode_sam = clip, sam

    from transformers import LogitsProcessorList

    forced = ForcedAnswer(medplib.tokenizer)
    forced.active = False
    kwargs = {} if builtin or args.model else {"logits_processor": LogitsProcessorList([forced])}
    t0 = time.perf_counter()
    demo = ui.build_app(medplib, kwargs)
    port = free_port()
    ui.launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    start_s = time.perf_counter() - t0

    example = next(e for e in load_examples() if e["modality"] == "ct")
    vqa, grounding = example["questions"][0], example["questions"][1]

    def turn(question: str, ground: bool, image: str) -> tuple[float, float, int, int]:
        forced.active = ground
        before = dict(calls)
        t = time.perf_counter()
        job = client.submit(handle_file(image), question, [], [], [], args.max_new_tokens, 0.0, api_name="/ask")
        first = None
        while not job.done():
            outs = job.outputs()
            if first is None and outs and outs[-1][0]:
                first = time.perf_counter() - t
            time.sleep(0.005)
        answer, masks, overlay, _ = job.result()
        total = time.perf_counter() - t
        if first is None:  # the answer arrived in one piece
            first = total
        if ground and not masks:
            print(f"  note: no mask in the answer to {question!r}: {answer!r}")
        return first, total, calls["clip"] - before["clip"], calls["sam"] - before["sam"]

    rows: dict[str, list[tuple]] = {}
    for r in range(args.repeats):
        # a fresh copy of the image file per repeat = a new image for the session cache
        image = Path(tmp) / f"ct-{r}.png"
        image.write_bytes(Path(example["path"]).read_bytes() + b"\0" * r)
        for name, q, g in (("VQA, new image", vqa, False), ("VQA, same question again", vqa, False),
                           ("grounding, first", grounding, True), ("grounding, same again", grounding, True)):
            rows.setdefault(name, []).append(turn(q, g, str(image)))
    demo.close()
    shutil.rmtree(tmp, ignore_errors=True)

    model_desc = "built-in medplib-tiny" if builtin else (args.model or "random tiny checkpoint (forced <SEG>)")
    print(f"\nMedPLIB demo latency via gradio_client, {model_desc}, devices {medplib.devices()}, "
          f"{torch.get_num_threads()} threads, max_new_tokens={args.max_new_tokens}, median of {args.repeats}")
    print(f"model load {load_s:.2f} s, app build + launch + client connect {start_s:.2f} s\n")
    print(f"{'turn':28s} {'first text (s)':>15s} {'final (s)':>10s} {'CLIP runs':>10s} {'SAM runs':>9s}")
    for name, vals in rows.items():
        first = statistics.median(v[0] for v in vals)
        total = statistics.median(v[1] for v in vals)
        clip_runs = sum(v[2] for v in vals) / len(vals)
        sam_runs = sum(v[3] for v in vals) / len(vals)
        print(f"{name:28s} {first:15.3f} {total:10.3f} {clip_runs:10.1f} {sam_runs:9.1f}")
    repeated = [v for k in ("VQA, same question again", "grounding, same again") for v in rows[k]]
    ok = all(v[2] == 0 and v[3] == 0 for v in repeated)
    print("\nencoders re-run on a repeated question:", "no (cached)" if ok else "YES — cache not used")


if __name__ == "__main__":
    main()
