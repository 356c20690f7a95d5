"""Tokenizer set-up and prompt encoding that reproduce the original MedPLIB token ids.

The original encoded prompts with the transformers-4.31 *slow* LlamaTokenizer (legacy SentencePiece).
Two of its behaviours matter for reproducing the ids the checkpoint was trained on (architecture.md §4):

* The 267 MedPLIB tokens were added as plain strings, so the slow tokenizer stripped whitespace
  (newlines included) from both neighbouring text spans. ``<s>``/``</s>``/``<unk>`` are
  ``AddedToken`` objects without lstrip/rstrip and strip nothing.
* Every text span between special tokens was encoded on its own, so its first word got the
  SentencePiece dummy-prefix ``▁``.

``encode_prompt`` re-creates this with any transformers-5 tokenizer by splitting the text itself and
encoding each span separately. ``strip_whitespace=False`` gives the behaviour of the original code on a
*fast* tokenizer (added tokens keep their neighbours' whitespace); that is how the parity fixture
``parity_tiny_v1.pt`` was recorded.
"""

from __future__ import annotations

import re
import weakref
from functools import lru_cache
from typing import Iterable

from medplib.constants import (
    ADDED_TOKENS,
    IGNORE_INDEX,
    IMAGE_PLACEHOLDER,
    IMAGE_TOKEN_INDEX,
    REGION_END,
    REGION_START,
    REGION_TOKEN_INDEX,
)

_ADDED = frozenset(ADDED_TOKENS)
ASSISTANT_SEP = " ASSISTANT: "  # conv.sep + roles[1] + ": " of the Vicuna-v1 template


def add_medplib_tokens(tokenizer) -> int:
    """Add the 267 MedPLIB tokens (original order) as special tokens and set pad = unk.

    Returns the number of newly added tokens (0 for a checkpoint tokenizer that already has them).
    Raises ValueError if the tokens do not end up with consecutive ids in the original order, since
    the checkpoint's embedding rows depend on that order.
    """
    added = tokenizer.add_tokens(list(ADDED_TOKENS), special_tokens=True)
    tokenizer.pad_token = tokenizer.unk_token
    ids = [tokenizer.convert_tokens_to_ids(t) for t in ADDED_TOKENS]
    if any(i is None for i in ids) or ids != list(range(ids[0], ids[0] + len(ids))):
        raise ValueError("MedPLIB tokens do not have consecutive ids in the original order; "
                         "the tokenizer already contained some of them in another order")
    return added


# tokenizer -> (its size and special tokens, their ids): the lookup is ~5 ms and every encode_prompt needs it.
_SPECIAL_IDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def special_ids(tokenizer) -> dict[str, int]:
    """Map every MedPLIB token and ``<s>``/``</s>``/``<unk>`` to its id (looked up, never tokenised)."""
    names = [tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token, *ADDED_TOKENS]
    key = (len(tokenizer), *names[:3])
    try:
        cached = _SPECIAL_IDS.get(tokenizer)
    except TypeError:  # a tokenizer that cannot be weakly referenced: no cache
        cached = None
    if cached is not None and cached[0] == key:
        return dict(cached[1])
    out: dict[str, int] = {}
    for name in names:
        idx = tokenizer.convert_tokens_to_ids(name) if name is not None else None
        if idx is None or (idx == tokenizer.unk_token_id and name != tokenizer.unk_token):
            raise ValueError(f"tokenizer has no id for {name!r}; call add_medplib_tokens(tokenizer) first")
        out[name] = int(idx)
    try:
        _SPECIAL_IDS[tokenizer] = (key, dict(out))
    except TypeError:
        pass
    return out


@lru_cache(maxsize=16)
def _split_regex(keep_tokens: tuple[str, ...]) -> re.Pattern:
    # Longest first so no token is cut by a shorter one that is its prefix.
    alts = sorted(set(keep_tokens) | _ADDED | {IMAGE_PLACEHOLDER}, key=len, reverse=True)
    return re.compile("(" + "|".join(re.escape(a) for a in alts) + ")")


def _encode_span(tokenizer, span: str) -> list[int]:
    return list(tokenizer.encode(span, add_special_tokens=False)) if span else []


def encode_prompt(tokenizer, text: str, add_bos: bool = True, *, strip_whitespace: bool = True) -> list[int]:
    """Encode a templated prompt into the ids the original ``tokenizer_image_token`` produced.

    ``<image>`` becomes IMAGE_TOKEN_INDEX, a REGION_TOKEN_INDEX is inserted between each adjacent
    ``<region>`` ``</region>`` pair, and BOS is added once at the start. ``strip_whitespace=True``
    (default) reproduces the slow tokenizer used to train the released checkpoint; False reproduces
    the original code running on a fast tokenizer (the parity fixture). Known gap: a span that still
    starts with whitespace (only at the very start or after ``</s>``, which the template never
    produces) gets one ``▁`` from a Metaspace tokenizer where raw SentencePiece would give two.
    """
    specials = tuple(t for t in (tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token) if t)
    lookup = special_ids(tokenizer)
    pieces = _split_regex(specials).split(text)  # odd indices are the matched tokens
    ids: list[int] = []
    for k, piece in enumerate(pieces):
        if k % 2:
            ids.append(IMAGE_TOKEN_INDEX if piece == IMAGE_PLACEHOLDER else lookup[piece])
            continue
        if strip_whitespace:
            # `<image>` is not a token: the original split on it *before* tokenising, so it strips nothing.
            if k > 0 and pieces[k - 1] in _ADDED:
                piece = piece.lstrip()
            if k + 1 < len(pieces) and pieces[k + 1] in _ADDED:
                piece = piece.rstrip()
        ids.extend(_encode_span(tokenizer, piece))
    start, end = lookup[REGION_START], lookup[REGION_END]
    out: list[int] = [lookup[tokenizer.bos_token]] if add_bos else []
    for i, idx in enumerate(ids):
        out.append(idx)
        if idx == start and i + 1 < len(ids) and ids[i + 1] == end:
            out.append(REGION_TOKEN_INDEX)
    return out


def build_labels(prompt: str, tokenizer, *, strip_whitespace: bool = True,
                 assistant_sep: str = ASSISTANT_SEP) -> list[int]:
    """Training labels for ``encode_prompt(prompt)``, masked like the original ``preprocess_v1``.

    Works on the prompt *text* because the original measured each round by re-tokenising its text:
    BOS and every instruction up to and including ``ASSISTANT:`` are IGNORE_INDEX, answers and their
    ``</s>`` are kept. As in the original, a length mismatch blanks the whole sample.
    """
    def n_tokens(s: str) -> int:
        return len(encode_prompt(tokenizer, s, strip_whitespace=strip_whitespace))

    ids = encode_prompt(tokenizer, prompt, strip_whitespace=strip_whitespace)
    labels = list(ids)
    cur = 1
    labels[0] = IGNORE_INDEX
    for rou in prompt.split(tokenizer.eos_token):
        if rou == "":
            break
        parts = rou.split(assistant_sep)
        if len(parts) != 2:
            break
        # "- 2": drops BOS and the trailing "▁" of "ASSISTANT: " (LLaVA convention for legacy tokenisers).
        instruction_len = n_tokens(parts[0] + assistant_sep) - 2
        for j in range(cur, min(cur + instruction_len, len(labels))):
            labels[j] = IGNORE_INDEX
        cur += n_tokens(rou)
    for j in range(cur, len(labels)):
        labels[j] = IGNORE_INDEX
    total = sum(1 for i in ids if i != tokenizer.pad_token_id)
    if cur != total:
        return [IGNORE_INDEX] * len(ids)
    return labels


_RUNS_OF_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+([.,;:!?])")
_SPACE_BEFORE_NEWLINE = re.compile(r"[ \t]+\n")


def tidy_spacing(text: str, strip: bool = True) -> str:
    """The one spacing rule for answer text shown to people (`Answer.text`, stream partials, the app):
    runs of spaces become one, no space before punctuation or a line break. Removing a token such as
    ``<SEG>`` from ``"it is <SEG>."`` therefore reads ``"it is."`` everywhere."""
    text = _RUNS_OF_SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    text = _SPACE_BEFORE_NEWLINE.sub("\n", text)
    return text.strip() if strip else text


def decode_answer(tokenizer, ids: Iterable[int]) -> str:
    """Readable text of generated ids: stops at the first ``</s>``, drops MedPLIB/special tokens.

    Text on either side of a dropped token is decoded separately, joined with one space and tidied by
    `tidy_spacing`, so ``"it is <SEG> ."`` reads ``"it is."``. Find ``<SEG>`` positions on the ids, not on
    this text.
    """
    lookup = special_ids(tokenizer)
    drop = set(lookup.values())
    if tokenizer.pad_token_id is not None:
        drop.add(tokenizer.pad_token_id)
    segments: list[list[int]] = [[]]
    for idx in (int(i) for i in ids):
        if idx == lookup[tokenizer.eos_token]:
            break
        if idx < 0 or idx in drop:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(idx)
    texts = (tokenizer.decode(s, skip_special_tokens=True).strip() for s in segments if s)
    return tidy_spacing(" ".join(t for t in texts if t))

