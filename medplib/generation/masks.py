"""One mask per generated <SEG> for every row of a batch at once: the SAM image encoder runs once over the images
that have no embedding yet, the mask decoder once over all rows' <SEG> states (each with its own image)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from transformers import StoppingCriteria


class SegStates(StoppingCriteria):
    """Keeps, per row, the final-norm hidden state [H] that predicted each generated <SEG> - nothing else, so memory
    does not grow with the answer (a hook on the last norm holds only the newest position). Put it before the
    criterion that ends rows: a row's last token may be a <SEG>."""

    def __init__(self, seg_id: int, finished: list):
        self.seg_id, self.finished = seg_id, finished  # finished[b] is not None once row b has ended
        self.last: torch.Tensor | None = None  # [B, H] of the latest forward
        self.states: list[list[torch.Tensor]] = [[] for _ in finished]

    @contextmanager
    def watching(self, model) -> Iterator["SegStates"]:
        def keep(module, inputs, output):
            self.last = output[:, -1].detach().clone()

        handle = model.model.language_model.norm.register_forward_hook(keep)
        try:
            yield self
        finally:
            handle.remove()

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        for b in (input_ids[:, -1] == self.seg_id).nonzero(as_tuple=True)[0].tolist():
            if self.finished[b] is None:
                self.states[b].append(self.last[b])
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    def rows(self) -> list[torch.Tensor]:
        """Per row [n_b, H] (n_b = its <SEG> count)."""
        return [torch.stack(s) if s else self.last.new_zeros(0, self.last.shape[-1]) for s in self.states]


def seg_positions(model, sequences: Sequence[torch.Tensor]) -> list[list[int]]:
    """Per row [1, n] ids -> the indices of its generated <SEG> tokens."""
    seg = model.config.seg_token_id
    return [(seq[0] == seg).nonzero(as_tuple=True)[0].tolist() for seq in sequences]


def sam_embeddings(model, requests: Sequence, device: torch.device) -> list[torch.Tensor]:
    """Each request's SAM image embedding [1, C, g, g]: given, from its callable, or encoded here - one encoder
    call for all requests that need one (an image shared by several requests is encoded once)."""
    out: list[torch.Tensor | None] = []
    todo: dict[int, list[int]] = {}  # id(sam_pixel_values) -> the requests that share that image
    for k, r in enumerate(requests):
        given = r.sam_image_embeddings() if callable(r.sam_image_embeddings) else r.sam_image_embeddings
        if given is None and r.sam_pixel_values is None:
            raise ValueError("a <SEG> was generated but no sam_pixel_values / sam_image_embeddings were given")
        out.append(given)
        if given is None:
            todo.setdefault(id(r.sam_pixel_values), []).append(k)
    if todo:
        groups = list(todo.values())
        pixels = torch.cat([requests[g[0]].sam_pixel_values.to(device) for g in groups])
        encoded = model.model.encode_sam(pixels)
        for j, group in enumerate(groups):
            for k in group:
                out[k] = encoded[j : j + 1]
            if requests[group[0]].on_sam_embedding is not None:
                requests[group[0]].on_sam_embedding(out[group[0]])
    return out


def batch_masks(model, requests: Sequence, positions: list[list[int]], states: list[torch.Tensor]
                ) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """states[b] [n_b, H]: the hidden states that predicted row b's <SEG>s -> per row (mask logits [n_b, H0, W0]
    at its original size, IoU predictions [n_b]), None for rows without <SEG>."""
    rows = [b for b, p in enumerate(positions) if p]
    out: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(requests)
    if not rows:
        return out
    for b in rows:
        if requests[b].original_hw is None or requests[b].sam_resized_hw is None:
            raise ValueError("original_hw and sam_resized_hw are needed to decode masks")
    images = sam_embeddings(model, [requests[b] for b in rows], states[rows[0]].device)
    decoded = model.model.decode_masks_rows(
        torch.cat([states[b] for b in rows]), torch.cat(images), [len(positions[b]) for b in rows],
        [(requests[b].sam_resized_hw, requests[b].original_hw) for b in rows])
    for b, result in zip(rows, decoded):
        out[b] = result
    return out
