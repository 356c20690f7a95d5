"""Complex VQA (MeCoVQA-C) question makers: one function per question type and ``make_vqa``."""

from __future__ import annotations

from typing import Callable, List, Mapping, Optional, Tuple

import numpy as np

from .question_text import (
    _CONTAINER_KIND,
    NO,
    NONE_ANSWER,
    QA,
    YES,
    T,
    _all_names,
    _cap,
    _choice,
    _fmt,
    _half_of,
    _indef,
    _phrase,
    _shares_word,
)
from .structures import (
    BODY_PARTS,
    MODALITIES,
    MODALITY_LABELS,
    MODALITY_STRUCTURES,
    RADIOLOGICAL_MODALITIES,
    STRUCTURE_INFO,
    Case,
    patient_side,
)

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
