"""Per-browser-session state of the demo and its temporary files.

A :class:`Session` lives in a ``gr.State`` (one per page load): the loaded image, its cached model
encoding, the drawn regions and the conversation. Nothing is shared between sessions.

Privacy: every file the demo writes for a session (editor background, previews, overlays, exported
masks) goes into one folder inside Gradio's own temporary folder (so Gradio serves it without
making another copy), named after the session. That folder and the session's uploads are deleted
when the session ends (``demo.unload``, and the state's ``delete_callback`` as a fallback).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from medplib.io import LoadedImage
from medplib.processing.conversation import REGION_REF

from demo.strokes import Region, RegionSet



def gradio_temp_root() -> Path:
    """Gradio's upload/cache folder (``GRADIO_TEMP_DIR`` or ``<tmp>/gradio``)."""
    import os

    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def sessions_root() -> Path:
    return gradio_temp_root() / "medplib-sessions"


# ------------------------------------------------------------------------------------------------
# Files to delete when a session ends (keyed by Gradio's session hash; unload only gets that)
# ------------------------------------------------------------------------------------------------

_files_lock = threading.Lock()
_session_files: dict[str, set[str]] = {}


def track_file(session_key: str | None, path: Any) -> None:
    """Remember an upload of this session (only files inside Gradio's temp folder are tracked)."""
    if not session_key or not path:
        return
    p = Path(str(path)).resolve()
    if not p.is_relative_to(gradio_temp_root()):
        return
    with _files_lock:
        _session_files.setdefault(session_key, set()).add(str(p))


def _delete_upload(path: str) -> None:
    p = Path(path)
    p.unlink(missing_ok=True)
    try:  # Gradio puts each upload in its own hash-named folder
        if p.parent != gradio_temp_root() and p.parent.is_relative_to(gradio_temp_root()):
            p.parent.rmdir()
    except OSError:
        pass


def end_session(session_key: str | None) -> None:
    """Delete everything the session left on disk: its folder and its tracked uploads."""
    if not session_key:
        return
    with _files_lock:
        files = _session_files.pop(session_key, set())
    for f in files:
        _delete_upload(f)
    shutil.rmtree(sessions_root() / _safe_key(session_key), ignore_errors=True)


def _safe_key(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", key)[:80] or "anon"


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

    # ---- files ---------------------------------------------------------------------------------
    def bind(self, request: Any = None) -> "Session":
        """Attach the Gradio session hash (once)."""
        if self.key is None:
            self.key = getattr(request, "session_hash", None) or uuid.uuid4().hex
        return self

    @property
    def folder(self) -> Path:
        folder = sessions_root() / _safe_key(self.bind().key)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def new_path(self, stem: str, suffix: str = ".png") -> Path:
        self.counter += 1
        return self.folder / f"{stem}-{self.counter}{suffix}"

    def new_dir(self, stem: str) -> Path:
        self.counter += 1
        d = self.folder / f"{stem}-{self.counter}"
        d.mkdir()
        return d

    def track(self, path: Any) -> None:
        track_file(self.bind().key, path)

    def close(self) -> None:
        end_session(self.key)

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

