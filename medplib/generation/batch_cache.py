"""The KV cache of a batch whose rows start from different reused prefixes, and each row's own cache back out.

Row b of a batch is laid out as [its reused prefix: k_b positions, zero pads up to K][zero pads up to T - t_b, its
t_b new prompt positions], K = max k_b, T = max t_b. Pads sit under a 0 attention mask, and `generate` derives the
position ids from the mask's running count, so every row sees the keys and positions it would see alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicCache


@dataclass
class RowPrefix:
    """What a row reuses: `length` leading positions of `cache` (None with length 0: nothing)."""

    cache: DynamicCache | None = None
    length: int = 0


@dataclass
class BatchLayout:
    cache: DynamicCache  # K positions per row (an empty cache when no row reuses anything)
    inputs_embeds: torch.Tensor  # [B, K + T, H]; the first K positions are never read (they are in the cache)
    attention_mask: torch.Tensor  # [B, K + T] long
    past: int  # K
    new: list[int]  # t_b per row


def lay_out(embeds: Sequence[torch.Tensor], prefixes: Sequence[RowPrefix], config) -> BatchLayout:
    """Rows embeds [N_b, H] with their reused prefixes -> the batch's cache, inputs and mask."""
    past = max(p.length for p in prefixes)
    new = [e.shape[0] - p.length for e, p in zip(embeds, prefixes)]
    total = max(new)
    e0 = embeds[0]
    rows, masks = [], []
    for e, p, t in zip(embeds, prefixes, new):
        rows.append(F.pad(e[p.length:], (0, 0, past + total - t, 0)))
        mask = torch.zeros(past + total, dtype=torch.long, device=e0.device)
        mask[: p.length] = 1
        mask[past + total - t:] = 1
        masks.append(mask)
    return BatchLayout(stack_prefixes(prefixes, past, config), torch.stack(rows), torch.stack(masks), past, new)


def stack_prefixes(prefixes: Sequence[RowPrefix], past: int, config) -> DynamicCache:
    """One cache [B, heads, past, d] per layer: each row's prefix, zero-padded at its end."""
    if len(prefixes) == 1 and prefixes[0].cache is not None and prefixes[0].cache.get_seq_length() == past:
        return prefixes[0].cache  # a batch of one: its own cache as is
    out = DynamicCache(config=config)
    ref = next((p.cache for p in prefixes if p.length), None)
    if ref is None:
        return out
    for i, layer in enumerate(ref.layers):
        keys, values = [], []
        for p in prefixes:
            own = p.cache.layers[i] if p.length else layer
            pad = (0, 0, 0, past - p.length)
            keys.append(F.pad(own.keys[:, :, : p.length], pad))
            values.append(F.pad(own.values[:, :, : p.length], pad))
        out.update(torch.cat(keys), torch.cat(values), i)
    return out


def row_cache(layout: BatchLayout, row: int, prefix: int, fed: int, config) -> DynamicCache:
    """Row `row`'s own cache out of the batch's after generation: its `prefix` reused positions, its new prompt
    positions and its first `fed` generated tokens, contiguous -> [1, heads, prefix + t_b + fed, d] per layer."""
    cache = layout.cache
    if cache.layers[0].keys.shape[0] == 1 and prefix == layout.past:
        extra = cache.get_seq_length() - (layout.past + layout.new[row] + fed)
        if extra:
            cache.crop(-extra)
        return cache
    start = layout.inputs_embeds.shape[1] - layout.new[row]  # where the row's new prompt positions begin
    device = layout.inputs_embeds.device
    keep = torch.cat([torch.arange(prefix, device=device),
                      torch.arange(start, layout.inputs_embeds.shape[1] + fed, device=device)])
    out = DynamicCache(config=config)
    for i, layer in enumerate(cache.layers):
        out.update(layer.keys[row : row + 1, :, keep], layer.values[row : row + 1, :, keep], i)
    return out
