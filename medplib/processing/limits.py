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

from ..errors import MedPLIBInputError

MAX_QUESTION_CHARS = 2000
MAX_HISTORY_TURNS = 50
MAX_HISTORY_CHARS = 20000
MAX_REGIONS = 8  # per question, as many as the app lets a user draw
MAX_NEW_TOKENS = 1024
MIN_ANSWER_TOKENS = 8  # room that must be left for the answer after the prompt


class LimitError(MedPLIBInputError):
    """A request over one of the limits above (a ValueError: bad user input)."""


def check_request(question: str, history: Sequence[tuple[str, str]]) -> None:
    """Cheap checks on sizes, before any tokenizing (the region count and `max_new_tokens` are checked with
    the other argument checks, against `MAX_REGIONS` / `MAX_NEW_TOKENS`). Raises `LimitError`."""
    if len(question) > MAX_QUESTION_CHARS:
        raise LimitError(f"question: {len(question):,} characters is too long; at most {MAX_QUESTION_CHARS:,} "
                         "characters are allowed")
    if len(history) > MAX_HISTORY_TURNS:
        raise LimitError(f"history: {len(history)} earlier turns given; at most {MAX_HISTORY_TURNS} are allowed")
    chars = sum(len(str(q)) + len(str(a)) for q, a in history)
    if chars > MAX_HISTORY_CHARS:
        raise LimitError(f"history: the conversation has {chars:,} characters; at most {MAX_HISTORY_CHARS:,} "
                         "are allowed (start a new conversation)")


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
