"""Evaluate any checkpoint on MeCoVQA-format data (ours or the official files) or on fresh synthetic data.

    python -m medplib.evaluate --model PATH_OR_HUB_ID --data test.json --image-folder DIR --out report.json
    python -m medplib.evaluate --synthetic 2000 --out report.json        # built-in model, held-out synthetic set
    accelerate launch -m medplib.evaluate ...                            # data-parallel, results gathered once

Scores (architecture.md §10): grounding mIoU / mDice as unweighted per-sample means (every target mask of a sample is
scored, in order; a missing mask counts 0); closed VQA accuracy after normalisation; open VQA recall / F1 /
BLEU; region VQA accuracy with the region masks actually given to the model (the original forgot them). Every
accuracy comes with its 95 % Wilson interval.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..synthetic import Sample, load_records, make_samples
from ..synthetic.wording_heldout import WORDINGS, reworded
from .metrics import closed_correct, dice_from_iou, mask_iou, mean_interval, open_scores, wilson_interval


def score_sample(sample: Sample, answer) -> dict:
    """One record of the report: the sample's identity, the prediction and its scores."""
    row = {"id": sample.id, "kind": sample.kind, "modality": sample.modality, "answer_type": sample.answer_type,
           "question_type": sample.question_type, "question": sample.question, "gt": sample.answer,
           "prediction": answer.text}
    if sample.kind == "grounding":
        ious = [mask_iou(answer.masks[i] if i < len(answer.masks) else None, gt) for i, gt in enumerate(sample.seg_masks)]
        row["iou"] = float(np.mean(ious)) if ious else 0.0
        row["dice"] = float(np.mean([dice_from_iou(i) for i in ious])) if ious else 0.0
        row["n_masks"] = len(answer.masks)
        row["n_targets"] = len(sample.seg_masks)
    else:
        row["correct"] = closed_correct(answer.text, sample.answer)
        if sample.answer_type != "closed":
            row.update(open_scores(answer.text, sample.answer))
    return row


def summarize(rows: list[dict]) -> dict:
    def mean(values):
        values = list(values)
        return float(np.mean(values)) if values else None

    def accuracy(subset: list[dict]) -> dict:
        """n, accuracy and its 95 % Wilson interval."""
        hits = sum(bool(r["correct"]) for r in subset)
        return {"n": len(subset), "accuracy": hits / len(subset) if subset else None,
                "ci95": list(wilson_interval(hits, len(subset))) if subset else None}

    def block(subset: list[dict]) -> dict:
        ground = [r for r in subset if r["kind"] == "grounding"]
        vqa = [r for r in subset if r["kind"] == "vqa"]
        region = [r for r in subset if r["kind"] == "region"]
        closed = [r for r in vqa if r["answer_type"] == "closed"]
        opened = [r for r in vqa if r["answer_type"] != "closed"]
        return {
            "n": len(subset),
            "grounding": {"n": len(ground), "mIoU": mean(r["iou"] for r in ground), "mDice": mean(r["dice"] for r in ground),
                          "mDice_ci95": list(mean_interval(r["dice"] for r in ground)) if ground else None,
                          "right_mask_count": accuracy([{"correct": r["n_masks"] == r["n_targets"]} for r in ground
                                                        if "n_targets" in r])},
            "closed_vqa": accuracy(closed),
            "open_vqa": {**accuracy(opened), **{k: mean(r[k] for r in opened) for k in ("recall", "f1", "bleu1", "bleu4")}},
            "region_vqa": {**accuracy(region),
                           "closed_accuracy": mean(r["correct"] for r in region if r["answer_type"] == "closed")},
        }

    by_modality = defaultdict(list)
    for r in rows:
        by_modality[r["modality"]].append(r)
    # Which kinds of question fail (records that name their question_type: ours, and MeCoVQA files that carry one).
    by_type = defaultdict(list)
    for r in rows:
        if r["kind"] != "grounding" and r.get("question_type"):
            by_type[(r["kind"], r["question_type"])].append(r)
    return {"overall": block(rows), "by_modality": {m: block(v) for m, v in sorted(by_modality.items())},
            "by_question_type": {f"{kind}/{qtype}": accuracy(v) for (kind, qtype), v in sorted(by_type.items())}}


def table(summary: dict) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:.3f}"

    def interval(b: dict) -> str:
        return "-" if b.get("ci95") is None else f"{b['ci95'][0]:.3f}–{b['ci95'][1]:.3f}"

    lines = ["| subset | n | closed VQA acc | open VQA acc | open recall | region VQA acc | mIoU | mDice |",
             "|---|---|---|---|---|---|---|---|"]
    for name, b in [("all", summary["overall"])] + list(summary["by_modality"].items()):
        lines.append(f"| {name} | {b['n']} | {fmt(b['closed_vqa']['accuracy'])} | {fmt(b['open_vqa']['accuracy'])} | "
                     f"{fmt(b['open_vqa']['recall'])} | {fmt(b['region_vqa']['accuracy'])} | "
                     f"{fmt(b['grounding']['mIoU'])} | {fmt(b['grounding']['mDice'])} |")
    overall = summary["overall"]
    lines += ["", "| overall (95 % Wilson interval) | n | accuracy | interval |", "|---|---|---|---|"]
    lines += [f"| {label} | {overall[key]['n']} | {fmt(overall[key]['accuracy'])} | {interval(overall[key])} |"
              for key, label in (("closed_vqa", "closed VQA"), ("open_vqa", "open VQA"), ("region_vqa", "region VQA"))]
    ground = overall["grounding"]
    if ground["n"]:
        lines.append(f"| mDice (normal interval) | {ground['n']} | {fmt(ground['mDice'])} | "
                     f"{interval({'ci95': ground['mDice_ci95']})} |")
    count = ground["right_mask_count"]
    if count["n"]:
        lines.append(f"| right number of masks | {count['n']} | {fmt(count['accuracy'])} | {interval(count)} |")
    if summary.get("by_question_type"):
        lines += ["", "| question type | n | accuracy | 95 % interval |", "|---|---|---|---|"]
        lines += [f"| {name} | {b['n']} | {fmt(b['accuracy'])} | {interval(b)} |"
                  for name, b in summary["by_question_type"].items()]
    return "\n".join(lines)


def evaluate(medplib, samples: list[Sample], max_new_tokens: int = 48, show_progress: bool = True) -> list[dict]:
    rows = []
    for sample in tqdm(samples, desc="evaluating", disable=not show_progress):
        # The region masks are passed to the model (the original's region-VQA evaluation dropped them).
        answer = medplib.ask(sample.load_image(), sample.question, regions=sample.region_masks,
                             max_new_tokens=max_new_tokens)
        rows.append(score_sample(sample, answer))
    return rows


def main(argv: list[str] | None = None) -> int:
    from accelerate import Accelerator
    from accelerate.utils import gather_object

    from ..pipeline import MedPLIB

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint folder or hub id (default: the built-in model)")
    parser.add_argument("--data", help="MeCoVQA-format JSON / JSONL")
    parser.add_argument("--image-folder")
    parser.add_argument("--synthetic", type=int, default=0, help="evaluate on N fresh synthetic test samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--wording", choices=WORDINGS, default="template",
                        help="synthetic questions in the generator's wording, lower-case without punctuation, or "
                             "the held-out phrasings training never sees (medplib/synthetic/wording_heldout.py)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if bool(args.data) == bool(args.synthetic):
        parser.error("give exactly one of --data or --synthetic N")
    if args.data and args.wording != "template":
        parser.error("--wording rewords the generator's own questions: use it with --synthetic")

    accelerator = Accelerator()
    samples = load_records(args.data, args.image_folder) if args.data else make_samples(
        args.synthetic, seed=args.seed, split="test", per_image=3)
    if args.limit:
        samples = samples[: args.limit]
    if args.wording != "template":
        samples = reworded(samples, args.wording, args.seed)
    medplib = MedPLIB.from_pretrained(args.model, device_map=None)
    medplib.model.to(accelerator.device)
    mine = samples[accelerator.process_index :: accelerator.num_processes]
    rows = evaluate(medplib, mine, args.max_new_tokens, accelerator.is_local_main_process)
    rows = gather_object(rows)
    position = {s.id: k for k, s in enumerate(samples)}  # ranks took strided shards: back to the data's order
    rows.sort(key=lambda r: position.get(r["id"], len(position)))
    if accelerator.is_main_process:
        summary = summarize(rows)
        report = {"model": medplib.name, "data": args.data or f"synthetic test split, {args.synthetic} samples, seed {args.seed}",
                  "wording": args.wording,
                  "summary": summary, "samples": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
        print(table(summary))
        print(f"report: {args.out}")
    accelerator.end_training()  # destroys the process group: gloo's threads abort the exit if left running
    return 0


if __name__ == "__main__":
    sys.exit(main())
