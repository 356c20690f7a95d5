"""LLaMA decoder whose MLPs are (optionally) top-1 mixtures of experts.

Attention, RMSNorm and RoPE are transformers' own LLaMA modules; only the layer loop is ours, so that
router logits come back as values (no monkey-patched forwards, no module state).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.models.llama.modeling_llama import (
    LlamaAttention,
    LlamaMLP,
    LlamaRMSNorm,
    LlamaRotaryEmbedding,
)

from .moe import MoEFeedForward


class MedPLIBDecoderLayer(GradientCheckpointingLayer):
    """Pre-norm LLaMA block; `mlp` is a `MoEFeedForward` on MoE layers, a `LlamaMLP` otherwise."""

    def __init__(self, text_config, layer_idx: int, num_experts: int):
        super().__init__()
        self.self_attn = LlamaAttention(text_config, layer_idx)
        self.mlp = MoEFeedForward(text_config, num_experts) if num_experts > 1 else LlamaMLP(text_config)
        self.input_layernorm = LlamaRMSNorm(text_config.hidden_size, eps=text_config.rms_norm_eps)
        self.post_attention_layernorm = LlamaRMSNorm(text_config.hidden_size, eps=text_config.rms_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states [B, T, H] -> (hidden_states [B, T, H], router logits [B*T, E] or None)."""
        residual = hidden_states
        hidden_states, _ = self.self_attn(
            hidden_states=self.input_layernorm(hidden_states),
            attention_mask=attention_mask,
            position_embeddings=position_embeddings,
            past_key_values=past_key_values,
            **kwargs,
        )
        hidden_states = residual + hidden_states
        residual = hidden_states
        hidden_states = self.mlp(self.post_attention_layernorm(hidden_states))
        router_logits = None
        if isinstance(hidden_states, tuple):
            hidden_states, router_logits = hidden_states
        return residual + hidden_states, router_logits


@dataclass
class LanguageModelOutput:
    last_hidden_state: torch.Tensor  # [B, T, H], after the final norm
    past_key_values: Cache | None
    hidden_states: tuple[torch.Tensor, ...] | None  # L+1 entries: inputs of each layer, then the normed output
    router_logits: tuple[torch.Tensor, ...]  # one [B*T, E] per MoE layer, in layer order


class MedPLIBLanguageModel(nn.Module):
    """Embeddings + decoder layers + final norm (no LM head)."""

    def __init__(self, text_config, moe_layer_indices: list[int], num_experts: int):
        super().__init__()
        self.config = text_config
        self.embed_tokens = nn.Embedding(text_config.vocab_size, text_config.hidden_size, text_config.pad_token_id)
        moe = set(moe_layer_indices)
        self.layers = nn.ModuleList(
            MedPLIBDecoderLayer(text_config, i, num_experts if i in moe else 1)
            for i in range(text_config.num_hidden_layers)
        )
        self.norm = LlamaRMSNorm(text_config.hidden_size, eps=text_config.rms_norm_eps)
        self.rotary_emb = LlamaRotaryEmbedding(config=text_config)

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool = False,
        output_hidden_states: bool = False,
        **kwargs,
    ) -> LanguageModelOutput:
        """inputs_embeds [B, T, H]; attention_mask [B, past+T] (1 = attend)."""
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache(config=self.config)
        if position_ids is None:
            # The original uses a plain arange over the expanded sequence (right padding).
            past = past_key_values.get_seq_length() if past_key_values is not None else 0
            position_ids = torch.arange(past, past + inputs_embeds.shape[1], device=inputs_embeds.device)[None]
        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            past_key_values=past_key_values,
            position_ids=position_ids,
        )
        hidden = inputs_embeds
        position_embeddings = self.rotary_emb(hidden, position_ids=position_ids)
        all_hidden: list[torch.Tensor] = []
        router_logits: list[torch.Tensor] = []
        for layer in self.layers:
            if output_hidden_states:
                all_hidden.append(hidden)
            hidden, logits = layer(
                hidden,
                attention_mask=causal_mask,
                position_embeddings=position_embeddings,
                past_key_values=past_key_values if use_cache else None,
                position_ids=position_ids,
                **kwargs,
            )
            if logits is not None:
                router_logits.append(logits)
        hidden = self.norm(hidden)
        if output_hidden_states:
            all_hidden.append(hidden)
        return LanguageModelOutput(
            last_hidden_state=hidden,
            past_key_values=past_key_values if use_cache else None,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
            router_logits=tuple(router_logits),
        )
