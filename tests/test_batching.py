"""Batched grounded generation (left padding) and the micro-batcher: every row answers as it would alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from medplib import MedPLIB
from medplib.generation import GroundedRequest, generate_grounded_batch
from tests.helpers import tiny_model, tiny_tokenizer
from tests.test_prefix_reuse import varied

QUESTIONS = ["What modality is this image?", "Is the region abnormal? Yes or no.", "Segment the left kidney.",
             "What is in <region1>?"]


@pytest.fixture(scope="module")
def medplib():
    tok = tiny_tokenizer()
    return MedPLIB(varied(tiny_model(tok, seed=3)), tok)


@pytest.fixture(scope="module")
def encoded(medplib):
    return [medplib.encode((np.random.RandomState(s).rand(40, 50, 3) * 255).astype(np.uint8)) for s in (0, 1)]


class RowSeg(LogitsProcessor):
    """Forces <SEG> for row `row` at the given new-token steps (per row, so rows differ)."""

    def __init__(self, seg_id: int, plan: dict[int, set[int]]):
        self.seg_id, self.plan = seg_id, plan

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1]
        for row, steps in self.plan.items():
            if row < scores.shape[0] and step in steps:
                scores[row] = -1e9
                scores[row, self.seg_id] = 0
        return scores


def requests(medplib, encoded, limits=(None,) * 4):
    out = []
    for k, q in enumerate(QUESTIONS):
        enc = encoded[k % 2]
        regions = [{"box": (5, 5, 30, 25)}] if "<region1>" in q else ()
        batch = medplib._generation_inputs(enc, q, regions, ())[1]
        out.append(GroundedRequest(batch["input_ids"], image_features=enc.image_features,
                                   region_masks=batch["region_masks"] or None,
                                   sam_image_embeddings=lambda e=enc: medplib._sam_embedding(e),
                                   sam_resized_hw=enc.prepared.sam_resized_hw, original_hw=enc.size,
                                   max_new_tokens=limits[k]))
    return out


def test_rows_answer_as_alone_with_masks_and_own_limits(medplib, encoded):
    reqs = requests(medplib, encoded, limits=(10, 4, 10, 7))
    lengths = {r.input_ids.shape[1] for r in reqs}
    assert len(lengths) > 1  # different prompt lengths: real left padding
    seg = medplib.model.config.seg_token_id
    plan = {2: {1, 5}, 3: {2}}
    batch = generate_grounded_batch(medplib.model, reqs, max_new_tokens=10,
                                    logits_processor=LogitsProcessorList([RowSeg(seg, plan)]))
    for k, (r, got) in enumerate(zip(reqs, batch)):
        alone = generate_grounded_batch(medplib.model, [r], max_new_tokens=10,
                                        logits_processor=LogitsProcessorList([RowSeg(seg, {0: plan.get(k, set())})]))[0]
        assert got.sequences.tolist() == alone.sequences.tolist()
        assert got.sequences.shape[1] == r.max_new_tokens or got.sequences[0, -1] == medplib.tokenizer.eos_token_id
        assert got.seg_positions == alone.seg_positions == sorted(plan.get(k, ()))
        torch.testing.assert_close(got.mask_logits, alone.mask_logits, atol=1e-3, rtol=1e-3)
        torch.testing.assert_close(got.scores, alone.scores, atol=1e-4, rtol=1e-4)
    assert len({tuple(g.sequences[0].tolist()) for g in batch}) > 1


def test_batcher_streams_each_request_and_stops_rows_alone(medplib, encoded):
    medplib.enable_batching(max_batch=4, wait_ms=3000)  # the batch closes as soon as 4 requests are in
    try:
        alone = [medplib.model.generate_grounded(r.input_ids, image_features=r.image_features,
                                                 region_masks=r.region_masks, max_new_tokens=8).sequences[0].tolist()
                 for r in requests(medplib, encoded)]
        stop = threading.Event()
        stop.set()  # request 2 is cancelled before it starts: it ends after one token, the others go on
        results, streamed = [None] * 4, [[] for _ in range(4)]

        def ask(k):
            regions = [{"box": (5, 5, 30, 25)}] if "<region1>" in QUESTIONS[k] else ()
            for item in medplib.stream(encoded[k % 2], QUESTIONS[k], regions=regions, max_new_tokens=8,
                                       stop_event=stop if k == 1 else None):
                (streamed[k].append(item) if isinstance(item, str) else results.__setitem__(k, item))

        threads = [threading.Thread(target=ask, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert medplib.batcher.batch_sizes[-1] == 4
        eos = medplib.tokenizer.eos_token_id
        for k, answer in enumerate(results):
            own = alone[k][: alone[k].index(eos)] if eos in alone[k] else alone[k]
            assert answer.token_ids == (own[:1] if k == 1 else own)
            if streamed[k]:  # the stream shows the same text (the final Answer's is cleaned of spacing)
                assert "".join(streamed[k][-1].split()) == "".join(answer.text.split())
        assert len(results[1].token_ids) <= 1 < len(results[0].token_ids)
    finally:
        medplib.enable_batching(max_batch=1)
    assert medplib.batcher is None


def test_batcher_rejects_bad_settings(medplib):
    from medplib.serving import MicroBatcher

    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(medplib.model, max_batch=0)
