"""Region handlers: strokes on the editor become regions; undo, remove, clear, insert a reference."""

from __future__ import annotations

import os
from typing import Any

from demo import views
from demo.errors import InputError, warn
from demo.image_handlers import region_pick
from demo.session import Session
from demo.strokes import MODES, POINT_FRACTION


def _region_outputs(session: Session, reset_editor: bool = False) -> dict:
    out = {"preview": views.regions_preview(session), "regions": views.regions_html(session),
           "region_pick": region_pick(session), "brush": len(session.regions), "session": session}
    if reset_editor:  # the canvas shows exactly the kept regions' strokes again
        session.regions.redrawn_strokes()
        out["editor"] = views.editor_value(session)
    return out


def _has_strokes(editor_value: Any) -> bool:
    from demo.strokes import _as_array, _drawn

    layers = editor_value.get("layers") or [] if isinstance(editor_value, dict) else []
    return any(a is not None and _drawn(a).any() for a in (_as_array(x) for x in layers))


def stroke(session: Session, editor_value: Any, mode: str, request: Any = None,
           point_size: float = POINT_FRACTION) -> dict:
    """A stroke on the image editor becomes the next region (read as Point / Box / Free-form;
    ``point_size`` = a Point's square side / the image's longer side)."""
    session.bind(request)
    if isinstance(editor_value, dict):  # the browser's uploads of the canvas: delete at session end
        layers = editor_value.get("layers") or []
        for item in (editor_value.get("background"), editor_value.get("composite"), *layers):
            if isinstance(item, (str, os.PathLike)):
                try:
                    session.track(item)
                except InputError as err:
                    warn(str(err))
                    return {"session": session}
    if session.loaded is None:
        if _has_strokes(editor_value):
            warn("Please load an image (upload a file or pick an example) before drawing.")
            return {"editor": None, "session": session}
        return {}
    if mode not in MODES:
        mode = "Box"
    try:
        region = session.regions.add_from_editor(editor_value, session.loaded.image_hw, mode, point_size)
    except InputError as err:
        warn(str(err))
        return _region_outputs(session, reset_editor=True)
    if region is None:
        return {}
    return _region_outputs(session)


def undo_region(session: Session) -> dict:
    if session.regions.undo_last() is None:
        warn("There is no region to undo.")
        return {}
    return _region_outputs(session, reset_editor=True)


def remove_region(session: Session, label: str | None) -> dict:
    if not label:
        warn("Pick the region to remove.")
        return {}
    try:
        session.regions.remove(int(label) - 1)
    except (InputError, ValueError):
        warn(f"There is no region {label}.")
        return {}
    return _region_outputs(session, reset_editor=True)


def clear_regions(session: Session) -> dict:
    session.regions.clear()
    return _region_outputs(session, reset_editor=True)


def insert_reference(question: str, label: str | None) -> str:
    """Append ``<regionN>`` to the question being typed."""
    if not label:
        warn("Draw a region first, then insert its reference.")
        return question
    q = (question or "").rstrip()
    return (q + " " if q else "") + f"<region{label}>"

