"""Vicuna-v1 prompt template and user-facing region references (architecture.md §4)."""

from __future__ import annotations

import re
from typing import Optional, Sequence

from medplib.constants import IM_END, IM_START, IMAGE_PLACEHOLDER, REGION_END, REGION_START

# Training / demo system text ("llava_v1"); the port's default.
SYSTEM_TRAINING = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
# `vqa_infer.py` ("v1") text: only for reproducing the original evaluation numbers / parity fixture.
SYSTEM_EVAL = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
USER_ROLE, ASSISTANT_ROLE = "USER", "ASSISTANT"
SEP, SEP2 = " ", "</s>"
IMAGE_PREFIX = f"{IM_START}{IMAGE_PLACEHOLDER}{IM_END}\n"
REGION_PAIR = REGION_START + REGION_END

Turn = tuple[str, Optional[str]]


def build_prompt(turns: Sequence[Turn], system: str = SYSTEM_TRAINING) -> str:
    """Render (user, assistant) turns with the Vicuna-v1 template (SeparatorStyle.TWO).

    The first user message gets the image prefix; literal ``<image>`` in user text is removed (one
    image per conversation, as in the original dataset code) and user text is stripped. Only the last
    assistant message may be None/empty; it renders as ``"ASSISTANT:"`` so generation continues there.
    """
    if not turns:
        raise ValueError("build_prompt needs at least one (user, assistant) turn")
    out = system + SEP
    for i, (user, answer) in enumerate(turns):
        user = user.replace(IMAGE_PLACEHOLDER, "").strip()
        if not user:
            raise ValueError(f"turn {i + 1} has an empty user message")
        if i == 0:
            user = IMAGE_PREFIX + user
        out += f"{USER_ROLE}: {user}{SEP}"
        if answer:
            out += f"{ASSISTANT_ROLE}: {answer}{SEP2}"
        elif i == len(turns) - 1:
            out += f"{ASSISTANT_ROLE}:"
        else:
            raise ValueError(f"turn {i + 1} has no assistant answer; only the last turn may be open")
    return out


# The one pattern of a user's region reference: `<region>`, `<region1>`, `<region2>`, ... (group 1 = the
# number, "" for plain); an already expanded `<region></region>` counts as one reference.
REGION_REF = re.compile(r"<region(\d*)>(?:</region>)?")


def expand_region_refs(question: str, n_regions: int, auto_append: bool = True) -> tuple[str, list[int]]:
    """Turn user region references into ``<region></region>`` pairs.

    Users write ``<region1>``, ``<region2>``, ... (1-based, in drawing order); plain ``<region>`` means
    region 1 and is only allowed when exactly one region was drawn. Each reference becomes one pair,
    so a region referenced twice yields two pairs. Returns the text and ``order``: the 0-based index
    of the region behind each pair, in prompt order (the order region features must be supplied).

    If regions were drawn but the question references none and ``auto_append`` is true, pairs for
    all regions are appended in drawing order (like the original demo's " <region></region>").
    """
    if n_regions < 0:
        raise ValueError(f"n_regions must be >= 0, got {n_regions}")
    order: list[int] = []

    def replace(match: re.Match) -> str:
        num = match.group(1)
        if num == "":
            if n_regions != 1:
                raise ValueError(
                    f"the question uses plain <region> but {n_regions} regions were drawn; "
                    "plain <region> needs exactly one region, otherwise write <region1>, <region2>, ...")
            idx = 1
        else:
            idx = int(num)
            if not 1 <= idx <= n_regions:
                drawn = ("no region was drawn" if not n_regions else "only <region1> was drawn" if n_regions == 1
                         else f"regions <region1>..<region{n_regions}> were drawn")
                raise ValueError(f"the question references <region{num}> but {drawn}")
        order.append(idx - 1)
        return REGION_PAIR

    text = REGION_REF.sub(replace, question)
    if text.count(REGION_END) != len(order):
        raise ValueError("the question contains a stray </region> without a matching <region>")
    if not order and n_regions and auto_append:
        text = text.rstrip() + " " + " ".join([REGION_PAIR] * n_regions)
        order = list(range(n_regions))
    return text, order
