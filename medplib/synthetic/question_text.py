"""Question templates, the answer / word vocabularies, the QA dataclass and the small wording helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from medplib.constants import REGION_END, REGION_START, SEG_TOKEN

from .structures import (
    BODY_PARTS,
    COUNT_RANGES,
    MODALITY_LABELS,
    STRUCTURE_INFO,
    Case,
)

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
