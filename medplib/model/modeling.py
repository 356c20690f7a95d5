"""MedPLIB: CLIP tower -> projector -> MoE LLaMA, region features at `<region>`, `<SEG>` -> SAM-Med2D masks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, CLIPVisionModel, GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache
from transformers.utils import ModelOutput

from .configuration import MedPLIBConfig
from ..constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from .language_model import MedPLIBLanguageModel
from .moe import router_aux_loss
from .sam import SamMed2D, postprocess_masks
from .seg_losses import decode_seg_masks, gather_seg_states, weighted_mask_losses
from .splicing import MultimodalInputs, pad_batch, splice_sample
from .vision import TwoLayerMLP, sample_region_feature


@dataclass
class MedPLIBOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    past_key_values: Cache | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    last_hidden_state: torch.Tensor | None = None
    router_logits: tuple[torch.Tensor, ...] | None = None
    ce_loss: torch.Tensor | None = None
    aux_loss: torch.Tensor | None = None
    mask_losses: dict | None = None
    pred_masks: list | None = None  # per sample: [n_seg, H, W] logits at the GT mask size
    iou_predictions: list | None = None
    multimodal: MultimodalInputs | None = None


@dataclass
class GroundedGeneration:
    sequences: torch.Tensor  # [1, new] generated ids (prompt excluded)
    seg_positions: list[int]  # index into `sequences[0]` of each <SEG>
    mask_logits: torch.Tensor  # [n_seg, H, W] at the original image size
    masks: torch.Tensor  # [n_seg, H, W] bool (sigmoid > threshold)
    scores: torch.Tensor  # [n_seg] IoU-head predictions


class MedPLIBPreTrainedModel(PreTrainedModel):
    config_class = MedPLIBConfig
    config: MedPLIBConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["MedPLIBDecoderLayer", "CLIPEncoderLayer", "SamMed2DBlock", "TwoWayAttentionBlock"]
    _keep_in_fp32_modules = ["router"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_sdpa = True
    _supports_flash_attn = True


class MedPLIBModel(MedPLIBPreTrainedModel):
    """Everything but the LM head."""

    def __init__(self, config: MedPLIBConfig):
        super().__init__(config)
        # PreTrainedModel sets the attention backend on the top config only; our LLaMA layers read the text config.
        config.text_config._attn_implementation = config._attn_implementation
        text, vision, sam = config.text_config, config.vision_config, config.sam
        self.vision_tower = CLIPVisionModel(vision)
        self.mm_projector = TwoLayerMLP(vision.hidden_size, text.hidden_size, text.hidden_size, act="gelu")
        self.region_adapter = nn.Linear(vision.hidden_size, text.hidden_size)
        self.language_model = MedPLIBLanguageModel(text, config.moe_layer_indices, config.moe_num_experts)
        self.seg_projector = TwoLayerMLP(text.hidden_size, text.hidden_size, sam.prompt_embed_dim, act="relu")
        self.sam = SamMed2D(sam)
        self.post_init()

    # ---- image side -------------------------------------------------------------------------
    def encode_image(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pixel_values [B, 3, C, C] -> (raw CLIP patch features [B, P, Dv], projected [B, P, H]).

        CLIP hidden state at `vision_feature_layer` (-2), CLS dropped, post_layernorm unused (architecture.md §3).
        """
        size = self.config.vision_config.image_size
        if pixel_values.dim() != 4 or pixel_values.shape[1] != 3 or tuple(pixel_values.shape[-2:]) != (size, size):
            raise ValueError(f"pixel_values must be [B, 3, {size}, {size}], got {list(pixel_values.shape)}")
        # Only the dtype is set here: devices are the caller's / accelerate hooks' business (weights may be offloaded).
        dtype = self.vision_tower.embeddings.patch_embedding.weight.dtype
        out = self.vision_tower(pixel_values.to(dtype=dtype), output_hidden_states=True)
        features = out.hidden_states[self.config.vision_feature_layer][:, 1:]
        projected = self.mm_projector(features)
        return features, projected

    def region_features(self, clip_features: torch.Tensor, region_masks: torch.Tensor) -> torch.Tensor:
        """clip_features [P, Dv] of one image, region_masks [n, g, g] -> region vectors [n, H]."""
        g = int(clip_features.shape[0] ** 0.5)
        if region_masks.dim() != 3 or tuple(region_masks.shape[-2:]) != (g, g):
            raise ValueError(f"region masks must be [n, {g}, {g}] (the CLIP patch grid), got {list(region_masks.shape)}")
        adapted = self.region_adapter(clip_features)
        fmap = adapted.view(g, g, -1)
        masks = region_masks.to(fmap.device)
        centered = self.config.region_sampling == "centered"
        return torch.stack([sample_region_feature(fmap, m, self.config.max_sample_point, centered)
                            for m in masks])

    # ---- splicing ---------------------------------------------------------------------------
    def embed_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.language_model.embed_tokens(input_ids.clamp_min(0))

    def prepare_multimodal_inputs(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_features: tuple[torch.Tensor, torch.Tensor] | None = None,
        region_masks: list | None = None,
        clip_features: torch.Tensor | None = None,
    ) -> MultimodalInputs:
        """Replace each IMAGE placeholder by the projected patches and each REGION placeholder by its region
        vector, in order (architecture.md §4); right-pad the batch.

        input_ids [B, T] (compressed ids with -200 / -300); region_masks: per sample a [n_i, g, g] tensor
        (or list of [g, g]) in prompt order; image_features: the output of `encode_image` (to reuse a cache);
        clip_features [B, P, Dv]: precomputed vision-tower features only (a frozen tower), projected here.
        """
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [B, T], got {list(input_ids.shape)}")
        batch = input_ids.shape[0]
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        has_image = (input_ids == IMAGE_TOKEN_INDEX).any(dim=1)
        if image_features is None and clip_features is not None:
            image_features = (clip_features, self.mm_projector(clip_features))
        if image_features is None and pixel_values is not None:
            image_features = self.encode_image(pixel_values)
        if has_image.any() and image_features is None:
            raise ValueError("the prompt has an <image> placeholder but no pixel_values / image_features were given")
        if region_masks is None:
            region_masks = [None] * batch
        if len(region_masks) != batch:
            raise ValueError(f"region_masks must have one entry per sample ({batch}), got {len(region_masks)}")

        embeds, masks, labs, ids = [], [], [], []
        image_index = 0
        for b in range(batch):
            sample_labels = labels[b] if labels is not None else None
            seq, mask, lab, sample_ids, used_image = splice_sample(
                self, b, input_ids[b], attention_mask[b].bool(), sample_labels, region_masks[b], image_features,
                image_index,
            )
            image_index += used_image
            embeds.append(seq)
            masks.append(mask)
            labs.append(lab)
            ids.append(sample_ids)
        return pad_batch(embeds, masks, labs, ids, self.config.text_config.pad_token_id or 0, labels is not None)

    # ---- SEG -> mask --------------------------------------------------------------------------
    def encode_sam(self, sam_pixel_values: torch.Tensor) -> torch.Tensor:
        """sam_pixel_values [B, 3, S, S] (normalised, centre-padded) -> image embeddings [B, C, S/16, S/16]."""
        size = self.config.sam.image_size
        if sam_pixel_values.dim() != 4 or tuple(sam_pixel_values.shape[1:]) != (3, size, size):
            raise ValueError(f"sam_pixel_values must be [B, 3, {size}, {size}], got {list(sam_pixel_values.shape)}")
        return self.sam.encode_image(sam_pixel_values.to(dtype=self.sam.image_encoder.patch_embed.proj.weight.dtype))

    def decode_masks(
        self,
        seg_hidden: torch.Tensor,
        sam_embedding: torch.Tensor,
        resized_hw: tuple[int, int],
        original_hw: tuple[int, int],
        mode: str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """seg_hidden [n, H] (final hidden states preceding each <SEG>), sam_embedding [1, C, g, g]
        -> (mask logits [n, H0, W0] at the original size, IoU predictions [n])."""
        return self.decode_masks_rows(seg_hidden, sam_embedding, [seg_hidden.shape[0]], [(resized_hw, original_hw)],
                                      mode)[0]

    def decode_masks_rows(
        self,
        seg_hidden: torch.Tensor,
        sam_embeddings: torch.Tensor,
        counts: list[int],
        sizes: list[tuple[tuple[int, int], tuple[int, int]]],
        mode: str | None = None,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Masks on several images in one decoder call. seg_hidden [n, H], the states of image i being counts[i]
        consecutive rows; sam_embeddings [m, C, g, g] (m = len(counts)); sizes[i] = (resized_hw, original_hw)
        -> per image (mask logits [counts[i], H0, W0] at its original size, IoU predictions [counts[i]])."""
        prompts = self.seg_projector(seg_hidden)
        if len(counts) > 1:  # one image embedding per prompt
            sam_embeddings = sam_embeddings.repeat_interleave(
                torch.tensor(counts, device=sam_embeddings.device), dim=0)
        low_res, iou = self.sam.decode(sam_embeddings, prompts, multimask_output=False)
        out, start = [], 0
        for n, (resized_hw, original_hw) in zip(counts, sizes):
            logits = postprocess_masks(
                low_res[start : start + n], tuple(resized_hw), tuple(original_hw),
                mode=mode or self.config.mask_postprocess, image_size=self.config.sam.image_size,
            )
            out.append((logits[:, 0], iou[start : start + n, 0]))
            start += n
        return out


class MedPLIBForCausalLM(MedPLIBPreTrainedModel, GenerationMixin):
    _tied_weights_keys = {}

    def __init__(self, config: MedPLIBConfig):
        super().__init__(config)
        self.model = MedPLIBModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.language_model.embed_tokens

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.language_model.embed_tokens = value

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.lm_head = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_features: tuple[torch.Tensor, torch.Tensor] | None = None,
        clip_features: torch.Tensor | None = None,
        region_masks: list | None = None,
        labels: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        seg_masks: list | None = None,
        sam_pixel_values: torch.Tensor | None = None,
        sam_image_embeddings: torch.Tensor | None = None,
        sam_resized_hw: list | None = None,
        logits_to_keep: int = 0,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MedPLIBOutput:
        """Causal-LM forward on compressed multimodal ids (one -200 per image, one -300 per region).

        With `seg_masks` (per sample a [n_i, H, W] GT tensor, one per <SEG> in the labels) the SEG -> mask chain
        runs too and the mask losses are added with the config's weights (architecture.md §6).
        Precomputed encoder outputs (frozen towers) may replace the pixels: `clip_features` [B, P, Dv] for
        `pixel_values`, `sam_image_embeddings` [B, C, g, g] for `sam_pixel_values`.
        Decoding steps (plain ids, with a cache) skip the multimodal preparation.
        """
        multimodal = None
        if inputs_embeds is None:
            inputs_embeds, attention_mask, labels, multimodal = self._embed_inputs(
                input_ids, attention_mask, labels, pixel_values, image_features, region_masks, clip_features
            )
        lm = self.model.language_model(
            inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=bool(use_cache),
            output_hidden_states=bool(output_hidden_states),
        )
        hidden = lm.last_hidden_state
        kept = hidden[:, -logits_to_keep:] if logits_to_keep else hidden
        logits = self.lm_head(kept).float()

        loss, ce_loss, aux_loss = self._lm_loss(logits, labels, lm.router_logits)
        mask_losses = pred_masks = ious = None
        if seg_masks is not None:
            if multimodal is None:
                raise ValueError("seg_masks need a multimodal prompt (input_ids with the image placeholder)")
            pred_masks, ious, mask_losses = self._mask_losses(
                hidden, multimodal.expanded_ids, seg_masks, sam_pixel_values, sam_image_embeddings, sam_resized_hw
            )
            loss = mask_losses["mask_loss"] if loss is None else loss + mask_losses["mask_loss"].to(loss.device)
        return MedPLIBOutput(
            loss=loss,
            logits=logits,
            past_key_values=lm.past_key_values,
            hidden_states=lm.hidden_states,
            last_hidden_state=hidden,
            router_logits=lm.router_logits,
            ce_loss=ce_loss,
            aux_loss=aux_loss,
            mask_losses=mask_losses,
            pred_masks=pred_masks,
            iou_predictions=ious,
            multimodal=multimodal,
        )

    def _embed_inputs(self, input_ids, attention_mask, labels, pixel_values, image_features, region_masks,
                      clip_features):
        """-> (inputs_embeds, attention_mask, labels, MultimodalInputs or None): spliced when the ids carry
        placeholders or image inputs are given, plain token embeddings otherwise (decoding steps)."""
        if input_ids is None:
            raise ValueError("give input_ids or inputs_embeds")
        if bool((input_ids < 0).any()) or any(x is not None for x in (pixel_values, image_features, clip_features)):
            multimodal = self.model.prepare_multimodal_inputs(
                input_ids, attention_mask, labels, pixel_values, image_features, region_masks, clip_features
            )
            return multimodal.inputs_embeds, multimodal.attention_mask, multimodal.labels, multimodal
        return self.model.embed_text(input_ids), attention_mask, labels, None

    def _lm_loss(self, logits, labels, router_logits):
        """-> (weighted loss, CE (+ router aux) loss, router aux loss); all None without labels."""
        loss = ce_loss = aux_loss = None
        if labels is not None and router_logits and self.config.router_aux_loss_coef:
            # Only for training: at inference it would add ~10 small ops per layer and decoding step.
            aux_loss = sum(router_aux_loss(l) for l in router_logits) * self.config.router_aux_loss_coef
        if labels is not None:
            ce_loss = causal_lm_loss(logits, labels.to(logits.device))
            if aux_loss is not None:
                ce_loss = ce_loss + aux_loss.to(ce_loss.device)
            loss = self.config.ce_loss_weight * ce_loss
        return loss, ce_loss, aux_loss

    def seg_token_mask(self, expanded_ids: torch.Tensor) -> torch.Tensor:
        """[B, N] -> bool [B, N]: True at each position whose *next* token is <SEG> (the state that predicts it)."""
        mask = torch.zeros_like(expanded_ids, dtype=torch.bool)
        mask[:, :-1] = expanded_ids[:, 1:] == self.config.seg_token_id
        return mask

    def _mask_losses(self, hidden, expanded_ids, seg_masks, sam_pixel_values, sam_image_embeddings, sam_resized_hw):
        if sam_resized_hw is None or len(sam_resized_hw) != len(seg_masks):
            raise ValueError("sam_resized_hw must give the resized (h, w) of every sample")
        states, owners = gather_seg_states(hidden, self.seg_token_mask(expanded_ids), seg_masks)
        preds, ious, all_logits, all_targets, all_iou = decode_seg_masks(
            self.model, self.config, states, owners, seg_masks, sam_pixel_values, sam_image_embeddings, sam_resized_hw
        )
        return preds, ious, weighted_mask_losses(self.config, hidden, all_logits, all_targets, all_iou)

    # ---- generation -----------------------------------------------------------------------------
    @contextmanager
    def capture_last_hidden(self) -> Iterator[list[torch.Tensor]]:
        """Collect the final-norm output [B, t, H] of every forward call inside the block (one per decoding step)."""
        captured: list[torch.Tensor] = []
        handle = self.model.language_model.norm.register_forward_hook(lambda m, i, o: captured.append(o.detach()))
        try:
            yield captured
        finally:
            handle.remove()

    @torch.no_grad()
    def generate_grounded(
        self,
        input_ids: torch.LongTensor,
        pixel_values: torch.Tensor | None = None,
        image_features: tuple[torch.Tensor, torch.Tensor] | None = None,
        region_masks: list | None = None,
        sam_pixel_values: torch.Tensor | None = None,
        sam_image_embeddings: torch.Tensor | Callable[[], torch.Tensor] | None = None,
        sam_resized_hw: tuple[int, int] | None = None,
        original_hw: tuple[int, int] | None = None,
        prefix_cache=None,
        session=None,
        **generate_kwargs,
    ) -> GroundedGeneration:
        """Generate an answer for one prompt [1, T] and decode one mask per generated <SEG>.

        Only the final-norm hidden states are kept (a hook on the last norm), not every layer at every step.
        The SAM encoder runs only when a <SEG> was generated; `sam_image_embeddings` may be a callable so a
        caller can cache the embedding lazily. With a `prefix_cache` (`medplib.generation.PrefixCache`) and a
        `session` key, the conversation's KV cache is reused and kept for the next turn. Batches:
        `medplib.generation.generate_grounded_batch`.
        """
        from ..generation.grounded import GroundedRequest, generate_grounded_batch

        if input_ids.shape[0] != 1:
            raise ValueError("generate_grounded takes one prompt at a time (batches: generate_grounded_batch)")
        request = GroundedRequest(input_ids, image_features, pixel_values, region_masks, sam_pixel_values,
                                  sam_image_embeddings, sam_resized_hw, original_hw, session=session)
        return generate_grounded_batch(self, [request], prefix_cache, **generate_kwargs)[0]


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token CE; rows without any label are dropped first, like the original (all-ignored -> NaN there,
    zero here so a text-free grounding batch still trains)."""
    shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
    keep = (shift_labels != IGNORE_INDEX).any(dim=1)
    if not bool(keep.any()):
        return logits.sum() * 0.0
    shift_logits, shift_labels = shift_logits[keep], shift_labels[keep]
    return F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1), ignore_index=IGNORE_INDEX)


AutoConfig.register(MedPLIBConfig.model_type, MedPLIBConfig, exist_ok=True)
AutoModelForCausalLM.register(MedPLIBConfig, MedPLIBForCausalLM, exist_ok=True)
