"""Follow-up turns reuse the conversation's KV cache: same greedy answers (and masks) as a full prefill."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from medplib import MedPLIB
from medplib.generation import PrefixCache
from tests.helpers import tiny_model, tiny_tokenizer

Q1, Q2, Q3 = "What modality is this image?", "Is the region abnormal?", "Segment the left kidney."


def varied(model):
    """Random weights scaled up so that greedy answers vary token to token (an untrained tiny model repeats one)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "language_model" in name and "norm" not in name:
                p.mul_(8)
    return model


@pytest.fixture(scope="module")
def medplib():
    tok = tiny_tokenizer()
    return MedPLIB(varied(tiny_model(tok)), tok)


@pytest.fixture(scope="module")
def image():
    return (np.random.RandomState(0).rand(40, 50, 3) * 255).astype(np.uint8)


class Recorder(LogitsProcessor):
    """Keeps every step's scores; optionally forces <SEG> at the given steps."""

    def __init__(self, seg_id: int | None = None, seg_steps=()):
        self.scores, self.seg_id, self.seg_steps = [], seg_id, set(seg_steps)

    def __call__(self, input_ids, scores):
        self.scores.append(scores.clone())
        if input_ids.shape[1] in self.seg_steps:
            scores = torch.full_like(scores, -1e9)
            scores[:, self.seg_id] = 0
        return scores


def conversation(medplib, encoded, turns, session, regions=(), seg_steps=()):
    """Ask each question of `turns` with the earlier answers as history -> (answers, recorders)."""
    history, answers, recorders = [], [], []
    for q in turns:
        rec = Recorder(medplib.model.config.seg_token_id, seg_steps)
        a = medplib.ask(encoded, q, regions=regions, history=list(history), max_new_tokens=6, session=session,
                        logits_processor=LogitsProcessorList([rec]))
        history.append((q, a.text))
        answers.append(a)
        recorders.append(rec)
    return answers, recorders


def assert_same(with_reuse, without):
    for (a, ra), (b, rb) in zip(zip(*with_reuse), zip(*without)):
        assert a.token_ids == b.token_ids and a.text == b.text
        for x, y in zip(ra.scores, rb.scores):
            torch.testing.assert_close(x, y, atol=1e-4, rtol=1e-4)
        assert len(a.masks) == len(b.masks)
        for m, n in zip(a.masks, b.masks):
            assert (m == n).mean() > 0.999
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


def test_follow_ups_reuse_the_prefix_and_answer_the_same(medplib, image):
    encoded = medplib.encode(image)
    reused = conversation(medplib, encoded, [Q1, Q2, Q3], session="a")
    assert medplib.prefix_cache.last_reused > medplib.model.config.num_image_tokens  # image + turn 1 + turn 2
    assert_same(reused, conversation(medplib, encoded, [Q1, Q2, Q3], session=None))
    assert len(set(tuple(a.token_ids) for a in reused[0])) > 1  # the answers differ, so the comparison bites


def test_regions_and_seg_masks_under_reuse(medplib, image):
    encoded = medplib.encode(image)
    regions = [{"box": (5, 5, 30, 25)}]
    turns = ["What is in <region1>?", "Is <region1> abnormal?", Q3]
    reused = conversation(medplib, encoded, turns, session="r", regions=regions, seg_steps=(1, 3))
    assert medplib.prefix_cache.last_reused > 0
    assert all(len(a.masks) == 2 for a in reused[0])
    assert_same(reused, conversation(medplib, encoded, turns, session=None, regions=regions, seg_steps=(1, 3)))


def test_other_regions_or_image_end_the_reused_prefix(medplib, image):
    encoded = medplib.encode(image)
    q = "What is in <region1>?"
    medplib.ask(encoded, q, regions=[{"box": (5, 5, 30, 25)}], max_new_tokens=4, session="x")
    full = medplib.prefix_cache.last_reused
    history = [(q, "The liver.")]  # not the generated ids: the reuse ends where the texts differ
    moved = medplib.ask(encoded, Q2, regions=[{"box": (20, 10, 45, 35)}], history=history, max_new_tokens=4,
                        session="x")
    ids = medplib._generation_inputs(encoded, q, [{"box": (5, 5, 30, 25)}], ())[1]["input_ids"][0]
    region_at = int((ids < 0).nonzero()[-1]) + medplib.model.config.num_image_tokens - 1  # expanded position
    assert full == 0 and 0 < medplib.prefix_cache.last_reused <= region_at  # stops at the region vector
    alone = medplib.ask(encoded, Q2, regions=[{"box": (20, 10, 45, 35)}], history=history, max_new_tokens=4)
    assert moved.token_ids == alone.token_ids
    other = medplib.encode(255 - image)
    medplib.ask(other, Q2, regions=[{"box": (20, 10, 45, 35)}], history=history, max_new_tokens=4, session="x")
    image_at = int((medplib._generation_inputs(encoded, Q2, [], ())[1]["input_ids"][0] < 0).nonzero()[0])
    assert 0 < medplib.prefix_cache.last_reused <= image_at  # only the system text before the image is reused


def test_cache_is_bounded_and_lru():
    cache = PrefixCache(max_sessions=2)
    from transformers.cache_utils import DynamicCache

    def entry(n):
        c = DynamicCache()
        c.update(torch.zeros(1, 1, n, 4), torch.zeros(1, 1, n, 4), 0)
        return torch.randn(n, 4), c

    for s in ("a", "b"):
        cache.put(s, *entry(5))
    emb, c = entry(5)
    cache.put("c", emb, c)
    assert len(cache) == 2 and cache.take("a", emb) == (None, 0)
    assert cache.take("c", emb)[1] == 4  # all but the last prompt position
    small = PrefixCache(max_bytes=cache_bytes_of(entry(5)) + 1)
    small.put("a", *entry(5))
    small.put("b", *entry(5))
    assert len(small) == 1 and small.take("a", torch.zeros(5, 4)) == (None, 0)
    with pytest.raises(ValueError):
        PrefixCache(max_sessions=0)


def cache_bytes_of(entry) -> int:
    from medplib.generation.prefix_cache import PrefixEntry

    return PrefixEntry(*entry).nbytes
