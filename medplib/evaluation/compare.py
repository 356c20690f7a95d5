"""Side-by-side table of evaluation reports (e.g. one model in three wordings, or two models).

    python -m medplib.evaluation.compare runs/eval/new_template.json runs/eval/new_lower.json runs/eval/new_heldout.json

One row per report: its model and wording, closed / open / region VQA accuracy and grounding mDice, each with its 95 %
interval, and the share of grounding answers with the right number of masks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence


def _cell(value: float | None, interval: Sequence[float] | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" ({interval[0]:.3f}–{interval[1]:.3f})" if interval else "")


def row(report: dict) -> str:
    """One markdown table row of a report written by `python -m medplib.evaluate`."""
    overall = report["summary"]["overall"]
    ground = overall["grounding"]
    count = ground.get("right_mask_count") or {}
    cells = [f"{report.get('model', '?')} / {report.get('wording', 'template')}"]
    cells += [_cell(overall[k]["accuracy"], overall[k]["ci95"]) for k in ("closed_vqa", "open_vqa", "region_vqa")]
    cells += [_cell(ground["mDice"], ground.get("mDice_ci95")), _cell(count.get("accuracy"), count.get("ci95"))]
    return "| " + " | ".join(cells) + " |"


def table(reports: Sequence[dict]) -> str:
    head = ["| model / wording | closed VQA | open VQA | region VQA | mDice | right number of masks |",
            "|---|---|---|---|---|---|"]
    return "\n".join(head + [row(r) for r in reports])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", type=Path, help="report JSON files of python -m medplib.evaluate")
    args = parser.parse_args(argv)
    reports = []
    for path in args.reports:
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError) as e:
            parser.error(f"report {path}: cannot read it as an evaluation report ({e})")
    print(table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
