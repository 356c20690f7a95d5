"""Length limits of one request: question, conversation, regions, answer length, and the model's context.

The checks run before any tokenizing or model work, so an over-long request fails in milliseconds
instead of holding the model (a 100,000-character question used to take the only slot for 20-50 s
and then answer with an empty string). Messages name the argument and what is allowed.

`fit_context` keeps the whole prompt (image tokens + conversation + question) plus the answer
inside the model's context (`max_position_embeddings`, 512 for the built-in model): the oldest
turns of the conversation are left out first; a question that does not fit on its own is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

try:  # the library's input error type (medplib/errors.py); a plain ValueError before it exists
    from medplib.errors import MedPLIBInputError as _InputError
except ImportError:  # pragma: no cover - depends on the merge order
    _InputError = ValueError

MAX_QUESTION_CHARS = 2000
MAX_HISTORY_TURNS = 50
MAX_HISTORY_CHARS = 20000
MAX_REGIONS = 8
MAX_NEW_TOKENS = 1024
MIN_ANSWER_TOKENS = 8  # room that must be left for the answer after the prompt


class LimitError(_InputError):
    """A request over one of the limits above (a ValueError: bad user input)."""


def check_request(question: str, n_regions: int, history: Sequence[tuple[str, str]], gen: dict) -> None:
    """Cheap checks on sizes, before any tokenizing. Raises `LimitError`."""
    if len(question) > MAX_QUESTION_CHARS:
        raise LimitError(f"question: {len(question):,} characters is too long; at most {MAX_QUESTION_CHARS:,} "
                         "characters are allowed")
    if n_regions > MAX_REGIONS:
        raise LimitError(f"regions: {n_regions} regions given; at most {MAX_REGIONS} per question")
    if len(history) > MAX_HISTORY_TURNS:
        raise LimitError(f"history: {len(history)} earlier turns given; at most {MAX_HISTORY_TURNS} are allowed")
    chars = sum(len(str(q)) + len(str(a)) for q, a in history)
    if chars > MAX_HISTORY_CHARS:
        raise LimitError(f"history: the conversation has {chars:,} characters; at most {MAX_HISTORY_CHARS:,} "
                         "are allowed (start a new conversation)")
    n = gen.get("max_new_tokens")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_NEW_TOKENS):
        raise LimitError(f"max_new_tokens: expected a whole number from 1 to {MAX_NEW_TOKENS}, got {n!r}")


def fit_context(build: Callable[[Sequence[tuple[str, str]]], dict], history: Sequence[tuple[str, str]],
                gen: dict, context: int, image_tokens: int) -> tuple[dict, int]:
    """The processor batch of the longest suffix of ``history`` that fits, and how many turns were left out.

    ``build(history)`` returns the processor's batch (``input_ids`` [1, L] with one image placeholder,
    which the model expands to ``image_tokens`` positions). ``gen["max_new_tokens"]`` is lowered to
    the room left in ``context`` when the answer would not fit otherwise."""
    history = list(history)
    dropped = 0
    while True:
        batch = build(history)
        used = batch["input_ids"].shape[1] - 1 + image_tokens
        if used + MIN_ANSWER_TOKENS <= context:
            break
        if not history:
            raise LimitError(f"question: with the image it takes {used} tokens, and this model reads at most "
                             f"{context} tokens (including the answer); please shorten the question")
        history.pop(0)
        dropped += 1
    gen["max_new_tokens"] = min(int(gen.get("max_new_tokens") or 256), context - used)
    return batch, dropped


def context_length(config: Any) -> int | None:
    """The language model's context (`max_position_embeddings`), None when unknown."""
    text = getattr(config, "text_config", None)
    n = getattr(text, "max_position_embeddings", None)
    return int(n) if n else None
