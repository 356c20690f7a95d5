"""Tests for medplib.synthetic: phantoms, question generation, MeCoVQA records (write / read), CLI."""

import json
import re

import cv2
import numpy as np
import pytest

from medplib.synthetic import (
    ANSWER_VOCABULARY,
    MODALITIES,
    MODALITY_STRUCTURES,
    STRUCTURE_INFO,
    Sample,
    generate_case,
    label_map,
    load_records,
    make_grounding,
    make_region_qa,
    make_samples,
    make_vqa,
    modality_from_path,
    text_vocabulary,
    write_split,
)
from medplib.synthetic.generate import main as generate_main
from medplib.synthetic.questions import VQA_TYPES

SEEDS = range(12)


def _components(mask):
    n, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return n - 1


def _cx(mask):
    return (np.nonzero(mask)[1].mean() + 0.5) / mask.shape[1]


def _cy(mask):
    return (np.nonzero(mask)[0].mean() + 0.5) / mask.shape[0]


_NAME_FORMS = sorted(
    [(n, n) for n in STRUCTURE_INFO] + [(s.plural, s.name) for s in STRUCTURE_INFO.values()],
    key=lambda t: -len(t[0]))


def _names_in(text):
    """Structure names mentioned in ``text``, in order of appearance (longest match first)."""
    found = []
    taken = np.zeros(len(text), bool)
    for form, name in _NAME_FORMS:
        for m in re.finditer(r"\b" + re.escape(form) + r"\b", text):
            if not taken[m.start():m.end()].any():
                taken[m.start():m.end()] = True
                found.append((m.start(), name))
    return [n for _, n in sorted(found)]


@pytest.fixture(scope="module")
def cases():
    return {(m, s): generate_case(m, s) for m in MODALITIES for s in SEEDS}


# --------------------------------------------------------------------------------------------
# Phantoms
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("modality", MODALITIES)
def test_generate_case_deterministic(modality):
    a, b, c = generate_case(modality, 7), generate_case(modality, 7), generate_case(modality, 8)
    assert np.array_equal(a.image, b.image)
    assert list(a.structures) == list(b.structures)
    assert all(np.array_equal(a.structures[k], b.structures[k]) for k in a.structures)
    assert a.meta == b.meta
    assert not np.array_equal(a.image, c.image)
    # a Generator works too and gives the same as the same seed
    d = generate_case(modality, np.random.default_rng(7))
    assert np.array_equal(a.image, d.image)


def test_case_structure_invariants(cases):
    for (m, s), case in cases.items():
        assert case.image.dtype == np.uint8 and case.image.shape == (128, 128, 3)
        assert case.modality == m == case.meta["modality"]
        assert list(case.structures) == [n for n in MODALITY_STRUCTURES[m] if n in case.structures]
        for name in MODALITY_STRUCTURES[m]:
            info = STRUCTURE_INFO[name]
            if not info.optional:
                assert name in case.structures, (m, s, name)
            if name in case.structures:
                mk = case.structures[name]
                assert mk.dtype == bool and mk.shape == (128, 128) and mk.any()
        json.dumps(case.meta)  # JSON-serialisable


@pytest.mark.parametrize("size", [64, 96, 160])
def test_other_sizes(size):
    for m in MODALITIES:
        case = generate_case(m, 3, size=size)
        assert case.image.shape == (size, size, 3)
        assert all(v.shape == (size, size) for v in case.structures.values())


def test_counts_match_connected_components(cases):
    seen_multi = set()
    for (m, s), case in cases.items():
        for name in MODALITY_STRUCTURES[m]:
            if not STRUCTURE_INFO[name].countable:
                continue
            n = case.meta["counts"][name]
            if n == 0:
                assert name not in case.structures
                continue
            assert _components(case.structures[name]) == n == len(case.instances[name]), (m, s, name)
            assert np.array_equal(np.logical_or.reduce(case.instances[name]), case.structures[name])
            if n > 1:
                seen_multi.add(name)
    assert {"nucleus", "polyp", "nodule", "hemorrhage"} <= seen_multi


def test_side_conventions(cases):
    for s in SEEDS:
        ct = cases[("ct", s)].structures
        # radiological convention: patient's left is on the image right
        assert _cx(ct["left kidney"]) > 0.5 > _cx(ct["right kidney"])
        assert _cx(ct["liver"]) < 0.5 < _cx(ct["spleen"])
        xr = cases[("x_ray", s)].structures
        assert _cx(xr["left lung"]) > 0.5 > _cx(xr["right lung"])
        assert _cx(xr["heart"]) > 0.5
        mr = cases[("mri", s)]
        assert _cx(mr.structures["left hemisphere"]) > 0.5 > _cx(mr.structures["right hemisphere"])
        if "tumor" in mr.structures:
            side = "left" if _cx(mr.structures["tumor"]) > 0.5 else "right"
            assert mr.meta["tumor_side"] == side
        fu = cases[("fundus", s)]
        assert fu.meta["eye"] == ("right" if _cx(fu.structures["optic disc"]) > 0.5 else "left")


# --------------------------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------------------------

def _check_vqa(case, qa):
    names = _names_in(qa.question)
    qt = qa.question_type
    assert qa.answer_type in ("open", "closed")
    assert qa.answer in ANSWER_VOCABULARY, qa
    if qt == "presence":
        (name,) = names
        assert (name in case.structures) == (qa.answer == "Yes"), (qa.question, qa.answer)
    elif qt == "count":
        (name,) = names
        n = _components(case.structures[name]) if name in case.structures else 0
        assert qa.answer == str(n)
    elif qt == "side":
        (name,) = names
        x = np.mean([_cx(mm) for mm in case.instance_masks(name)])
        image_right = x > 0.5
        if case.modality in ("ct", "mri", "x_ray"):
            assert qa.answer == ("left" if image_right else "right")
        else:
            assert qa.answer == ("right" if image_right else "left")
    elif qt == "vertical":
        (name,) = names
        y = np.mean([_cy(mm) for mm in case.instance_masks(name)])
        assert qa.answer == ("lower" if y > 0.5 else "upper")
    elif qt == "larger":
        a, b = names[:2]
        big = a if case.structures[a].sum() > case.structures[b].sum() else b
        if qa.answer in ("Yes", "No"):
            assert (qa.answer == "Yes") == (big == a)
        else:
            assert qa.answer == big
    elif qt == "location":
        name = names[0]
        assert (case.structures[name] & case.structures[qa.answer]).sum() >= 0.95 * case.structures[name].sum()
    elif qt == "abnormality" and qa.answer_type == "open":
        found = [n for n in case.structures if STRUCTURE_INFO[n].abnormal]
        assert qa.answer == (found[0] if found else "none")
    elif qt == "modality":
        assert qa.answer in ("Yes", "No") or qa.answer.lower().replace("-", "_") in (case.modality, "mri")


def test_vqa_answers_match_masks(cases):
    rng = np.random.default_rng(0)
    types = set()
    for case in cases.values():
        for qtype, _w, _f in VQA_TYPES:
            try:
                qa = make_vqa(case, rng, qtype)
            except ValueError:
                continue
            types.add(qtype)
            _check_vqa(case, qa)
        for _ in range(4):
            _check_vqa(case, make_vqa(case, rng))
    assert types == {t[0] for t in VQA_TYPES}


def test_presence_no_means_absent(cases):
    rng = np.random.default_rng(1)
    n_no = 0
    for case in cases.values():
        for _ in range(6):
            qa = make_vqa(case, rng, "presence")
            (name,) = _names_in(qa.question)
            if qa.answer == "No":
                n_no += 1
                assert name not in case.structures
                assert case.meta["counts"].get(name, 0) == 0
    assert n_no > 50


def test_region_masks_overlap_their_structure(cases):
    rng = np.random.default_rng(2)
    modes = set()
    for case in cases.values():
        lab, names = label_map(case)
        for _ in range(6):
            qa = make_region_qa(case, rng)
            assert qa.kind == "region" and len(qa.region_masks) == 1
            assert qa.question.count("<region></region>") == 1
            (mask,), (name,) = qa.region_masks, qa.region_names
            modes.add(qa.region_modes[0])
            assert mask.dtype == bool and mask.any()
            inside = (mask & case.structures[name]).sum()
            assert inside > 0
            # the region is mostly the asked structure (as the most specific label)
            assert (lab[mask] == names.index(name)).mean() >= 0.6
            if qa.question_type == "region_what":
                assert qa.answer == name
            elif qa.question_type == "region_abnormal":
                assert qa.answer == ("Yes" if case.is_abnormal(name) else "No")
            else:
                (asked,) = _names_in(qa.question)
                assert qa.answer == ("Yes" if asked == name else "No")
    assert modes == {"point", "box", "mask"}


def test_region_identity_no_names_a_structure_outside_the_region(cases):
    """"Is <region> the tissue?" about a nucleus in tissue would be ambiguous: a "No" never names a structure
    the region touches (such as the target's container)."""
    rng = np.random.default_rng(3)
    n_no = 0
    for case in cases.values():
        for _ in range(8):
            qa = make_region_qa(case, rng, "region_identity")
            (asked,) = _names_in(qa.question)
            if qa.answer == "No":
                n_no += 1
                assert asked != qa.region_names[0]
                assert asked not in case.structures or not (case.structures[asked] & qa.region_masks[0]).any()
    assert n_no > 30


def test_grounding_masks_and_seg_order(cases):
    rng = np.random.default_rng(3)
    n2 = 0
    for case in cases.values():
        for _ in range(3):
            qa = make_grounding(case, rng)
            assert qa.answer.count("<SEG>") == len(qa.seg_masks) == len(qa.seg_names) >= 1
            assert _names_in(qa.question) == qa.seg_names       # asked order
            assert _names_in(qa.answer) == qa.seg_names         # answered in the same order
            for name, mk in zip(qa.seg_names, qa.seg_masks):
                assert np.array_equal(mk, case.structures[name])
                assert STRUCTURE_INFO[name].groundable
            n2 += len(qa.seg_names) == 2
    assert n2 > 10
    # explicit targets: the left kidney lies on the image right (radiological convention)
    case = cases[("ct", 0)]
    qa = make_grounding(case, rng, targets=["left kidney", "liver"])
    assert qa.answer == "Sure, the left kidney is <SEG> and the liver is <SEG>."
    assert _cx(qa.seg_masks[0]) > 0.5 and _cx(qa.seg_masks[1]) < 0.5


def test_vocabularies():
    samples = make_samples(240, seed=5)
    vocab = set(text_vocabulary())
    tok = re.compile(r"<[^<>]*>|\w+|[^\w\s]")
    for s in samples:
        if s.kind != "grounding":
            assert s.answer in ANSWER_VOCABULARY
        for t in tok.findall(s.question + " " + s.answer):
            assert t in vocab, (t, s.question, s.answer)
    assert len(ANSWER_VOCABULARY) < 80
    kinds = {s.kind for s in samples}
    assert kinds == {"vqa", "region", "grounding"}
    assert {s.answer_type for s in samples} == {"open", "closed"}


# --------------------------------------------------------------------------------------------
# In-memory samples, splits, records
# --------------------------------------------------------------------------------------------

def _img_hash(img):
    return hash(img.tobytes())


def test_make_samples_deterministic_and_balanced():
    a = make_samples(48, seed=11, kinds="vqa,grounding")
    b = make_samples(48, seed=11, kinds=["vqa", "grounding"])
    c = make_samples(48, seed=12, kinds="vqa,grounding")
    assert [(s.question, s.answer) for s in a] == [(s.question, s.answer) for s in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert all(all(np.array_equal(p, q) for p, q in zip(x.seg_masks, y.seg_masks)) for x, y in zip(a, b))
    assert not all(np.array_equal(x.image, y.image) for x, y in zip(a, c))
    assert {s.kind for s in a} == {"vqa", "grounding"}
    assert sum(s.kind == "vqa" for s in a) == 24
    assert {s.modality for s in a} == set(MODALITIES)
    assert all(isinstance(s, Sample) and s.image.shape == (128, 128, 3) for s in a)
    with pytest.raises(ValueError):
        make_samples(4, kinds="vqa,nonsense")


def test_splits_are_disjoint():
    hashes = {}
    for split in ("train", "val", "test"):
        ss = make_samples(40, seed=0, split=split)
        hashes[split] = {_img_hash(s.image) for s in ss}
        assert len(hashes[split]) == 40
        assert all(f"case_{split}_" in s.image_path for s in ss)
    assert not hashes["train"] & hashes["val"]
    assert not hashes["train"] & hashes["test"]
    assert not hashes["val"] & hashes["test"]


def test_written_json_round_trips(tmp_path):
    kw = dict(n=30, seed=4, size=96, per_image=2, split="val")
    summary = write_split(tmp_path, progress=False, **kw)
    assert summary["records"] == 30 and summary["images"] == 15
    records = json.loads((tmp_path / "val.json").read_text())
    for r in records:
        assert set(r) >= {"id", "image", "conversations", "answer_type"}
        assert r["image"].startswith("images/") and r["image"].endswith(".png")
        assert r["conversations"][0]["value"].startswith("<image>\n")
        assert re.match(r"images/[a-z_]+--Synthetic--case_val_\d+--2d_none\.png", r["image"])
        gpt = r["conversations"][1]["value"]
        for p in re.findall(r"<mask>(.*?)</mask>", gpt):
            assert re.fullmatch(r"masks_merged/.+--2d_none--[a-z_]+_merged\.png", p)
            assert (tmp_path / p).exists()
        assert gpt.count("<SEG>") == gpt.count("<SEG><mask>") or "<mask>" not in gpt
        for p in re.findall(r"<region>(.*?)</region>", r["conversations"][0]["value"]):
            assert re.fullmatch(r"masks/.+--region_\d+\.png", p)
    loaded = load_records(tmp_path / "val.json", tmp_path)
    mem = make_samples(**kw)
    assert len(loaded) == len(mem) == 30
    for a, b in zip(mem, loaded):
        assert (a.question, a.answer, a.kind, a.answer_type, a.modality, a.id, a.question_type) == \
               (b.question, b.answer, b.kind, b.answer_type, b.modality, b.id, b.question_type)
        assert a.seg_names == b.seg_names
        assert len(a.seg_masks) == len(b.seg_masks) and len(a.region_masks) == len(b.region_masks)
        assert all(np.array_equal(x, y) for x, y in zip(a.seg_masks, b.seg_masks))
        assert all(np.array_equal(x, y) for x, y in zip(a.region_masks, b.region_masks))
        assert np.array_equal(a.image, b.load_image())
        assert "<mask>" not in b.answer and "masks/" not in b.question
    # lazy mode: paths only
    lazy = load_records(tmp_path / "val.json", tmp_path, load_masks=False)
    assert all(not s.seg_masks and not s.region_masks for s in lazy)
    assert sum(len(s.seg_mask_paths) for s in lazy) == sum(len(s.seg_masks) for s in loaded)


def _write_mask(path, mask, value=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), mask.astype(np.uint8) * value)


def test_load_official_style_record(tmp_path):
    root = tmp_path / "SAMed2Dv1"
    stem = "x_ray--Chest_Image_Pneum--1.2.3--2d_none"
    (root / "images").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / f"{stem}.png"), np.zeros((32, 32, 3), np.uint8))
    seg = np.zeros((32, 32), bool)
    seg[4:10, 5:20] = True
    reg = np.zeros((32, 32), bool)
    reg[20:30, 1:4] = True
    _write_mask(root / "masks_merged" / f"{stem}--0003_merged.png", seg, value=1)   # values 0/1
    _write_mask(root / "masks" / f"{stem}--0001_000.png", reg, value=255)
    abs_img = str(root / "images" / f"{stem}.png")
    recs = [
        {"id": "g1", "image": f"images/{stem}",                                       # no .png
         "conversations": [{"from": "human", "value": "<image>\nPlease segment the left lung."},
                           {"from": "gpt", "value": f"<SEG><mask>masks_merged/{stem}--0003_merged</mask>"}]},
        {"id": "r1", "image": abs_img, "answer_type": "closed",
         "conversations": [{"from": "human",
                            "value": f"Is <region>masks/{stem}--0001_000.png</region> abnormal?\n<image>"},
                           {"from": "gpt", "value": "No"}]},
        {"id": "c1", "image": f"images/{stem}.png",
         "conversations": [{"from": "human", "value": "<image>\nWhat modality is this?"},
                           {"from": "gpt", "value": "X-ray"},
                           {"from": "human", "value": "Is it normal?"},
                           {"from": "gpt", "value": 1}]},                               # non-string value
    ]
    jp = tmp_path / "MeCoVQA_test.json"
    jp.write_text(json.dumps(recs))
    out = load_records(jp, root)
    assert len(out) == 4
    g, r, c1, c2 = out
    assert g.kind == "grounding" and g.answer == "<SEG>" and g.question == "Please segment the left lung."
    assert g.image_path.endswith(f"{stem}.png") and g.modality == "x_ray"
    assert len(g.seg_masks) == 1 and np.array_equal(g.seg_masks[0], seg)
    assert g.answer_type == "open"
    assert r.kind == "region" and r.question == "Is <region></region> abnormal?"
    assert r.image_path == abs_img and r.answer_type == "closed"
    assert len(r.region_masks) == 1 and np.array_equal(r.region_masks[0], reg)
    assert c1.kind == "vqa" and c1.answer == "X-ray" and not c1.seg_masks and not c1.region_masks
    assert c2.question == "Is it normal?" and c2.answer == "1" and c2.id == "c1#1"


@pytest.mark.parametrize("bad, msg", [
    ({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}, "image"),
    ({"image": "images/a.png", "conversations": [{"from": "gpt", "value": "a"},
                                                 {"from": "human", "value": "q"}]}, "human"),
    ({"image": "images/a.png", "conversations": [{"from": "human", "value": "q"}]}, "conversations"),
    ({"image": "images/a.png", "conversations": [
        {"from": "human", "value": "Segment it."},
        {"from": "gpt", "value": "It is <mask>masks_merged/a.png</mask>"}]}, "SEG"),
    ({"image": "images/a.png", "conversations": [
        {"from": "human", "value": "Is <region>masks/a.png abnormal?"},
        {"from": "gpt", "value": "No"}]}, "unbalanced"),
    ({"image": "images/a.png", "conversations": [
        {"from": "human", "value": "Segment it."},
        {"from": "gpt", "value": "<SEG><mask>masks_merged/missing.png</mask>"}]}, "cannot read"),
    ("not a record", "not an object"),
])
def test_malformed_records_raise(tmp_path, bad, msg):
    jp = tmp_path / "bad.json"
    good = {"id": "ok", "image": "images/a.png",
            "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]}
    jp.write_text(json.dumps([good, bad]))
    with pytest.raises(ValueError) as e:
        load_records(jp, tmp_path)
    assert msg in str(e.value) and "bad.json" in str(e.value) and "record 1" in str(e.value)


def test_invalid_json_raises(tmp_path):
    jp = tmp_path / "broken.json"
    jp.write_text("[{")
    with pytest.raises(ValueError, match="broken.json"):
        load_records(jp, tmp_path)


def test_modality_from_path():
    assert modality_from_path("images/ct_00--AbdomenCT1K--Case_00220--x_0359.png") == "ct"
    assert modality_from_path("x_ray--Chest--uid--2d_none") == "x_ray"
    assert modality_from_path("/a/b/mr_t2w--BraTS--c--z_0010.png") == "mri"
    assert modality_from_path("mri--Synthetic--case_train_000001--2d_none.png") == "mri"
    assert modality_from_path("llavamed/abc.jpg") == "unknown"


# --------------------------------------------------------------------------------------------
# CLI and examples
# --------------------------------------------------------------------------------------------

def test_cli_and_examples(tmp_path, capsys):
    assert generate_main(["--out", str(tmp_path / "ds"), "--split", "test", "--n", "9", "--seed", "1",
                          "--kinds", "grounding", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "9 records" in out and "grounding=9" in out
    recs = json.loads((tmp_path / "ds" / "test.json").read_text())
    assert len(recs) == 9 and all("<SEG><mask>" in r["conversations"][1]["value"] for r in recs)
    assert len(list((tmp_path / "ds" / "images").glob("*.png"))) == 9

    assert generate_main(["--examples", str(tmp_path / "ex")]) == 0
    entries = json.loads((tmp_path / "ex" / "examples.json").read_text())
    assert [e["modality"] for e in entries] == list(MODALITIES)
    for e in entries:
        img = cv2.imread(str(tmp_path / "ex" / e["file"]))
        assert img is not None and img.shape == (128, 128, 3)
        assert 2 <= len(e["questions"]) <= 3 and len(e["answers"]) == len(e["questions"])
        assert "grounding" in e["kinds"] and "region" in e["kinds"]
        assert any("<region>" in q for q in e["questions"])
        x, y = e["region_hint"]["point_xy"]
        assert 0 <= x < 128 and 0 <= y < 128
