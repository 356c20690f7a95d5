"""Region prompts, region VQA (MeCoVQA-R) and grounding (MeCoVQA-G) question makers."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .drawing import _dist_inside
from .question_text import (
    GROUND_ANSWER_1,
    GROUND_ANSWER_2,
    NO,
    QA,
    REGION_MODES,
    YES,
    T,
    _choice,
    _fmt,
    _phrase,
)
from .structures import MODALITY_STRUCTURES, STRUCTURE_INFO, Case

# --------------------------------------------------------------------------------------------
# Region prompts and region VQA
# --------------------------------------------------------------------------------------------

def label_map(case: Case) -> Tuple[np.ndarray, List[str]]:
    """Per-pixel index of the most specific *regionable* structure (-1: none) and the name list."""
    cached = case.__dict__.get("_label_map")
    if cached is not None:
        return cached
    names = [n for n in MODALITY_STRUCTURES[case.modality]
             if n in case.structures and STRUCTURE_INFO[n].regionable]
    lab = np.full(case.image.shape[:2], -1, np.int16)
    for i, n in enumerate(names):
        lab[case.structures[n]] = i
    case.__dict__["_label_map"] = (lab, names)
    return lab, names


def region_prompt(case: Case, name: str, rng: np.random.Generator, mode: Optional[str] = None,
                  instance: Optional[int] = None) -> Tuple[np.ndarray, str]:
    """A region mask over (one instance of) ``name``: ``point`` (a filled square around a point, as
    the demo makes from a click), ``box`` (the instance's filled bounding box, only when that box is
    mostly the structure) or ``mask`` (free-form: the instance's own pixels, sometimes eroded).
    At least 60 % of the returned pixels belong to ``name`` (100 % for point and mask)."""
    lab, names = label_map(case)
    if name not in names:
        raise ValueError(f"{name!r} is not a regionable structure of this case")
    own = lab == names.index(name)
    insts = case.instance_masks(name)
    inst = insts[int(rng.integers(len(insts))) if instance is None else instance]
    target = inst & own
    if not target.any():  # fully covered by more specific structures (should not happen)
        target = inst
    size = case.size
    mode = mode or _choice(rng, REGION_MODES)
    if mode == "box":
        ys, xs = np.nonzero(inst)
        box = np.zeros_like(inst)
        box[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
        if (own & box).sum() >= 0.6 * box.sum():
            return box, "box"
        mode = "point"
    if mode == "point":
        dist = _dist_inside(target)
        half = max(1, int(round(rng.uniform(0.03, 0.07) * size)))
        while half >= 1:
            allowed = dist > half * 1.42 + 0.5
            if allowed.any():
                idx = np.flatnonzero(allowed)
                y, x = divmod(int(idx[rng.integers(idx.size)]), size)
                sq = np.zeros_like(inst)
                sq[max(0, y - half):y + half + 1, max(0, x - half):x + half + 1] = True
                return sq & target, "point"
            half -= 1
        mode = "mask"
    m = target
    if m.sum() >= 80 and rng.random() < 0.5:
        er = cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if er.any():
            m = er
    return m.copy(), "mask"


def _region_qa(qtype, question, answer, answer_type, name, mask, mode) -> QA:
    return QA("region", question, answer, answer_type, qtype, region_names=[name], region_masks=[mask],
              region_modes=[mode])


def make_region_qa(case: Case, rng: np.random.Generator, qtype: Optional[str] = None,
                   target: Optional[str] = None, mode: Optional[str] = None) -> QA:
    """One region question ("What is shown in <region></region>?", "Is <region></region> abnormal?",
    "Is <region></region> the X?")."""
    _lab, names = label_map(case)
    if target is None:
        abn = [n for n in names if case.is_abnormal(n)]
        target = _choice(rng, abn) if (abn and rng.random() < 0.4) else _choice(rng, names)
    mask, mode = region_prompt(case, target, rng, mode)
    qtype = qtype or _choice(rng, ("region_what", "region_abnormal", "region_identity"))
    if qtype == "region_what":
        return _region_qa(qtype, _fmt(_choice(rng, T[qtype])), target, "open", target, mask, mode)
    if qtype == "region_abnormal":
        return _region_qa(qtype, _fmt(_choice(rng, T[qtype])), YES if case.is_abnormal(target) else NO,
                          "closed", target, mask, mode)
    if qtype == "region_identity":
        yes = rng.random() < 0.5
        # A "no" names a structure the region does not touch: one that contains or overlaps the target (the
        # tissue around a nucleus, the organ around a lesion) would make "No" as defensible as "Yes".
        others = [n for n in MODALITY_STRUCTURES[case.modality] if n != target and STRUCTURE_INFO[n].regionable
                  and not (n in case.structures and (case.structures[n] & mask).any())]
        yes = yes or not others
        x = target if yes else _choice(rng, others)
        return _region_qa(qtype, _fmt(_choice(rng, T[qtype]), x=x), YES if yes else NO, "closed",
                          target, mask, mode)
    raise ValueError(f"unknown region question type {qtype!r}")


# --------------------------------------------------------------------------------------------
# Grounding
# --------------------------------------------------------------------------------------------

def make_grounding(case: Case, rng: np.random.Generator, n_targets: Optional[int] = None,
                   targets: Optional[Sequence[str]] = None, p_two: float = 0.3) -> QA:
    """"Segment the X." -> "Sure, the X is <SEG>." (or two targets, answered in the order asked).
    Masks are the merged (all-instance) masks of each target."""
    cands = [n for n in MODALITY_STRUCTURES[case.modality]
             if n in case.structures and STRUCTURE_INFO[n].groundable]
    if targets is None:
        if n_targets is None:
            n_targets = 2 if (len(cands) >= 2 and rng.random() < p_two) else 1
        n_targets = min(n_targets, len(cands))
        idx = rng.permutation(len(cands))[:n_targets]
        targets = [cands[int(i)] for i in idx]
    targets = list(targets)
    for t in targets:
        if t not in case.structures:
            raise ValueError(f"cannot ground absent structure {t!r}")
    if len(targets) == 1:
        x, be = _phrase(case, targets[0])
        q = _fmt(_choice(rng, T["ground_1"]), x=x, be=be)
        a = GROUND_ANSWER_1.format(x=x, be=be)
        qtype = "grounding_1"
    elif len(targets) == 2:
        (a_, be_a), (b_, be_b) = _phrase(case, targets[0]), _phrase(case, targets[1])
        q = _fmt(_choice(rng, T["ground_2"]), a=a_, b=b_)
        a = GROUND_ANSWER_2.format(a=a_, b=b_, be_a=be_a, be_b=be_b)
        qtype = "grounding_2"
    else:
        raise ValueError("grounding supports one or two targets")
    return QA("grounding", q, a, "open", qtype, seg_names=targets,
              seg_masks=[case.structures[t].copy() for t in targets])
