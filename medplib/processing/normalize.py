"""Question normalisation, a property of a model's config (`question_normalization`), never of the released 7B.

"none" (the default, and the 7B's): the question is used exactly as typed. "lower": lower-case, typographic quotes
made plain, whitespace collapsed, final "?" / "." / "!" dropped. A model trained with "lower" sees every question the
same way at training and inference, so "Segment the liver." and "segment the liver" are one input.
"""

from __future__ import annotations

import re
import unicodedata

from ..constants import QUESTION_NORMALIZATIONS

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_FINAL = re.compile(r"[\s?.!]+$")


def normalize_question(text: str, mode: str = "none") -> str:
    """`text` under `mode` (one of QUESTION_NORMALIZATIONS); a question that is only punctuation stays as it is."""
    if mode == "none":
        return text
    if mode != "lower":
        raise ValueError(f"question_normalization must be one of {QUESTION_NORMALIZATIONS}, got {mode!r}")
    out = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    out = _FINAL.sub("", " ".join(out.split()))
    return out or text
