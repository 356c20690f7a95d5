"""Checks of what callers pass to the public API (`MedPLIB.encode` / `ask` / `stream`).

Each check raises `MedPLIBTypeError` / `MedPLIBInputError` naming the argument and what was expected, and
returns the value in the one form the rest of the library uses; nothing is silently reinterpreted.
Regions are checked in `medplib.processing.region_types`.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .constants import ADDED_TOKENS, IMAGE_PLACEHOLDER, REGION_END, REGION_START
from .errors import MedPLIBInputError, MedPLIBTypeError
from .processing.limits import MAX_NEW_TOKENS
from .processing.region_types import real_number

MAX_TEMPERATURE = 2.0
MIN_SAMPLING_TEMPERATURE = 0.01  # lower temperatures generate greedily (the limit of sampling as T -> 0)
# Tokens a user may not type: they would change the prompt's structure (image, turns, masks) rather than ask.
RESERVED_TOKENS = tuple(t for t in (*ADDED_TOKENS, IMAGE_PLACEHOLDER, "<s>", "</s>", "<unk>")
                        if t not in (REGION_START, REGION_END))
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


def check_text(text: Any, name: str) -> str:
    """A non-empty str of valid Unicode without control characters or reserved model tokens."""
    if not isinstance(text, str):
        raise MedPLIBTypeError(f"{name} must be a str, got {type(text).__name__}")
    if not text.strip():
        raise MedPLIBInputError(f"{name} is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MedPLIBInputError(f"{name} contains invalid characters (an unpaired surrogate)") from None
    bad = sorted({c for c in text if unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS})
    if bad:
        raise MedPLIBInputError(f"{name} contains control characters {[f'U+{ord(c):04X}' for c in bad][:3]}")
    for token in RESERVED_TOKENS:
        if token in text:
            raise MedPLIBInputError(f"{name} may not contain the model token {token}; refer to regions as "
                                    "<region1>, <region2>, ... and to the image in words")
    return text


@dataclass(frozen=True)
class GenerationSettings:
    """Validated decoding settings of one answer."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float | None = None
    repetition_penalty: float | None = None
    max_time: float | None = None  # seconds; the answer ends (as it stands) when the time is up

    def __post_init__(self) -> None:
        n = self.max_new_tokens
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise MedPLIBTypeError(f"max_new_tokens must be an int, got {type(n).__name__} {n!r:.40}")
        if not 1 <= n <= MAX_NEW_TOKENS:
            raise MedPLIBInputError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}, got {n}")
        object.__setattr__(self, "max_new_tokens", int(n))
        t = real_number(self.temperature, "temperature")
        if not 0.0 <= t <= MAX_TEMPERATURE:
            raise MedPLIBInputError(f"temperature must be between 0 (greedy) and {MAX_TEMPERATURE}, got {t}")
        object.__setattr__(self, "temperature", t)
        if self.top_p is not None:
            p = real_number(self.top_p, "top_p")
            if not 0.0 < p <= 1.0:
                raise MedPLIBInputError(f"top_p must be in (0, 1], got {p}")
            object.__setattr__(self, "top_p", p)
        if self.repetition_penalty is not None:
            r = real_number(self.repetition_penalty, "repetition_penalty")
            if r <= 0:
                raise MedPLIBInputError(f"repetition_penalty must be > 0, got {r}")
            object.__setattr__(self, "repetition_penalty", r)
        if self.max_time is not None:
            t = real_number(self.max_time, "max_time")
            if t <= 0:
                raise MedPLIBInputError(f"max_time must be > 0 seconds, got {t}")
            object.__setattr__(self, "max_time", t)

    def generate_kwargs(self) -> dict:
        """The settings as `generate` keywords (sampling only when temperature >= MIN_SAMPLING_TEMPERATURE;
        below it sampling is greedy in all but name and logits / temperature overflow)."""
        if self.temperature < MIN_SAMPLING_TEMPERATURE:
            out: dict[str, Any] = {"do_sample": False}
        else:
            out = {"do_sample": True, "temperature": self.temperature}
            if self.top_p is not None:
                out["top_p"] = self.top_p
        if self.repetition_penalty is not None:
            out["repetition_penalty"] = self.repetition_penalty
        if self.max_time is not None:
            out["max_time"] = self.max_time
        return {"max_new_tokens": self.max_new_tokens, **out}


def check_stop_event(stop_event: Any) -> Any:
    """None or a `threading.Event`-like object (has a callable `is_set`)."""
    if stop_event is not None and not callable(getattr(stop_event, "is_set", None)):
        raise MedPLIBTypeError(f"stop_event must be a threading.Event or None, got {type(stop_event).__name__}")
    return stop_event


def check_session(session: Any) -> Any:
    """None or a hashable key of one conversation (its KV cache is kept under it)."""
    try:
        hash(session)
    except TypeError:
        raise MedPLIBTypeError(f"session must be a hashable key (a str or int), got {type(session).__name__}") from None
    return session


def check_history(history: Any) -> list[tuple[str, str]]:
    """Earlier turns as (question, answer) pairs; an answer may be an `Answer` (its `raw_text`, with its
    `<SEG>` tokens, is what the model said) or its text."""
    if isinstance(history, (str, bytes, dict)) or not isinstance(history, Sequence):
        raise MedPLIBTypeError(f"history must be a list of (question, answer) pairs, got {type(history).__name__}")
    out = []
    for k, turn in enumerate(history):
        if isinstance(turn, (str, bytes, dict)) or not isinstance(turn, Sequence) or len(turn) != 2:
            raise MedPLIBTypeError(f"history[{k}] must be a (question, answer) pair, got {type(turn).__name__} "
                                   f"{turn!r:.60}")
        question, answer = turn
        raw = getattr(answer, "raw_text", answer)
        if not isinstance(raw, str):
            raise MedPLIBTypeError(f"history[{k}] answer must be a str or an Answer, got {type(answer).__name__}")
        if not raw.strip():
            raise MedPLIBInputError(f"history[{k}] answer is empty")
        out.append((check_text(question, f"history[{k}] question"), raw))
    return out


def check_image(image: Any) -> Any:
    """A PIL image, a numpy array (HxW, HxWx1/3/4; bool, int or finite float) or a file path; other types and
    unusable arrays are refused here so that decoding never meets them."""
    if isinstance(image, (str, os.PathLike, Image.Image)):
        return image
    if isinstance(image, (bytes, bytearray)):
        raise MedPLIBTypeError("image must be a PIL image, a numpy array or a file path; for raw file bytes use "
                               "PIL.Image.open(io.BytesIO(data))")
    if not isinstance(image, np.ndarray) and not hasattr(image, "__array__"):
        raise MedPLIBTypeError(f"image must be a PIL image, a numpy array or a file path, got {type(image).__name__}")
    arr = np.asarray(image)
    if arr.dtype.kind not in "biuf":
        raise MedPLIBTypeError(f"image must be a boolean, integer or float array, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise MedPLIBInputError(f"image must be an HxW or HxWxC array (C = 1, 2, 3 or 4), got shape {arr.shape}")
    if 0 in arr.shape:
        raise MedPLIBInputError(f"image is empty (shape {arr.shape})")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise MedPLIBInputError("image contains NaN or infinite values")
    return arr


def check_logits_processor(processors: Any) -> Any:
    """None or a list of callables `(input_ids, scores) -> scores` (e.g. a `LogitsProcessorList`)."""
    if processors is None:
        return None
    if not isinstance(processors, Sequence) or isinstance(processors, (str, bytes)) or \
            not all(callable(p) for p in processors):
        raise MedPLIBTypeError("logits_processor must be a list of callables (a transformers LogitsProcessorList)")
    return processors
