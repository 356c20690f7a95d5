"""The rich training wording: a generated question re-said in one of thousands of phrasings.

`paraphrase(question, rng)` parses a question of the generator's templates (`question_fields`), picks a phrasing of
its key from `wording_grammar` (question or request, wrapped: "can you ...", "please ...", "looking at this image,
..."), fills in the same fields (sometimes with a synonym: "hepatic lesion", "computed tomography") and gives it a
surface (capitals or not, final "?" / "." or none, contractions such as "what's"). The image, the regions and the
answer stay the generator's, so the answers stay short. Training uses `paraphrased(samples, seed)`; evaluation's
"template" wording is the generator's own (`T`), its "heldout" wording (`wording_heldout.py`) is disjoint from
everything `all_phrasings` lists (tests/test_wording.py).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from functools import lru_cache

import numpy as np

from ..processing.conversation import REGION_REF
from .question_fields import question_fields
from .question_text import REGION_PLACEHOLDER
from .structures import STRUCTURE_INFO
from .wording_grammar import (
    CONTEXTS,
    CONTRACTIONS,
    MODALITY_SYNONYMS,
    PHRASINGS,
    QUESTION_WRAPPERS,
    REQUEST_WRAPPERS,
    STRUCTURE_SYNONYMS,
)

P_TEMPLATE = 0.35  # share of training questions kept in the generator's own wording
P_SYNONYM = 0.35  # chance that a structure / modality field is said with a synonym
_SLOT = re.compile(r"\[([^\[\]]*)\]")
_MARKUP = re.compile(r"(<[^<>]*>)")


def _parts(pattern: str) -> list[list[str]]:
    """"what [is|was] x" -> [["what "], ["is", "was"], [" x"]] (literals are one-choice slots)."""
    pieces = _SLOT.split(pattern)
    return [piece.split("|") if k % 2 else [piece] for k, piece in enumerate(pieces)]


def expand(pattern: str) -> list[str]:
    """Every text a pattern's slots can make."""
    return ["".join(choice) for choice in itertools.product(*_parts(pattern))]


def _sample(pattern: str, rng: np.random.Generator) -> str:
    return "".join(p[int(rng.integers(len(p)))] if len(p) > 1 else p[0] for p in _parts(pattern))


@lru_cache(maxsize=1)
def _synonym_table() -> dict[str, list[str]]:
    """Structure names (singular and plural) and modality labels -> what users also call them."""
    table: dict[str, list[str]] = {}
    for name, pairs in STRUCTURE_SYNONYMS.items():
        table[name] = [s for s, _ in pairs]
        if STRUCTURE_INFO[name].plural != name:
            table[STRUCTURE_INFO[name].plural] = [p for _, p in pairs]
    for label, words in MODALITY_SYNONYMS.items():
        table[label] = list(words)
    return table


def _maybe_synonym(value: str, rng: np.random.Generator) -> str:
    options = _synonym_table().get(value)
    if not options or rng.random() >= P_SYNONYM:
        return value
    return options[int(rng.integers(len(options)))]


def _with_synonyms(fields: dict[str, str], rng: np.random.Generator) -> dict[str, str]:
    out = dict(fields)
    for key in ("x", "xs", "a", "b"):
        if key in out:
            out[key] = _maybe_synonym(out[key], rng)
    if "a_x" in out:
        bare = _maybe_synonym(out["n"], rng)
        if bare != out["n"] and out["a_x"] != out["n"]:  # "ventricles" has no article
            out["a_x"] = ("an " if bare[0].lower() in "aeiou" else "a ") + bare
        out["n"] = bare
    return out


def _outside_markup(text: str, fn) -> str:
    """Apply `fn` to the text between `<...>` markup (region placeholders stay as they are)."""
    return "".join(part if _MARKUP.fullmatch(part) else fn(part) for part in _MARKUP.split(text))


def _case(text: str, rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.3:
        return text  # all lower-case, as typed in a hurry
    if r < 0.35:
        return _outside_markup(text, str.upper)
    if r < 0.4:
        return _outside_markup(text, lambda s: re.sub(r"(?<![\w'])[a-z]", lambda m: m.group().upper(), s))
    text = _outside_markup(text, lambda s: re.sub(r"\bi\b", "I", s))
    return text[:1].upper() + text[1:] if not text.startswith("<") else text


def _punctuation(text: str, is_request: bool, rng: np.random.Generator) -> str:
    asks = not is_request or re.match(r"(can|could|would) you", text)
    marks = ["?", "", " ?", "??", "."] if asks else [".", "", "!", "?", " ."]
    weights = [0.6, 0.3, 0.04, 0.03, 0.03] if asks else [0.45, 0.42, 0.05, 0.05, 0.03]
    return text + marks[int(rng.choice(len(marks), p=weights))]


def _surface(text: str, is_request: bool, rng: np.random.Generator) -> str:
    for full, short in CONTRACTIONS:
        if full in text and rng.random() < 0.35:
            text = text.replace(full, short)
    text = _punctuation(text, is_request, rng)
    text = _case(text, rng)
    if rng.random() < 0.05:
        text = text.replace(" ", "  ", 1)
    return text + (" " if rng.random() < 0.05 else "")


def _choose_phrasing(key: str, rng: np.random.Generator) -> tuple[str, bool]:
    """(a full phrasing pattern: context + wrapper + phrasing, whether it is a request)."""
    questions, requests = PHRASINGS[key]
    pool = [(p, False) for p in questions] + [(p, True) for p in requests]
    pattern, is_request = pool[int(rng.integers(len(pool)))]
    wrappers = REQUEST_WRAPPERS if is_request else QUESTION_WRAPPERS
    wrapper = wrappers[int(rng.integers(len(wrappers)))]
    context = CONTEXTS[int(rng.integers(len(CONTEXTS)))] if wrapper == "{c}" else ""
    return context + wrapper.replace("{c}", _sample(pattern, rng)), is_request


def paraphrase(question: str, rng: np.random.Generator, p_template: float = P_TEMPLATE) -> str:
    """`question` (made by one of the generator's templates) in a random phrasing of the rich wording; unchanged
    with probability `p_template`, and unchanged when no template made it (e.g. MeCoVQA records)."""
    found = question_fields(question)
    if found is None or rng.random() < p_template:
        return question
    key, fields = found
    text, is_request = _choose_phrasing(key, rng)
    text = text.format(**_with_synonyms(fields, rng)).replace("<region>", REGION_PLACEHOLDER)
    return _surface(text, is_request, rng)


def paraphrased(samples: list, seed: int = 0, p_template: float = P_TEMPLATE) -> list:
    """Copies of `samples` (``Sample``s) with their questions paraphrased; images, regions and answers unchanged."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 18]))
    return [replace(s, question=paraphrase(s.question, rng, p_template)) for s in samples]


def canonical(text: str) -> str:
    """A phrasing with case, punctuation, contractions and spacing taken out (to compare phrasings)."""
    text = REGION_REF.sub("<region>", text.lower())
    for full, short in CONTRACTIONS:
        text = text.replace(short, full)
    text = re.sub(r"[?.!,:;\-]", " ", text)
    return " ".join(text.split())


@lru_cache(maxsize=None)
def all_phrasings(key: str) -> frozenset[str]:
    """The canonical form of every phrasing (context x wrapper x slot choice) training can produce for `key`,
    fields left as `{x}` etc."""
    questions, requests = PHRASINGS[key]
    out = set()
    for patterns, wrappers in ((questions, QUESTION_WRAPPERS), (requests, REQUEST_WRAPPERS)):
        cores = [c for p in patterns for c in expand(p)]
        for context, wrapper, core in itertools.product(set(CONTEXTS), set(wrappers), cores):
            if wrapper == "{c}" or not context:
                out.add(canonical(context + wrapper.replace("{c}", core)))
    return frozenset(out)


def phrasing_counts() -> dict[str, int]:
    """Per key: distinct phrasings before wrappers / contexts (the grammar's own size) and after."""
    return {key: len({c for p in qs + rs for c in expand(p)}) for key, (qs, rs) in PHRASINGS.items()}
