"""Per-session KV-cache reuse for follow-up questions (the image and earlier turns are prefilled once).

A stored entry is the `DynamicCache` of one conversation plus the input embeddings it was computed from. A new
prompt reuses the longest prefix whose spliced input embeddings (text tokens, image patches, region vectors) are
bitwise equal to the stored ones, so the reuse is correct by construction: another image, other regions, a
re-tokenised answer that differs from the generated ids all simply end the common prefix earlier, and only the
rest is prefilled. Entries are bounded in number and bytes and evicted least recently used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import torch
from transformers.cache_utils import DynamicCache


@dataclass
class PrefixEntry:
    embeds: torch.Tensor  # [N, H] the inputs whose keys / values `cache` holds
    cache: DynamicCache  # N positions

    @property
    def nbytes(self) -> int:
        return cache_bytes(self.cache) + self.embeds.numel() * self.embeds.element_size()


def cache_bytes(cache: DynamicCache) -> int:
    total = 0
    for layer in cache.layers:
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if torch.is_tensor(t):
                total += t.numel() * t.element_size()
    return total


def common_prefix(a: torch.Tensor, b: torch.Tensor) -> int:
    """Number of leading rows of a [N, H] and b [M, H] that are bitwise equal."""
    n = min(a.shape[0], b.shape[0])
    if n == 0:
        return 0
    same = (a[:n] == b[:n].to(a.device, a.dtype)).all(dim=-1)
    differs = (~same).nonzero()
    return n if differs.numel() == 0 else int(differs[0])


class PrefixCache:
    """LRU store of conversation KV caches, one entry per session key.

    `take(session, embeds)` removes the session's entry and returns (cache cropped to the reusable prefix, its
    length); `put` stores it back after the turn. Taking the entry out means a turn that fails midway, or two
    turns of one session running at once, can never read a half-updated cache.
    """

    def __init__(self, max_sessions: int = 16, max_bytes: int = 2 * 2**30):
        if max_sessions < 1 or max_bytes < 1:
            raise ValueError(f"max_sessions and max_bytes must be >= 1, got {max_sessions}, {max_bytes}")
        self.max_sessions, self.max_bytes = max_sessions, max_bytes
        self._entries: OrderedDict[Hashable, PrefixEntry] = OrderedDict()
        self._lock = threading.Lock()
        self.last_reused = 0  # positions reused by the latest `take` (for benches and tests)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def take(self, session: Hashable, embeds: torch.Tensor) -> tuple[DynamicCache | None, int]:
        """embeds [N, H] of the new prompt -> (cache holding its first k positions, k), k <= N - 1 (the last
        prompt position is always computed, its logits give the first answer token); (None, 0) if nothing fits."""
        with self._lock:
            entry = self._entries.pop(session, None)
        self.last_reused = 0
        if entry is None:
            return None, 0
        k = min(common_prefix(entry.embeds, embeds), embeds.shape[0] - 1)
        if k <= 0:
            return None, 0
        self.last_reused = k
        extra = entry.cache.get_seq_length() - k
        if extra:
            entry.cache.crop(-extra)
        return entry.cache, k

    def put(self, session: Hashable, embeds: torch.Tensor, cache: DynamicCache) -> None:
        """Store `cache` for `session`; embeds [N, H] must be the inputs of its N positions."""
        if cache.get_seq_length() != embeds.shape[0]:
            return  # not a cache of these inputs (e.g. cut short inside a step): keep nothing
        entry = PrefixEntry(embeds.detach(), cache)
        if entry.nbytes > self.max_bytes:
            return
        with self._lock:
            self._entries.pop(session, None)
            self._entries[session] = entry
            while len(self._entries) > self.max_sessions or self.nbytes > self.max_bytes:
                self._entries.popitem(last=False)

    def drop(self, session: Hashable) -> None:
        """Forget a session (it ended)."""
        with self._lock:
            self._entries.pop(session, None)
