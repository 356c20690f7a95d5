"""Names for the masks of a grounded answer, taken from the words the answer (or question) uses.

"Sure, the liver is <SEG>." -> "liver"; "<p>left kidney</p><SEG>" -> "left kidney"; an answer that
only says "it is <SEG>" borrows the object of the question ("Please segment the liver lesion." ->
"liver lesion"); with nothing to go on the name is "mask k".
"""

from __future__ import annotations

import re

from demo import overlay

_SEG = r"(?:<\s*seg\s*>|\[\s*seg\s*\])"
_PHRASE = re.compile(r"<p>(.*?)</p>\s*" + _SEG, re.I | re.S)
_BEFORE = re.compile(r"([^.;!?\n<>]*)" + _SEG, re.I)  # the clause leading up to each SEG
_LEAD = re.compile(r"^(?:(?:and|or|then)\s+)?(?:(?:sure|yes|ok(?:ay)?|certainly|of course)\b[,!]?\s*)?"
                   r"(?:(?:here|this|that|it)\s+(?:is|are)\s+)?"
                   r"(?:(?:the|a|an)\s+)?", re.I)
_TAIL = re.compile(r"\s*(?:\b(?:is|are|at|in|shown|located|segmented|here)\b|[:,\-])\s*$", re.I)
_QUESTION_OBJECT = re.compile(r"\b(?:segment|outline|delineate|mask|find|locate|show|where is)\s+"
                              r"(?:me\s+)?(?:the\s+|a\s+|an\s+|all\s+)?([^.?!,<]+)", re.I)
_PRONOUNS = {"", "it", "they", "this", "that", "these", "those", "here", "there", "sure", "mask"}
_STOP_AFTER = re.compile(r"\s+(?:in|on|of)\s+(?:this|the)\s+(?:image|picture|scan|slice|figure)\b.*$", re.I)


def _strip_name(words: str) -> str:
    name = overlay.clean_answer(words)
    for _ in range(3):  # "the liver is" -> "liver"; "it is" -> ""
        name = _TAIL.sub("", _LEAD.sub("", name.strip()))
    name = _STOP_AFTER.sub("", name).strip(" ,:;-")
    return "" if name.lower() in _PRONOUNS else name[:60]


def question_object(question: str) -> str:
    """What a segmentation request asks for ("Please segment the liver lesion." -> "liver lesion")."""
    m = _QUESTION_OBJECT.search(overlay.clean_answer(question or ""))
    return _strip_name(m.group(1)) if m else ""


def mask_names(raw_answer: str, n_masks: int, question: str = "") -> list[str]:
    """One name per mask (``n_masks``), in SEG order."""
    text = raw_answer or ""
    phrases = [_strip_name(p) for p in _PHRASE.findall(text)]
    if not phrases:
        phrases = [_strip_name(p) for p in _BEFORE.findall(text)]
    fallback = question_object(question)
    names = []
    for k in range(n_masks):
        name = phrases[k] if k < len(phrases) and phrases[k] else ""
        if not name and fallback:
            name = fallback if n_masks == 1 else f"{fallback} {k + 1}"
        names.append(name or f"mask {k + 1}")
    return names
