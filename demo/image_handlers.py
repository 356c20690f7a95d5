"""Image loading handlers: upload, examples, CT window, slice and axis, and what the shown image drives."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Sequence

from demo import views
from demo.errors import InputError, info, warn
from demo.session import Session
from medplib.io import WINDOW_PRESETS, LoadedImage, load_upload

AXES = {"axial": 2, "coronal": 1, "sagittal": 0}
WINDOW_CHOICES = ["auto", *WINDOW_PRESETS]
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"


def load_examples(folder: Path = EXAMPLES_DIR) -> list[dict]:
    """examples/examples.json entries whose image exists, with an absolute ``path``."""
    try:
        entries = json.loads((folder / "examples.json").read_text())
    except (OSError, ValueError):
        return []
    out = []
    for e in entries:
        p = folder / str(e.get("file", ""))
        if p.is_file():
            out.append({**e, "path": str(p)})
    return out

def image_outputs(session: Session) -> dict:
    """Everything that depends on the shown image."""
    loaded = session.loaded
    out = {
        "editor": views.editor_value(session),
        "brush": len(session.regions),  # the next region's colour
        "preview": views.regions_preview(session),
        "info": describe(loaded),
        "regions": views.regions_html(session),
        "region_pick": region_pick(session),
        "chat": views.chat_messages(session),
        "overlay": views.mask_overlay(session),
        "legend": views.legend_html(session),
        "files": last_files(session),
        "suggestions": suggestion_props(session),
        "session": session,
    }
    if loaded is None:
        out.update(window={"visible": False}, slice={"visible": False}, axis={"visible": False})
        return out
    out["window"] = {"visible": loaded.can_window and loaded.is_ct, "choices": WINDOW_CHOICES,
                     "value": loaded.window if loaded.window in WINDOW_CHOICES else "auto"}
    out["slice"] = ({"visible": True, "minimum": 1, "maximum": loaded.n_slices, "value": loaded.slice_index + 1,
                     "step": 1} if loaded.is_volume else {"visible": False})
    out["axis"] = {"visible": loaded.layout == "ras",
                   "value": next((k for k, v in AXES.items() if v == loaded.axis), "axial")}
    return out


def suggestion_props(session: Session) -> dict:
    """The example's suggested questions; hidden (no empty heading) for uploads."""
    samples = [[q] for q in (session.example or {}).get("questions", [])]
    return {"samples": samples, "visible": bool(samples)}


def describe(loaded: LoadedImage | None) -> str:
    if loaded is None:
        return "No image loaded. Upload a file or pick an example."
    notes = " ".join(loaded.notes)
    return f"**{html.escape(loaded.filename)}** · {loaded.describe()}" + (f"  \n{notes}" if notes else "")


def region_pick(session: Session) -> dict:
    labels = session.regions.labels
    return {"choices": labels, "value": labels[-1] if labels else None}


def last_files(session: Session) -> list[str] | None:
    turn = session.last_grounded()
    return list(turn.files) if turn is not None else None


def load_file(session: Session, file: Any, request: Any = None) -> dict:
    """An upload (gr.File): PNG/JPEG/TIFF/DICOM/NIfTI. A bad file keeps the current image and chat."""
    session.bind(request)
    path = getattr(file, "name", None) or (file.get("path") if isinstance(file, dict) else file)
    if not path:
        return {}
    name = getattr(file, "orig_name", None) or Path(str(path)).name
    try:
        loaded = load_upload(session.track(path), filename=name)
    except InputError as err:
        warn(str(err))
        return {"upload": None, "session": session}  # the rejected file does not stay listed
    announce_new_image(session)
    session.example = None
    session.set_image(loaded)
    return image_outputs(session)


def load_example(session: Session, index: int, examples: Sequence[dict], request: Any = None) -> dict:
    session.bind(request)
    if not 0 <= int(index) < len(examples):
        return {}
    entry = examples[int(index)]
    try:
        loaded = load_upload(entry["path"], filename=entry.get("file"))
    except InputError as err:
        warn(str(err))
        return {"session": session}
    announce_new_image(session)
    session.example = entry
    session.set_image(loaded)
    return {**image_outputs(session), "upload": None}


def change_window(session: Session, window: str) -> dict:
    loaded = session.loaded
    if loaded is None or not loaded.can_window or window == loaded.window:
        return {}
    try:
        session.set_image(loaded.with_window(window), keep_conversation=True)
    except InputError as err:
        warn(str(err))
        return {}
    return image_outputs(session)


def change_slice(session: Session, number: float | None, axis: str = "axial") -> dict:
    """Show slice ``number`` (1-based; None = the middle one) along ``axis``. Each slice keeps its
    own regions and conversation: coming back to a slice shows them again (and a notice says so)."""
    loaded = session.loaded
    if loaded is None or loaded.volume is None:
        return {}
    ax = AXES.get(axis, loaded.axis)
    index = int(loaded.volume.shape[ax]) // 2 if number is None else int(number) - 1
    if ax == loaded.axis and index == loaded.slice_index:
        return {}
    try:
        shown = loaded.with_slice(index, ax)
    except InputError as err:
        warn(str(err))
        return {}
    if session.turns or len(session.regions):
        session.kept[(loaded.axis, loaded.slice_index)] = (session.regions, session.turns)
        info(f"Slice {loaded.slice_index + 1}'s regions and conversation are kept; they return when you go "
             "back to it.")
    session.set_image(shown)
    session.regions, session.turns = session.kept.pop((ax, index), (session.regions, session.turns))
    return image_outputs(session)


def announce_new_image(session: Session) -> None:
    """Say that loading another image closes the conversation (never silently)."""
    n = len(session.turns) + sum(len(t) for _, t in session.kept.values())
    if n:
        info(f"A new image starts a new conversation; the previous one ({n} answer{'s' if n > 1 else ''}) "
             "was closed.")
    session.kept = {}

