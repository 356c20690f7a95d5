"""Training inputs: conversations per image, cached encoder outputs, the towers stage's dense targets."""

import numpy as np
import pytest
import torch

from medplib.constants import IGNORE_INDEX
from medplib.synthetic import MODALITIES, generate_case, make_samples
from medplib.processing import MedPLIBProcessor
from medplib.training.data import (FreshWording, cache_tower_outputs, collate, encode_conversation, group_conversations,
                                   image_key, prepare_images)
from medplib.training.towers import N_LOCAL, TARGET_NAMES, TowerPretraining, _bce, collate_towers, dense_targets, tower_items
from medplib.checkpoints.tokenizer import train_bpe_tokenizer
from medplib.training.cli import ALPHABET, corpus_for_tokenizer
from tests.helpers import tiny_model

KINDS = ("vqa", "region", "grounding")


@pytest.fixture(scope="module")
def samples():
    return make_samples(36, seed=0, size=64, per_image=6)


@pytest.fixture(scope="module")
def tokenizer(samples):
    return train_bpe_tokenizer(corpus_for_tokenizer(samples), 400)  # as medplib.train does


@pytest.fixture(scope="module")
def processor(tokenizer):
    return MedPLIBProcessor(tokenizer, clip_image_size=56, patch_size=14, sam_image_size=64, region_grid_mode="cover")


def test_conversations_hold_one_images_questions_in_a_seeded_order(samples):
    convs = group_conversations(samples, ("vqa", "region"), max_turns=3, seed=1)
    wanted = sorted(s.id for s in samples if s.kind in ("vqa", "region"))
    assert sorted(s.id for c in convs for s in c) == wanted  # each sample exactly once
    assert all(1 <= len(c) <= 3 and len({image_key(s) for s in c}) == 1 for c in convs)
    again = group_conversations(samples, ("vqa", "region"), max_turns=3, seed=1)
    assert [[s.id for s in c] for c in again] == [[s.id for s in c] for c in convs]
    assert {c[0].kind for c in convs} == {"vqa", "region"}  # both kinds get to be a first (single-turn-like) turn
    single = group_conversations(samples, ("grounding",), max_turns=1, seed=0)
    assert len(single) == sum(s.kind == "grounding" for s in samples) and all(len(c) == 1 for c in single)
    with pytest.raises(ValueError, match="max_turns"):
        group_conversations(samples, KINDS, max_turns=0, seed=0)


def test_a_conversation_supervises_every_answer_and_keeps_mask_order(samples, processor, tokenizer):
    images = prepare_images(samples, processor)
    assert len(images) == 6
    turns = next(c for c in group_conversations(samples, KINDS, 6, seed=3)
                 if sum(t.kind == "grounding" for t in c) >= 1 and sum(t.kind == "region" for t in c) >= 2)
    conv = encode_conversation(turns, images[image_key(turns[0])], processor)
    assert conv.kinds == tuple(t.kind for t in turns)
    supervised = tokenizer.decode([i for i, l in zip(conv.input_ids.tolist(), conv.labels.tolist()) if l != IGNORE_INDEX])
    position = 0
    for t in turns:  # every answer is a target, in turn order; no question text is
        plain = t.answer.replace("<SEG>", "").split()[0]
        position = supervised.index(plain, position)
    assert "USER" not in supervised and "ASSISTANT" not in supervised
    assert int((conv.labels == tokenizer.eos_token_id).sum()) == len(turns)  # each answer ends in a supervised </s>
    regions = [processor.region_grid(m) for t in turns for m in t.region_masks]
    assert torch.equal(conv.region_masks, torch.stack(regions))
    segs = [m for t in turns for m in t.seg_masks]
    assert conv.seg_masks.shape[0] == len(segs)
    assert all(np.array_equal(conv.seg_masks[k].numpy() > 0, segs[k]) for k in range(len(segs)))
    assert int((conv.input_ids == -300).sum()) == len(regions)


def test_cached_encoder_outputs_give_the_same_loss(samples, processor, tokenizer):
    model = tiny_model(tokenizer).train()
    images = prepare_images(samples, processor)
    convs = [encode_conversation(c, images[image_key(c[0])], processor) for c in group_conversations(samples, KINDS, 6, 0)]
    batch = collate(convs[:3], tokenizer.pad_token_id)
    assert "pixel_values" in batch and "sam_pixel_values" in batch
    with torch.no_grad():
        expected = model(**batch).loss
        cache_tower_outputs(list(images.values()), model)
        cached = collate(convs[:3], tokenizer.pad_token_id)
        assert "clip_features" in cached and "sam_image_embeddings" in cached and "pixel_values" not in cached
        torch.testing.assert_close(model(**cached).loss, expected, rtol=1e-5, atol=1e-6)
    assert all(im.pixel_values is None for im in images.values())  # the pixels are dropped once cached


def test_dense_targets_are_patch_coverage_fractions():
    case = generate_case("x_ray", 4, 64)
    targets = dense_targets(case, 4)
    assert targets.shape == (len(TARGET_NAMES), 4, 4)
    for name, mask in case.structures.items():
        k = TARGET_NAMES.index(name)
        # equal-size patches: the mean of the per-patch fractions is the structure's share of the image
        assert float(targets[k].mean()) == pytest.approx(mask.mean(), abs=1e-5)
        assert float(targets[k, 0, 0]) == pytest.approx(mask[:16, :16].mean(), abs=1e-5)
    assert torch.all(targets[TARGET_NAMES.index("modality:x_ray")] == 1)
    assert all(torch.all(targets[TARGET_NAMES.index(f"modality:{m}")] == 0) for m in MODALITIES if m != "x_ray")
    abnormal = targets[TARGET_NAMES.index("abnormal")]
    nodule = case.structures.get("nodule")
    assert float(abnormal.sum()) == pytest.approx(0.0 if nodule is None else float(targets[TARGET_NAMES.index("nodule")].sum()), abs=1e-4)


def test_dense_targets_mark_small_structures_instance_centres_and_position():
    case = generate_case("fundus", 0, 64)
    assert case.meta["counts"]["hemorrhage"] == 3
    coarse, fine = dense_targets(case, 4), dense_targets(case, 64)  # at grid = image size a patch is a pixel
    for name in case.structures:
        cover, any_pixel = coarse[TARGET_NAMES.index(name)], coarse[TARGET_NAMES.index(f"any:{name}")]
        assert torch.equal(any_pixel, (cover > 0).float())
    for name, count in case.meta["counts"].items():
        assert float(fine[TARGET_NAMES.index(f"centre:{name}")].sum()) == count
    x, y = coarse[TARGET_NAMES.index("x")], coarse[TARGET_NAMES.index("y")]
    assert torch.all(x[:, 1:] > x[:, :-1]) and torch.all(y[1:] > y[:-1]) and torch.all(x[0] == x[3])


def test_dense_targets_carry_image_level_facts_in_every_patch():
    eyes = set()
    for seed in range(4):
        case = generate_case("fundus", seed, 64)
        targets = dense_targets(case, 4)
        image_facts = [k for k, n in enumerate(TARGET_NAMES) if n.split(":")[0] in ("image", "right", "lower")]
        assert torch.all(targets[image_facts] == targets[image_facts, :1, :1])  # constant over the grid
        # the optic disc lies on the nasal side: wholly in the right half of a right eye's image
        disc_right = float(targets[TARGET_NAMES.index("right:optic disc"), 0, 0])
        assert disc_right == (1.0 if case.meta["eye"] == "right" else 0.0)
        eyes.add(case.meta["eye"])
        for name in ("optic disc", "hemorrhage", "liver"):
            assert float(targets[TARGET_NAMES.index(f"image:{name}"), 0, 0]) == float(name in case.structures)
        assert float(targets[TARGET_NAMES.index("right:liver"), 0, 0]) == 0.5  # absent: no side
        assert float(targets[TARGET_NAMES.index("image:abnormal"), 0, 0]) == float("hemorrhage" in case.structures)
    assert eyes == {"left", "right"}


def test_tower_pretraining_learns_the_dense_targets(processor, tokenizer):
    torch.manual_seed(0)
    model = tiny_model(tokenizer)
    items = tower_items(16, processor, model.config.sam.grid_size, seed=0, size=64)
    assert items[0].clip_targets.shape == (len(TARGET_NAMES), 4, 4)
    assert items[0].sam_targets.shape[-1] == model.config.sam.grid_size
    assert items[0].sam_targets.shape[0] == N_LOCAL < len(TARGET_NAMES)  # SAM learns no image-level facts
    pretraining = TowerPretraining(model).train()
    optimizer = torch.optim.AdamW(pretraining.parameters(), lr=3e-3)
    batch = collate_towers(items)
    losses = []
    for _ in range(30):
        loss = pretraining(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    # soft targets (coverage fractions, 0.5 for "no side") leave an entropy floor: the excess over it halves
    floor = sum(float(_bce(torch.logit(batch[k].clamp(1e-6, 1 - 1e-6)), batch[k])) for k in ("clip_targets", "sam_targets"))
    assert losses[-1] - floor < 0.5 * (losses[0] - floor)


def test_fresh_wording_resays_the_questions_each_time_and_keeps_the_supervised_answers(samples):
    tokenizer = train_bpe_tokenizer(corpus_for_tokenizer(samples, "lower", alphabet=True), 400)  # as --wording rich
    processor = MedPLIBProcessor(tokenizer, clip_image_size=56, patch_size=14, sam_image_size=64,
                                 region_grid_mode="cover", question_normalization="lower")
    images = prepare_images(samples, processor)
    turns = group_conversations(samples, KINDS, 6, seed=0)[0]
    encode = FreshWording(images, processor, seed=0)
    convs = [encode(turns) for _ in range(6)]

    def supervised(conv):
        return [i for i, lab in zip(conv.input_ids.tolist(), conv.labels.tolist()) if lab != IGNORE_INDEX]

    assert len({tuple(c.input_ids.tolist()) for c in convs}) >= 5  # other words nearly every time
    assert all(supervised(c) == supervised(convs[0]) for c in convs)  # the same answers, supervised the same
    assert all(torch.equal(c.region_masks, convs[0].region_masks) for c in convs if c.region_masks is not None)
    for conv in convs:  # the questions as a "lower" model sees them: lower-case, no final mark
        text = tokenizer.decode(conv.input_ids[conv.input_ids >= 0].tolist())
        questions = [part.split("ASSISTANT:")[0].strip() for part in text.split("USER:")[1:]]
        assert len(questions) == len(turns)
        assert all(q == q.lower() and not q.endswith(("?", ".", "!")) for q in questions), questions


def test_with_the_alphabet_the_tokenizer_knows_every_printable_character(samples, tokenizer):
    assert all(c in ALPHABET for c in "azAZ09?!'&")
    rich = train_bpe_tokenizer(corpus_for_tokenizer(samples, "lower", alphabet=True), 400)
    assert rich.unk_token_id not in rich("zebra QXJ @#% qwv", add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id in tokenizer("@#%", add_special_tokens=False)["input_ids"]  # without it: <unk>


def test_fresh_wording_keeps_the_template_share_it_is_given(samples):
    tokenizer = train_bpe_tokenizer(corpus_for_tokenizer(samples, "none", alphabet=True), 400)
    processor = MedPLIBProcessor(tokenizer, clip_image_size=56, patch_size=14, sam_image_size=64, region_grid_mode="cover")
    images = prepare_images(samples, processor)
    turns = group_conversations(samples, KINDS, 6, seed=0)[0]
    as_generated = encode_conversation(turns, images[image_key(turns[0])], processor).input_ids
    kept = FreshWording(images, processor, seed=0, p_template=1.0)
    resaid = FreshWording(images, processor, seed=0, p_template=0.0)
    assert all(torch.equal(kept(turns).input_ids, as_generated) for _ in range(3))
    assert not any(torch.equal(resaid(turns).input_ids, as_generated) for _ in range(3))


def test_the_moe_stage_can_keep_another_template_share():
    from medplib.training.cli import parse_args

    _, args = parse_args(["--out", "x", "--recipe", "rich"])
    assert args.moe_template_share is None and 0 < args.template_share < 1
    _, args = parse_args(["--out", "x", "--recipe", "rich", "--moe-template-share", "0.7"])
    assert args.moe_template_share == 0.7
