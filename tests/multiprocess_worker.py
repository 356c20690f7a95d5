"""Run under `accelerate launch` by tests/test_multiprocess.py: a few steps of the recipe's shared training loop
(`medplib.training.cli.optimise`) on a tiny model; every rank writes its losses and a digest of its weights.

The stage is the awkward kind for DDP: a 2-expert top-1 MoE whose router starts at zero (every token of the first
step goes to expert 0, so expert 1 gets no gradient; later steps route per token, differently on each rank) and a
trainable `seg_projector` that the text-only loss never reaches, as in a grounding stage's batch without <SEG>.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medplib.training.cli import make_accelerator, optimise  # noqa: E402
from tests.helpers import tiny_model, tiny_tokenizer  # noqa: E402


def main(out: Path) -> None:
    accelerator = make_accelerator()
    tok = tiny_tokenizer()
    model = tiny_model(tok, moe_num_experts=2).train()  # same seed on every rank (as the recipe's seed_everything)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(("model.language_model.", "lm_head.", "model.seg_projector.")))
        if name.endswith("mlp.router.weight"):
            torch.nn.init.zeros_(p)  # ties: argmax picks expert 0 for every token
    g = torch.Generator().manual_seed(1 + accelerator.process_index)  # each rank its own data shard

    def batches():
        while True:
            ids = torch.randint(3, len(tok), (2, 12), generator=g)
            yield {"input_ids": ids, "labels": ids.clone()}

    args = SimpleNamespace(lr=1e-2, save_every=0)
    result = optimise("mp", model, batches(), lambda m, b: m(**b).loss, out, 6, args, accelerator)
    digest = hashlib.sha256()
    for name, p in sorted(accelerator.unwrap_model(model).state_dict().items()):
        digest.update(name.encode() + p.detach().float().numpy().tobytes())
    losses = accelerator.gather(torch.tensor(result["loss_history"])).view(accelerator.num_processes, -1).tolist()
    (out / f"rank{accelerator.process_index}.json").write_text(json.dumps(
        {"world": accelerator.num_processes, "digest": digest.hexdigest(), "losses": result["loss_history"],
         "all_losses": losses}))
    accelerator.end_training()  # as the recipe's command: without it gloo may abort the exit (SIGABRT)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
