"""What `MedPLIB.stream` yields while an answer grows: `Partial` items carrying the cleaned text so far."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass

from transformers.generation.streamers import BaseStreamer

from .processing.tokens import decode_answer


@dataclass(frozen=True)
class Partial:
    """The answer so far, cleaned exactly like the final `Answer.text`."""

    text: str


class AnswerStreamer(BaseStreamer):
    """Receives token ids from `generate` (the prompt first, then one step at a time) and queues the answer
    text so far, decoded with `decode_answer`, whenever it changes; iterate to read it."""

    def __init__(self, tokenizer, timeout: float | None = None):
        self.tokenizer = tokenizer
        self.timeout = timeout
        self.ids: list[int] = []
        self._text = ""
        self._prompt_seen = False
        self._queue: queue.Queue = queue.Queue()

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate() passes the prompt ids first
            self._prompt_seen = True
            return
        self.ids.extend(int(i) for i in value.reshape(-1).tolist())
        text = decode_answer(self.tokenizer, self.ids)
        if text != self._text:
            self._text = text
            self._queue.put(text)

    def end(self) -> None:
        self._queue.put(None)

    def __iter__(self) -> Iterator[Partial]:
        while True:
            text = self._queue.get(timeout=self.timeout)
            if text is None:
                return
            yield Partial(text)
