"""Batches reuse what they can: the prefix all rows share is prefilled once, a follow-up question in a batch starts
from its conversation's cache, the SAM encoder runs once for the batch - and every row answers as it would alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList

from medplib import MedPLIB
from medplib.generation import GroundedRequest, PrefixCache, generate_grounded_batch
from medplib.processing.tokens import decode_answer
from tests.helpers import tiny_model, tiny_tokenizer
from tests.test_batching import RowSeg
from tests.test_prefix_reuse import varied


@pytest.fixture(scope="module")
def medplib():
    tok = tiny_tokenizer()
    return MedPLIB(varied(tiny_model(tok, seed=5)), tok)


@pytest.fixture(scope="module")
def images(medplib):
    return [medplib.encode((np.random.RandomState(s).rand(40, 50, 3) * 255).astype(np.uint8)) for s in (0, 1)]


class PrefillShapes:
    """Records the [B, T] of every language-model forward inside the block."""

    def __init__(self, medplib):
        self.lm, self.shapes = medplib.model.model.language_model, []

    def __enter__(self):
        self.handle = self.lm.register_forward_pre_hook(
            lambda m, args, kwargs: self.shapes.append(tuple((args[0] if args else kwargs["inputs_embeds"]).shape[:2])),
            with_kwargs=True)
        return self.shapes

    def __exit__(self, *exc):
        self.handle.remove()


def request(medplib, enc, question, history=(), session=None, regions=(), sam=None):
    batch = medplib._generation_inputs(enc, question, regions, history)[1]
    return GroundedRequest(batch["input_ids"], image_features=enc.image_features,
                           region_masks=batch["region_masks"] or None, sam_pixel_values=enc.prepared.sam_pixel_values,
                           sam_image_embeddings=sam, sam_resized_hw=enc.prepared.sam_resized_hw, original_hw=enc.size,
                           session=session)


def alone(medplib, r, **kw):
    return generate_grounded_batch(medplib.model, [r], **kw)[0]


def test_rows_on_one_image_prefill_their_common_prefix_once(medplib, images):
    questions = ["What modality is this image?", "Is there an abnormality?", "Segment the liver."]
    reqs = [request(medplib, images[0], q) for q in questions]
    lengths = [r.input_ids.shape[1] - 1 + medplib.model.config.num_image_tokens for r in reqs]
    with PrefillShapes(medplib) as shapes:
        batch = generate_grounded_batch(medplib.model, reqs, max_new_tokens=6)
    shared, prefill = shapes[0], shapes[1]
    assert shared[0] == 1 and shared[1] > medplib.model.config.num_image_tokens  # system text + image, once
    assert prefill[0] == 3 and prefill[1] == max(lengths) - shared[1]  # each row prefills only its question
    for r, got in zip(reqs, batch):
        assert got.sequences.tolist() == alone(medplib, r, max_new_tokens=6).sequences.tolist()
    assert len({tuple(g.sequences[0].tolist()) for g in batch}) > 1


def test_follow_ups_in_a_batch_reuse_their_conversations(medplib, images):
    cache = PrefixCache()
    q1 = ["What modality is this image?", "What is in <region1>?"]
    regions = [(), [{"box": (5, 5, 30, 25)}]]
    first = [request(medplib, images[k], q1[k], session=k, regions=regions[k]) for k in range(2)]
    answers = generate_grounded_batch(medplib.model, first, cache, max_new_tokens=5)
    assert len(cache) == 2
    history = [[(q1[k], decode_answer(medplib.tokenizer, answers[k].sequences[0].tolist()))] for k in range(2)]
    follow = [request(medplib, images[k], "Is it abnormal?", history=history[k], session=k, regions=regions[k])
              for k in range(2)]
    with PrefillShapes(medplib) as shapes:
        batch = generate_grounded_batch(medplib.model, follow, cache, max_new_tokens=5)
    full = [r.input_ids.shape[1] - 1 + medplib.model.config.num_image_tokens for r in follow]
    assert shapes[0][0] == 2 and shapes[0][1] < min(full) - medplib.model.config.num_image_tokens  # new tokens only
    assert_alone(medplib, follow, batch)
    # A third turn next to a new conversation: rows with and without a cache in one batch.
    history[0].append(("Is it abnormal?", decode_answer(medplib.tokenizer, batch[0].sequences[0].tolist())))
    mixed = [request(medplib, images[0], "Where is it?", history=history[0], session=0),
             request(medplib, images[1], "Segment the left kidney.", session="new")]
    assert_alone(medplib, mixed, generate_grounded_batch(medplib.model, mixed, cache, max_new_tokens=5))
    assert len(cache) == 3  # every session row keeps its (longer) cache for the next turn


def assert_alone(medplib, reqs, batch):
    """Each row's answer equals a full prefill of its prompt alone, without any cache."""
    for r, got in zip(reqs, batch):
        plain = GroundedRequest(r.input_ids, image_features=r.image_features, region_masks=r.region_masks)
        assert got.sequences.tolist() == alone(medplib, plain, max_new_tokens=5).sequences.tolist()


def test_sam_encoder_runs_once_for_the_batch_and_masks_match(medplib, images):
    fresh = [medplib.encode((np.random.RandomState(s).rand(30, 40, 3) * 255).astype(np.uint8)) for s in (7, 8)]
    reqs = [request(medplib, e, "Segment the liver.") for e in (*fresh, fresh[0])]
    kept: list[torch.Tensor] = []
    reqs[0].on_sam_embedding = kept.append
    seg = medplib.model.config.seg_token_id
    plan = {0: {1}, 1: {2}, 2: {1, 3}}
    calls = []
    handle = medplib.model.model.sam.image_encoder.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        batch = generate_grounded_batch(medplib.model, reqs, max_new_tokens=5,
                                        logits_processor=LogitsProcessorList([RowSeg(seg, plan)]))
    finally:
        handle.remove()
    assert calls == [2]  # two distinct images (row 3 shares row 1's), one encoder call
    assert len(kept) == 1 and kept[0].shape[0] == 1
    for k, (r, got) in enumerate(zip(reqs, batch)):
        one = alone(medplib, r, max_new_tokens=5, logits_processor=LogitsProcessorList([RowSeg(seg, {0: plan[k]})]))
        assert got.seg_positions == one.seg_positions == sorted(plan[k])
        torch.testing.assert_close(got.mask_logits, one.mask_logits, atol=1e-3, rtol=1e-3)
        assert got.masks.shape[-2:] == tuple(r.original_hw)


def test_batcher_follow_ups_answer_as_without_reuse(medplib, images):
    turns = [("What modality is this image?", "Is it abnormal?"), ("Where is the liver?", "And the spleen?")]
    first = [medplib.ask(images[k], turns[k][0], max_new_tokens=5, session=("s", k)) for k in range(2)]
    medplib.enable_batching(max_batch=3, wait_ms=3000)  # the batch closes as soon as 3 requests are in
    try:
        results = [None] * 3

        def ask(k):
            if k < 2:
                results[k] = medplib.ask(images[k], turns[k][1], history=[(turns[k][0], first[k])], max_new_tokens=5,
                                         session=("s", k))
            else:
                results[k] = medplib.ask(images[0], "Segment the liver.", max_new_tokens=5)

        threads = [threading.Thread(target=ask, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert medplib.batcher.batch_sizes[-1] == 3
    finally:
        medplib.enable_batching(max_batch=1)
    expected = [medplib.ask(images[k], turns[k][1], history=[(turns[k][0], first[k])], max_new_tokens=5)
                for k in range(2)] + [medplib.ask(images[0], "Segment the liver.", max_new_tokens=5)]
    assert [r.token_ids for r in results] == [e.token_ids for e in expected]
