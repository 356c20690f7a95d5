"""Grounded generation for a batch of prompts: left padding, per-row stopping and streaming, one mask per <SEG>
per row, and (for a batch of one) the reuse of a conversation's KV cache.

Each row is spliced alone (`prepare_multimodal_inputs`), then the rows are left-padded with zero embeddings and a
0 attention mask; `generate` derives per-row position ids from that mask, so a row sees the positions it would see
alone. Rows stop on their own EOS, `stop_event` or `max_new_tokens`; finished rows are fed pad ids (masked out of
every other row's attention) until the last row ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.cache_utils import DynamicCache
from transformers.generation.streamers import BaseStreamer

from .prefix_cache import PrefixCache


@dataclass
class GroundedRequest:
    """One prompt of a batch. input_ids [1, T] compressed ids (one IMAGE placeholder, REGION placeholders);
    region_masks [n, g, g] in prompt order; sam_image_embeddings [1, C, g, g] or a callable computing it lazily."""

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


def left_pad(embeds: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows [N_i, H] -> (inputs_embeds [B, L, H] with zero rows in front, attention_mask [B, L] long)."""
    length = max(e.shape[0] for e in embeds)
    padded = torch.stack([F.pad(e, (0, 0, length - e.shape[0], 0)) for e in embeds])
    mask = torch.stack([torch.arange(length, device=e.device) >= length - e.shape[0] for e in embeds]).long()
    return padded, mask


@torch.no_grad()
def generate_grounded_batch(model, requests: Sequence[GroundedRequest], prefix_cache: PrefixCache | None = None,
                            **generate_kwargs) -> list:
    """Answer each request (greedy unless do_sample) and decode its masks -> one `GroundedGeneration` per request,
    its `sequences` [1, n] the row's own new ids (up to and including its EOS)."""
    from ..model.modeling import GroundedGeneration

    if not requests:
        return []
    embeds = []
    for k, r in enumerate(requests):
        if r.input_ids.dim() != 2 or r.input_ids.shape[0] != 1:
            raise ValueError(f"request {k + 1}: input_ids must be [1, T], got {list(r.input_ids.shape)}")
        regions = [r.region_masks] if r.region_masks is not None else None
        mm = model.model.prepare_multimodal_inputs(r.input_ids, None, None, r.pixel_values, r.image_features, regions)
        embeds.append(mm.inputs_embeds[0])
    text = model.config.text_config
    past, reused = None, 0
    session = requests[0].session if len(requests) == 1 and prefix_cache is not None else None
    if session is not None:
        past, reused = prefix_cache.take(session, embeds[0])
        past = past if past is not None else DynamicCache(config=text)
    inputs_embeds, attention_mask = left_pad(embeds)
    max_new = int(generate_kwargs.pop("max_new_tokens", 512))
    state = RowState([r.max_new_tokens or max_new for r in requests], [r.stop_event for r in requests],
                     text.eos_token_id)
    criteria = StoppingCriteriaList([*generate_kwargs.pop("stopping_criteria", []), RowStops(state, 0)])
    streamers = [r.streamer for r in requests]
    given = generate_kwargs.pop("streamer", None)
    if len(requests) == 1:  # one row: its own streamer as is (it also sees the empty prompt put)
        streamer = streamers[0] if streamers[0] is not None else given
    else:
        streamer = RowStreamer(streamers, state) if any(streamers) else None
    generate_kwargs.setdefault("do_sample", False)
    with model.capture_last_hidden() as captured:
        sequences = model.generate(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, past_key_values=past, use_cache=True,
            pad_token_id=text.pad_token_id, eos_token_id=text.eos_token_id, max_new_tokens=max(state.limits),
            stopping_criteria=criteria, streamer=streamer, **generate_kwargs,
        )
    hidden = torch.cat(captured, dim=1)  # [B, L - reused + new - 1, H]
    offset = inputs_embeds.shape[1] - 1 - reused  # generated token i was predicted by hidden[:, offset + i]
    out = []
    for b, r in enumerate(requests):
        n = state.length[b] if state.length[b] is not None else sequences.shape[1]
        seq = sequences[b : b + 1, :n]
        out.append(_row_masks(model, r, seq, hidden[b], offset, GroundedGeneration))
    if session is not None:
        seq = sequences[0]
        fed = torch.cat([embeds[0], model.model.embed_text(seq[: seq.shape[0] - 1][None])[0].to(embeds[0].dtype)])
        prefix_cache.put(session, fed, past)
    return out


def _row_masks(model, r: GroundedRequest, seq: torch.Tensor, hidden: torch.Tensor, offset: int, result_cls):
    """One row's GroundedGeneration: a mask per generated <SEG>, from the state that predicted it."""
    cfg = model.config
    seg_positions = (seq[0] == cfg.seg_token_id).nonzero(as_tuple=True)[0].tolist()
    empty = torch.zeros(0, *(r.original_hw or (0, 0)), device=hidden.device)
    if not seg_positions:
        return result_cls(seq, [], empty, empty.bool(), torch.zeros(0))
    if r.original_hw is None or r.sam_resized_hw is None:
        raise ValueError("original_hw and sam_resized_hw are needed to decode masks")
    sam = r.sam_image_embeddings() if callable(r.sam_image_embeddings) else r.sam_image_embeddings
    if sam is None:
        if r.sam_pixel_values is None:
            raise ValueError("a <SEG> was generated but no sam_pixel_values / sam_image_embeddings were given")
        sam = model.model.encode_sam(r.sam_pixel_values)
    states = hidden[[offset + i for i in seg_positions]]
    logits, scores = model.model.decode_masks(states, sam, r.sam_resized_hw, r.original_hw)
    masks = logits.sigmoid() > cfg.mask_threshold
    return result_cls(seq, seg_positions, logits.float(), masks, scores.float())
