"""Which structure each ``<SEG>`` of an answer names ("Sure, the liver lesion is <SEG>." -> "liver lesion").

Rule, per ``<SEG>`` in order: the ``<p>phrase</p>`` right before it (the original's phrase format); else the
noun phrase its sentence says it is ("the left kidney is <SEG>", "the left kidney <SEG>"); else, when the answer only says "it" /
"here", the structure the question asks for ("Please segment the liver."); else ``None`` (the caller numbers it).
"""

from __future__ import annotations

import re

_SEG = r"(?:<\s*seg\s*>|\[\s*seg\s*\])"
_PHRASE = re.compile(r"<p>(?P<phrase>[^<]*?)</p>\s*" + _SEG + r"|(?P<seg>" + _SEG + ")", re.IGNORECASE)
_SUBJECT = re.compile(r"([^.,;:!?<>]+?)\s+(?:is|are)\b\s*(?:shown\s+|marked\s+|located\s+|highlighted\s+)?"
                      r"(?:here\s+|as\s+|in\s+|at\s+)?$", re.IGNORECASE)
_ASKED = re.compile(r"\b(?:segment|segmentation of|find|locate|outline|delineate|mark|highlight|show|identify|"
                    r"where is|where are)\s+(.+?)(?:\s+(?:in|on|of|within)\s+(?:this|the)\s+"
                    r"(?:image|scan|slice|picture|volume|view))?\s*[.?!]*$", re.IGNORECASE)
_NOUN_BEFORE = re.compile(r"([^.,;:!?<>]+?)\s*$")
_LEAD = re.compile(r"^(?:sure|yes|ok|okay|here|certainly|and|while|whereas)\b[,!]?\s*|^(?:the|a|an|all|any|both)\s+",
                   re.IGNORECASE)
_PRONOUNS = {"it", "this", "that", "they", "these", "those", "here", "there", "the result", "the segmentation",
             "the mask", "the region", "segmentation", "mask", "result", "area", "the area"}
_TAGS = re.compile(r"<[^>]*>|\[\s*seg\s*\]", re.IGNORECASE)


def _tidy(phrase: str) -> str | None:
    text = " ".join(_TAGS.sub(" ", phrase).split()).strip(" .,:;!?\"'")
    for _ in range(3):  # "Sure, the ..." -> "..."
        text = _LEAD.sub("", text).strip(" ,")
    text = text.lower()
    return text if text and text not in _PRONOUNS and len(text) <= 60 else None


def asked_structure(question: str) -> str | None:
    """The structure a question asks to segment ("Please segment the left kidney." -> "left kidney")."""
    text = _TAGS.sub(" ", str(question or "")).strip()
    m = _ASKED.search(text)
    return _tidy(m.group(1)) if m else None


def structure_names(raw_answer: str, question: str = "") -> list[str | None]:
    """One name per ``<SEG>`` of ``raw_answer`` (the answer with its special tokens), or None where it names none."""
    names: list[str | None] = []
    fallback = asked_structure(question)
    start = 0
    for m in _PHRASE.finditer(str(raw_answer or "")):
        if m.group("phrase") is not None:
            name = _tidy(m.group("phrase"))
        else:
            clause = raw_answer[start:m.start()]
            before = _SUBJECT.search(clause) or _NOUN_BEFORE.search(clause)  # "the liver is <SEG>" / "the liver <SEG>"
            name = _tidy(before.group(1)) if before else None
        names.append(name or fallback)
        start = m.end()
    return names
