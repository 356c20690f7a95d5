""""Segment in all slices": the question in the box asked of every slice of the shown volume (NIfTI or
multi-frame DICOM) along the shown axis (:func:`medplib.volume.segment_volume`), with a progress bar, a Stop
button and downloads of the 3-D result (NIfTI label map on the source's geometry, DICOM-SEG for DICOM).

The handlers (:func:`segment_all_slices`, :func:`stop`, :func:`volume_controls`) take plain values and are
testable without a browser; :func:`volume_panel` builds the components and wires them (one call in demo.ui).
"""

from __future__ import annotations

import html
import threading
from typing import Any, Callable

import gradio as gr

from demo.errors import InputError, is_user_error, log_failure, warn
from demo.session import Session
from medplib.errors import MedPLIBError
from medplib.processing.conversation import REGION_REF
from medplib.volume import segment_volume

VOLUME_CONCURRENCY = 1  # whole-volume runs at a time (each slice still shares the model with everyone)
_stops: dict[str, threading.Event] = {}  # session key -> the stop event of its running volume
_stops_lock = threading.Lock()
Progress = Callable[..., Any]  # gr.Progress: progress((done, total), desc=...)


def volume_controls(session: Session) -> dict:
    """Whether the volume row is shown (volumes only) and its hint."""
    loaded = session.loaded
    if loaded is None or not loaded.is_volume:
        return {"visible": False}
    along = "frame" if loaded.layout == "frames" else {0: "sagittal", 1: "coronal", 2: "axial"}[loaded.axis]
    return {"visible": True, "label": f"Segment in all {loaded.n_slices} slices ({along})"}


def _checked(session: Session, question: str | None) -> str:
    from demo.model_handlers import check_question

    if session.loaded is None or not session.loaded.is_volume:
        raise InputError("Segmenting all slices needs a volume: upload a NIfTI or a multi-frame DICOM.")
    question = (question or "").strip()
    if REGION_REF.search(question):
        raise InputError("Regions are drawn on one slice only; for all slices ask without <region> references "
                         "(e.g. \"Please segment the liver.\").")
    problem = check_question(session, question, 0)
    if problem:
        raise InputError(problem)
    return question


def result_markdown(result: Any) -> str:
    """The run's outcome: the structures, how many slices had masks and which."""
    shown = [i + 1 for i in result.slices_with_masks]
    which = f" (slices {', '.join(map(str, shown[:40]))}{', …' if len(shown) > 40 else ''})" if shown else ""
    text = html.escape(result.summary()) + which + "."
    if not result.names:
        text += " The model grounded nothing; try another wording (e.g. \"Please segment the liver.\")."
    return text


def segment_all_slices(model: Any, session: Session, question: str | None, max_new_tokens: Any = None,
                       progress: Progress | None = None, request: Any = None) -> dict:
    """Run the question over every slice; ``{"volume_info": markdown, "volume_files": paths or None}``.
    Bad input warns and changes nothing; Stop (:func:`stop`) keeps the slices done so far."""
    session.bind(request)
    try:
        question = _checked(session, question)
    except InputError as err:
        warn(str(err))
        return {}
    event = threading.Event()
    with _stops_lock:
        _stops[session.key] = event
    kwargs = model._kwargs(max_new_tokens, 0.0)  # greedy: every slice alone, as asking it in the chat
    kwargs.pop("stop_event", None)

    def step(done: int, total: int) -> None:
        if progress is not None:
            progress((done, total), desc=f"Slice {done} of {total}")

    loaded = session.loaded
    try:
        if progress is not None:
            progress((0, loaded.n_slices), desc="Starting")
        result = segment_volume(model.medplib, loaded, question, progress=step, stop_event=event, **kwargs)
    except (MedPLIBError, InputError, ValueError, RuntimeError, MemoryError) as err:
        message = model.failure(err) if not is_user_error(err) else str(err)
        warn(message)
        return {"volume_info": html.escape(message), "volume_files": None}
    except Exception as err:  # noqa: BLE001 - a sentence for the user, the type for the log
        log_failure(err)
        warn("Segmenting the slices failed. Please try again.")
        return {"volume_info": "Segmenting the slices failed. Please try again.", "volume_files": None}
    finally:
        with _stops_lock:
            if _stops.get(session.key) is event:
                del _stops[session.key]
    files = [str(p) for p in result.export(session.new_dir("volume"))] if result.slices_done else None
    return {"volume_info": result_markdown(result), "volume_files": files}


def stop(session: Session) -> bool:
    """Stop the session's running volume (the slices done are kept); False when none runs."""
    with _stops_lock:
        event = _stops.get(session.key) if session.key else None
    if event is None:
        return False
    event.set()
    return True


def volume_panel(ui: Any, model: Any, ui_events: dict) -> None:
    """Build the volume row (hidden until a volume is shown) and wire it. ``ui.info`` changes with every shown
    image, so it drives the row's visibility. The run has its own queue slot, not the model's: each slice holds
    the model only while it is asked, so a whole volume may outlast one answer's time limit."""
    with gr.Group(visible=False) as ui.volume_group:
        with gr.Row():
            ui.volume_btn = gr.Button("Segment in all slices", variant="secondary", scale=3)
            ui.volume_stop_btn = gr.Button("Stop slices", size="sm", scale=1, min_width=80)
        ui.volume_info = gr.Markdown("Asks the question in the box about every slice of this volume and returns "
                                     "a 3-D mask.")
        ui.volume_files = gr.File(label="3-D result (NIfTI labels on the source geometry; DICOM-SEG for DICOM)",
                                  file_count="multiple", interactive=False, height=90)

    def on_shown(s):
        shown = volume_controls(s)
        return gr.update(visible=shown["visible"]), gr.update(value=shown.get("label", "Segment in all slices"))

    def on_segment(s, q, mt, request: gr.Request, progress=gr.Progress()):
        out = segment_all_slices(model, s, q, mt, progress=progress, request=request)
        return out.get("volume_info", gr.skip()), out.get("volume_files", gr.skip()), s

    def on_stop(s, request: gr.Request):
        if not stop(s.bind(request)):
            warn("No slices are being segmented.")

    ui.info.change(on_shown, [ui.session], [ui.volume_group, ui.volume_btn], **ui_events)
    ui.volume_btn.click(on_segment, [ui.session, ui.question, ui.max_tokens],
                        [ui.volume_info, ui.volume_files, ui.session],
                        concurrency_limit=VOLUME_CONCURRENCY, concurrency_id="volume", **ui_events)
    ui.volume_stop_btn.click(on_stop, [ui.session], None, **ui_events)
