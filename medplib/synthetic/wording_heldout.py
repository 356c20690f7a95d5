"""Held-out wordings for evaluation only: training never sees these phrasings.

`reword(question, wording, rng)` maps a generated question (one of `questions.T`'s templates, filled in) to the
same question in other words, keeping every field (structure names, modalities, the region placeholder), so the
image, the regions and the expected answer stay the same:

* ``template``: unchanged (the generator's own wording);
* ``lower``: lower-case, no final "?" / "." (how people type in a hurry);
* ``heldout``: one of the natural phrasings below (imperatives, "can you ...", "what's ...", ``<region1>``).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from .questions import REGION_PLACEHOLDER, T

WORDINGS = ("template", "lower", "heldout")

# Same fields as the generator's template of the same key ({x}, {a}, {b}, {a_x}, {xs}, {be}, {container}).
HELDOUT = {
    "modality_open": ["what kind of scan is this?", "Tell me the imaging modality.", "which modality was used here"],
    "modality_choice": ["{a} or {b} - which one is this?", "Is this picture from {a} or from {b}?"],
    "modality_yesno": ["Would you say this is a {a} image?", "is this image taken with {a}"],
    "body_part": ["What body region does this show?", "which part of the body am I looking at"],
    "presence": ["Can you see {a_x} here?", "any sign of {a_x} in this image?", "Do you find {a_x} in the picture?"],
    "count": ["Count the {xs}.", "how many {xs} do you see", "Could you tell me how many {xs} there are?"],
    "side_patient": ["Which side of the patient is the {x} on: left or right?", "{x}: patient's left or right?"],
    "side_image": ["Is the {x} on the left or the right of the picture?", "{x} - left or right half?"],
    "vertical": ["Is the {x} in the upper or the lower part of the picture?", "upper or lower half: where is the {x}?"],
    "location_open": ["Tell me where the {x} is.", "where can the {x} be found"],
    "larger_choice": ["Which one is bigger: the {a} or the {b}?", "the {a} or the {b}, which is larger"],
    "larger_yesno": ["Would you say the {a} is larger than the {b}?", "is the {a} bigger than the {b}"],
    "abnormality_open": ["What's abnormal here?", "Describe the abnormal finding.", "what is the finding"],
    "abnormality_yesno": ["Does anything look abnormal?", "is anything wrong in this image"],
    "eye": ["Left or right eye?", "which eye is this, left or right"],
    "diagnosis_open": ["What would you diagnose?", "what's the diagnosis of this lesion"],
    "diagnosis_choice": ["Would you call this lesion benign or malignant?", "benign or malignant?"],
    "region_what": ["What's inside <region1>?", "Tell me what <region> shows.", "what is in <region1>"],
    "region_abnormal": ["Is anything abnormal in <region1>?", "does <region> look abnormal"],
    "region_identity": ["Is the {x} what's in <region1>?", "is <region> showing the {x}"],
    "ground_1": ["Show me the {x}.", "Could you outline the {x} please?", "mask the {x}", "Highlight the {x}."],
    "ground_2": ["Show me the {a} and the {b}.", "Could you outline the {a} and the {b}?", "mask the {a} and {b}"],
}


def _pattern(template: str) -> re.Pattern:
    """A template -> a regex matching its filled-in questions; fields become named groups."""
    text = template.replace("<region>", REGION_PLACEHOLDER)
    parts = re.split(r"\{(\w+)\}", text)
    regex, seen = "", set()
    for k, part in enumerate(parts):
        if k % 2 == 0:
            regex += re.escape(part)
        else:
            regex += f"(?P={part})" if part in seen else f"(?P<{part}>.+?)"
            seen.add(part)
    return re.compile(regex, re.IGNORECASE)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[str, re.Pattern]]:
    return [(key, _pattern(t)) for key, templates in T.items() for t in templates]


def _fields(question: str) -> tuple[str, dict[str, str]] | None:
    for key, pattern in _patterns():
        m = pattern.fullmatch(question)
        if m:
            fields = {k: v for k, v in m.groupdict().items()}
            for k in ("Be", "Be_a"):  # the held-out phrasings use the verb in lower case
                if k in fields:
                    fields[k.lower()] = fields[k].lower()
            return key, fields
    return None


def lower(question: str) -> str:
    """Lower-case, without the final "?" / "."; region placeholders kept as they are."""
    return question.rstrip().rstrip("?.").rstrip().lower()


def reword(question: str, wording: str, rng: np.random.Generator) -> str:
    """The same question in `wording` (one of `WORDINGS`). Raises ValueError for a question no template made."""
    if wording not in WORDINGS:
        raise ValueError(f"wording must be one of {WORDINGS}, got {wording!r}")
    if wording == "template":
        return question
    if wording == "lower":
        return lower(question)
    found = _fields(question)
    if found is None:
        raise ValueError(f"not a generated question, cannot reword it: {question!r}")
    key, fields = found
    template = HELDOUT[key][int(rng.integers(len(HELDOUT[key])))]
    return template.format(**fields)  # keeps <region1> / <region> as a user types them


def reworded(samples: list, wording: str, seed: int = 0) -> list:
    """Copies of `samples` (``Sample``s) with their questions in `wording`; images, regions and answers unchanged."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    return [replace(s, question=reword(s.question, wording, rng)) for s in samples]
