"""A thread-based micro-batcher: requests that arrive within a short window are generated as one batch.

Callers block in `run` (their streamers receive their own tokens as the batch decodes); one worker thread
collects up to `max_batch` requests with the same generation settings, waiting at most `wait_s` after the first,
and runs them through `generate_grounded_batch`: every row with a session reuses its conversation's KV cache, and
the prefix all rows share (the system prompt; the same image and history) is prefilled once for the batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from ..generation.grounded import GroundedRequest, generate_grounded_batch
from ..generation.prefix_cache import PrefixCache

_PLAIN = (int, float, str, bool, type(None))


def settings_key(gen: dict[str, Any]) -> Hashable:
    """Requests batch together only with equal generation settings (objects such as logits processors: the same
    object)."""
    return tuple(sorted((k, v if isinstance(v, _PLAIN) else ("id", id(v))) for k, v in gen.items()))


@dataclass
class _Job:
    request: GroundedRequest
    gen: dict
    key: Hashable
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class MicroBatcher:
    """Put in front of one model; `run(request, **generate_kwargs)` is safe to call from many threads."""

    def __init__(self, model, max_batch: int = 8, wait_s: float = 0.01, prefix_cache: PrefixCache | None = None,
                 lock: threading.Lock | None = None):
        if max_batch < 1 or wait_s < 0:
            raise ValueError(f"max_batch must be >= 1 and wait_s >= 0, got {max_batch}, {wait_s}")
        self.model, self.max_batch, self.wait_s = model, max_batch, wait_s
        self.prefix_cache = prefix_cache
        self.lock = lock or threading.Lock()  # shared with direct (unbatched) calls on the same model
        self.batch_sizes: list[int] = []  # history of batch sizes (for benches / tests)
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._held: deque[_Job] = deque()  # collected but with other settings: they lead the next batch
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="medplib-batcher", daemon=True)
        self._thread.start()

    def run(self, request: GroundedRequest, **generate_kwargs):
        """Block until this request's `GroundedGeneration` is ready (its streamer fills meanwhile)."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        job = _Job(request, generate_kwargs, settings_key(generate_kwargs))
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=60)

    # ---- worker ---------------------------------------------------------------------------------------------
    def _next(self, timeout: float | None) -> _Job | None:
        if self._held:
            return self._held.popleft()
        return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()

    def _collect(self, first: _Job) -> list[_Job]:
        batch, others = [first], []
        deadline = time.monotonic() + self.wait_s
        while len(batch) < self.max_batch:
            try:
                job = self._next(deadline - time.monotonic())
            except queue.Empty:
                break
            if job is None:
                self._closed = True
                break
            (batch if job.key == first.key else others).append(job)
        self._held.extend(others)
        return batch

    def _loop(self) -> None:
        while True:
            first = self._next(None)
            if first is None:
                break
            batch = self._collect(first)
            self.batch_sizes.append(len(batch))
            try:
                with self.lock:
                    out = generate_grounded_batch(self.model, [j.request for j in batch], self.prefix_cache,
                                                  **dict(first.gen))
                for job, result in zip(batch, out):
                    job.result = result
            except BaseException as err:  # handed to every caller of the batch
                for job in batch:
                    job.error = err
            for job in batch:
                job.done.set()
            if self._closed and not self._held and self._queue.empty():
                break
