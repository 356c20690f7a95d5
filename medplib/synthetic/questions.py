"""Question / answer generation for the three MeCoVQA kinds on a phantom ``Case``.

* ``vqa`` (MeCoVQA-C, complex VQA about the whole image): modality, body part, presence, count,
  left/right and upper/lower location, size comparison, abnormality, eye (fundus), diagnosis
  (dermoscopy).  ``answer_type`` is ``"closed"`` when the question itself lists the possible answers
  (yes/no or "A or B") and ``"open"`` otherwise.
* ``region`` (MeCoVQA-R): one region prompt (a point square, a filled box or a free-form mask over
  one structure); the question contains the literal ``<region></region>`` where the region goes.
* ``grounding`` (MeCoVQA-G): "Segment the X." -> "Sure, the X is <SEG>."; two-target questions
  have two ``<SEG>`` in the order asked.

Answers are short and drawn from a small closed vocabulary (``ANSWER_VOCABULARY``); grounding
answers are templated.  Side words follow the convention documented in ``phantoms`` (patient side
for CT / MRI / X-ray, image side otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from medplib.constants import REGION_END, REGION_START, SEG_TOKEN

from .phantoms import (
    BODY_PARTS,
    COUNT_RANGES,
    MODALITIES,
    MODALITY_LABELS,
    MODALITY_STRUCTURES,
    RADIOLOGICAL_MODALITIES,
    STRUCTURE_INFO,
    Case,
    _dist_inside,
    patient_side,
)

__all__ = [
    "KINDS",
    "QA",
    "make_qa",
    "make_vqa",
    "make_region_qa",
    "make_grounding",
    "region_prompt",
    "label_map",
    "ANSWER_VOCABULARY",
    "REGION_MODES",
    "text_vocabulary",
    "REGION_PLACEHOLDER",
]

KINDS = ("vqa", "region", "grounding")
REGION_MODES = ("point", "box", "mask")
REGION_PLACEHOLDER = REGION_START + REGION_END  # "<region></region>"


@dataclass
class QA:
    kind: str                                   # "vqa" | "region" | "grounding"
    question: str                               # region questions contain "<region></region>"
    answer: str                                 # grounding answers contain one "<SEG>" per target
    answer_type: str                            # "closed" | "open"
    question_type: str
    seg_names: List[str] = field(default_factory=list)         # structure per <SEG>, in order
    seg_masks: List[np.ndarray] = field(default_factory=list)
    region_names: List[str] = field(default_factory=list)      # structure under each region
    region_masks: List[np.ndarray] = field(default_factory=list)
    region_modes: List[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

YES, NO = "Yes", "No"
NONE_ANSWER = "none"
_MAX_COUNT = max(max(v) for v in COUNT_RANGES.values())


def _answer_vocabulary() -> Tuple[str, ...]:
    v = {YES, NO, NONE_ANSWER, "left", "right", "upper", "lower", "melanoma", "nevus", "benign",
         "malignant"}
    v |= set(MODALITY_LABELS.values())
    v |= set(BODY_PARTS.values())
    v |= {str(i) for i in range(_MAX_COUNT + 1)}
    v |= set(STRUCTURE_INFO)
    return tuple(sorted(v, key=str.lower))


ANSWER_VOCABULARY: Tuple[str, ...] = _answer_vocabulary()


# --------------------------------------------------------------------------------------------
# Templates (a few paraphrases per type). Fields: x/a/b structure phrases, Be/be verb forms.
# --------------------------------------------------------------------------------------------

T = {
    "modality_open": ["What imaging modality is used in this image?", "What is the modality of this image?",
                      "Which imaging technique was used to acquire this image?"],
    "modality_choice": ["Was this image acquired with {a} or {b}?", "Is the modality of this image {a} or {b}?"],
    "modality_yesno": ["Is this a {a} image?", "Was this image acquired with {a}?"],
    "body_part": ["Which body part is shown in this image?", "What part of the body is imaged here?"],
    "presence": ["{Be} there {a_x} in this image?", "Does this image show {a_x}?",
                 "{Be} {a_x} visible in this image?"],
    "count": ["How many {xs} are there?", "How many {xs} can be seen in this image?",
              "What is the number of {xs} in this image?"],
    "side_patient": ["{Be} the {x} on the patient's left or right side?",
                     "On which side of the patient {be} the {x}, left or right?"],
    "side_image": ["{Be} the {x} in the left or right half of the image?",
                   "On which side of the image {be} the {x}, left or right?"],
    "vertical": ["{Be} the {x} in the upper or lower half of the image?",
                 "{Be} the {x} located in the upper or lower part of the image?"],
    "location_open": ["Where {be} the {x} located?", "In which {container} {be} the {x}?"],
    "larger_choice": ["Which is larger, the {a} or the {b}?", "Which structure is bigger, the {a} or the {b}?"],
    "larger_yesno": ["{Be_a} the {a} larger than the {b}?", "{Be_a} the {a} bigger than the {b}?"],
    "abnormality_open": ["What abnormality is seen in this image?", "What is the main abnormal finding in this image?"],
    "abnormality_yesno": ["Is there any abnormality in this image?", "Does this image show an abnormal finding?"],
    "eye": ["Is this the left eye or the right eye?", "Is this a left or right eye?"],
    "diagnosis_open": ["What is the most likely diagnosis of the skin lesion?", "What is the diagnosis?"],
    "diagnosis_choice": ["Is the skin lesion benign or malignant?", "Is this lesion benign or malignant?"],
    # region
    "region_what": ["What is shown in <region>?", "What structure is in <region>?",
                    "Identify the structure in <region>."],
    "region_abnormal": ["Is <region> abnormal?", "Does <region> show an abnormality?",
                        "Is there an abnormality in <region>?"],
    "region_identity": ["Is <region> the {x}?", "Does <region> show the {x}?"],
    # grounding
    "ground_1": ["Segment the {x}.", "Please segment the {x} in this image.", "Can you segment the {x}?",
                 "Where {be} the {x}? Please output the segmentation mask."],
    "ground_2": ["Segment the {a} and the {b}.", "Please segment the {a} and the {b} in this image.",
                 "Can you segment the {a} and the {b}?"],
}
GROUND_ANSWER_1 = "Sure, the {x} {be} " + SEG_TOKEN + "."
GROUND_ANSWER_2 = "Sure, the {a} {be_a} " + SEG_TOKEN + " and the {b} {be_b} " + SEG_TOKEN + "."

_CONTAINER_KIND = {"x_ray": ("lung", ("right lung", "left lung")),
                   "mri": ("hemisphere", ("right hemisphere", "left hemisphere"))}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _fmt(template: str, **kw) -> str:
    return _cap(template.replace("<region>", REGION_PLACEHOLDER).format(**kw))


def _is_plural(case: Case, name: str) -> bool:
    info = STRUCTURE_INFO[name]
    if name == "ventricles":
        return True
    return info.countable and case.meta["counts"].get(name, 0) > 1


def _phrase(case: Case, name: str) -> Tuple[str, str]:
    """(noun phrase, verb) for a present structure, e.g. ("polyps", "are")."""
    if _is_plural(case, name):
        return STRUCTURE_INFO[name].plural, "are"
    return name, "is"


def _indef(name: str) -> Tuple[str, str]:
    """("a nodule", "is") / ("an optic disc", "is") / ("ventricles", "are")."""
    if name == "ventricles":
        return name, "are"
    return ("an " if name[0] in "aeiou" else "a ") + name, "is"


def _choice(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _centroid(mask: np.ndarray) -> Tuple[float, float]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return float((xs.mean() + 0.5) / w), float((ys.mean() + 0.5) / h)


_SIDE_MARGIN = 0.08       # centroid offset from the image centre (fraction of size)
_HALF_FRACTION = 0.9      # fraction of each instance that must lie in the same half


def _half_of(case: Case, name: str, axis: int) -> Optional[int]:
    """+1 / -1 when every instance of ``name`` lies clearly in the high / low half along
    ``axis`` (1 = x, 0 = y); None when ambiguous."""
    size = case.size
    sign = None
    for m in case.instance_masks(name):
        cx, cy = _centroid(m)
        c = (cx if axis == 1 else cy) - 0.5
        if abs(c) < _SIDE_MARGIN:
            return None
        s = 1 if c > 0 else -1
        coords = np.nonzero(m)[axis]
        frac = float(((coords + 0.5) / size > 0.5).mean()) if s > 0 else float(((coords + 0.5) / size < 0.5).mean())
        if frac < _HALF_FRACTION or (sign is not None and s != sign):
            return None
        sign = s
    return sign


def _all_names() -> List[str]:
    return list(STRUCTURE_INFO)


def _shares_word(a: str, b: str) -> bool:
    wa = set(a.split()) - {"left", "right"}
    wb = set(b.split()) - {"left", "right"}
    return bool(wa & wb)


# --------------------------------------------------------------------------------------------
# Complex VQA
# --------------------------------------------------------------------------------------------

def _vqa(qtype, question, answer, answer_type) -> QA:
    return QA("vqa", question, answer, answer_type, qtype)


def _q_modality_open(case, rng):
    return _vqa("modality", _choice(rng, T["modality_open"]), MODALITY_LABELS[case.modality], "open")


def _q_modality_choice(case, rng):
    other = _choice(rng, [m for m in MODALITIES if m != case.modality])
    a, b = MODALITY_LABELS[case.modality], MODALITY_LABELS[other]
    if rng.random() < 0.5:
        a, b = b, a
    return _vqa("modality", _fmt(_choice(rng, T["modality_choice"]), a=a, b=b),
                MODALITY_LABELS[case.modality], "closed")


def _q_modality_yesno(case, rng):
    yes = rng.random() < 0.5
    m = case.modality if yes else _choice(rng, [m for m in MODALITIES if m != case.modality])
    return _vqa("modality", _fmt(_choice(rng, T["modality_yesno"]), a=MODALITY_LABELS[m]),
                YES if yes else NO, "closed")


def _q_body_part(case, rng):
    return _vqa("body_part", _choice(rng, T["body_part"]), BODY_PARTS[case.modality], "open")


def _q_presence(case, rng):
    present = [n for n in MODALITY_STRUCTURES[case.modality] if n in case.structures]
    if rng.random() < 0.5:
        pool = [n for n in present if not STRUCTURE_INFO[n].container] or present
        name, ans = _choice(rng, pool), YES
    else:
        absent_own = [n for n in MODALITY_STRUCTURES[case.modality] if n not in case.structures]
        others = [n for n in _all_names() if n not in MODALITY_STRUCTURES[case.modality]
                  and not STRUCTURE_INFO[n].container
                  and not any(_shares_word(n, p) for p in present)]
        pool = absent_own if (absent_own and rng.random() < 0.75) else others
        name, ans = _choice(rng, pool), NO
    a_x, be = _indef(name)
    return _vqa("presence", _fmt(_choice(rng, T["presence"]), a_x=a_x, Be=_cap(be)), ans, "closed")


def _q_count(case, rng):
    names = [n for n in MODALITY_STRUCTURES[case.modality] if STRUCTURE_INFO[n].countable]
    if not names:
        return None
    name = _choice(rng, names)
    return _vqa("count", _fmt(_choice(rng, T["count"]), xs=STRUCTURE_INFO[name].plural),
                str(case.meta["counts"].get(name, 0)), "open")


def _side_candidates(case):
    out = []
    for n in case.structures:
        info = STRUCTURE_INFO[n]
        if info.container or "left" in n.split() or "right" in n.split():
            continue
        out.append(n)
    return out


def _q_side(case, rng):
    cands = [(n, s) for n in _side_candidates(case) if (s := _half_of(case, n, axis=1)) is not None]
    if not cands:
        return None
    name, s = _choice(rng, cands)
    x, be = _phrase(case, name)
    key = "side_patient" if case.modality in RADIOLOGICAL_MODALITIES else "side_image"
    return _vqa("side", _fmt(_choice(rng, T[key]), x=x, be=be, Be=_cap(be)),
                patient_side(case.modality, 0.25 * s), "closed")


def _q_vertical(case, rng):
    cands = [(n, s) for n in _side_candidates(case) if (s := _half_of(case, n, axis=0)) is not None]
    if not cands:
        return None
    name, s = _choice(rng, cands)
    x, be = _phrase(case, name)
    return _vqa("vertical", _fmt(_choice(rng, T["vertical"]), x=x, be=be, Be=_cap(be)),
                "lower" if s > 0 else "upper", "closed")


def _q_location_open(case, rng):
    if case.modality not in _CONTAINER_KIND:
        return None
    kind, containers = _CONTAINER_KIND[case.modality]
    cands = []
    for n in case.structures:
        info = STRUCTURE_INFO[n]
        if info.container or not info.abnormal:
            continue
        for c in containers:
            cm = case.structures[c]
            if all((m & cm).sum() >= 0.95 * m.sum() for m in case.instance_masks(n)):
                cands.append((n, c))
    if not cands:
        return None
    name, c = _choice(rng, cands)
    x, be = _phrase(case, name)
    return _vqa("location", _fmt(_choice(rng, T["location_open"]), x=x, be=be, container=kind), c, "open")


def _single(case, n):
    info = STRUCTURE_INFO[n]
    return not info.container and (not info.countable or case.meta["counts"].get(n, 0) == 1)


def _larger_pairs(case):
    names = [n for n in case.structures if _single(case, n)]
    area = {n: int(case.structures[n].sum()) for n in names}
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            lo, hi = sorted((area[a], area[b]))
            inter = int((case.structures[a] & case.structures[b]).sum())
            if hi >= 1.6 * lo and inter <= 0.1 * lo:
                pairs.append((a, b) if area[a] > area[b] else (b, a))   # (larger, smaller)
    return pairs


def _q_larger_choice(case, rng):
    pairs = _larger_pairs(case)
    if not pairs:
        return None
    big, small = _choice(rng, pairs)
    a, b = (big, small) if rng.random() < 0.5 else (small, big)
    return _vqa("larger", _fmt(_choice(rng, T["larger_choice"]), a=a, b=b), big, "closed")


def _q_larger_yesno(case, rng):
    pairs = _larger_pairs(case)
    if not pairs:
        return None
    big, small = _choice(rng, pairs)
    yes = rng.random() < 0.5
    a, b = (big, small) if yes else (small, big)
    return _vqa("larger", _fmt(_choice(rng, T["larger_yesno"]), a=a, b=b, Be_a=_cap(_phrase(case, a)[1])),
                YES if yes else NO, "closed")


_ABNORMAL_CLASSES = {m: [n for n in MODALITY_STRUCTURES[m] if STRUCTURE_INFO[n].abnormal] for m in MODALITIES}


def _q_abnormality_open(case, rng):
    classes = _ABNORMAL_CLASSES[case.modality]
    if not classes:
        return None
    found = [n for n in classes if n in case.structures]
    return _vqa("abnormality", _choice(rng, T["abnormality_open"]), found[0] if found else NONE_ANSWER, "open")


def _q_abnormality_yesno(case, rng):
    if case.modality == "pathology":
        return None
    ab = any(case.is_abnormal(n) for n in case.structures)
    return _vqa("abnormality", _choice(rng, T["abnormality_yesno"]), YES if ab else NO, "closed")


def _q_eye(case, rng):
    if case.modality != "fundus":
        return None
    return _vqa("eye", _choice(rng, T["eye"]), case.meta["eye"], "closed")


def _q_diagnosis_open(case, rng):
    if case.modality != "dermoscopy":
        return None
    return _vqa("diagnosis", _choice(rng, T["diagnosis_open"]), case.meta["diagnosis"], "open")


def _q_diagnosis_choice(case, rng):
    if case.modality != "dermoscopy":
        return None
    ans = "malignant" if case.meta["diagnosis"] == "melanoma" else "benign"
    return _vqa("diagnosis", _choice(rng, T["diagnosis_choice"]), ans, "closed")


VQA_TYPES: List[Tuple[str, float, Callable]] = [
    ("modality_open", 0.6, _q_modality_open),
    ("modality_choice", 0.4, _q_modality_choice),
    ("modality_yesno", 0.3, _q_modality_yesno),
    ("body_part", 0.4, _q_body_part),
    ("presence", 2.0, _q_presence),
    ("count", 1.5, _q_count),
    ("side", 1.0, _q_side),
    ("vertical", 0.8, _q_vertical),
    ("location_open", 0.8, _q_location_open),
    ("larger_choice", 0.8, _q_larger_choice),
    ("larger_yesno", 0.5, _q_larger_yesno),
    ("abnormality_open", 1.0, _q_abnormality_open),
    ("abnormality_yesno", 1.0, _q_abnormality_yesno),
    ("eye", 1.5, _q_eye),
    ("diagnosis_open", 1.0, _q_diagnosis_open),
    ("diagnosis_choice", 1.0, _q_diagnosis_choice),
]


def make_vqa(case: Case, rng: np.random.Generator, qtype: Optional[str] = None,
             weights: Optional[Mapping[str, float]] = None) -> QA:
    """One complex-VQA question about the whole image (``qtype`` forces a type from VQA_TYPES; ``weights``
    multiplies the default frequency of the named types, e.g. to over-sample rare ones for training)."""
    weights = dict(weights or {})
    unknown = (set(weights) | ({qtype} if qtype is not None else set())) - {t[0] for t in VQA_TYPES}
    if unknown:
        raise ValueError(f"unknown vqa question type(s) {sorted(unknown)}")
    table = [t for t in VQA_TYPES if (qtype is None or t[0] == qtype) and t[1] * weights.get(t[0], 1.0) > 0]
    while table:
        w = np.array([t[1] * weights.get(t[0], 1.0) for t in table])
        k = int(rng.choice(len(table), p=w / w.sum()))
        qa = table[k][2](case, rng)
        if qa is not None:
            return qa
        table.pop(k)
    raise ValueError(f"question type {qtype!r} is not applicable to this {case.modality} case")


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


def make_qa(case: Case, rng: np.random.Generator, kind: str) -> QA:
    if kind == "vqa":
        return make_vqa(case, rng)
    if kind == "region":
        return make_region_qa(case, rng)
    if kind == "grounding":
        return make_grounding(case, rng)
    raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")


# --------------------------------------------------------------------------------------------
# Word-level vocabulary (for tokenizer building on the training side)
# --------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"<[^<>]*>|\w+|[^\w\s]")


def text_vocabulary() -> List[str]:
    """Every token (``<...>`` markup, words, punctuation) that generated questions and answers can
    contain, tokenised with ``\\w+|[^\\w\\s]`` (markup kept whole); sorted."""
    words = set()
    texts: List[str] = []
    for ts in T.values():
        texts += [re.sub(r"\{[^}]*\}", " ", t) for t in ts]
    texts += [re.sub(r"\{[^}]*\}", " ", GROUND_ANSWER_1), re.sub(r"\{[^}]*\}", " ", GROUND_ANSWER_2)]
    texts += list(ANSWER_VOCABULARY)
    texts += [s.plural for s in STRUCTURE_INFO.values()]
    texts += ["a", "an", "is", "are", "Is", "Are", "lung", "hemisphere", REGION_START, REGION_END]
    for t in texts:
        for tok in _TOKEN_RE.findall(t):
            words.add(tok)
            words.add(_cap(tok))
    return sorted(words)
