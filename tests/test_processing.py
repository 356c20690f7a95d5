"""Tests for medplib.processing: golden ids from the original code, 7B-like tokenizer, image/region maths."""

import string

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from medplib.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX, REGION_TOKEN_INDEX
from medplib.processing import (
    CLIP_MEAN,
    CLIP_STD,
    SAM_MEAN,
    SAM_STD,
    SYSTEM_EVAL,
    SYSTEM_TRAINING,
    MedPLIBProcessor,
    PreparedImage,
    add_medplib_tokens,
    box_region,
    build_labels,
    build_prompt,
    clip_pixel_values,
    decode_answer,
    encode_prompt,
    expand_region_refs,
    freeform_region,
    pad_center,
    point_region,
    region_grid,
    resize_longest,
    sam_pixel_values,
    special_ids,
    to_rgb_uint8,
)
from medplib.processing.conversation import IMAGE_PREFIX

# ---------------------------------------------------------------- tokenizers


@pytest.fixture(scope="module")
def tiny_tok(parity_v1):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(parity_v1["tokenizer_json"]),
                                   unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<unk>")


CHARS = ["▁", "\n"] + [c for c in string.printable if c not in string.whitespace]


@pytest.fixture(scope="module")
def llama_tok():
    """A transformers-5 LlamaTokenizer with a character vocabulary padded to exactly 32000 entries."""
    from transformers import LlamaTokenizer

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for c in CHARS:
        vocab[c] = len(vocab)
    while len(vocab) < 32000:
        vocab[f"<filler_{len(vocab)}>"] = len(vocab)
    tok = LlamaTokenizer(vocab=vocab, merges=[])
    assert len(tok) == 32000
    assert add_medplib_tokens(tok) == 267
    return tok


def chars(tok, span):
    """Independent reference for one span: SentencePiece-style dummy prefix, spaces as ▁, one id per char."""
    return tok.convert_tokens_to_ids(list("▁" + span.replace(" ", "▁")))


# ---------------------------------------------------------------- golden fixture


@pytest.mark.parametrize("prompt_key,ids_key", [
    ("full_prompt", "input_ids"),
    ("gen_prompt", "gen_input_ids"),
    ("gen_prompt_noregion", "gen_input_ids_noregion"),
])
def test_golden_ids(parity_v1, tiny_tok, prompt_key, ids_key):
    # The fixture ran the original code on a *fast* tokenizer: no stripping around added tokens.
    inputs = parity_v1["inputs"]
    ids = encode_prompt(tiny_tok, inputs[prompt_key], strip_whitespace=False)
    assert ids == inputs[ids_key][0].tolist()


def test_golden_labels(parity_v1, tiny_tok):
    inputs = parity_v1["inputs"]
    labels = build_labels(inputs["full_prompt"], tiny_tok, strip_whitespace=False)
    assert labels == inputs["labels"][0].tolist()


def test_golden_prompt_strings(parity_v1):
    inputs = parity_v1["inputs"]
    human = inputs["conv_human"]
    assert human.startswith(IMAGE_PREFIX)
    human = human[len(IMAGE_PREFIX):]
    assert build_prompt([(human, inputs["conv_gpt"])], SYSTEM_EVAL) == inputs["full_prompt"]
    assert build_prompt([(human, None)], SYSTEM_EVAL) == inputs["gen_prompt"]
    noregion = human.replace("<region></region> region", "lesion")
    assert build_prompt([(noregion, None)], SYSTEM_EVAL) == inputs["gen_prompt_noregion"]


def test_fixture_prompt_with_slow_whitespace_stripping(parity_v1, tiny_tok):
    # Slow-tokenizer behaviour: the "▁" before <im_start>/<region>/<SEG> disappears and "\nCan"
    # after <im_end> becomes a fresh span "Can" with its own dummy prefix.
    g = parity_v1["inputs"]["input_ids"][0].tolist()
    t = parity_v1["inputs"]["token_ids"]
    can = tiny_tok.encode("Can", add_special_tokens=False)
    expected = (g[:60] + [t["<im_start>"], IMAGE_TOKEN_INDEX, t["<im_end>"]] + can + g[66:69]
                + [t["<region>"], REGION_TOKEN_INDEX, t["</region>"]] + g[73:87] + [t["<SEG>"], g[89], t["</s>"]])
    assert g[60] == g[64] == g[69] == g[87] == tiny_tok.convert_tokens_to_ids("▁")
    assert encode_prompt(tiny_tok, parity_v1["inputs"]["full_prompt"]) == expected


def test_decode_answer(parity_v1, tiny_tok):
    answer = parity_v1["inputs"]["input_ids"][0].tolist()[82:] + [160, 160]  # junk after </s> is ignored
    assert decode_answer(tiny_tok, answer) == "Sure, it is."
    assert decode_answer(tiny_tok, torch.tensor([300, 2])) == ""


# ---------------------------------------------------------------- 7B-like tokenizer


def test_7b_special_ids(llama_tok):
    ids = special_ids(llama_tok)
    assert ids["<SEG>"] == 32000 and ids["<region>"] == 32003 and ids["</region>"] == 32004
    assert ids["<gen_1>"] == 32009 and ids["<gen_256>"] == 32264
    assert ids["<im_start>"] == 32265 and ids["<im_end>"] == 32266
    assert ids["<s>"] == 1 and ids["</s>"] == 2
    assert llama_tok.pad_token_id == 0 and llama_tok.pad_token == llama_tok.unk_token
    assert len(llama_tok) == 32267
    assert add_medplib_tokens(llama_tok) == 0  # idempotent on a tokenizer that already has them


def test_special_ids_missing_tokens():
    from transformers import LlamaTokenizer

    tok = LlamaTokenizer(vocab={"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3}, merges=[])
    with pytest.raises(ValueError, match="add_medplib_tokens"):
        special_ids(tok)


def test_7b_prompt_ids_strip_whitespace(llama_tok):
    question, order = expand_region_refs("What is in <region1>?", 1)
    assert order == [0]
    prompt = build_prompt([(question, "It is <SEG>.")])
    assert prompt == (SYSTEM_TRAINING + " USER: <im_start><image><im_end>\nWhat is in <region></region>?"
                      " ASSISTANT: It is <SEG>.</s>")
    s1 = SYSTEM_TRAINING + " USER:"
    expected = ([1] + chars(llama_tok, s1) + [32265, IMAGE_TOKEN_INDEX, 32266] + chars(llama_tok, "What is in")
                + [32003, REGION_TOKEN_INDEX, 32004] + chars(llama_tok, "? ASSISTANT: It is") + [32000]
                + chars(llama_tok, ".") + [2])
    ids = encode_prompt(llama_tok, prompt)
    assert ids == expected
    # No "▁" before <im_start>, ":" is the last text id; no newline after <im_end>.
    assert ids[ids.index(32265) - 1] == llama_tok.convert_tokens_to_ids(":")
    assert "\n" not in llama_tok.convert_ids_to_tokens([i for i in ids if i >= 0])

    labels = build_labels(prompt, llama_tok)
    kept = [x for x in labels if x != IGNORE_INDEX]
    assert kept == chars(llama_tok, "It is") + [32000] + chars(llama_tok, ".") + [2]
    assert labels[-len(kept):] == ids[-len(kept):]

    gen = encode_prompt(llama_tok, build_prompt([(question, None)]))
    assert ids[:len(gen)] == gen and gen[-1] == llama_tok.convert_tokens_to_ids(":")
    assert encode_prompt(llama_tok, "hi", add_bos=False) == chars(llama_tok, "hi")


def test_labels_multi_turn(llama_tok):
    prompt = build_prompt([("Q one", "A1"), ("Q two", "A2 <SEG>")])
    ids = encode_prompt(llama_tok, prompt)
    labels = build_labels(prompt, llama_tok)
    kept = [x for x in labels if x != IGNORE_INDEX]
    assert kept == chars(llama_tok, "A1") + [2] + chars(llama_tok, "A2") + [32000, 2]
    assert len(labels) == len(ids)


def test_unknown_split_tokens_and_eos_not_stripped(llama_tok):
    # </s> is not a stripping token: whitespace next to it stays in the neighbouring span.
    ids = encode_prompt(llama_tok, "a </s> b", add_bos=False)
    assert ids == chars(llama_tok, "a ") + [2] + chars(llama_tok, " b")[1:]


# ---------------------------------------------------------------- conversation / regions in text


def test_build_prompt_multi_turn_and_errors():
    p = build_prompt([("  <image>Hi ", "Hello"), ("More?", None)], system="SYS")
    assert p == "SYS USER: <im_start><image><im_end>\nHi ASSISTANT: Hello</s>USER: More? ASSISTANT:"
    with pytest.raises(ValueError, match="at least one"):
        build_prompt([])
    with pytest.raises(ValueError, match="only the last turn"):
        build_prompt([("a", None), ("b", None)])
    with pytest.raises(ValueError, match="empty user message"):
        build_prompt([("  ", None)])


def test_expand_region_refs():
    assert expand_region_refs("Is <region> bad?", 1) == ("Is <region></region> bad?", [0])
    assert expand_region_refs("<region2> vs <region1> vs <region2>", 2) == (
        "<region></region> vs <region></region> vs <region></region>", [1, 0, 1])
    assert expand_region_refs("already <region></region> here", 1) == ("already <region></region> here", [0])
    assert expand_region_refs("What organ? ", 2) == ("What organ? <region></region> <region></region>", [0, 1])
    assert expand_region_refs("What organ?", 2, auto_append=False) == ("What organ?", [])
    assert expand_region_refs("No regions.", 0) == ("No regions.", [])
    with pytest.raises(ValueError, match="<region3>.*<region1>..<region2>"):
        expand_region_refs("see <region3>", 2)
    with pytest.raises(ValueError, match="no region was drawn"):
        expand_region_refs("see <region1>", 0)
    with pytest.raises(ValueError, match="plain <region>"):
        expand_region_refs("see <region>", 2)
    with pytest.raises(ValueError, match="stray"):
        expand_region_refs("see </region>", 1)


# ---------------------------------------------------------------- images


def test_to_rgb_uint8_modes():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(to_rgb_uint8(Image.fromarray(rgb)), rgb)
    assert np.array_equal(to_rgb_uint8(rgb), rgb)

    gray = rgb[:, :, 0]
    for img in (Image.fromarray(gray), gray, gray[:, :, None]):
        out = to_rgb_uint8(img)
        assert out.shape == (5, 7, 3) and out.dtype == np.uint8
        assert all(np.array_equal(out[:, :, c], gray) for c in range(3))

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[..., 3] = [[255, 0], [128, 255]]
    out = to_rgb_uint8(Image.fromarray(rgba, "RGBA"))  # composited on black
    assert out[0, 0].tolist() == [200, 100, 50] and out[0, 1].tolist() == [0, 0, 0]
    assert out[1, 0].tolist() == [100, 50, 25]
    assert np.array_equal(to_rgb_uint8(rgba), out)
    la = Image.fromarray(np.stack([np.full((2, 2), 200, np.uint8), rgba[..., 3]], -1), "LA")
    assert to_rgb_uint8(la)[0, 1].tolist() == [0, 0, 0] and to_rgb_uint8(la)[0, 0].tolist() == [200] * 3

    pal = Image.fromarray(gray).convert("P")
    assert to_rgb_uint8(pal).shape == (5, 7, 3)
    assert to_rgb_uint8(Image.fromarray(gray > 128)).max() == 255


def test_to_rgb_uint8_high_bit_depth():
    a16 = np.array([[1000, 2000], [3000, 1500]], np.uint16)
    expected = np.array([[0, 128], [255, 64]], np.uint8)  # min-max stretched, rounded
    for img in (a16, Image.fromarray(a16), Image.fromarray(a16.astype(np.int32), "I"),
                Image.fromarray(a16.astype(np.float32), "F"), a16.astype(np.int16), a16 / 7.0):
        out = to_rgb_uint8(img)
        assert out.dtype == np.uint8 and np.array_equal(out[:, :, 0], expected), type(img)
    assert to_rgb_uint8(np.full((3, 3), 7.5)).max() == 0  # constant image: no division by zero
    rgba16 = np.zeros((1, 1, 4), np.uint16)
    rgba16[..., 3] = 65535
    assert to_rgb_uint8(rgba16).shape == (1, 1, 3)


@pytest.mark.parametrize("bad,msg", [
    (np.zeros((0, 5), np.uint8), "empty"),
    (np.zeros((2, 3, 3, 1), np.uint8), "shape"),
    (np.zeros((4, 4, 5), np.uint8), "shape"),
    (np.zeros(5, np.uint8), "shape"),
    (np.array([[np.nan, 1.0]]), "NaN"),
    (Image.new("RGB", (0, 3)), "empty"),
])
def test_to_rgb_uint8_rejects(bad, msg):
    with pytest.raises(ValueError, match=msg):
        to_rgb_uint8(bad)


def test_resize_longest_rounding():
    assert resize_longest(np.zeros((30, 40, 3), np.uint8), 56).shape == (42, 56, 3)
    assert resize_longest(np.zeros((28, 40), np.uint8), 56).shape == (39, 56)  # 39.2 -> 39
    assert resize_longest(np.zeros((1, 4), np.uint8), 2).shape == (1, 2)  # 0.5 rounds up, not to even
    assert resize_longest(np.zeros((1, 1000), np.uint8), 56).shape == (1, 56)  # never 0 pixels
    assert resize_longest(np.zeros((56, 20), np.uint8), 56).shape == (56, 20)


def test_pad_center():
    out = pad_center(np.ones((3, 4), np.uint8), 6, 9)
    assert out.shape == (6, 6)
    rows, cols = np.nonzero(out == 1)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (1, 3, 1, 4)  # top=floor(3/2), extra at bottom
    with pytest.raises(ValueError):
        pad_center(np.ones((7, 2)), 6)


def _norm(value, mean, std):
    return torch.tensor([(value[c] - mean[c]) / std[c] for c in range(3)])


@pytest.mark.parametrize("hw,top,bottom", [((30, 40), 7, 7), ((28, 40), 8, 9), ((40, 40), 0, 0)])
def test_clip_pixel_values_padding(hw, top, bottom):
    white = np.full(hw + (3,), 255, np.uint8)
    x = clip_pixel_values(white, 56)
    assert x.shape == (3, 56, 56) and x.dtype == torch.float32
    fill = _norm([122 / 255, 116 / 255, 104 / 255], CLIP_MEAN, CLIP_STD)
    content = _norm([1.0] * 3, CLIP_MEAN, CLIP_STD)
    assert torch.allclose(x[:, 56 // 2, 28], content, atol=1e-6)
    if top:
        assert torch.allclose(x[:, top - 1, 10], fill, atol=1e-6) and torch.allclose(x[:, top, 10], content, atol=1e-6)
        assert torch.allclose(x[:, 56 - bottom, 10], fill, atol=1e-6)
        assert torch.allclose(x[:, 56 - bottom - 1, 10], content, atol=1e-6)


def test_clip_pixel_values_matches_reference_and_tall_image():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (50, 20, 3), dtype=np.uint8)  # tall: padding left/right
    x = clip_pixel_values(img, 56)
    resized = np.asarray(Image.fromarray(img).resize((22, 56), Image.BILINEAR)).astype(np.float64)
    ref = (resized / 255 - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    assert np.allclose(x[:, :, 17:39].permute(1, 2, 0).numpy(), ref, atol=1e-6)  # left = floor(34/2)
    lo = (0 - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    hi = (1 - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    assert (x.amin(dim=(1, 2)).numpy() >= lo - 1e-6).all() and (x.amax(dim=(1, 2)).numpy() <= hi + 1e-6).all()


@pytest.mark.parametrize("hw,resized,top", [((30, 40), (48, 64), 8), ((28, 40), (45, 64), 9), ((64, 64), (64, 64), 0)])
def test_sam_pixel_values(hw, resized, top):
    x, rhw = sam_pixel_values(np.full(hw + (3,), 255, np.uint8), 64)
    assert x.shape == (3, 64, 64) and rhw == resized
    content = _norm([255.0] * 3, SAM_MEAN, SAM_STD)
    assert torch.allclose(x[:, top, 5], content, atol=1e-5)
    assert torch.allclose(x[:, top + resized[0] - 1, 5], content, atol=1e-5)
    if top:
        assert torch.all(x[:, top - 1] == 0) and torch.all(x[:, top + resized[0]] == 0)  # pads with 0 after normalising


# ---------------------------------------------------------------- regions


def test_box_region_not_transposed():
    m = box_region(10, 20, x1=2, y1=5, x2=15, y2=7)
    rows, cols = np.nonzero(m)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (5, 7, 2, 15)
    assert m.sum() == 3 * 14
    assert np.array_equal(box_region(10, 20, 15, 7, 2, 5), m)  # swapped corners
    assert box_region(10, 20, -5, -5, 100, 3).sum() == 4 * 20  # clipped
    with pytest.raises(ValueError, match="outside"):
        box_region(10, 20, 30, 30, 40, 40)


def test_point_region():
    assert point_region(100, 100, 50, 50).sum() == 41 * 41
    corner = point_region(100, 100, 0, 0)
    assert corner.sum() == 21 * 21 and corner[20, 20] and not corner[21, 0]
    edge = point_region(100, 60, x=59, y=30)
    rows, cols = np.nonzero(edge)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 50, 39, 59)
    with pytest.raises(ValueError, match="outside"):
        point_region(100, 100, 100, 5)


def test_freeform_region_fills_closed_stroke():
    stroke = np.zeros((64, 64), np.uint8)
    cv2.circle(stroke, (30, 32), 15, 1, thickness=1)
    filled = freeform_region(stroke)
    disk = np.zeros_like(stroke)
    cv2.circle(disk, (30, 32), 15, 1, thickness=-1)
    assert filled[32, 30] and not filled[0, 0]
    assert np.all(filled[stroke > 0])
    assert np.array_equal(filled, disk > 0)

    scribble = np.zeros((64, 64), np.uint8)
    cv2.ellipse(scribble, (32, 32), (15, 15), 0, 0, 270, 1, thickness=1)  # open arc: nothing enclosed
    open_region = freeform_region(scribble)
    assert np.all(open_region[scribble > 0]) and not open_region[32, 32]  # painted pixels, centre not filled
    assert open_region.sum() < 4 * (scribble > 0).sum()  # only slightly thickened
    with pytest.raises(ValueError, match="empty"):
        freeform_region(np.zeros((5, 5)))


def test_region_grid_hand_computed():
    # 28x56 image at 56: no resize, 14 rows of padding on top; the grid takes pixel (14i, 14j).
    m = np.zeros((28, 56), np.uint8)
    m[0:14, 14:28] = 1
    expected = torch.zeros(4, 4)
    expected[1, 1] = 1  # padded row 14 = image row 0, col 14
    assert torch.equal(region_grid(m, 56, 14), expected)
    m[0, :] = 0  # without image row 0 the sampled pixel is gone: the region vanishes
    assert region_grid(m, 56, 14).sum() == 0

    # 112x84 -> 56x42, 7 columns of padding on the left: grid column 0 samples padding.
    grid = region_grid(np.ones((112, 84), bool), 56, 14)
    assert grid.dtype == torch.float32 and grid.shape == (4, 4)
    assert torch.equal(grid, torch.tensor([[0.0, 1, 1, 1]] * 4))
    assert region_grid(np.ones((30, 30)), 336, 14).shape == (24, 24)


def test_region_grid_cover_keeps_small_regions():
    # The same 28x56 image: a 3x3 region between the sampled pixels vanishes in "nearest" but not in "cover".
    m = np.zeros((28, 56), np.uint8)
    m[5:8, 20:23] = 1
    assert region_grid(m, 56, 14).sum() == 0
    expected = torch.zeros(4, 4)
    expected[1, 1] = 1  # padded rows 19..21, cols 20..22
    assert torch.equal(region_grid(m, 56, 14, "cover"), expected)
    # A region straddling a patch border marks both patches; resizing maps pixel centres.
    m = np.zeros((112, 84), bool)
    m[0, 0] = m[111, 83] = True  # -> 56x42 with 7 columns of padding: (0.25, 7.25) and (55.75, 48.75)
    grid = region_grid(m, 56, 14, "cover")
    assert grid.nonzero().tolist() == [[0, 0], [3, 3]]
    with pytest.raises(ValueError, match="region grid mode"):
        region_grid(m, 56, 14, "area")


# ---------------------------------------------------------------- processor


@pytest.fixture(scope="module")
def processor(llama_tok):
    return MedPLIBProcessor(llama_tok, clip_image_size=56, patch_size=14, sam_image_size=64,
                            clip_mean=CLIP_MEAN, clip_std=CLIP_STD)


def test_processor_regions_in_prompt_order(processor, llama_tok):
    img = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    r1, r2 = box_region(30, 40, 0, 0, 39, 14), box_region(30, 40, 0, 15, 39, 29)
    out = processor(img, "Compare <region2> with <region1>.", regions=[r1, r2])
    ids = out["input_ids"]
    assert ids.dtype == torch.long and ids.shape[0] == 1 and torch.equal(out["attention_mask"], torch.ones_like(ids))
    assert (ids == IMAGE_TOKEN_INDEX).sum() == 1 and (ids == REGION_TOKEN_INDEX).sum() == 2
    assert out["pixel_values"].shape == (1, 3, 56, 56) and out["sam_pixel_values"].shape == (1, 3, 64, 64)
    assert out["sam_resized_hw"] == (48, 64) and out["original_hw"] == (30, 40)
    assert out["region_order"] == [1, 0]
    g1, g2 = region_grid(r1, 56, 14), region_grid(r2, 56, 14)
    assert torch.equal(out["region_masks"][0], g2) and torch.equal(out["region_masks"][1], g1)
    assert out["prompt"].endswith("Compare <region></region> with <region></region>. ASSISTANT:")
    assert ids[0].tolist() == encode_prompt(llama_tok, out["prompt"])


def test_processor_prepared_image_history_and_auto_append(processor):
    prepared = processor.prepare_image(Image.new("I;16", (40, 30)))
    assert isinstance(prepared, PreparedImage) and prepared.original_hw == (30, 40)
    region = point_region(30, 40, 20, 15)
    out = processor(prepared, "What is this?", regions=[region])
    assert out["prompt"].endswith("What is this? <region></region> ASSISTANT:") and out["region_order"] == [0]
    assert out["pixel_values"] is prepared.pixel_values

    follow = processor(prepared, "And its size?", regions=[region],
                       history=[("What is <region1>?", "A <SEG>.")])
    assert follow["region_order"] == [0]  # referenced in history: no auto-append to the follow-up
    assert "</s>USER: And its size? ASSISTANT:" in follow["prompt"]
    plain = processor(prepared, "Describe the image.")
    assert plain["region_masks"] == [] and (plain["input_ids"] == REGION_TOKEN_INDEX).sum() == 0


def test_processor_rejects_bad_regions(processor):
    img = np.zeros((30, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="expected 30x40"):
        processor(img, "What is <region1>?", regions=[np.ones((40, 30), bool)])
    with pytest.raises(ValueError, match="empty"):
        processor(img, "What is <region1>?", regions=[np.zeros((30, 40), bool)])
    full = np.ones((30, 40), bool)
    with pytest.raises(ValueError, match="<region2> drawn but not referenced"):
        processor(img, "What is <region1>?", regions=[full, full])
    with pytest.raises(ValueError, match="<region2>"):
        processor(img, "What is <region2>?", regions=[full])
    with pytest.warns(UserWarning, match="too small"):
        tiny = np.zeros((30, 40), bool)
        tiny[29, 39] = True
        processor(img, "What is <region1>?", regions=[tiny])


def test_processing_does_not_import_gradio():
    import ast
    from pathlib import Path

    import medplib.processing as pkg

    for path in Path(pkg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] == "gradio" for n in names), path


def test_freeform_region_closes_a_small_gap():
    outline = np.zeros((128, 128), np.uint8)
    cv2.rectangle(outline, (30, 30), (90, 90), 1, thickness=1)
    outline[30, 55:60] = 0  # a 5 px gap in the top edge
    region = freeform_region(outline)
    solid = np.zeros_like(outline)
    cv2.rectangle(solid, (30, 30), (90, 90), 1, thickness=-1)
    assert region[60, 60] and not region[10, 10]
    assert abs(int(region.sum()) - int(solid.sum())) <= 0.02 * solid.sum()
