"""Grounded generation for a batch of prompts: left padding, per-row stopping and streaming, one mask per <SEG>
per row, and the reuse of KV caches - each conversation's own (`PrefixCache`) and, within a batch, the prefix all
its rows share (a system prompt; the same image and history).

Each row is spliced alone (`prepare_multimodal_inputs`); a row's reused prefix comes from its session's cache or
from one prefill of the batch's common prefix, then the rows are laid out with zero pads and a 0 attention mask
(`batch_cache`); `generate` derives per-row position ids from that mask, so a row sees the positions it would see
alone. Rows stop on their own EOS, `stop_event` or `max_new_tokens`; finished rows are fed pad ids (a row only
attends to itself) until the last row ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.cache_utils import DynamicCache
from transformers.generation.streamers import BaseStreamer

from .batch_cache import RowPrefix, lay_out, row_cache
from .masks import SegStates, batch_masks, seg_positions
from .prefix_cache import PrefixCache, common_prefix


@dataclass
class GroundedRequest:
    """One prompt of a batch. input_ids [1, T] compressed ids (one IMAGE placeholder, REGION placeholders);
    region_masks [n, g, g] in prompt order; sam_image_embeddings [1, C, g, g] or a callable computing it lazily;
    without either, sam_pixel_values [1, 3, S, S] are encoded when a <SEG> is generated (with the batch's other
    such images) and the embedding is handed to on_sam_embedding (e.g. to cache it with the image)."""

    input_ids: torch.LongTensor
    image_features: tuple[torch.Tensor, torch.Tensor] | None = None
    pixel_values: torch.Tensor | None = None
    region_masks: torch.Tensor | list | None = None
    sam_pixel_values: torch.Tensor | None = None
    sam_image_embeddings: torch.Tensor | Callable[[], torch.Tensor] | None = None
    sam_resized_hw: tuple[int, int] | None = None
    original_hw: tuple[int, int] | None = None
    streamer: BaseStreamer | None = None
    stop_event: threading.Event | None = None
    max_new_tokens: int | None = None  # None: the batch's max_new_tokens
    session: Hashable | None = None  # key of this conversation's KV cache in a PrefixCache
    on_sam_embedding: Callable[[torch.Tensor], None] | None = None


@dataclass
class RowState:
    """Shared by the stopping criterion and the streamer: when each row ended (its own new-token count)."""

    limits: list[int]
    events: list[threading.Event | None]
    eos: int
    length: list[int | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.length = [None] * len(self.limits)


class RowStops(StoppingCriteria):
    """Per row: stop on EOS, on its stop_event, or at its own max_new_tokens."""

    def __init__(self, state: RowState, prompt_len: int):
        self.state, self.prompt_len = state, prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        n = input_ids.shape[1] - self.prompt_len  # new tokens so far (inputs_embeds prompts: prompt_len 0)
        last = input_ids[:, -1].tolist()
        s = self.state
        for b in range(len(s.limits)):
            if s.length[b] is None and (last[b] == s.eos or n >= s.limits[b] or (s.events[b] is not None and s.events[b].is_set())):
                s.length[b] = n
        return torch.tensor([x is not None for x in s.length], dtype=torch.bool, device=input_ids.device)


class RowStreamer(BaseStreamer):
    """Forwards each row's tokens to that row's streamer until the row has ended."""

    def __init__(self, streamers: Sequence[BaseStreamer | None], state: RowState):
        self.streamers, self.state = list(streamers), state

    def put(self, value: torch.Tensor) -> None:
        value = value if value.dim() == 2 else value[:, None]
        for b, s in enumerate(self.streamers):
            if s is not None and self.state.length[b] is None:
                s.put(value[b])

    def end(self) -> None:
        for s in self.streamers:
            if s is not None:
                s.end()


# A common prefix shorter than this is prefilled with each row (a separate forward costs more than it saves).
MIN_SHARED_PREFIX = 8


def shared_prefix(model, embeds: Sequence[torch.Tensor], prefixes: list[RowPrefix]) -> list[RowPrefix]:
    """Rows whose own reusable prefix is shorter than the prefix common to every row of the batch start from one
    prefill of that common prefix instead of each computing it (keys / values of a position depend only on the
    positions before it, so the result is the row's own)."""
    if len(embeds) < 2:
        return prefixes
    common = min(e.shape[0] for e in embeds) - 1  # each row's last prompt position is computed with the row
    for e in embeds[1:]:
        common = min(common, common_prefix(embeds[0], e))
    takers = [b for b, p in enumerate(prefixes) if p.length < common]
    if common < MIN_SHARED_PREFIX or len(takers) < 2:
        return prefixes
    cache = DynamicCache(config=model.config.text_config)
    model(inputs_embeds=embeds[0][None, :common], past_key_values=cache, use_cache=True, logits_to_keep=1)
    shared = RowPrefix(cache, common)
    return [shared if b in takers else p for b, p in enumerate(prefixes)]


def _splice(model, requests: Sequence[GroundedRequest]) -> list[torch.Tensor]:
    """Each request's input embeddings [N_b, H] (image patches and region vectors spliced in)."""
    embeds = []
    for k, r in enumerate(requests):
        if r.input_ids.dim() != 2 or r.input_ids.shape[0] != 1:
            raise ValueError(f"request {k + 1}: input_ids must be [1, T], got {list(r.input_ids.shape)}")
        regions = [r.region_masks] if r.region_masks is not None else None
        mm = model.model.prepare_multimodal_inputs(r.input_ids, None, None, r.pixel_values, r.image_features, regions)
        embeds.append(mm.inputs_embeds[0])
    return embeds


@torch.no_grad()
def generate_grounded_batch(model, requests: Sequence[GroundedRequest], prefix_cache: PrefixCache | None = None,
                            **generate_kwargs) -> list:
    """Answer each request (greedy unless do_sample) and decode its masks -> one `GroundedGeneration` per request,
    its `sequences` [1, n] the row's own new ids (up to and including its EOS). With a `prefix_cache`, rows with a
    `session` reuse that conversation's cache and leave theirs for its next turn."""
    from ..model.modeling import GroundedGeneration

    if not requests:
        return []
    embeds = _splice(model, requests)
    text = model.config.text_config
    keep = prefix_cache is not None
    prefixes = [RowPrefix(*prefix_cache.take(r.session, e)) if keep and r.session is not None else RowPrefix()
                for r, e in zip(requests, embeds)]
    layout = lay_out(embeds, shared_prefix(model, embeds, prefixes), text)
    max_new = int(generate_kwargs.pop("max_new_tokens", 512))
    state = RowState([r.max_new_tokens or max_new for r in requests], [r.stop_event for r in requests],
                     text.eos_token_id)
    segs = SegStates(model.config.seg_token_id, state.length)
    criteria = StoppingCriteriaList([*generate_kwargs.pop("stopping_criteria", []), segs, RowStops(state, 0)])
    streamers = [r.streamer for r in requests]
    given = generate_kwargs.pop("streamer", None)
    if len(requests) == 1:  # one row: its own streamer as is (it also sees the empty prompt put)
        streamer = streamers[0] if streamers[0] is not None else given
    else:
        streamer = RowStreamer(streamers, state) if any(streamers) else None
    generate_kwargs.setdefault("do_sample", False)
    with segs.watching(model):
        sequences = model.generate(
            inputs_embeds=layout.inputs_embeds, attention_mask=layout.attention_mask, past_key_values=layout.cache,
            use_cache=True, pad_token_id=text.pad_token_id, eos_token_id=text.eos_token_id,
            max_new_tokens=max(state.limits), stopping_criteria=criteria, streamer=streamer, **generate_kwargs,
        )
    seqs = [sequences[b : b + 1, : state.length[b] if state.length[b] is not None else sequences.shape[1]]
            for b in range(len(requests))]
    positions = seg_positions(model, seqs)
    masks = batch_masks(model, requests, positions, segs.rows())
    out = []
    for r, seq, p, m in zip(requests, seqs, positions, masks):
        if m is None:
            empty = torch.zeros(0, *(r.original_hw or (0, 0)), device=seq.device)
            out.append(GroundedGeneration(seq, [], empty, empty.bool(), torch.zeros(0)))
        else:
            logits, scores = m
            out.append(GroundedGeneration(seq, p, logits.float(), logits.sigmoid() > model.config.mask_threshold,
                                          scores.float()))
    if keep:
        _keep_sessions(model, requests, embeds, seqs, layout, prefix_cache)
    return out


def _keep_sessions(model, requests, embeds, seqs, layout, prefix_cache: PrefixCache) -> None:
    """Store each session row's cache (its prompt and answer so far) for its conversation's next turn."""
    for b, r in enumerate(requests):
        if r.session is None:
            continue
        seq = seqs[b][0]
        reused = embeds[b].shape[0] - layout.new[b]
        cache = row_cache(layout, b, reused, seq.shape[0] - 1, model.config.text_config)
        fed = torch.cat([embeds[b], model.model.embed_text(seq[: seq.shape[0] - 1][None])[0].to(embeds[b].dtype)])
        prefix_cache.put(r.session, fed, cache)
