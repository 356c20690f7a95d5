"""How close an image is to a checkpoint's own training images.

An image's familiarity is the cosine similarity of its pooled CLIP features (mean and standard deviation over the
patches, the same features the LLM reads; each dimension standardised by the reference images' own mean and spread)
to the nearest image of a reference bank drawn from the training data.
The threshold is a low quantile of the bank's own leave-one-out similarities, so it is fixed by training-like images
alone: about `quantile` of them fall below it, anything further from every reference image is "unfamiliar".

A checkpoint folder may carry the reference as `familiarity.safetensors` (`MedPLIB.from_pretrained` loads it);
compute one for any checkpoint from a folder of your own images:

    python -m medplib.familiarity calibrate --model Huangxs/MedPLIB-7b-2e --images my_scans/ --out familiarity.safetensors
    python -m medplib.familiarity calibrate --synthetic 1024 --out medplib/assets/medplib-tiny/familiarity.safetensors
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

FILENAME = "familiarity.safetensors"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def pooled_features(clip_features: torch.Tensor) -> torch.Tensor:
    """Raw CLIP patch features [B, P, Dv] -> [B, 2·Dv] descriptors (patch mean and standard deviation)."""
    x = clip_features.float()
    return torch.cat([x.mean(dim=1), x.std(dim=1)], dim=-1)


@dataclass
class FamiliarityReference:
    """`bank` [N, D] unit-norm standardised descriptors of the reference images, `mean` / `std` [D] the
    standardisation; `threshold` on the nearest-neighbour cosine similarity."""

    bank: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    threshold: float
    quantile: float = 0.01

    def normalise(self, desc: torch.Tensor) -> torch.Tensor:
        """[B, D] pooled descriptors -> unit-norm standardised [B, D]."""
        if desc.shape[-1] != self.mean.shape[-1]:
            raise ValueError(f"the familiarity reference has {self.mean.shape[-1] // 2}-wide CLIP features, "
                             f"this model {desc.shape[-1] // 2}: calibrate it for this checkpoint")
        return torch.nn.functional.normalize((desc - self.mean.to(desc)) / self.std.to(desc), dim=-1)

    def score(self, clip_features: torch.Tensor) -> torch.Tensor:
        """Raw CLIP patch features [B, P, Dv] -> familiarity [B]: cosine similarity to the nearest reference image."""
        desc = self.normalise(pooled_features(clip_features))
        return (desc @ self.bank.to(desc).T).max(dim=-1).values

    def save(self, path: str | os.PathLike) -> None:
        meta = {"threshold": json.dumps(self.threshold), "quantile": json.dumps(self.quantile)}
        tensors = {"bank": self.bank.to(torch.float16), "mean": self.mean, "std": self.std}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FamiliarityReference":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "threshold" not in meta:
            raise ValueError(f"{path} is not a familiarity reference (no threshold in its metadata)")
        t = load_file(str(path))
        return cls(t["bank"].float(), t["mean"].float(), t["std"].float(), float(json.loads(meta["threshold"])),
                   float(json.loads(meta.get("quantile", "0.01"))))


def load_for(folder: str | os.PathLike) -> FamiliarityReference | None:
    """The reference a checkpoint folder carries, or None."""
    path = Path(folder) / FILENAME
    return FamiliarityReference.load(path) if path.is_file() else None


def build_reference(descriptors: torch.Tensor, quantile: float = 0.01) -> FamiliarityReference:
    """Pooled descriptors [N, D] (N >= 2) -> a reference whose threshold is the `quantile` of the leave-one-out
    nearest-neighbour similarities (each image scored against all the others)."""
    if descriptors.shape[0] < 2:
        raise ValueError("calibration needs at least 2 images")
    ref = FamiliarityReference(descriptors, descriptors.mean(0), descriptors.std(0) + 1e-6, 0.0, quantile)
    ref.bank = ref.normalise(descriptors)
    sims = ref.bank @ ref.bank.T
    sims.fill_diagonal_(-2.0)
    ref.threshold = float(torch.quantile(sims.max(dim=-1).values, quantile))
    return ref


@torch.no_grad()
def calibrate(medplib, images: Iterable, quantile: float = 0.01) -> FamiliarityReference:
    """A reference from `images` (anything `MedPLIB.encode` takes) of the data the checkpoint was trained on."""
    descs = []
    for image in images:
        features = medplib.encode(image).image_features[0]
        descs.append(pooled_features(features).cpu())
    return build_reference(torch.cat(descs), quantile)


def folder_images(folder: str | os.PathLike, limit: int) -> list[np.ndarray]:
    """Up to `limit` images (RGB uint8) of a folder, sorted by name; reads the common 2D image formats."""
    from PIL import Image

    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"--images: no {'/'.join(IMAGE_SUFFIXES)} files under {folder}")
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths[:limit]]


def synthetic_images(n: int, seed: int = 0) -> list[np.ndarray]:
    """The first `n` training phantoms (split `train`), the images the built-in model was trained on."""
    from .synthetic.generate import iter_cases

    return [case.image for _, _, case, _ in iter_cases(n, seed=seed, split="train")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medplib.familiarity", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cal = sub.add_parser("calibrate", help="compute a familiarity reference from a checkpoint's training-like images")
    cal.add_argument("--model", default=None, help="checkpoint folder / hub id (default: the built-in model)")
    source = cal.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="folder of images like those the model was trained on")
    source.add_argument("--synthetic", type=int, help="use this many synthetic training phantoms (the built-in's data)")
    cal.add_argument("--max-images", type=int, default=1024, help="at most this many images from --images")
    cal.add_argument("--quantile", type=float, default=0.01,
                     help="share of the reference images themselves allowed below the threshold")
    cal.add_argument("--out", required=True, help=f"output file; put it in the checkpoint folder as {FILENAME}")
    args = parser.parse_args(argv)
    if not 0.0 <= args.quantile < 0.5:
        parser.error(f"--quantile must be in [0, 0.5), got {args.quantile}")
    from .pipeline import MedPLIB

    medplib = MedPLIB.from_pretrained(args.model)
    try:
        images = synthetic_images(args.synthetic) if args.synthetic else folder_images(args.images, args.max_images)
    except (OSError, ValueError) as err:
        parser.error(str(err))
    ref = calibrate(medplib, images, args.quantile)
    ref.save(args.out)
    print(f"{len(images)} images, threshold {ref.threshold:.4f} (quantile {ref.quantile}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
