"""SAM-Med2D head: parity with the original (tiny fixture), postprocess geometry, 7B key layout."""

from __future__ import annotations

import pytest
import torch

from medplib.model.sam import SamConfig, SamMed2D, postprocess_masks

TOL = dict(atol=1e-4, rtol=1e-4)


def _close(name: str, got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    diff = (got.float() - want.float()).abs().max().item()
    assert torch.allclose(got.float(), want.float(), **TOL), f"{name}: max abs diff {diff:.3e}"


@pytest.fixture(scope="module")
def tiny(parity_v1):
    cfg = SamConfig.from_dict(parity_v1["config"]["_tiny_sam"])
    model = SamMed2D(cfg).eval()
    model.load_state_dict(SamMed2D.strip_original_prefix(parity_v1["state_dict"]), strict=True)
    return model


# ---------------------------------------------------------------- parity with the original


@torch.no_grad()
def test_image_encoder_parity(tiny, parity_v1):
    out = parity_v1["outputs"]
    emb = tiny.encode_image(parity_v1["inputs"]["images"])
    _close("a3_sam_image_embeddings", emb, out["a3_sam_image_embeddings"])
    for tag in ("c", "b", "bnr"):  # every path encodes the same image
        _close(f"{tag}_sam_image_embeddings", emb, out[f"{tag}_sam_image_embeddings"])


@torch.no_grad()
def test_prompt_encoder_parity(tiny, parity_v1):
    out = parity_v1["outputs"]
    sparse, dense = tiny.prompt_encoder(text_embeds=out["c_text_hidden_fcs_out"][:, None, :])
    _close("c_sparse_embeddings", sparse, out["c_sparse_embeddings"])
    _close("c_dense_embeddings", dense, out["c_dense_embeddings"])
    _close("c_dense_pe", tiny.prompt_encoder.get_dense_pe(), out["c_dense_pe"])


@torch.no_grad()
@pytest.mark.parametrize("multimask", [False, True])
def test_mask_decoder_parity(tiny, parity_v1, multimask):
    out = parity_v1["outputs"]
    sfx = "_multimask" if multimask else ""
    masks, iou = tiny.decode(out["c_sam_image_embeddings"], out["c_text_hidden_fcs_out"], multimask_output=multimask)
    _close("c_low_res_masks" + sfx, masks, out["c_low_res_masks" + sfx])
    _close("c_iou_predictions" + sfx, iou, out["c_iou_predictions" + sfx])


@torch.no_grad()
def test_postprocess_original_parity(parity_v1):
    out = parity_v1["outputs"]
    cases = parity_v1["inputs"]["c_postprocess_cases"]
    assert cases
    for name, (input_size, original_size) in cases.items():
        got = postprocess_masks(out["c_low_res_masks"], tuple(input_size), tuple(original_size), mode="original")
        _close(f"c_postprocess_{name}", got, out[f"c_postprocess_{name}"])


@torch.no_grad()
@pytest.mark.parametrize("tag", ["a3", "b", "bnr"])
def test_end_to_end_mask_chain_parity(tiny, parity_v1, tag):
    """Sparse prompt -> low-res masks -> pred mask, for the recorded training / evaluate paths."""
    out, inp = parity_v1["outputs"], parity_v1["inputs"]
    emb = tiny.encode_image(inp["images"])
    masks, iou = tiny.decode(emb, out[f"{tag}_sparse_embeddings"][:, 0])
    _close(f"{tag}_low_res_masks", masks, out[f"{tag}_low_res_masks"])
    _close(f"{tag}_iou_predictions", iou, out[f"{tag}_iou_predictions"])
    size = (inp["masks_list"] if tag == "a3" else inp["label_list"])[0].shape
    pred = postprocess_masks(masks, tuple(inp["resize_list"][0]), tuple(size), mode="original")[:, 0]
    _close(f"{tag}_pred_mask", pred, out[f"{tag}_pred_mask"])


# ---------------------------------------------------------------- behaviour / API


def _tiny_cfg() -> SamConfig:
    return SamConfig(image_size=64, encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2,
                     global_attn_indexes=(1,), window_size=3, prompt_embed_dim=32, decoder_mlp_dim=64,
                     decoder_num_heads=2, iou_head_hidden_dim=32)


@torch.no_grad()
def test_decode_shapes_and_empty():
    torch.manual_seed(0)
    model = SamMed2D(_tiny_cfg()).eval()
    emb = model.encode_image(torch.randn(1, 3, 64, 64))
    assert emb.shape == (1, 32, 4, 4)
    masks, iou = model.decode(emb, torch.randn(3, 32))
    assert masks.shape == (3, 1, 16, 16) and iou.shape == (3, 1)
    masks_mm, iou_mm = model.decode(emb, torch.randn(3, 32), multimask_output=True)
    assert masks_mm.shape == (3, 3, 16, 16) and iou_mm.shape == (3, 3)
    empty, empty_iou = model.decode(emb, torch.zeros(0, 32))
    assert empty.shape == (0, 1, 16, 16) and empty_iou.shape == (0, 1)
    # n prompts at once == one prompt at a time (how the original decodes)
    prompts = torch.randn(2, 32)
    both, _ = model.decode(emb, prompts)
    one, _ = model.decode(emb, prompts[1:])
    torch.testing.assert_close(both[1:], one, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_bf16_runs_and_tracks_fp32():
    torch.manual_seed(0)
    model = SamMed2D(_tiny_cfg()).eval()
    img, prompts = torch.randn(1, 3, 64, 64), torch.randn(2, 32)
    ref, _ = model.decode(model.encode_image(img), prompts)
    model = model.to(torch.bfloat16)
    emb = model.encode_image(img)  # fp32 input is cast to the weights' dtype
    assert emb.dtype == torch.bfloat16
    got, iou = model.decode(emb, prompts)  # fp32 prompts into a bf16 decoder
    assert got.dtype == torch.bfloat16 and iou.dtype == torch.bfloat16
    assert torch.corrcoef(torch.stack([got.float().flatten(), ref.flatten()]))[0, 1] > 0.98


def test_config_round_trip_and_aliases():
    cfg = SamConfig()
    assert SamConfig.from_dict(cfg.to_dict()) == cfg
    aliased = SamConfig.from_dict({"encoder_global_attn_indexes": [1], "vit_patch_size": 8, "encoder_adapter": False})
    assert aliased.global_attn_indexes == (1,) and aliased.patch_size == 8 and aliased.adapter is False
    with pytest.raises(ValueError, match="bogus"):
        SamConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="conflicting"):
        SamConfig.from_dict({"adapter": True, "encoder_adapter": False})


def test_postprocess_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        postprocess_masks(torch.zeros(1, 1, 64, 64), (256, 256), (10, 10), mode="parity")


def _resize_longest(h: int, w: int, side: int = 256) -> tuple[int, int]:
    """ResizeLongestSide's output size (rounded to nearest)."""
    scale = side / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def _box_logits(box: tuple[int, int, int, int], orig: tuple[int, int], low: int = 64, side: int = 256) -> torch.Tensor:
    """Low-res logits of a perfect predictor for an object box (y0, y1, x0, x1) in original pixels:
    the signed distance (256-space pixels) to the box, sampled at the low-res cell centres of the
    centre-padded SAM layout. Positive inside the object."""
    H, W = orig
    h, w = _resize_longest(H, W, side)
    top, left = (side - h) // 2, (side - w) // 2
    y0, y1, x0, x1 = box
    sy, sx = h / H, w / W
    c = (torch.arange(low, dtype=torch.float32) + 0.5) * (side / low)  # cell centres in 256-space
    yy, xx = c[:, None], c[None, :]
    d = torch.minimum(
        torch.minimum(yy - (top + y0 * sy), (top + y1 * sy) - yy),
        torch.minimum(xx - (left + x0 * sx), (left + x1 * sx) - xx),
    )
    return d[None, None]


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a & b).sum() / (a | b).sum()).item()


@pytest.mark.parametrize("orig", [(300, 100), (100, 300)])
def test_exact_mode_puts_mask_on_object(orig):
    H, W = orig
    box = (H // 5, H - H // 4, W // 5, W - W // 3)  # off-centre object
    gt = torch.zeros(H, W, dtype=torch.bool)
    gt[box[0] : box[1], box[2] : box[3]] = True
    low = _box_logits(box, orig)
    input_size = _resize_longest(H, W)
    exact = postprocess_masks(low, input_size, orig, mode="exact")[0, 0] > 0
    orig_mode = postprocess_masks(low, input_size, orig, mode="original")[0, 0] > 0
    assert exact.shape == orig_mode.shape == (H, W)
    assert _iou(exact, gt) > 0.9
    # the original's crop is in the wrong units for a 3:1 image: the mask lands elsewhere
    assert _iou(orig_mode, gt) < 0.5
    assert _iou(orig_mode, exact) < 0.5


def test_exact_and_original_agree_on_square_images():
    orig = (120, 120)
    box = (30, 90, 20, 70)
    gt = torch.zeros(orig, dtype=torch.bool)
    gt[30:90, 20:70] = True
    low = _box_logits(box, orig)
    exact = postprocess_masks(low, (256, 256), orig, mode="exact")[0, 0] > 0
    original = postprocess_masks(low, (256, 256), orig, mode="original")[0, 0] > 0
    assert _iou(exact, gt) > 0.95 and _iou(original, gt) > 0.95


# ---------------------------------------------------------------- 7B layout


def test_7b_keys_and_shapes(keys_7b_file):
    prefix = "model.visual_model."
    expected: dict[str, tuple[int, ...]] = {}
    for line in keys_7b_file.read_text().splitlines():
        if not line.startswith(prefix):
            continue
        key, shape = line.split(" ", 1)
        expected[key[len(prefix):]] = tuple(int(s) for s in shape.strip("[] ").split(",") if s.strip())
    assert expected
    with torch.device("meta"):
        model = SamMed2D(SamConfig())
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(set(got) - set(expected)) == []
    assert sorted(set(expected) - set(got)) == []
    assert {k: v for k, v in got.items() if v != expected[k]} == {}
    # pixel_mean / pixel_std live in the config, not in the module
    assert not any("pixel" in name for name, _ in model.named_buffers())
