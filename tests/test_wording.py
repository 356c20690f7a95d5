"""Question wordings: the rich training wording (medplib.synthetic.wording), the held-out wording training never
sees (medplib.synthetic.wording_heldout), and the lower-case normalisation of our own models' config."""

from collections import Counter

import numpy as np
import pytest

from medplib.evaluation.evaluate import main
from medplib.processing import MedPLIBProcessor
from medplib.processing.normalize import normalize_question
from medplib.synthetic import make_samples
from medplib.synthetic.question_fields import question_fields
from medplib.synthetic.questions import T
from medplib.synthetic.wording import all_phrasings, canonical, paraphrase, paraphrased, phrasing_counts
from medplib.synthetic.wording_grammar import PHRASINGS
from medplib.synthetic.wording_heldout import HELDOUT, reword, reworded

from tests.helpers import tiny_tokenizer


def test_held_out_phrasings_are_none_the_training_wording_can_produce():
    assert set(HELDOUT) == set(T) == set(PHRASINGS)
    training = set().union(*(all_phrasings(key) for key in PHRASINGS))
    assert len(training) > 10_000
    for key, templates in HELDOUT.items():
        for template in templates:
            assert canonical(template) not in training, (key, template)
    # canonical() is what makes the check strict: case, final marks, contractions and <region1> are taken out
    assert canonical("What's INSIDE <region1>??") == canonical("what is inside <region></region>")
    assert canonical("what is inside <region>") in training


def test_every_generated_question_parses_back_to_its_own_type():
    samples = make_samples(600, seed=5, per_image=6)
    for s in samples:
        key, fields = question_fields(s.question)
        kind = {"grounding_1": "ground_1", "grounding_2": "ground_2"}.get(s.question_type, s.question_type)
        assert key.startswith(kind), (s.question, key)
        assert "be" in fields or key not in ("presence", "ground_1", "side_patient", "vertical")


def test_the_training_wording_is_rich_and_keeps_images_regions_and_answers():
    counts = phrasing_counts()
    assert set(counts) == set(T) and sum(counts.values()) > 1000 and min(counts.values()) >= 15
    samples = make_samples(900, seed=1, per_image=6)
    rich = paraphrased(samples, seed=0)
    changed = [(s, r) for s, r in zip(samples, rich) if r.question != s.question]
    assert 0.6 * len(samples) < len(changed) < 0.95 * len(samples)  # some stay in the template wording
    assert len({canonical(r.question) for _, r in changed}) > 0.8 * len(changed)
    for s, r in zip(samples, rich):
        assert r.answer == s.answer and r.region_masks is s.region_masks and r.seg_masks is s.seg_masks
        assert r.question.count("<region></region>") == s.question.count("<region></region>")
    # surface variety: both with and without a final "?" / capital, and "can you" / "please" requests
    questions = [r.question for _, r in changed]
    assert any(q.rstrip().endswith("?") for q in questions) and any(q[-1:].isalpha() for q in questions)
    assert any(q[:1].isupper() for q in questions) and any(q[:1].islower() for q in questions)
    lowered = [q.lower() for q in questions]
    assert any("can you" in q for q in lowered) and any("please" in q for q in lowered)
    assert any("what's" in q for q in lowered)


def test_synonyms_name_the_same_structure_and_grounding_answers_stay_canonical():
    rng = np.random.default_rng(0)
    samples = [s for s in make_samples(600, seed=2, per_image=6) if s.kind == "grounding"]
    said = Counter()
    for s in samples:
        for _ in range(6):
            q = paraphrase(s.question, rng, p_template=0.0).lower()
            said.update(w for w in ("hepatic lesion", "optic disk", "cardiac silhouette", "lateral ventricles") if w in q)
        assert "<SEG>" in s.answer
    assert len(said) >= 2
    assert paraphrase("Tell me a joke.", rng, p_template=0.0) == "Tell me a joke."  # not a template's question


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


def test_lower_normalisation_makes_case_and_final_marks_one_input_and_none_changes_nothing():
    assert normalize_question("  Segment   the LIVER?! ", "lower") == "segment the liver"
    assert normalize_question("What\u2019s inside <Region1>?", "lower") == "what's inside <region1>"
    assert normalize_question("?", "lower") == "?"
    text = "  What IS in <region1>?? "
    assert normalize_question(text, "none") is text
    with pytest.raises(ValueError, match="question_normalization must be one of"):
        normalize_question("x", "upper")


def test_the_processor_normalises_only_when_its_config_says_so():
    tokenizer = tiny_tokenizer()
    plain = MedPLIBProcessor(tokenizer)
    lower = MedPLIBProcessor(tokenizer, question_normalization="lower")
    prompt, _ = plain.build_prompt("Is <region1> ABNORMAL?", 1, history=[("Segment the Liver.", "Sure.")])
    assert "Is <region></region> ABNORMAL?" in prompt and "Segment the Liver." in prompt
    low, order = lower.build_prompt("Is <REGION1> ABNORMAL?", 1, history=[("Segment the Liver.", "Sure.")])
    assert "is <region></region> abnormal ASSISTANT:" in low and "segment the liver ASSISTANT: Sure." in low
    assert order == [0]
    assert lower.build_prompt("is <region1> abnormal", 1)[0] == lower.build_prompt("Is <region1> abnormal?", 1)[0]


def test_each_synonym_names_exactly_one_structure_or_modality():
    from medplib.synthetic import MODALITY_LABELS, STRUCTURE_INFO
    from medplib.synthetic.wording_grammar import MODALITY_SYNONYMS, STRUCTURE_SYNONYMS

    assert set(STRUCTURE_SYNONYMS) <= set(STRUCTURE_INFO) and set(MODALITY_SYNONYMS) <= set(MODALITY_LABELS.values())
    said = [w.lower() for pairs in STRUCTURE_SYNONYMS.values() for pair in pairs for w in pair]
    said += [w.lower() for words in MODALITY_SYNONYMS.values() for w in words]
    names = {n for info in STRUCTURE_INFO.values() for n in (info.name, info.plural)}
    assert not names & set(said)  # never another structure's own name
    singular = [s.lower() for pairs in STRUCTURE_SYNONYMS.values() for s, _ in pairs]
    assert len(singular) == len(set(singular))
