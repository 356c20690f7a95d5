"""Held-out wordings for evaluation only: training never sees these phrasings.

`reword(question, wording, rng)` maps a generated question (one of `questions.T`'s templates, filled in) to the
same question in other words, keeping every field (structure names, modalities, the region placeholder), so the
image, the regions and the expected answer stay the same:

* ``template``: unchanged (the generator's own wording);
* ``lower``: lower-case, no final "?" / "." (how people type in a hurry);
* ``heldout``: one of the natural phrasings below (imperatives, "can you ...", "what's ...", ``<region1>``).
"""

from __future__ import annotations

import numpy as np

from .question_fields import question_fields

WORDINGS = ("template", "lower", "heldout")

# Same fields as the generator's template of the same key ({x}, {a}, {b}, {a_x}, {n}, {xs}, {be}, {container}).
# None of these can come out of the training wording (tests/test_wording.py checks every one against
# `wording.all_phrasings`): new verbs ("paint", "shade", "tally"), new frames and word orders.
HELDOUT = {
    "modality_open": ["Which kind of imaging produced this picture?", "what modality are we looking at",
                      "Tell me which imaging method this is.", "Name the scanner type used for this picture"],
    "modality_choice": ["{a} or {b} - which one is this?", "Between {a} and {b}, which modality produced this picture?",
                        "Is this picture from {a} or from {b}?"],
    "modality_yesno": ["Would you say this is a {a} image?", "Is this picture an example of {a}?",
                       "{a} - is that what this is?"],
    "body_part": ["Which area of the body are we looking at?", "what anatomy does this picture cover",
                  "Tell me the imaged body area."],
    "presence": ["Can you spot {a_x} here?", "Is {a_x} somewhere in this picture?", "{a_x} anywhere?",
                 "do I see {a_x} in this picture"],
    "count": ["What number of {xs} do you count?", "how many {xs} in total", "Tally the {xs} for me."],
    "side_patient": ["Does the {x} lie on the patient's right or left?", "{x}: patient's left or right?",
                     "Patient left or patient right for the {x}?"],
    "side_image": ["Is the {x} on the left or the right of the picture?", "{x} - left or right half?",
                   "Does the {x} sit left or right in the picture?"],
    "vertical": ["Is the {x} in the upper or the lower part of the picture?", "upper or lower half: where is the {x}?",
                 "Does the {x} sit near the top or near the bottom?"],
    "location_open": ["In what {container} would you find the {x}?", "where can the {x} be found",
                      "The {x} lies in which {container}?"],
    "larger_choice": ["Between the {a} and the {b}, which one is bigger?", "Which is the bigger one here, the {a} or the {b}?",
                      "Of these two, the {a} and the {b}, which has more area?"],
    "larger_yesno": ["Is the {a} the larger one compared to the {b}?", "does the {a} cover more area than the {b}",
                     "Is the {a} greater in size than the {b}?"],
    "abnormality_open": ["Which abnormal finding stands out?", "What pathological finding is present?",
                         "name the abnormality you can spot"],
    "abnormality_yesno": ["Is there anything unusual about this picture?", "Does this picture look pathological?",
                          "Do you notice any abnormal finding here?"],
    "eye": ["Which eye was photographed, left or right?", "Is this picture of someone's left or right eye?"],
    "diagnosis_open": ["Which diagnosis fits this lesion best?", "What would you diagnose here?"],
    "diagnosis_choice": ["Does this look like a benign or a malignant lesion?", "Malignant or benign, what do you think?"],
    "region_what": ["Which anatomical structure lies within <region1>?", "tell me what <region> is showing",
                    "What does the marked area <region1> correspond to?"],
    "region_abnormal": ["Does the tissue within <region1> look pathological?", "Would you call <region> abnormal?",
                        "anything unusual in <region1>?"],
    "region_identity": ["Is the {x} what's in <region1>?", "Would you say <region> marks the {x}?",
                        "Am I pointing at the {x} with <region1>?"],
    "ground_1": ["Paint the {x}.", "Where is the {x}? Draw its mask.", "Could you shade the {x}?",
                 "Separate the {x} from the rest of the image."],
    "ground_2": ["Paint the {a} and the {b}.", "I'd like both the {a} and the {b} marked out.",
                 "Separate the {a} and the {b} from the background."],
}


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
    found = question_fields(question)
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
