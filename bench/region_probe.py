"""Where is region VQA lost: in the image features or in the language model?

    python bench/region_probe.py --model runs/tiny/moe [--train 3000 --test 600]

For synthetic region prompts it fits the same small MLP probe (region vector -> name of the structure under the
prompt) on three kinds of region vector and prints its held-out accuracy side by side:
  exact   the phantom's true per-patch coverage fractions, averaged over the prompt's patches (the grid's limit);
  model   the checkpoint's raw CLIP patch features averaged the same way (what its encoder gives the LLM);
  lm      (for reference) the checkpoint's own region VQA accuracy on "what is in <region>?" questions.
A large gap exact -> model points at the image encoder; model -> lm at the language side.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from medplib import MedPLIB
from medplib.synthetic import STRUCTURE_INFO, iter_cases, make_region_qa
from medplib.evaluation.metrics import closed_correct
from medplib.training.towers import dense_targets


def region_vectors(medplib: MedPLIB, split: str, n: int, seed: int) -> list[tuple]:
    """Per region prompt (3 per phantom): (exact coverage vector, model feature vector, structure name)."""
    processor, model = medplib.processor, medplib.model
    grid = model.config.vision_config.image_size // model.config.vision_config.patch_size
    rows = []
    for _i, _stem, case, rng in iter_cases(max(1, n // 3), seed, split):
        coverage = dense_targets(case, grid)[: len(STRUCTURE_INFO)].flatten(1).T  # [P, structures]
        with torch.no_grad():
            features = model.model.encode_image(processor.prepare_image(case.image).pixel_values)[0][0]  # [P, Dv]
        for qa in (make_region_qa(case, rng) for _ in range(3)):
            cells = processor.region_grid(qa.region_masks[0]).reshape(-1) > 0
            if not cells.any():
                continue
            rows.append((coverage[cells].mean(0), features[cells].mean(0), qa.region_names[0]))
    return rows


def probe_accuracy(train: list, test: list, column: int, steps: int = 1500) -> float:
    names = sorted({r[2] for r in train + test})
    index = {n: i for i, n in enumerate(names)}
    x_train = torch.stack([r[column] for r in train]).float()
    x_test = torch.stack([r[column] for r in test]).float()
    y_train = torch.tensor([index[r[2]] for r in train])
    y_test = torch.tensor([index[r[2]] for r in test])
    torch.manual_seed(0)
    probe = torch.nn.Sequential(torch.nn.Linear(x_train.shape[1], 256), torch.nn.GELU(), torch.nn.Linear(256, len(names)))
    optimizer = torch.optim.Adam(probe.parameters(), 3e-3)
    for _ in range(steps):  # full batch: the probe is tiny
        loss = torch.nn.functional.cross_entropy(probe(x_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float((probe(x_test).argmax(1) == y_test).float().mean())


def lm_accuracy(medplib: MedPLIB, n: int, seed: int) -> float:
    correct = []
    for _i, _stem, case, rng in iter_cases(n, seed, "test"):
        qa = make_region_qa(case, rng, qtype="region_what")
        answer = medplib.ask(case.image, qa.question, regions=qa.region_masks, max_new_tokens=16)
        correct.append(closed_correct(answer.text, qa.answer))
    return float(np.mean(correct))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--train", type=int, default=3000, help="region prompts to fit the probe on")
    parser.add_argument("--test", type=int, default=600, help="held-out region prompts")
    parser.add_argument("--lm", type=int, default=200, help="region questions asked to the checkpoint (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    medplib = MedPLIB.from_pretrained(args.model)
    train = region_vectors(medplib, "train", args.train, args.seed)
    test = region_vectors(medplib, "test", args.test, args.seed)
    print(f"| region vector | held-out accuracy of the name probe (n={len(test)}) |\n|---|---|")
    print(f"| exact coverage | {probe_accuracy(train, test, 0):.3f} |")
    print(f"| model CLIP features | {probe_accuracy(train, test, 1):.3f} |")
    if args.lm:
        print(f"| the checkpoint's own answer (n={args.lm}) | {lm_accuracy(medplib, args.lm, args.seed):.3f} |")


if __name__ == "__main__":
    main()
