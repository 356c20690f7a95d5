import json

import numpy as np
import pytest
import torch

from medplib import MedPLIB, MedPLIBForCausalLM
from medplib.evaluation.evaluate import main as evaluate_main, summarize, table
from medplib.evaluation.metrics import (closed_correct, dice_from_iou, mask_iou, normalize_word, open_scores, sentence_bleu,
                             wilson_interval)
from medplib.training.cli import main as train_main, parse_args
from medplib.training.recipe import build_moe, micro_config, upcycle
from medplib.training.towers import TOWER_PREFIXES
from tests.helpers import tiny_tokenizer


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    """The whole recipe (towers -> vl -> grounding -> moe) at micro size on a few dozen synthetic samples."""
    out = tmp_path_factory.mktemp("run")
    rc = train_main(["--out", str(out), "--preset", "micro", "--total-steps", "60", "--n-train", "48",
                     "--batch-size", "6", "--image-size", "64", "--save-every", "0", "--lr", "3e-3",
                     "--tower-steps", "30", "--tower-batch-size", "8"])
    assert rc == 0
    return out


@pytest.mark.slow
def test_recipe_lowers_the_loss_and_saves_every_stage(recipe_run):
    summary = json.loads((recipe_run / "run_summary.json").read_text())
    stages = {s["stage"]: s for s in summary["stages"]}
    assert list(stages) == ["towers", "vl", "grounding", "moe"]
    vl = stages["vl"]["loss_history"]
    assert np.mean(vl[-5:]) < np.mean(vl[:5]) * 0.8
    towers = stages["towers"]["loss_history"]
    assert np.mean(towers[-5:]) < np.mean(towers[:5]) * 0.8
    for name in stages:
        assert (recipe_run / name / "config.json").exists() and (recipe_run / name / "tokenizer.json").exists()
    final = MedPLIBForCausalLM.from_pretrained(str(recipe_run / "moe"))
    assert final.config.moe_num_experts == 2
    assert MedPLIBForCausalLM.from_pretrained(str(recipe_run / "vl")).config.moe_num_experts == 1


@pytest.mark.slow
def test_encoders_stay_as_the_towers_stage_left_them(recipe_run):
    towers = MedPLIBForCausalLM.from_pretrained(str(recipe_run / "towers")).state_dict()
    for stage in ("vl", "grounding", "moe"):
        state = MedPLIBForCausalLM.from_pretrained(str(recipe_run / stage)).state_dict()
        for key in towers:
            if key.startswith(TOWER_PREFIXES):
                assert torch.equal(state[key], towers[key]), (stage, key)


@pytest.mark.slow
def test_moe_experts_come_from_the_stage_models(recipe_run):
    vl = MedPLIBForCausalLM.from_pretrained(str(recipe_run / "vl"))
    grounding = MedPLIBForCausalLM.from_pretrained(str(recipe_run / "grounding"))
    moe = build_moe(vl, grounding)
    layer = moe.model.language_model.layers[1].mlp
    torch.testing.assert_close(layer.experts[0].up_proj.weight, grounding.model.language_model.layers[1].mlp.up_proj.weight)
    torch.testing.assert_close(layer.experts[1].up_proj.weight, vl.model.language_model.layers[1].mlp.up_proj.weight)
    torch.testing.assert_close(moe.model.sam.mask_decoder.iou_token.weight, grounding.model.sam.mask_decoder.iou_token.weight)
    torch.testing.assert_close(moe.model.language_model.layers[0].self_attn.q_proj.weight,
                               vl.model.language_model.layers[0].self_attn.q_proj.weight)


def test_upcycled_moe_starts_as_the_dense_model_and_uses_both_experts():
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    dense = MedPLIBForCausalLM(micro_config(len(tok), tok.convert_tokens_to_ids("<SEG>"), num_experts=1)).eval()
    moe = upcycle(dense).eval()
    embeds = torch.randn(2, 24, dense.config.text_config.hidden_size)
    with torch.no_grad():
        for layer in range(dense.config.text_config.num_hidden_layers):
            want = dense.model.language_model.layers[layer].mlp(embeds)
            got, logits = moe.model.language_model.layers[layer].mlp(embeds)
            # p is about 1/2 (the router is near zero, not zero) and the experts' outputs are doubled.
            torch.testing.assert_close(got, want, atol=0.02 * want.abs().max().item(), rtol=0.01)
            assert not torch.equal(got, want)
            assert set(logits.argmax(-1).tolist()) == {0, 1}  # tokens split between the experts from the start
        want = dense.model.language_model(inputs_embeds=embeds).last_hidden_state
        got = moe.model.language_model(inputs_embeds=embeds).last_hidden_state
    torch.testing.assert_close(got, want, atol=0.02 * want.abs().max().item(), rtol=0.01)


@pytest.mark.slow
def test_resume_continues_an_interrupted_stage(tmp_path):
    args = ["--out", str(tmp_path), "--preset", "micro", "--stages", "vl", "--n-train", "12", "--batch-size", "4",
            "--image-size", "64", "--save-every", "4"]
    assert train_main(args + ["--total-steps", "8"]) == 0
    assert (tmp_path / "vl.state" / "step.json").exists()
    (tmp_path / "vl" / "config.json").unlink()  # pretend the stage died after its last state save
    assert train_main(args + ["--total-steps", "8"]) == 0
    history = json.loads((tmp_path / "run_summary.json").read_text())["stages"][0]["loss_history"]
    assert len(history) == 4  # steps 4..7 only


def test_rerun_with_other_data_keeps_the_finished_stages_token_ids(tmp_path):
    args = ["--out", str(tmp_path), "--preset", "micro", "--batch-size", "4", "--image-size", "64", "--save-every", "0"]
    assert train_main(args + ["--stages", "vl", "--total-steps", "2", "--n-train", "40"]) == 0
    # Fewer samples would train a different BPE; the grounding stage starts from the finished vl stage's weights.
    assert train_main(args + ["--stages", "vl,grounding", "--total-steps", "4", "--n-train", "12"]) == 0
    vl = (tmp_path / "vl" / "tokenizer.json").read_text()
    assert (tmp_path / "grounding" / "tokenizer.json").read_text() == vl
    assert (tmp_path / "tokenizer" / "tokenizer.json").read_text() == vl


@pytest.mark.slow
def test_evaluate_writes_a_report_for_any_checkpoint(recipe_run, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert evaluate_main(["--model", str(recipe_run / "moe"), "--synthetic", "9", "--out", str(out),
                          "--max-new-tokens", "8"]) == 0
    report = json.loads(out.read_text())
    overall = report["summary"]["overall"]
    assert overall["n"] == 9 and len(report["samples"]) == 9
    assert {r["kind"] for r in report["samples"]} == {"vqa", "region", "grounding"}
    assert all(r["question_type"] for r in report["samples"])  # synthetic records name their question type
    assert "| all |" in capsys.readouterr().out


def test_report_scores_each_question_type():
    def row(kind, qtype, correct=None, **extra):
        return {"kind": kind, "modality": "ct", "answer_type": "closed", "question_type": qtype, "correct": correct,
                **extra}

    rows = [row("vqa", "presence", True), row("vqa", "presence", False), row("vqa", "presence", True),
            row("region", "region_what", False), row("vqa", "", True),  # untyped record (e.g. a file without types)
            row("grounding", "grounding", iou=0.5, dice=0.6)]
    by_type = summarize(rows)["by_question_type"]
    assert by_type == {"region/region_what": {"n": 1, "accuracy": 0.0, "ci95": [0.0, pytest.approx(3.8416 / 4.8416)]},
                       "vqa/presence": {"n": 3, "accuracy": pytest.approx(2 / 3),
                                        "ci95": [pytest.approx(0.2077, abs=1e-4), pytest.approx(0.9385, abs=1e-4)]}}
    text = table(summarize(rows))
    assert "| vqa/presence | 3 | 0.667 | 0.208–0.939 |" in text
    lo, hi = wilson_interval(3, 4)  # the untyped vqa record counts here, not by type
    assert f"| closed VQA | 4 | 0.750 | {lo:.3f}–{hi:.3f} |" in text


def test_report_counts_grounding_answers_with_the_right_number_of_masks_and_compares_reports(tmp_path, capsys):
    from medplib.evaluation.compare import main as compare_main

    def ground(n_masks, n_targets, dice):
        return {"kind": "grounding", "modality": "ct", "answer_type": "open", "question_type": "grounding_1",
                "iou": dice, "dice": dice, "n_masks": n_masks, "n_targets": n_targets}

    rows = [ground(1, 1, 0.9), ground(0, 1, 0.0), ground(2, 2, 0.8), ground(1, 2, 0.4)]
    summary = summarize(rows)
    count = summary["overall"]["grounding"]["right_mask_count"]
    assert count["n"] == 4 and count["accuracy"] == 0.5
    lo, hi = summary["overall"]["grounding"]["mDice_ci95"]
    assert lo < 0.525 < hi
    text = table(summary)
    assert "| right number of masks | 4 | 0.500 |" in text and "| mDice (normal interval) | 4 | 0.525 |" in text
    paths = []
    for wording in ("template", "heldout"):
        paths.append(tmp_path / f"{wording}.json")
        paths[-1].write_text(json.dumps({"model": "m", "wording": wording, "summary": summary}))
    assert compare_main([str(p) for p in paths]) == 0
    out = capsys.readouterr().out
    assert "| m / template |" in out and "| m / heldout |" in out and "0.500 (" in out
    with pytest.raises(SystemExit):
        compare_main([str(tmp_path / "missing.json")])


def test_wilson_interval():
    # k = 0 has the closed form [0, z² / (n + z²)]; the interval is symmetric under k -> n - k, holds the observed
    # rate and narrows as n grows at the same rate.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(1.96 ** 2 / (10 + 1.96 ** 2)))
    lo, hi = wilson_interval(110, 116)
    assert (lo, hi) == (pytest.approx(1 - wilson_interval(6, 116)[1]), pytest.approx(1 - wilson_interval(6, 116)[0]))
    assert lo < 110 / 116 < hi < 1
    lo2, hi2 = wilson_interval(1100, 1160)
    assert lo < lo2 < hi2 < hi
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_metrics_follow_the_original_definitions():
    assert normalize_word("The Two lesions.") == "2 lesions"
    assert closed_correct("Yes", "yes.") and not closed_correct("Yes, it is.", "yes")
    scores = open_scores("left kidney", "the left kidney")
    assert scores["recall"] == 1.0 and scores["precision"] == 1.0 and scores["f1"] == 1.0
    assert sentence_bleu("a b c d".split(), "a b c d".split()) == pytest.approx(1.0)
    assert sentence_bleu("a b".split(), "a b c d".split(), 4) == 0.0
    a = np.zeros((4, 4), bool)
    b = a.copy()
    a[:2], b[1:3] = True, True
    assert mask_iou(a, b) == pytest.approx(4 / 12)
    assert mask_iou(None, b) == 0.0 and mask_iou(np.zeros((4, 4)), np.zeros((4, 4))) == 0.0
    assert dice_from_iou(1 / 3) == pytest.approx(0.5)


def test_micro_config_is_the_same_architecture():
    tok = tiny_tokenizer()
    model = MedPLIBForCausalLM(micro_config(len(tok), tok.convert_tokens_to_ids("<SEG>")))
    assert type(model.model.language_model.layers[0].mlp).__name__ == "MoEFeedForward"
    vision, processor = model.config.vision_config, MedPLIB(model, tok).processor
    assert (processor.clip_image_size, processor.patch_size) == (vision.image_size, vision.patch_size)
    assert processor.clip_image_size < 336  # the micro size, not the 7B default
    assert processor.sam_image_size == model.config.sam.image_size


def test_builtin_recipe_sets_the_shipped_flags_and_explicit_flags_win():
    _, args = parse_args(["--out", "x", "--recipe", "builtin"])
    assert (args.stages, args.total_steps, args.tower_steps, args.tower_images) == ("towers,joint,moe", 2200, 1200, 6000)
    assert (args.wording, args.question_normalization) == ("template", "none")
    _, rich = parse_args(["--out", "x", "--recipe", "rich"])
    assert (rich.wording, rich.question_normalization, rich.total_steps) == ("rich", "lower", 2200)
    _, args = parse_args(["--out", "x", "--recipe", "builtin", "--total-steps", "50"])
    assert (args.total_steps, args.tower_steps) == (50, 1200)
    _, plain = parse_args(["--out", "x"])
    assert plain.stages != "towers,joint,moe" and plain.tower_images == 0 and plain.wording == "template"
    with pytest.raises(SystemExit):
        parse_args(["--out", "x", "--recipe", "nope"])
