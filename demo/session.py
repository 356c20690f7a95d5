"""Per-browser-session state of the demo and its temporary files.

A :class:`Session` lives in a ``gr.State`` (one per page load): the loaded image, its cached model
encoding, the drawn regions and the conversation. Nothing is shared between sessions.

Privacy: every file the demo writes for a session (editor background, previews, overlays, exported
masks) goes into the session's own private folder, and every upload it uses is claimed by it
(demo.files). Both are deleted when the session ends (``demo.unload``, and the state's
``delete_callback`` as a fallback); files of other sessions and the gallery's are never touched.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from demo import files
from medplib.io import LoadedImage
from medplib.processing.conversation import REGION_REF
from demo.strokes import Region, RegionSet



gradio_temp_root = files.temp_root
sessions_root = files.sessions_root
end_session = files.end_session


# ------------------------------------------------------------------------------------------------
# Conversation
# ------------------------------------------------------------------------------------------------


@dataclass
class Turn:
    """One answered question. ``question`` is what the model got (region references explicit);
    ``regions`` are the region objects its ``<regionK>`` references pointed at when asked."""

    question: str
    regions: list[Region]
    text: str  # clean answer text
    raw_text: str  # answer with <SEG> tokens (for the colour chips)
    masks: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    overlay: str | None = None  # this answer's masks over its image (PNG, image size), shown in the chat


@dataclass
class Session:
    key: str | None = None  # Gradio session hash (or a random id outside a request)
    loaded: LoadedImage | None = None
    encoded: Any = None  # medplib EncodedImage of loaded.display_rgb (CLIP / SAM cached there)
    regions: RegionSet = field(default_factory=RegionSet)
    turns: list[Turn] = field(default_factory=list)
    error: str | None = None  # a transient error line shown under the conversation
    example: dict | None = None  # the example entry when an example is shown
    digest: str | None = None  # API: sha256 of the file behind `loaded` (reuse its encoding)
    counter: int = 0  # file-name counter inside the session folder
    kept: dict = field(default_factory=dict)  # (axis, slice) -> (regions, turns) of slices left earlier

    # ---- files ---------------------------------------------------------------------------------
    def bind(self, request: Any = None) -> "Session":
        """Attach the Gradio session hash (once)."""
        if self.key is None:
            self.key = getattr(request, "session_hash", None) or uuid.uuid4().hex
        return self

    @property
    def folder(self) -> Path:
        return files.session_folder(self.bind().key)

    def new_path(self, stem: str, suffix: str = ".png") -> Path:
        self.counter += 1
        return self.folder / f"{stem}-{self.counter}{suffix}"

    def new_dir(self, stem: str) -> Path:
        self.counter += 1
        d = self.folder / f"{stem}-{self.counter}"
        d.mkdir()
        return d

    def track(self, path: Any) -> Path:
        """``path`` as a file of this session (an upload it may use); InputError for anyone else's."""
        return files.claim(self.bind().key, path)

    def close(self) -> None:
        files.end_session(self.key)

    # ---- image ---------------------------------------------------------------------------------
    @property
    def image_hw(self) -> tuple[int, int] | None:
        return None if self.loaded is None else self.loaded.image_hw

    def set_image(self, loaded: LoadedImage, keep_conversation: bool = False) -> None:
        """Show another image: drop the cached encoding; a new picture also resets regions/chat."""
        geometry_changed = self.loaded is None or self.loaded.image_hw != loaded.image_hw
        self.loaded = loaded
        self.encoded = None
        self.error = None
        if not keep_conversation or geometry_changed:
            self.regions = RegionSet()
            self.turns = []

    # ---- masks of the latest grounded answer ----------------------------------------------------
    def last_grounded(self) -> Turn | None:
        for turn in reversed(self.turns):
            if turn.masks:
                return turn
        return None


def session_delete_callback(session: Any) -> None:
    """gr.State delete_callback: the state expired, remove its files."""
    if isinstance(session, Session):
        session.close()


# ------------------------------------------------------------------------------------------------
# Region references across turns
# ------------------------------------------------------------------------------------------------


def referenced_indices(question: str, n_at_time: int) -> list[int]:
    """0-based indices named by ``<regionK>`` (plain ``<region>`` = 1) in ``question``."""
    out = []
    for m in REGION_REF.finditer(question):
        idx = int(m.group(1)) - 1 if m.group(1) else 0
        if 0 <= idx < max(n_at_time, 1):
            out.append(idx)
    return out


def explicit_question(question: str, regions: Sequence[Region], history: Sequence[Turn]) -> str:
    """The question with its region references made explicit.

    A question that names no region while regions are drawn is about the regions not yet asked
    about: references to those are appended (none when every region was already discussed)."""
    if not regions or REGION_REF.search(question):
        return question
    discussed = set()
    for turn in history:
        for i in referenced_indices(turn.question, len(turn.regions)):
            if i < len(turn.regions):
                discussed.add(id(turn.regions[i]))
    fresh = [k for k, r in enumerate(regions) if id(r) not in discussed]
    if not fresh:
        return question
    return question.rstrip() + " " + " ".join(f"<region{k + 1}>" for k in fresh)


def renumber(question: str, then: Sequence[Region], now: Sequence[Region]) -> str:
    """Rewrite an earlier question's references to the current numbering; a reference to a region
    that is no longer drawn becomes plain words (the model then gets no region feature for it)."""
    position = {id(r): k for k, r in enumerate(now)}

    def sub(m: re.Match) -> str:
        idx = int(m.group(1)) - 1 if m.group(1) else 0
        if 0 <= idx < len(then) and id(then[idx]) in position:
            return f"<region{position[id(then[idx])] + 1}>"
        return "a previously marked area"

    return REGION_REF.sub(sub, question)


def model_history(turns: Sequence[Turn], regions: Sequence[Region]) -> list[tuple[str, str]]:
    """(question, answer) pairs for the model, with references valid for ``regions``."""
    return [(renumber(t.question, t.regions, regions), t.raw_text) for t in turns]

