"""Shared by the app tests and bench/app_latency.py: the model to test with, a forced grounded answer,
and an in-process server on a free port."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from medplib import MedPLIB
from medplib.pipeline import BUILTIN


def load_test_model(tmp_dir: Path) -> MedPLIB:
    """The built-in model when it exists, else a small random checkpoint saved under ``tmp_dir``."""
    if (BUILTIN / "config.json").exists():
        return MedPLIB.from_pretrained()
    from tests.helpers import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    model = tiny_model(tok)
    folder = Path(tmp_dir) / "tiny-random"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return MedPLIB.from_pretrained(folder)


class ForcedAnswer(LogitsProcessor):
    """Forces "<text> <SEG> ... </s>" (one <SEG> per ``n_masks``) while ``active``; stateless per call
    (the step is the number of tokens generated so far), so it can be reused across requests."""

    def __init__(self, tokenizer, text: str = "Sure, it is", n_masks: int = 1):
        seg = tokenizer.convert_tokens_to_ids("<SEG>")
        self.script = tokenizer(text, add_special_tokens=False).input_ids + [seg] * n_masks + [tokenizer.eos_token_id]
        self.active = True

    def __call__(self, input_ids, scores):
        if not self.active:
            return scores
        step = min(input_ids.shape[1], len(self.script) - 1)
        forced = torch.full_like(scores, -1e9)
        forced[:, self.script[step]] = 0
        return forced


def grounding_kwargs(medplib: MedPLIB, n_masks: int = 1, max_new_tokens: int = 12) -> tuple[dict, ForcedAnswer]:
    forced = ForcedAnswer(medplib.tokenizer, n_masks=n_masks)
    return {"logits_processor": LogitsProcessorList([forced]), "max_new_tokens": max_new_tokens}, forced


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
