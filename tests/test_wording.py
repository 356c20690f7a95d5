"""Held-out wordings (medplib.synthetic.wording_heldout): the same questions in other words, answers unchanged."""

import numpy as np
import pytest

from medplib.synthetic import make_samples
from medplib.synthetic.questions import T
from medplib.synthetic.wording_heldout import HELDOUT, reword, reworded
from medplib.evaluation.evaluate import main


def test_every_template_key_has_held_out_phrasings_that_training_never_sees():
    assert set(HELDOUT) == set(T)
    training = {t.lower() for templates in T.values() for t in templates}
    assert not training & {t.lower() for templates in HELDOUT.values() for t in templates}


def test_reworded_questions_keep_the_fields_and_the_answers():
    samples = make_samples(120, seed=3, split="test", per_image=3)
    held = reworded(samples, "heldout", seed=0)
    for s, h in zip(samples, held):
        assert h.question != s.question and h.answer == s.answer and h.region_masks is s.region_masks
        for name in s.seg_names:
            assert name[:4] in h.question  # the structure stays named (singular or plural)
        if s.region_masks:
            assert "<region" in h.question
    lowered = reworded(samples, "lower")
    assert all(q.question == q.question.lower() and not q.question.endswith(("?", ".")) for q in lowered)
    assert [s.question for s in reworded(samples, "template")] == [s.question for s in samples]


def test_a_question_no_template_made_is_refused():
    with pytest.raises(ValueError, match="not a generated question"):
        reword("Tell me a joke.", "heldout", np.random.default_rng(0))
    with pytest.raises(ValueError, match="wording must be one of"):
        reword("Segment the liver.", "shouting", np.random.default_rng(0))


def test_evaluate_rewords_only_synthetic_questions(tmp_path):
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path / "x.json"), "--wording", "heldout", "--out", str(tmp_path / "r.json")])
