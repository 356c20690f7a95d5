"""The shipped checkpoint, loaded fresh, does what its model card says on new synthetic samples."""

import numpy as np
import pytest

from medplib import MedPLIB
from medplib.synthetic import make_samples
from medplib.evaluation.metrics import closed_correct, dice_from_iou, mask_iou
from medplib.pipeline import BUILTIN


@pytest.fixture(scope="module")
def builtin():
    return MedPLIB.from_pretrained()


def test_builtin_checkpoint_is_small_and_documented():
    size = sum(p.stat().st_size for p in BUILTIN.iterdir())
    assert size <= 25 * 2**20
    card = (BUILTIN / "README.md").read_text()
    assert "synthetic" in card and "not for clinical use" in card.lower()


def test_answers_a_modality_question(builtin):
    samples = [s for s in make_samples(60, seed=123, split="test") if s.question_type == "modality"]
    assert samples, "the generator stopped producing modality questions"
    right = [closed_correct(builtin.ask(s.load_image(), s.question, max_new_tokens=8).text, s.answer) for s in samples[:3]]
    assert all(right), right


def test_grounds_a_structure(builtin):
    # A dozen fresh samples: one small target (a nodule, a nucleus) alone would make the check a coin toss.
    samples = [s for s in make_samples(40, seed=321, split="test", kinds="grounding") if len(s.seg_masks) == 1]
    dices = []
    for sample in samples[:12]:
        answer = builtin.ask(sample.load_image(), sample.question, max_new_tokens=24)
        assert len(answer.masks) == 1, answer.raw_text
        assert answer.masks[0].shape == sample.seg_masks[0].shape
        dices.append(dice_from_iou(mask_iou(answer.masks[0], sample.seg_masks[0])))
    assert np.mean(dices) >= 0.7, dices
