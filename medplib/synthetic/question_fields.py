"""Parse a generated question back into its template key and fields (one home for both rewording modules).

`question_fields("Is the tumor in the upper or lower half of the image?")` -> ("vertical", {"x": "tumor",
"be": "is", ...}): the rich training wording (`wording.py`) and the held-out wording (`wording_heldout.py`) both
re-say a question from these fields, so images, regions and answers stay exactly the generator's.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .question_text import _CONTAINER_KIND, REGION_PLACEHOLDER, T


def _pattern(template: str) -> re.Pattern:
    """A template -> a regex matching its filled-in questions; fields become named groups."""
    text = template.replace("<region>", REGION_PLACEHOLDER)
    parts = re.split(r"\{(\w+)\}", text)
    regex, seen = "", set()
    for k, part in enumerate(parts):
        if k % 2 == 0:
            regex += re.escape(part)
        else:
            regex += f"(?P={part})" if part in seen else f"(?P<{part}>.+?)"
            seen.add(part)
    return re.compile(regex, re.IGNORECASE)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[str, re.Pattern]]:
    # The most specific template first (most literal text): "Is there any abnormality in this image?" is
    # abnormality_yesno, not presence of "any abnormality"; "Segment the liver and the spine." is ground_2.
    pairs = [(key, t) for key, templates in T.items() for t in templates]
    pairs.sort(key=lambda kt: -len(re.sub(r"\{\w+\}", "", kt[1])))
    return [(key, _pattern(t)) for key, t in pairs]


def _bare(a_x: str) -> str:
    """"an optic disc" -> "optic disc"."""
    return re.sub(r"^(a|an)\s+", "", a_x)


@lru_cache(maxsize=1)
def _plurals() -> frozenset[str]:
    from .structures import STRUCTURE_INFO

    return frozenset({s.plural for s in STRUCTURE_INFO.values() if s.plural != s.name} | {"ventricles"})


def _verb(phrase: str) -> str:
    """The verb the generator uses with a structure phrase ("polyps" -> "are", "liver" -> "is")."""
    return "are" if phrase in _plurals() else "is"


def _container(phrase: str) -> str:
    """"nodules" -> "lung", "tumor" -> "hemisphere": the container word of the structure's modality."""
    from .structures import MODALITY_STRUCTURES, STRUCTURE_INFO

    for modality, (kind, _names) in _CONTAINER_KIND.items():
        if any(phrase in (n, STRUCTURE_INFO[n].plural) for n in MODALITY_STRUCTURES[modality]):
            return kind
    return "part"


def question_fields(question: str) -> tuple[str, dict[str, str]] | None:
    """(template key, fields) of a question one of `T`'s templates made, or None. Verb fields come lower-case too
    (`Be` -> `be`, `Be_a` -> `be_a`; derived from the phrase where the template has none) and `a_x` ("a nodule")
    also as bare `n` ("nodule")."""
    for key, pattern in _patterns():
        m = pattern.fullmatch(question)
        if m:
            fields = dict(m.groupdict())
            for k in ("Be", "Be_a"):
                if k in fields:
                    fields[k.lower()] = fields[k].lower()
            if "a_x" in fields:
                fields["n"] = _bare(fields["a_x"])
                fields.setdefault("be", "is" if fields["n"] != fields["a_x"] else "are")
            for phrase, verb in (("x", "be"), ("a", "be_a")):
                if phrase in fields:
                    fields.setdefault(verb, _verb(fields[phrase]))
            if key == "location_open":
                fields.setdefault("container", _container(fields["x"]))
            return key, fields
    return None
