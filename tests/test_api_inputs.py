"""Bad input to the public API ends in the library's own error, naming the argument; good input still works."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from PIL import Image

from medplib import Box, Mask, MedPLIB, MedPLIBInputError, MedPLIBTypeError, Partial, Point, Stroke
from tests.helpers import tiny_model, tiny_tokenizer

H, W = 32, 48
NAN, INF = math.nan, math.inf


def img(h=H, w=W):
    return np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)


def zeros(h=H, w=W):
    return np.zeros((h, w), bool)


def disk():
    m = zeros()
    m[10:20, 10:20] = True
    return m


@pytest.fixture(scope="module")
def medplib():
    tok = tiny_tokenizer()
    return MedPLIB(tiny_model(tok), tok)


Q = "What is this?"
RQ = "What is in <region1>?"

# (id, arguments, the argument the message must name)
CASES: list[tuple[str, dict, str]] = []


def case(name: str, expect: str, **kw) -> None:
    CASES.append((name, kw, expect))


# ---- image
for name, value in [
    ("none", None), ("int", 42), ("float", 1.5), ("bytes", b"\x89PNG"), ("dict", {"a": 1}), ("set", {1, 2}),
    ("list1d", [1, 2, 3]), ("complex", np.ones((8, 8), complex)), ("object", np.array([[object()]] * 2)),
    ("strings", np.array([["a", "b"], ["c", "d"]])), ("0d", np.array(5)), ("1d", np.arange(10)),
    ("4d", np.zeros((2, 4, 4, 3))), ("channels7", np.zeros((5, 5, 7))), ("empty", np.zeros((0, 5))),
    ("empty3", np.zeros((4, 0, 3))), ("nan", np.full((8, 8), NAN)), ("inf", np.full((8, 8), INF)),
    ("neg-inf-rgb", np.dstack([np.full((8, 8), -INF)] * 3)), ("datetime", np.zeros((4, 4), "datetime64[s]")),
    ("callable", print),
]:
    case(f"image-{name}", "image", image=value)

# ---- question
for name, value in [
    ("none", None), ("int", 7), ("bytes", b"What?"), ("list", ["What?"]), ("empty", ""), ("spaces", "   \n\t"),
    ("nul", "What\x00?"), ("bell", "a\x07b"), ("escape", "\x1b[31mred"), ("surrogate", "What \ud800?"),
    ("image-token", "<image>"), ("image-inline", "Is <image> normal?"), ("seg", "Show <SEG>"), ("eos", "a</s>b"),
    ("bos", "<s>hi"), ("im-start", "<im_start>x"), ("gen-token", "<gen_5>"), ("ref-token", "<ref>liver</ref>"),
]:
    case(f"question-{name}", "question", question=value)
case("question-region-without-regions", "question", question="What is <region2>?")
case("question-region3-of-1", "question", question="What is <region3>?", regions=[Point(5, 5)])
case("question-plain-region-of-2", "question", question="Compare <region>.", regions=[Point(5, 5), Point(9, 9)])
case("question-stray-end", "question", question="What is </region> here?")
case("question-unused-region", "question", question="Compare <region1>.", regions=[Point(5, 5), Point(9, 9)])

# ---- regions
for name, value in [
    ("none", None), ("str", "box"), ("int", 42), ("true", True), ("dict-not-list", {"box": (1, 2, 3, 4)}),
    ("array-not-list", disk()), ("bytes", b"ab"), ("too-many", [Point(1, 1)] * 9),
]:
    case(f"regions-{name}", "regions", regions=value)
for name, value in [
    ("none", None), ("str", "x"), ("int", 42), ("float", 1.0), ("empty-dict", {}), ("two-keys", {"point": (1, 2),
     "box": (1, 2, 3, 4)}), ("unknown-key", {"circle": (1, 2, 3)}), ("point-str", {"point": "ab"}),
    ("point-1", {"point": (1,)}), ("point-3", {"point": (1, 2, 10000)}), ("point-strs", {"point": ("1", "2")}),
    ("point-nan", {"point": (NAN, 1)}), ("point-inf", {"point": (INF, 1)}), ("point-huge", {"point": (10 ** 400, 1)}),
    ("point-bool", {"point": (True, 1)}), ("point-nested", {"point": ((1, 2), (3, 4))}),
    ("point-left", {"point": (-5, 3)}), ("point-right", {"point": (W + 10, 3)}), ("point-below", {"point": (3, H)}),
    ("point-none", {"point": None}), ("point-dict", {"point": {"x": 1, "y": 2}}), ("point-complex", {"point": (1j, 2)}),
    ("box-3", {"box": (1, 2, 3)}), ("box-5", {"box": (1, 2, 3, 4, 5)}), ("box-str", {"box": "abcd"}),
    ("box-nan", {"box": (NAN, 1, 5, 5)}), ("box-inf", {"box": (1, 1, INF, 5)}), ("box-outside", {"box": (100, 100, 200, 200)}),
    ("box-negative", {"box": (-50, -50, -10, -10)}), ("box-none", {"box": None}), ("box-nested", {"box": ((1, 2), (3, 4))}),
    ("box-mixed", {"box": (1, 2, "3", 4)}), ("mask-empty", {"mask": zeros()}), ("mask-shape", {"mask": zeros(H + 1, W)}),
    ("mask-transposed", {"mask": zeros(W, H)}), ("mask-complex", {"mask": np.ones((H, W), complex)}),
    ("mask-str", {"mask": "m"}), ("mask-3d", {"mask": np.ones((H, W, 3))}), ("mask-nan", {"mask": np.full((H, W), NAN)}),
    ("mask-none", {"mask": None}), ("stroke-empty", {"stroke": zeros()}), ("stroke-shape", {"stroke": zeros(5, 5)}),
    ("stroke-1d", {"stroke": np.ones(10)}), ("bare-empty-mask", zeros()), ("bare-wrong-shape", np.ones((H + 2, W))),
    ("bare-nan", np.full((H, W), NAN)), ("bare-object", np.array([[None, 1]])), ("list-of-numbers", [1, 2]),
]:
    case(f"region-{name}", "regions[0]", regions=[value])
for name, make, expect in [  # typed regions check their own fields, the image bounds are checked per region
    ("Point-str", lambda: Point("a", 1), "Point.x"), ("Point-nan", lambda: Point(NAN, 1), "Point.x"),
    ("Point-outside", lambda: Point(999, 1), "regions[0]"), ("Box-str", lambda: Box(1, 2, 3, "4"), "Box.y2"),
    ("Box-inf", lambda: Box(1, 2, 3, INF), "Box.y2"), ("Box-outside", lambda: Box(-9, -9, -1, -1), "regions[0]"),
    ("Stroke-str", lambda: Stroke("x"), "Stroke.mask"), ("Stroke-empty", lambda: Stroke(zeros()), "regions[0]"),
    ("Mask-3d", lambda: Mask(np.zeros((2, 2, 2))), "Mask.mask"), ("Mask-shape", lambda: Mask(np.ones((4, 4))), "regions[0]"),
]:
    case(f"typed-{name}", expect, regions=make)

# ---- history
for name, value in [
    ("none", None), ("str", "hi"), ("int", 42), ("dict", {"q": "a"}), ("short", [("q",)]), ("long", [("q", "a", "x")]),
    ("str-turn", ["qa"]), ("q-none", [(None, "a")]), ("a-none", [("q", None)]), ("a-int", [("q", 42)]),
    ("q-empty", [("", "a")]), ("a-empty", [("q", "  ")]), ("q-image", [("<image>", "a")]), ("q-nul", [("q\x00", "a")]),
    ("q-list", [(["q"], "a")]), ("dict-turn", [{"question": "q", "answer": "a"}]), ("nested", [[("q", "a")]]),
]:
    case(f"history-{name}", "history", history=value)

# ---- generation settings
for name, kw, expect in [
    ("mnt-str", {"max_new_tokens": "10"}, "max_new_tokens"), ("mnt-zero", {"max_new_tokens": 0}, "max_new_tokens"),
    ("mnt-negative", {"max_new_tokens": -5}, "max_new_tokens"), ("mnt-huge", {"max_new_tokens": 10 ** 9}, "max_new_tokens"),
    ("mnt-float", {"max_new_tokens": 10.0}, "max_new_tokens"), ("mnt-bool", {"max_new_tokens": True}, "max_new_tokens"),
    ("mnt-none", {"max_new_tokens": None}, "max_new_tokens"), ("mnt-nan", {"max_new_tokens": NAN}, "max_new_tokens"),
    ("temp-str", {"temperature": "hot"}, "temperature"), ("temp-negative", {"temperature": -1}, "temperature"),
    ("temp-nan", {"temperature": NAN}, "temperature"), ("temp-inf", {"temperature": INF}, "temperature"),
    ("temp-huge", {"temperature": 100}, "temperature"), ("temp-none", {"temperature": None}, "temperature"),
    ("temp-bool", {"temperature": True}, "temperature"), ("top-p-zero", {"top_p": 0}, "top_p"),
    ("top-p-big", {"top_p": 1.5}, "top_p"), ("top-p-str", {"top_p": "x"}, "top_p"), ("top-p-nan", {"top_p": NAN}, "top_p"),
    ("rep-zero", {"repetition_penalty": 0}, "repetition_penalty"), ("rep-str", {"repetition_penalty": "x"}, "repetition_penalty"),
    ("stop-str", {"stop_event": "yes"}, "stop_event"), ("stop-int", {"stop_event": 1}, "stop_event"),
    ("stop-true", {"stop_event": True}, "stop_event"), ("lp-str", {"logits_processor": "x"}, "logits_processor"),
    ("lp-ints", {"logits_processor": [1]}, "logits_processor"), ("lp-int", {"logits_processor": 5}, "logits_processor"),
]:
    case(f"generation-{name}", expect, **kw)


def call_args(kw: dict) -> dict:
    args = {"image": img(), "question": RQ if "regions" in kw and "question" not in kw else Q}
    args.update(kw)
    if callable(args.get("regions")):
        args["regions"] = [args["regions"]]  # a typed region built inside the call (its checks may raise)
    return args


def build(args: dict) -> dict:
    out = dict(args)
    if isinstance(out.get("regions"), list) and out["regions"] and callable(out["regions"][0]) and \
            not isinstance(out["regions"][0], (Point, Box, Stroke, Mask)):
        out["regions"] = [out["regions"][0]()]
    return out


def test_corpus_is_large():
    assert len(CASES) >= 125


@pytest.mark.parametrize("how", ["ask", "stream"])
@pytest.mark.parametrize("name,kw,expect", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_library_error(medplib, how, name, kw, expect):
    args = call_args(kw)
    with pytest.raises((MedPLIBInputError, MedPLIBTypeError)) as info:
        args = build(args)
        image, question = args.pop("image"), args.pop("question")
        getattr(medplib, how)(image, question, max_new_tokens=args.pop("max_new_tokens", 1), **args)
    message = str(info.value)
    assert expect in message, message
    assert "Traceback" not in message and len(message) < 400


def test_encode_refuses_bad_images_with_its_own_errors(medplib):
    for value in (None, np.ones((4, 4), complex), np.zeros((0, 3)), np.full((4, 4), NAN)):
        with pytest.raises((MedPLIBInputError, MedPLIBTypeError), match="image"):
            medplib.encode(value)


def test_good_inputs_in_every_form_still_work(medplib):
    encoded = medplib.encode(img())
    m = disk()
    forms = [Point(15, 15), {"point": (15, 15)}, Box(10, 10, 20, 20), {"box": [20, 20, 10, 10]},
             Stroke(m), {"stroke": m}, Mask(m), {"mask": m.astype(np.uint8)}, m, Box(-5, -5, 10, 10)]
    for region in forms:
        answer = medplib.ask(encoded, RQ, regions=[region], max_new_tokens=2)
        assert isinstance(answer.text, str)
    first = medplib.ask(encoded, Q, max_new_tokens=2)
    again = medplib.ask(encoded, "And now?", history=[(Q, first)], max_new_tokens=2)
    same = medplib.ask(encoded, "And now?", history=[(Q, first.raw_text)], max_new_tokens=2)
    assert again.token_ids == same.token_ids
    items = list(medplib.stream(Image.fromarray(img()), Q, max_new_tokens=3, temperature=0.5, top_p=0.9,
                                stop_event=threading.Event()))
    assert all(isinstance(i, Partial) for i in items[:-1]) and items[-1].__class__.__name__ == "Answer"
    assert medplib.ask(encoded, Q, max_new_tokens=np.int64(2)).token_ids == first.token_ids


def test_stream_partials_read_like_the_final_text(medplib):
    items = list(medplib.stream(img(), Q, max_new_tokens=12))
    *partials, answer = items
    if partials:
        assert partials[-1].text == answer.text
    for p in partials:
        assert "  " not in p.text and " ." not in p.text


def test_box_corners_may_come_in_any_order_and_are_clipped(medplib):
    a = medplib.region_masks([Box(40, 30, 10, 5)], (H, W))[0]
    b = medplib.region_masks([{"box": (10, 5, 40, 30)}], (H, W))[0]
    assert np.array_equal(a, b) and a[5:31, 10:41].all() and a.sum() == 26 * 31
    clipped = medplib.region_masks([Box(-10, -10, 5, 5)], (H, W))[0]
    assert clipped.sum() == 36


def test_a_gapped_outline_gives_the_same_region_through_the_api_and_the_app(medplib):
    import cv2

    from demo.strokes import parse_region

    outline = np.zeros((96, 128), np.uint8)
    cv2.ellipse(outline, (64, 48), (40, 28), 0, 0, 360, 1, thickness=2)
    outline[20:24, 60:66] = 0  # a ~5 px gap where the hand did not close the loop
    api = medplib.region_masks([Stroke(outline)], outline.shape)[0]
    api_dict = medplib.region_masks([{"stroke": outline}], outline.shape)[0]
    app = parse_region(outline > 0, "Free-form").mask
    assert np.array_equal(api, app) and np.array_equal(api_dict, app)
    filled = np.zeros_like(outline)
    cv2.ellipse(filled, (64, 48), (41, 29), 0, 0, 360, 1, thickness=-1)
    assert api[48, 64] and abs(int(api.sum()) - int(filled.sum())) < 0.05 * filled.sum()
