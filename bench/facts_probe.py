"""Which image-level facts do a checkpoint's frozen CLIP features carry, per modality?

    python bench/facts_probe.py --model medplib/assets/medplib-tiny [--train 6000 --test 2000]

Fits one linear read-out on the CLIP patch features (the logits averaged over the patches) to the `towers` stage's
image facts of `--train` training phantoms (presence of each structure, share of it in the right / lower half;
absent structures have no side target), then scores it on `--test` test phantoms the way the side and presence
questions are asked: left/right and upper/lower of every structure with a clear side (the generator's own rule),
presence of every structure of the image's modality. Prints the accuracy per fact and modality. A fact the read-out
finds but the model's answers miss is lost on the language side; one it does not find is missing in the features.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
import torch.nn.functional as F

from medplib import MedPLIB
from medplib.synthetic import STRUCTURE_INFO, iter_cases
from medplib.synthetic.phantoms import MODALITY_STRUCTURES
from medplib.synthetic.question_text import _half_of
from medplib.synthetic.vqa_questions import _side_candidates
from medplib.training.towers import N_LOCAL, TARGET_NAMES, dense_targets

FACTS = TARGET_NAMES[N_LOCAL:]


def _present(case, name: str) -> bool:
    mask = case.structures.get(name)
    return mask is not None and bool(mask.any())


@torch.no_grad()
def features(medplib: MedPLIB, n: int, split: str) -> tuple[torch.Tensor, torch.Tensor, list]:
    """CLIP patch features [n, P, D], image-fact targets [n, F] (-1: none) and the phantoms."""
    pixels, targets, cases = [], [], []
    for _i, _stem, case, _rng in iter_cases(n, 0, split, 128):
        pixels.append(medplib.processor.prepare_image(case.image).pixel_values[0])
        facts = dense_targets(case, 1)[N_LOCAL:, 0, 0]
        no_side = torch.tensor([fact.startswith(("right:", "lower:")) and not _present(case, fact.split(":", 1)[1])
                                for fact in FACTS])
        targets.append(facts.masked_fill(no_side, -1.0))
        cases.append(case)
    encode = medplib.model.model.encode_image
    feats = torch.cat([encode(torch.stack(pixels[i : i + 128]))[0] for i in range(0, n, 128)])
    return feats, torch.stack(targets), cases


def fit(feats: torch.Tensor, targets: torch.Tensor, steps: int = 600, seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    head = torch.nn.Linear(feats.shape[-1], targets.shape[-1])
    optimizer = torch.optim.Adam(head.parameters(), 1e-2)
    for _ in range(steps):
        idx = torch.randint(0, len(feats), (512,))
        t = targets[idx]
        bce = F.binary_cross_entropy_with_logits(head(feats[idx]).mean(1), t.clamp_min(0), reduction="none")
        loss = bce[t >= 0].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head


def score(probs: torch.Tensor, cases: list) -> dict[tuple[str, str], list[int]]:
    """(modality, fact) -> [right, asked] over the questions the generator could ask about these phantoms."""
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for k, case in enumerate(cases):
        for name in _side_candidates(case):
            for axis, fact in ((1, "right"), (0, "lower")):
                sign = _half_of(case, name, axis)
                if sign is not None:
                    cell = tally[(case.modality, fact)]
                    cell[0] += int((probs[k, FACTS.index(f"{fact}:{name}")] > 0.5) == (sign > 0))
                    cell[1] += 1
        for name in MODALITY_STRUCTURES[case.modality]:
            if not STRUCTURE_INFO[name].container:
                cell = tally[(case.modality, "presence")]
                cell[0] += int((probs[k, FACTS.index(f"image:{name}")] > 0.5) == _present(case, name))
                cell[1] += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint (default: the built-in model)")
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--test", type=int, default=2000)
    args = parser.parse_args()
    medplib = MedPLIB.from_pretrained(args.model)
    train_feats, train_targets, _ = features(medplib, args.train, "train")
    test_feats, _, test_cases = features(medplib, args.test, "test")
    head = fit(train_feats, train_targets)
    with torch.no_grad():
        tally = score(torch.sigmoid(head(test_feats).mean(1)), test_cases)
    print("| modality | left/right | upper/lower | presence |\n|---|---|---|---|")
    total: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for modality in sorted({m for m, _ in tally}):
        cells = []
        for fact in ("right", "lower", "presence"):
            right, asked = tally.get((modality, fact), (0, 0))
            total[fact][0] += right
            total[fact][1] += asked
            cells.append(f"{right / asked:.2f} ({asked})" if asked else "—")
        print(f"| {modality} | " + " | ".join(cells) + " |")
    print("| all | " + " | ".join(f"{r / a:.3f} ({a})" for r, a in (total[f] for f in ("right", "lower", "presence"))) + " |")


if __name__ == "__main__":
    main()
