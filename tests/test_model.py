import re

import pytest
import torch
from transformers import LogitsProcessorList

from medplib import MedPLIBConfig, MedPLIBForCausalLM
from medplib.constants import IMAGE_TOKEN_INDEX, REGION_TOKEN_INDEX
from medplib.checkpoints.conversion import convert_keys
from medplib.checkpoints.parity import main as parity_main
from tests.helpers import ScriptedTokens

SEG = 40


def tiny_config(**overrides) -> MedPLIBConfig:
    kwargs = dict(
        text_config=dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                           image_size=56, patch_size=14),
        sam_config=dict(image_size=64, encoder_embed_dim=16, encoder_depth=2, encoder_num_heads=2,
                        global_attn_indexes=[1], window_size=2, prompt_embed_dim=16, decoder_mlp_dim=32,
                        decoder_num_heads=2, iou_head_hidden_dim=16),
        seg_token_id=SEG,
    )
    kwargs.update(overrides)
    return MedPLIBConfig(**kwargs)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MedPLIBForCausalLM(tiny_config()).eval()


def prompt(*middle: int) -> torch.Tensor:
    return torch.tensor([[1, 5, 6, IMAGE_TOKEN_INDEX, 7, *middle, 8, 9]])


def test_parity_v1(parity_v1, capsys):
    from tests.conftest import PARITY_FIXTURE

    rc = parity_main([str(PARITY_FIXTURE)])
    out = capsys.readouterr().out
    n = len(parity_v1["outputs"])
    assert f"parity: {n} passed, 0 failed" in out, out
    assert rc == 0
    assert len(re.findall(r"^(ok|FAIL) ", out, flags=re.M)) == n


def test_7b_keys_convert_to_exactly_our_parameters(keys_7b_file):
    with torch.device("meta"):
        model = MedPLIBForCausalLM(MedPLIBConfig())
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    original = {}
    for line in keys_7b_file.read_text().splitlines():
        m = re.match(r"^(\S+) \[([\d, ]*)\]", line)
        if m:
            original[m.group(1)] = tuple(int(x) for x in m.group(2).split(",") if x.strip())
    assert len(original) == 1238
    mapping = convert_keys(original)
    dropped = sorted(set(original) - set(mapping))
    # Only RoPE inverse frequencies are dropped (recomputed from rope_theta).
    assert dropped and all(k.endswith("self_attn.rotary_emb.inv_freq") for k in dropped)
    converted = {mapping[k]: original[k] for k in mapping}
    assert set(converted) == set(ours), (set(converted) ^ set(ours))
    assert {k: v for k, v in converted.items() if ours[k] != v} == {}


def test_several_regions_are_spliced_in_order(model):
    g = 4
    masks = torch.zeros(2, g, g)
    masks[0, 0, 0] = 1
    masks[1, 2:4, 1:3] = 1
    ids = prompt(REGION_TOKEN_INDEX, 11, REGION_TOKEN_INDEX)
    pixels = torch.randn(1, 3, 56, 56)
    mm = model.model.prepare_multimodal_inputs(ids, pixel_values=pixels, region_masks=[masks])
    feats, _ = model.model.encode_image(pixels)
    expected = model.model.region_features(feats[0], masks)
    pos = (mm.expanded_ids[0] == REGION_TOKEN_INDEX).nonzero().flatten()
    assert pos.tolist() == [3 + 16 + 1, 3 + 16 + 3]
    torch.testing.assert_close(mm.inputs_embeds[0, pos], expected)
    assert not torch.allclose(expected[0], expected[1])
    swapped = model.model.prepare_multimodal_inputs(ids, pixel_values=pixels, region_masks=[masks.flip(0)])
    torch.testing.assert_close(swapped.inputs_embeds[0, pos], expected.flip(0))


def test_region_sampling_centered_is_the_mean_of_the_region_patches_and_original_is_offset():
    g, feats = 4, torch.randn(16, 16)
    masks = torch.zeros(1, g, g)
    masks[0, 3, 1:3] = 1  # bottom row: the original samples at row 3*3/4 = 2.25, between rows 2 and 3
    centered = MedPLIBForCausalLM(tiny_config(region_sampling="centered")).eval()
    original = MedPLIBForCausalLM(tiny_config()).eval()
    original.load_state_dict(centered.state_dict())
    adapted = centered.model.region_adapter(feats).view(g, g, -1)
    with torch.no_grad():
        torch.testing.assert_close(centered.model.region_features(feats, masks)[0], adapted[3, 1:3].mean(0))
        assert not torch.allclose(original.model.region_features(feats, masks)[0], adapted[3, 1:3].mean(0), atol=1e-3)
    with pytest.raises(ValueError, match="region_sampling"):
        tiny_config(region_sampling="nearest")


def grounded(model, script, **kw):
    ids = prompt()
    return model.generate_grounded(
        ids, pixel_values=torch.randn(1, 3, 56, 56), sam_pixel_values=torch.randn(1, 3, 64, 64),
        sam_resized_hw=(64, 48), original_hw=(40, 30), max_new_tokens=len(script),
        logits_processor=LogitsProcessorList([ScriptedTokens(script)]), **kw,
    ), ids


def test_one_mask_per_seg_from_the_state_before_each_seg(model):
    torch.manual_seed(1)
    out, ids = grounded(model, [12, SEG, 13, SEG, 2])
    assert out.sequences[0].tolist() == [12, SEG, 13, SEG, 2]
    assert out.seg_positions == [1, 3]
    assert out.masks.shape == (2, 40, 30) and out.masks.dtype == torch.bool
    assert out.scores.shape == (2,)
    # Recompute without a cache: the state that predicted each <SEG> must drive its mask.
    torch.manual_seed(1)
    pixels = torch.randn(1, 3, 56, 56)
    sam_pixels = torch.randn(1, 3, 64, 64)
    mm = model.model.prepare_multimodal_inputs(ids, pixel_values=pixels)
    full = torch.cat([mm.inputs_embeds, model.model.embed_text(out.sequences[:, :-1])], dim=1)
    hidden = model(inputs_embeds=full).last_hidden_state[0]
    n = mm.inputs_embeds.shape[1]
    emb = model.model.encode_sam(sam_pixels)
    logits, _ = model.model.decode_masks(hidden[[n - 1 + 1, n - 1 + 3]], emb, (64, 48), (40, 30))
    torch.testing.assert_close(out.mask_logits, logits, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(out.mask_logits[0], out.mask_logits[1])


def test_no_seg_no_mask(model):
    out, _ = grounded(model, [12, 13, 2])
    assert out.seg_positions == [] and out.masks.shape[0] == 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m.model.encode_image(torch.randn(1, 3, 50, 56)), "pixel_values must be"),
        (lambda m: m.model.prepare_multimodal_inputs(prompt(REGION_TOKEN_INDEX), pixel_values=torch.randn(1, 3, 56, 56),
                                                     region_masks=[torch.zeros(1, 5, 5)]), "region masks must be"),
        (lambda m: m.model.prepare_multimodal_inputs(prompt(REGION_TOKEN_INDEX, REGION_TOKEN_INDEX),
                                                     pixel_values=torch.randn(1, 3, 56, 56),
                                                     region_masks=[torch.zeros(1, 4, 4)]), "2 <region> placeholder"),
        (lambda m: m.model.prepare_multimodal_inputs(prompt(), region_masks=None), "no pixel_values"),
        (lambda m: tiny_config(bogus_key=1), "unknown config key"),
        (lambda m: tiny_config(mask_postprocess="sideways"), "mask_postprocess"),
        (lambda m: tiny_config(region_grid="area"), "region_grid"),
    ],
)
def test_bad_input_raises_clear_value_error(model, call, message):
    with pytest.raises(ValueError, match=message):
        call(model)


def test_moe_routes_each_token_to_one_expert_with_its_probability(model):
    moe = model.model.language_model.layers[0].mlp
    x = torch.randn(2, 5, 32)
    out, logits = moe(x)
    probs = logits.softmax(-1)
    flat = x.reshape(-1, 32)
    for i in range(flat.shape[0]):
        e = int(probs[i].argmax())
        torch.testing.assert_close(out.reshape(-1, 32)[i], probs[i, e] * moe.experts[e](flat[i]))


def test_dense_config_has_plain_mlps():
    model = MedPLIBForCausalLM(tiny_config(moe_num_experts=1))
    assert not any("router" in k for k in model.state_dict())
    assert any(k.endswith("layers.0.mlp.gate_proj.weight") for k in model.state_dict())
