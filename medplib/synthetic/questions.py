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

# Templates and vocabularies live in question_text, the complex VQA makers in vqa_questions, the region and
# grounding makers in region_questions; this module keeps the public names and ``make_qa``.
import numpy as np

from .question_text import (
    ANSWER_VOCABULARY,
    KINDS,
    QA,
    REGION_MODES,
    REGION_PLACEHOLDER,
    T,
    text_vocabulary,
)
from .region_questions import label_map, make_grounding, make_region_qa, region_prompt
from .structures import Case
from .vqa_questions import VQA_TYPES, make_vqa

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
    "T",
    "VQA_TYPES",
]


def make_qa(case: Case, rng: np.random.Generator, kind: str) -> QA:
    if kind == "vqa":
        return make_vqa(case, rng)
    if kind == "region":
        return make_region_qa(case, rng)
    if kind == "grounding":
        return make_grounding(case, rng)
    raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")


