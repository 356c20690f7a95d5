"""Load a MedPLIB tokenizer from a checkpoint folder and check it carries the MedPLIB tokens."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import CheckpointError
from ..processing.tokens import special_ids


def load_tokenizer(folder: str | Path):
    """`tokenizer.json` (ours) or the released SentencePiece files; pad = unk as in training.

    The class is chosen from the files, not from config.json (which AutoTokenizer would read and which
    in the released layout names a model type transformers does not know)."""
    from transformers import LlamaTokenizer, PreTrainedTokenizerFast

    folder = Path(folder)
    if (folder / "tokenizer.json").exists():
        cls = PreTrainedTokenizerFast
    elif (folder / "tokenizer.model").exists():
        cls = LlamaTokenizer
    else:
        raise CheckpointError(f"no tokenizer in {folder} (expected tokenizer.json or tokenizer.model)")
    try:
        tokenizer = cls.from_pretrained(str(folder))
    except Exception as err:
        raise CheckpointError(f"could not load the tokenizer in {folder} ({str(err).splitlines()[0][:200]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token
    try:
        special_ids(tokenizer)
    except ValueError as err:
        raise CheckpointError(f"the tokenizer in {folder} is not a MedPLIB tokenizer: {err}") from None
    return tokenizer


def train_bpe_tokenizer(texts, vocab_size: int = 600):
    """A small LLaMA-style BPE (Metaspace, `<unk>`=0 `<s>`=1 `</s>`=2, BOS prepended) trained on `texts`,
    with the 267 MedPLIB tokens added in the original order - for the built-in tiny model and tests."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from ..constants import ADDED_TOKENS
    from ..processing.tokens import add_medplib_tokens

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    core.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    # MedPLIB tokens are added afterwards with their fixed order; they must not become BPE merges.
    special = re.compile("|".join(re.escape(t) for t in sorted(ADDED_TOKENS, key=len, reverse=True)))
    core.train_from_iterator((special.sub(" ", t) for t in texts), trainer=trainer)
    core.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                        pad_token="<unk>")
    add_medplib_tokens(tokenizer)
    return tokenizer
