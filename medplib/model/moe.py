"""Top-1 mixture of LLaMA-MLP experts in plain torch (DeepSpeed-MoE maths, architecture.md §5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.llama.modeling_llama import LlamaMLP


class FP32Router(nn.Linear):
    """The gate `wg`: no bias, always evaluated in fp32 whatever the model dtype (as DeepSpeed does)."""

    def __init__(self, hidden_size: int, num_experts: int):
        super().__init__(hidden_size, num_experts, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.float(), self.weight.float())


class MoEFeedForward(nn.Module):
    """`out = p[e*] * expert_e*(x)` with `p = softmax(router(x))` computed in fp32 and `e* = argmax p`.

    Only the routed rows go through each expert (DeepSpeed ran every expert on a full capacity buffer);
    no token is dropped. The combine weight is the raw probability of the chosen expert (not renormalised),
    cast to the activation dtype before the multiply, as in the original.
    """

    def __init__(self, config, num_experts: int):
        super().__init__()
        self.num_experts = num_experts
        # Kept in fp32 (see `_keep_in_fp32_modules`); the released `wg` has no bias.
        self.router = FP32Router(config.hidden_size, num_experts)
        self.experts = nn.ModuleList([LlamaMLP(config) for _ in range(num_experts)])

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden_states [B, T, H] -> (output [B, T, H], router_logits [B*T, E] fp32)."""
        shape = hidden_states.shape
        x = hidden_states.reshape(-1, shape[-1])
        logits = self.router(x)
        weight, choice = logits.softmax(dim=-1).max(dim=-1)  # argmax keeps the first index on ties, like DeepSpeed
        weight = weight.to(x.dtype)[:, None]
        if x.shape[0] == 1:  # a decoding step: one token, one expert, no scatter
            return (self.experts[int(choice)](x) * weight).reshape(shape), logits
        # Group the rows by expert with one host sync per layer (not one per expert).
        order = choice.argsort()
        out = torch.empty_like(x)
        start = 0
        for e, n in enumerate(torch.bincount(choice, minlength=self.num_experts).tolist()):
            if n:
                rows = order[start : start + n]
                out[rows] = (self.experts[e](x[rows]) * weight[rows]).to(out.dtype)
            start += n
        return out.reshape(shape), logits


def router_aux_loss(router_logits: torch.Tensor) -> torch.Tensor:
    """DeepSpeed's top-1 load-balancing loss: `E * sum_e mean(p_e) * mean(1[e* = e])`.

    router_logits [S, E] -> scalar.
    """
    probs = router_logits.float().softmax(dim=-1)
    num_experts = probs.shape[-1]
    chosen = F.one_hot(probs.argmax(dim=-1), num_experts).float()
    return num_experts * (probs.mean(0) * chosen.mean(0)).sum()
