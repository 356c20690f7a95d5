"""Synthetic MeCoVQA dataset generation (in memory or on disk) and the demo example images.

CLI::

    python -m medplib.synthetic.generate --out DIR --split {train,val,test} --n N --seed S \\
        [--size 128] [--kinds vqa,region,grounding] [--per-image 1]
    python -m medplib.synthetic.generate --examples examples/ [--seed S] [--size 128]

Image ``i`` of split ``split`` depends only on ``(seed, split, i, size)`` (NumPy ``SeedSequence``
with the split id in its entropy), so splits are disjoint random streams and every image can be
regenerated on its own.  Modalities cycle over image indices (balanced); kinds cycle over sample
indices (balanced).  ``n`` counts question/answer samples; with ``per_image=k`` there are
``ceil(n / k)`` images.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .mecovqa import Sample, build_record, merged_mask_name, region_mask_name
from .phantoms import MODALITIES, STRUCTURE_INFO, Case, generate_case
from .questions import KINDS, QA, label_map, make_grounding, make_qa, make_region_qa, make_vqa

__all__ = [
    "SPLIT_IDS",
    "split_id",
    "case_rngs",
    "case_stem",
    "image_path",
    "iter_cases",
    "iter_samples",
    "make_samples",
    "write_split",
    "write_examples",
    "main",
]

SPLIT_IDS: Dict[str, int] = {"train": 0, "val": 1, "test": 2}


def split_id(split: str) -> int:
    """0/1/2 for train/val/test; any other name gets a stable id >= 3."""
    if split in SPLIT_IDS:
        return SPLIT_IDS[split]
    return 3 + zlib.crc32(split.encode("utf-8")) % 1_000_003


def case_rngs(seed: int, split: str, index: int) -> Tuple[np.random.Generator, np.random.Generator]:
    """(image rng, question rng) for image ``index`` of ``split``."""
    sid = split_id(split)
    return (np.random.default_rng(np.random.SeedSequence([int(seed), sid, int(index), 0])),
            np.random.default_rng(np.random.SeedSequence([int(seed), sid, int(index), 1])))


def case_stem(modality: str, split: str, index: int) -> str:
    """SA-Med2D style stem ``<modality>--Synthetic--case_<split>_<index>--2d_none``."""
    return f"{modality}--Synthetic--case_{split}_{index:06d}--2d_none"


def image_path(stem: str) -> str:
    """A phantom's image path relative to the dataset folder (also the in-memory samples' ``image_path``)."""
    return f"images/{stem}.png"


def _parse_kinds(kinds: Union[str, Sequence[str], None]) -> Tuple[str, ...]:
    if kinds is None:
        return KINDS
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {kinds}")
    return kinds


def iter_cases(n_images: int, seed: int = 0, split: str = "train", size: int = 128,
               modalities: Sequence[str] = MODALITIES, start: int = 0
               ) -> Iterator[Tuple[int, str, Case, np.random.Generator]]:
    """Yield ``(index, stem, case, question_rng)`` for images ``start .. start+n_images-1``."""
    for i in range(start, start + n_images):
        mod = modalities[i % len(modalities)]
        rng_img, rng_q = case_rngs(seed, split, i)
        yield i, case_stem(mod, split, i), generate_case(mod, rng_img, size), rng_q


def _qas_for_case(case: Case, rng: np.random.Generator, kinds_for_case: Sequence[str]) -> List[QA]:
    out: List[QA] = []
    seen = set()
    for kind in kinds_for_case:
        qa = make_qa(case, rng, kind)
        for _ in range(4):  # avoid exact duplicate non-region questions on one image
            key = (qa.kind, qa.question, qa.answer)
            if qa.kind == "region" or key not in seen:
                break
            qa = make_qa(case, rng, kind)
        seen.add((qa.kind, qa.question, qa.answer))
        out.append(qa)
    return out


def _iter_items(n: int, seed: int, split: str, size: int, kinds, per_image: int,
                modalities: Sequence[str]):
    kinds = _parse_kinds(kinds)
    if per_image < 1:
        raise ValueError("per_image must be >= 1")
    n_images = math.ceil(n / per_image) if n > 0 else 0
    for i, stem, case, rng_q in iter_cases(n_images, seed, split, size, modalities):
        k = min(per_image, n - i * per_image)
        kinds_i = [kinds[(i * per_image + j) % len(kinds)] for j in range(k)]
        yield i, stem, case, _qas_for_case(case, rng_q, kinds_i)


def _qa_to_sample(qa: QA, case: Case, stem: str, j: int) -> Sample:
    return Sample(
        image_path=image_path(stem), question=qa.question, answer=qa.answer,
        answer_type=qa.answer_type, seg_masks=list(qa.seg_masks), region_masks=list(qa.region_masks),
        kind=qa.kind, modality=case.modality, id=f"{stem}--q{j}", question_type=qa.question_type,
        seg_names=list(qa.seg_names), region_names=list(qa.region_names), image=case.image)


def iter_samples(n: int, seed: int = 0, size: int = 128, kinds=KINDS, split: str = "train",
                 per_image: int = 1, modalities: Sequence[str] = MODALITIES) -> Iterator[Sample]:
    """Stream ``n`` in-memory Samples (``sample.image`` holds the RGB array; nothing on disk)."""
    for _i, stem, case, qas in _iter_items(n, seed, split, size, kinds, per_image, modalities):
        for j, qa in enumerate(qas):
            yield _qa_to_sample(qa, case, stem, j)


def make_samples(n: int, seed: int = 0, size: int = 128, kinds=KINDS, split: str = "train",
                 per_image: int = 1, modalities: Sequence[str] = MODALITIES) -> List[Sample]:
    """``n`` in-memory Samples, identical (text and masks) to what ``write_split`` with the same
    arguments writes and ``load_records`` reads back (except ``image_path``)."""
    return list(iter_samples(n, seed, size, kinds, split, per_image, modalities))


# --------------------------------------------------------------------------------------------
# Disk
# --------------------------------------------------------------------------------------------

_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 3]


def _write_png(path: Path, arr: np.ndarray) -> None:
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), arr, _PNG):
        raise OSError(f"cannot write {path}")


def write_split(out_dir: Union[str, os.PathLike], split: str, n: int, seed: int = 0, size: int = 128,
                kinds=KINDS, per_image: int = 1, modalities: Sequence[str] = MODALITIES,
                progress: bool = True) -> dict:
    """Write ``out_dir/<split>.json`` plus ``images/``, ``masks/`` (region prompts) and
    ``masks_merged/`` (grounding targets, per-class unions).  Returns a summary dict."""
    out = Path(out_dir)
    for sub in ("images", "masks", "masks_merged"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    kinds = _parse_kinds(kinds)
    n_images = math.ceil(n / per_image) if n > 0 else 0
    t0 = time.time()
    records = []
    counts = {"kind": Counter(), "modality": Counter(), "answer_type": Counter()}
    n_files = 0
    it = _iter_items(n, seed, split, size, kinds, per_image, modalities)
    bar = None
    try:
        from tqdm import tqdm
        bar = tqdm(total=n_images, desc=f"{split}", unit="img", disable=not progress, file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is in requirements
        pass
    for i, stem, case, qas in it:
        _write_png(out / "images" / f"{stem}.png", case.image)
        n_files += 1
        written = set()
        k_region = 0
        for j, qa in enumerate(qas):
            seg_paths = []
            for name in qa.seg_names:
                rel = merged_mask_name(stem, name)
                if rel not in written:
                    _write_png(out / rel, case.structures[name])
                    written.add(rel)
                    n_files += 1
                seg_paths.append(rel)
            region_paths = []
            for m in qa.region_masks:
                rel = region_mask_name(stem, k_region)
                k_region += 1
                _write_png(out / rel, m)
                n_files += 1
                region_paths.append(rel)
            records.append(build_record(f"{stem}--q{j}", image_path(stem), qa.question, qa.answer,
                                        qa.answer_type, seg_paths, region_paths, qa.question_type))
            counts["kind"][qa.kind] += 1
            counts["modality"][case.modality] += 1
            counts["answer_type"][qa.answer_type] += 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    json_path = out / f"{split}.json"
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(records, f, indent=1)
    summary = {"json": str(json_path), "split": split, "seed": seed, "size": size,
               "records": len(records), "images": n_images, "files": n_files,
               "seconds": round(time.time() - t0, 2),
               **{k: dict(sorted(v.items())) for k, v in counts.items()}}
    return summary


# --------------------------------------------------------------------------------------------
# Demo examples
# --------------------------------------------------------------------------------------------

_EXAMPLE_SPLIT = "examples"


def _interior_point(mask: np.ndarray) -> Tuple[int, int]:
    from .drawing import _dist_inside
    d = _dist_inside(mask)
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(x), int(y)


def write_examples(out_dir: Union[str, os.PathLike] = "examples", seed: int = 0, size: int = 128) -> Path:
    """One image per modality (``<modality>.png``) plus ``examples.json``: a list of
    ``{"file", "modality", "questions", "answers", "kinds", "region_hint"}``.  Region questions use
    the demo's literal ``<region>`` (the UI turns it into ``<region></region>`` and supplies the
    drawn mask); ``region_hint`` says where to click (pixel x, y) and which structure is there."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for mi, mod in enumerate(MODALITIES):
        # prefer a case that shows an abnormality (more interesting in the demo)
        case = None
        for k in range(32):
            rng_img, rng_q = case_rngs(seed, _EXAMPLE_SPLIT, mi * 1000 + k)
            c = generate_case(mod, rng_img, size)
            if any(c.is_abnormal(n) for n in c.structures) or mod == "pathology":
                case = c
                break
        if case is None:
            case = c
        abn = [n for n in case.structures if case.is_abnormal(n)]
        qtype = {"dermoscopy": "diagnosis_open", "fundus": "count", "pathology": "count",
                 "endoscopy": "count", "x_ray": "count", "mri": "location_open"}.get(mod, "abnormality_open")
        try:
            vqa = make_vqa(case, rng_q, qtype)
        except ValueError:
            vqa = make_vqa(case, rng_q)
        _lab, regionable = label_map(case)
        g_target = abn[0] if (abn and STRUCTURE_INFO[abn[0]].groundable) else \
            [n for n in case.structures if STRUCTURE_INFO[n].groundable and not STRUCTURE_INFO[n].container][0]
        ground = make_grounding(case, rng_q, targets=[g_target])
        r_target = [n for n in regionable if not STRUCTURE_INFO[n].container and n != g_target]
        r_target = r_target[0] if r_target else regionable[-1]
        region = make_region_qa(case, rng_q, qtype="region_what", target=r_target, mode="point")
        lab, names = label_map(case)
        px, py = _interior_point(lab == names.index(r_target))
        fname = f"{mod}.png"
        _write_png(out / fname, case.image)
        entries.append({
            "file": fname, "modality": mod,
            "questions": [vqa.question, ground.question, region.question.replace("<region></region>", "<region>")],
            "answers": [vqa.answer, ground.answer, region.answer],
            "kinds": ["vqa", "grounding", "region"],
            "region_hint": {"structure": r_target, "point_xy": [px, py]},
            "structures": list(case.structures),
        })
    with open(out / "examples.json", "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
    return out / "examples.json"


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m medplib.synthetic.generate",
                                 description="Generate a synthetic MeCoVQA-style dataset.")
    ap.add_argument("--out", help="output folder (gets <split>.json, images/, masks/, masks_merged/)")
    ap.add_argument("--split", choices=sorted(SPLIT_IDS), default="train")
    ap.add_argument("--n", type=int, help="number of question/answer samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma list of vqa,region,grounding")
    ap.add_argument("--per-image", type=int, default=1, help="questions per image")
    ap.add_argument("--modalities", default=",".join(MODALITIES))
    ap.add_argument("--examples", metavar="DIR", help="write one example image per modality and exit")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.examples:
        path = write_examples(args.examples, seed=args.seed, size=args.size)
        print(f"wrote {path} and {len(MODALITIES)} images")
        return 0
    if not args.out or args.n is None:
        ap.error("--out and --n are required (or use --examples DIR)")
    mods = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    bad = [m for m in mods if m not in MODALITIES]
    if bad or not mods:
        ap.error(f"unknown modalities {bad}; choose from {MODALITIES}")
    try:
        kinds = _parse_kinds(args.kinds)
    except ValueError as e:
        ap.error(str(e))
    s = write_split(args.out, args.split, args.n, args.seed, args.size, kinds, args.per_image, mods,
                    progress=not args.no_progress)
    print(f"{s['json']}: {s['records']} records, {s['images']} images, {s['files']} files "
          f"in {s['seconds']} s")
    for key in ("kind", "answer_type", "modality"):
        print(f"  {key:12s} " + ", ".join(f"{k}={v}" for k, v in s[key].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
