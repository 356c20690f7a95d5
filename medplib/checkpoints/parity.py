"""Check our port against outputs recorded by running the original MedPLIB.

    python -m medplib.checkpoints.parity FIXTURE.pt [--atol 1e-4] [--rtol 1e-4]

Builds our model from the fixture's config through the converter, reruns every recorded path and prints one
line per recorded output, then `parity: N passed, M failed`. Works for fixtures of any size / seed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch

from .conversion import config_from_original, convert_state_dict
from ..model.modeling import MedPLIBForCausalLM
from ..model.moe import router_aux_loss


def build_model(fixture: dict) -> MedPLIBForCausalLM:
    cfg = fixture["config"]
    config = config_from_original(
        cfg,
        vision_config=cfg["_tiny_clip_vision_config"],
        sam_config=cfg["_tiny_sam"],
        seg_token_id=int(fixture["inputs"]["seg_token_idx"]),
    )
    # The loss weights were constructor arguments of the original model, recorded beside the config.
    for key, value in cfg.get("_model_kwargs", {}).items():
        if key.endswith("_loss_weight"):
            setattr(config, key, float(value))
    config._attn_implementation = "eager"
    model = MedPLIBForCausalLM(config).float().eval()
    state, _ = convert_state_dict(fixture["state_dict"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"fixture does not fit the model: missing {missing}, unexpected {unexpected}")
    return model


def _capture_moe(model: MedPLIBForCausalLM, store: dict) -> list:
    """Forward hooks on every MoE module (non-invasive), recording input, output and router logits."""
    handles = []
    for i, layer in enumerate(model.model.language_model.layers):
        if hasattr(layer.mlp, "router"):
            def hook(mod, args, out, i=i):
                store[i] = (args[0], out[0], out[1])
            handles.append(layer.mlp.register_forward_hook(hook))
    return handles


def run_paths(model: MedPLIBForCausalLM, fixture: dict) -> dict[str, torch.Tensor]:
    """Recompute every output name the fixture records."""
    inp, out = fixture["inputs"], fixture["outputs"]
    sam_cfg = model.config.sam
    ours: dict[str, torch.Tensor] = {}
    region = [torch.stack([m.reshape(m.shape[-2:]) for m in inp["region_masks"]])]
    resized = [tuple(int(v) for v in hw) for hw in inp["resize_list"]]
    original_hw = tuple(inp["label_list"][0].shape) if isinstance(inp["label_list"], list) else tuple(inp["label_list"].shape[-2:])
    masks_gt = inp["masks_list"] if isinstance(inp["masks_list"], list) else [inp["masks_list"]]
    gt = torch.stack([m.reshape(original_hw).float() for m in masks_gt])

    # (a) LLM forward with image + region, and (a3) the same forward with the SEG -> mask chain and losses.
    moe: dict = {}
    handles = _capture_moe(model, moe)
    clip_features, projected = model.model.encode_image(inp["images_clip"])
    ours["a_clip_image_features"], ours["a_mm_projector_out"] = clip_features, projected
    ours["a_region_fea_adapter_out"] = model.model.region_adapter(clip_features)
    ours["a_region_features"] = model.model.region_features(clip_features[0], region[0])
    res = model(
        input_ids=inp["input_ids"], attention_mask=inp["attention_mask"], labels=inp["labels"],
        image_features=(clip_features, projected), region_masks=region, output_hidden_states=True,
        seg_masks=[gt], sam_pixel_values=inp["images"], sam_resized_hw=resized,
    )
    for h in handles:
        h.remove()
    mm = res.multimodal
    ours["a_inputs_embeds"], ours["a_llm_attention_mask"] = mm.inputs_embeds, mm.attention_mask
    ours["a_llm_logits"], ours["a_llm_hidden_states"] = res.logits, torch.stack(res.hidden_states)
    ours["a_llm_loss"] = res.ce_loss
    aux = [router_aux_loss(moe[i][2]) for i in sorted(moe)]
    ours["a_llm_moe_loss_list"] = torch.stack(aux)
    ours["a_llm_moe_loss"] = res.aux_loss
    for i in sorted(moe):
        x, y, logits = moe[i]
        ours[f"a_moe_in_l{i}"], ours[f"a_moe_out_l{i}"], ours[f"a_moe_gate_logits_l{i}"] = x, y, logits
        ours[f"a_moe_l_aux_l{i}"] = aux[sorted(moe).index(i)]
        ours[f"a_moe_exp_counts_l{i}"] = torch.bincount(logits.argmax(-1), minlength=logits.shape[-1])
    ml = res.mask_losses
    ours["a3_loss"], ours["a3_ce_loss"] = res.loss, res.ce_loss
    ours["a3_mask_bce_loss"], ours["a3_mask_dice_loss"], ours["a3_mask_loss"] = ml["bce"], ml["dice"], ml["mask_loss"]
    un = ml["unscaled"]
    ours["a3_unscale_mask_bce_loss"], ours["a3_unscale_mask_dice_loss"] = un["bce"], un["dice"]
    ours["a3_unscale_mask_iou_loss"], ours["a3_unscale_mask_focal_loss"] = un["iou"], un["focal"]
    ours["a3_unscale_mask_loss"] = un["bce"] + un["dice"] + un["iou"] + un["focal"]
    seg_mask = model.seg_token_mask(mm.expanded_ids)
    ours["a3_seg_token_mask"] = seg_mask
    sam_emb = model.model.encode_sam(inp["images"])
    ours["a3_sam_image_embeddings"] = sam_emb
    fcs = model.model.seg_projector(res.last_hidden_state)
    ours["a3_text_hidden_fcs_out"] = fcs
    ours["a3_pred_embeddings"] = fcs[seg_mask]
    _mask_chain(model, "a3", fcs[seg_mask], sam_emb, resized[0], original_hw, ours, pe_name="image_pe")
    ours["a3_pred_mask"] = res.pred_masks[0]

    # (b) / (bnr) greedy generation with and without a region, then the no-SEG fallback chain (position -2).
    cases = {"b": (inp["gen_input_ids"], region)}
    if "gen_input_ids_noregion" in inp:
        cases["bnr"] = (inp["gen_input_ids_noregion"], None)
    for tag, (ids, regions) in cases.items():
        if f"{tag}_gen_sequences" not in out:
            continue
        _generation_case(model, tag, ids, regions, inp, (clip_features, projected), sam_emb, resized[0], original_hw, ours)

    # (c) the mask head on a chosen hidden vector, single and multimask, and every post-process case.
    c_fcs = model.model.seg_projector(inp["c_hidden_vector"])
    ours["c_text_hidden_fcs_out"] = c_fcs
    ours["c_sam_image_embeddings"] = sam_emb
    _mask_chain(model, "c", c_fcs, sam_emb, None, None, ours, pe_name="dense_pe")
    low, iou = model.model.sam.decode(sam_emb, c_fcs, multimask_output=True)
    ours["c_low_res_masks_multimask"], ours["c_iou_predictions_multimask"] = low, iou
    from ..model.sam import postprocess_masks

    for name, (input_size, original_size) in inp["c_postprocess_cases"].items():
        ours[f"c_postprocess_{name}"] = postprocess_masks(
            ours["c_low_res_masks"], tuple(input_size), tuple(original_size), mode="original", image_size=sam_cfg.image_size
        )
    return ours


def _mask_chain(model, tag, prompts, sam_emb, resized, original_hw, ours, pe_name):
    """prompt encoder -> mask decoder intermediates for prompts [n, C] (fixture batch = 1)."""
    sam = model.model.sam
    sparse, dense = sam.prompt_encoder(text_embeds=prompts[:, None, :])
    ours[f"{tag}_sparse_embeddings"], ours[f"{tag}_dense_embeddings"] = sparse, dense
    ours[f"{tag}_{pe_name}"] = sam.prompt_encoder.get_dense_pe()
    low, iou = sam.decode(sam_emb, prompts, multimask_output=False)
    ours[f"{tag}_low_res_masks"], ours[f"{tag}_iou_predictions"] = low, iou
    if resized is not None:
        from ..model.sam import postprocess_masks

        ours[f"{tag}_pred_mask"] = postprocess_masks(low, resized, original_hw, mode="original",
                                                     image_size=model.config.sam.image_size)[:, 0]


def _generation_case(model, tag, ids, regions, inp, image_features, sam_emb, resized, original_hw, ours):
    new_tokens = int(inp["max_new_tokens"])
    mm = model.model.prepare_multimodal_inputs(ids, None, None, None, image_features, regions)
    first = model(inputs_embeds=mm.inputs_embeds, attention_mask=mm.attention_mask, output_hidden_states=True)
    ours[f"{tag}_gen_first_step_hidden_states"] = torch.stack(first.hidden_states)
    with model.capture_last_hidden() as captured:
        gen = model.generate(
            inputs_embeds=mm.inputs_embeds, attention_mask=mm.attention_mask.long(), max_new_tokens=new_tokens,
            do_sample=False, num_beams=1, output_scores=True, return_dict_in_generate=True,
            output_hidden_states=False, use_cache=True, eos_token_id=model.config.text_config.eos_token_id,
            pad_token_id=model.config.text_config.pad_token_id,
        )
    ours[f"{tag}_gen_sequences"] = torch.cat([ids, gen.sequences], dim=1)
    ours[f"{tag}_gen_scores"] = torch.stack(gen.scores, dim=1)
    # Last-layer states of every step, concatenated (the last sampled token is never fed back).
    hidden = torch.cat(captured, dim=1)
    ours[f"{tag}_gen_last_hidden_concat"] = hidden
    full_ids = torch.cat([mm.expanded_ids, gen.sequences], dim=1)
    head = model.seg_token_mask(full_ids)
    ours[f"{tag}_seg_token_mask_head"] = head
    ours[f"{tag}_seg_token_mask"] = head[:, : hidden.shape[1]]
    fcs = model.model.seg_projector(hidden)
    ours[f"{tag}_text_hidden_fcs_out"] = fcs
    selected = fcs[head[:, : hidden.shape[1]]]
    # The fixture's generations hold no <SEG>: the original then used position -2 (architecture.md §6).
    pred = selected[:1] if selected.shape[0] else fcs[:, -2]
    ours[f"{tag}_pred_embeddings"] = pred
    ours[f"{tag}_sam_image_embeddings"] = sam_emb
    _mask_chain(model, tag, pred, sam_emb, resized, original_hw, ours, pe_name="dense_pe")


def compare(expected: torch.Tensor, got: torch.Tensor | None, atol: float, rtol: float) -> tuple[bool, str]:
    if got is None:
        return False, "not computed"
    expected, got = torch.as_tensor(expected), torch.as_tensor(got).detach().cpu()
    if expected.numel() == got.numel() and expected.shape != got.shape:
        got = got.reshape(expected.shape)
    if expected.shape != got.shape:
        return False, f"shape {list(got.shape)} != {list(expected.shape)}"
    if expected.dtype == torch.bool or not expected.is_floating_point():
        diff = (expected.long() - got.long()).abs().max().item() if expected.numel() else 0
        return diff == 0, f"max abs diff {diff}"
    diff = (expected - got.float()).abs().max().item() if expected.numel() else 0.0
    ok = torch.allclose(got.float(), expected.float(), atol=atol, rtol=rtol)
    return ok, f"max abs diff {diff:.3g}"


def main(argv: list[str] | None = None, print_fn: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fixture")
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--rtol", type=float, default=1e-4)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    fixture = torch.load(args.fixture, weights_only=True)
    with torch.no_grad():
        model = build_model(fixture)
        ours = run_paths(model, fixture)
    passed = failed = 0
    for name, expected in fixture["outputs"].items():
        ok, detail = compare(expected, ours.get(name), args.atol, args.rtol)
        passed, failed = passed + ok, failed + (not ok)
        print_fn(f"{'ok  ' if ok else 'FAIL'} {name:40s} {detail}")
    print_fn(f"parity: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
