"""Event handlers of the demo, testable without a browser.

Each handler takes the session (and plain input values) and returns a dict ``{output key: value}``
with only what changed; :mod:`demo.ui` maps keys to components (:data:`OUTPUTS`). A value for a
key in :data:`PROP_KEYS` is a dict of component properties (an update), for every other key it is
the component's value. Problems the user can fix are shown with :func:`warn` and leave the
session as it was; model failures also add an error line under the conversation.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from medplib.errors import MedPLIBError
from medplib.processing.conversation import REGION_REF
from medplib.streaming import Partial

from demo import api_inputs, overlay, runtime, views
from demo.errors import InputError, is_user_error, log_failure
from demo.session import Session, Turn, explicit_question, model_history
from demo.strokes import MODES
from medplib.io import WINDOW_PRESETS, LoadedImage, export_masks, load_upload, safe_stem

OUTPUTS = ("upload", "editor", "preview", "info", "window", "slice", "axis", "regions", "region_pick", "chat",
           "question", "overlay", "legend", "files", "suggestions", "session")
PROP_KEYS = {"window", "slice", "axis", "region_pick", "suggestions"}
AXES = {"axial": 2, "coronal": 1, "sagittal": 0}
WINDOW_CHOICES = ["auto", *WINDOW_PRESETS]
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
DEFAULT_MAX_NEW_TOKENS = 128
REQUEST_TIME_LIMIT_S = 30  # one answer holds the model at most this long (generation stops there)
_SPECIAL = re.compile(r"<image>|<SEG>|</?im_(?:start|end)>|<im_patch>", re.IGNORECASE)
REGENERATE_TEMPERATURE = 0.7  # regenerate samples (greedy decoding would repeat the same answer)


def warn(message: str) -> None:
    """A yellow toast in the UI (a Python warning outside a Gradio event)."""
    import gradio as gr

    gr.Warning(html.escape(message, quote=False))


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


# ------------------------------------------------------------------------------------------------
# Image loading
# ------------------------------------------------------------------------------------------------


def image_outputs(session: Session) -> dict:
    """Everything that depends on the shown image."""
    loaded = session.loaded
    out = {
        "editor": views.editor_value(session),
        "preview": views.regions_preview(session),
        "info": describe(loaded),
        "regions": views.regions_html(session),
        "region_pick": region_pick(session),
        "chat": views.chat_messages(session),
        "overlay": views.mask_overlay(session),
        "legend": views.legend_html(session),
        "files": last_files(session),
        "suggestions": {"samples": [[q] for q in (session.example or {}).get("questions", [])]},
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
        return {"session": session}
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


def change_slice(session: Session, number: float, axis: str = "axial") -> dict:
    """Show slice ``number`` (1-based) along ``axis``; a new slice starts a new conversation."""
    loaded = session.loaded
    if loaded is None or loaded.volume is None:
        return {}
    ax = AXES.get(axis, loaded.axis)
    index = int(number) - 1
    if ax == loaded.axis and index == loaded.slice_index:
        return {}
    try:
        session.set_image(loaded.with_slice(index, ax))
    except InputError as err:
        warn(str(err))
        return {}
    return image_outputs(session)


# ------------------------------------------------------------------------------------------------
# Regions
# ------------------------------------------------------------------------------------------------


def _region_outputs(session: Session, reset_editor: bool = False) -> dict:
    out = {"preview": views.regions_preview(session), "regions": views.regions_html(session),
           "region_pick": region_pick(session), "session": session}
    if reset_editor:  # strokes of removed regions would otherwise stay on the canvas
        session.regions.reset_strokes()
        out["editor"] = views.editor_value(session)
    return out


def _has_strokes(editor_value: Any) -> bool:
    from demo.strokes import _as_array, _drawn

    layers = editor_value.get("layers") or [] if isinstance(editor_value, dict) else []
    return any(a is not None and _drawn(a).any() for a in (_as_array(x) for x in layers))


def stroke(session: Session, editor_value: Any, mode: str, request: Any = None) -> dict:
    """A stroke on the image editor becomes the next region (read as Point / Box / Free-form)."""
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
        region = session.regions.add_from_editor(editor_value, session.loaded.image_hw, mode)
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


# ------------------------------------------------------------------------------------------------
# Chat
# ------------------------------------------------------------------------------------------------


def chat_outputs(session: Session, question: str | None = None, pending=None) -> dict:
    out = {"chat": views.chat_messages(session, pending), "session": session}
    if question is not None:
        out["question"] = question
    return out


def check_question(session: Session, question: str | None, n_regions: int) -> str | None:
    """Why this question cannot be asked now (None when it can)."""
    from medplib.processing import expand_region_refs

    if session.loaded is None:
        return "Please load an image (upload a file or pick an example) before asking."
    if not question or not question.strip():
        return "Please type a question."
    if not _SPECIAL.sub("", question).strip():
        return "Please type a question in words; special tokens such as <image> or <SEG> alone are not a question."
    for m in REGION_REF.finditer(question):
        if not n_regions:
            return (f"The question refers to {m.group(0)}, but no region is drawn. Draw on the image first "
                    "(each stroke is one region), or remove the reference.")
        if m.group(1) and not 1 <= int(m.group(1)) <= n_regions:
            return (f"The question refers to {m.group(0)}, but only {n_regions} region"
                    f"{'s are' if n_regions > 1 else ' is'} drawn (<region1>"
                    f"{f'..<region{n_regions}>' if n_regions > 1 else ''}).")
        if not m.group(1) and n_regions > 1:
            return (f"Plain <region> is ambiguous with {n_regions} regions drawn; write <region1>, "
                    "<region2>, ... instead.")
    try:
        expand_region_refs(question, n_regions, auto_append=False)
    except ValueError as err:
        return f"Cannot ask that: {err}."
    return None


class ModelHandlers:
    """Handlers that run the model. ``generate_kwargs`` are added to every generation call (for
    example a ``logits_processor`` or ``repetition_penalty``) and take precedence over the UI."""

    def __init__(self, medplib: Any, generate_kwargs: dict | None = None):
        self.medplib = medplib
        self.key = runtime.register(medplib)
        self.generate_kwargs = dict(generate_kwargs or {})

    # ---- the model call shared by the UI and the API ------------------------------------------
    def _kwargs(self, max_new_tokens: Any, temperature: Any) -> dict:
        kw = {"max_new_tokens": api_inputs.max_new_tokens(max_new_tokens, DEFAULT_MAX_NEW_TOKENS),
              "temperature": api_inputs.temperature(temperature), "max_time": REQUEST_TIME_LIMIT_S}
        kw.update(self.generate_kwargs)
        return kw

    def _encoded(self, session: Session) -> Any:
        if session.encoded is None:
            session.encoded = runtime.encode(self.key, session.loaded.display_rgb)
        return session.encoded

    def run(self, session: Session, question: str, regions: Sequence[Any], history: Sequence[tuple[str, str]],
            kwargs: dict) -> Iterator[Any]:
        """Yields growing answer texts, then the final `Answer`. Raises for bad input / model errors."""
        image = self._encoded(session)
        kwargs = {**kwargs, "session": session.bind().key}  # the conversation keeps its KV cache between turns
        yield from runtime.model_stream(self.key, image, question, list(regions), list(history), kwargs)

    def _finish(self, session: Session, question: str, regions: list, answer: Any) -> Turn:
        turn = Turn(question=question, regions=regions, text=answer.text, raw_text=answer.raw_text,
                    masks=[np.asarray(m, dtype=bool) for m in answer.masks],
                    scores=list(answer.scores))
        if turn.masks:
            stem = safe_stem(session.loaded.filename if session.loaded else None, "image")
            folder = session.new_dir("masks")
            labels = [label if label != f"mask {k + 1}" else "" for k, label in enumerate(views.mask_labels(turn))]
            turn.files = [str(p) for p in export_masks(turn.masks, folder, stem=stem, labels=labels,
                                                         source=session.loaded)]
        return turn

    @staticmethod
    def failure(err: BaseException) -> str:
        """A user-facing line for an exception raised while answering."""
        if isinstance(err, InputError):
            return str(err)
        if isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower():
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            return ("The model ran out of memory while answering. Try a shorter answer length, a smaller image, "
                    "or ask again when the server is less busy.")
        if is_user_error(err):
            return f"Cannot ask that: {str(err).rstrip('.')}."
        log_failure(err)
        return "The model failed while answering. Please try again."

    def _answer(self, session: Session, question: str, regions: list, history: list[Turn],
                kwargs: dict, request: Any = None) -> Iterator[dict]:
        """Stream one turn; on success it is appended to ``session.turns``."""
        session.bind(request)
        session.error = None
        problem = check_question(session, question, len(regions))
        if problem:
            warn(problem)
            yield chat_outputs(session)
            return
        q = explicit_question(question.strip(), regions, history)
        masks = [r.mask for r in regions]
        yield chat_outputs(session, pending=(q, ""))
        answer = None
        try:
            for item in self.run(session, q, masks, model_history(history, regions), kwargs):
                if isinstance(item, Partial):
                    yield chat_outputs(session, pending=(q, item.text))
                else:
                    answer = item
        except (RuntimeError, ValueError, InputError, MedPLIBError, MemoryError) as err:  # OOM: RuntimeError
            session.error = self.failure(err)
            warn(session.error)
            yield chat_outputs(session)
            return
        if answer is None:
            session.error = "The model returned no answer. Please try again."
            yield chat_outputs(session)
            return
        session.turns.append(self._finish(session, q, regions, answer))
        yield self.turn_outputs(session)

    def turn_outputs(self, session: Session, opacity: float = 0.45, contours: bool = True) -> dict:
        return {**chat_outputs(session, question=""), "overlay": views.mask_overlay(session, opacity, contours),
                "legend": views.legend_html(session), "files": last_files(session)}

    # ---- UI events ---------------------------------------------------------------------------
    def submit(self, session: Session, question: str, max_new_tokens: Any = DEFAULT_MAX_NEW_TOKENS,
               temperature: Any = 0.0, opacity: float = 0.45, contours: bool = True,
               request: Any = None) -> Iterator[dict]:
        kwargs = self._kwargs(max_new_tokens, temperature)
        for out in self._answer(session, question, list(session.regions), list(session.turns), kwargs, request):
            if "overlay" in out:
                out["overlay"] = views.mask_overlay(session, opacity, contours)
            yield out

    def regenerate(self, session: Session, max_new_tokens: Any = DEFAULT_MAX_NEW_TOKENS,
                   temperature: Any = 0.0, opacity: float = 0.45, contours: bool = True,
                   request: Any = None) -> Iterator[dict]:
        """Ask the last question again (sampling); the old answer is kept if this fails."""
        if not session.turns:
            warn("There is no answer to regenerate yet.")
            yield chat_outputs(session)
            return
        last = session.turns.pop()
        kwargs = self._kwargs(max_new_tokens, float(temperature or 0.0) or REGENERATE_TEMPERATURE)
        done = False
        for out in self._answer(session, last.question, list(last.regions), list(session.turns), kwargs, request):
            done = done or "overlay" in out
            if "overlay" in out:
                out["overlay"] = views.mask_overlay(session, opacity, contours)
                out.pop("question", None)
            yield out
        if not done:  # failed: restore the previous answer
            session.turns.append(last)
            yield chat_outputs(session)
        else:
            for f in last.files:
                Path(f).unlink(missing_ok=True)

    # ---- programmatic API ---------------------------------------------------------------------
    def api_ask(self, image: Any, question: str, regions: Any = None, region_masks: Sequence[Any] | None = None,
                history: Any = None, max_new_tokens: Any = DEFAULT_MAX_NEW_TOKENS, temperature: Any = 0.0,
                session: Session | None = None, request: Any = None) -> Iterator[tuple]:
        """Answer a question about an image; yields (text so far, [], None, {}, session) while streaming,
        then (answer text, mask PNG files, overlay PNG or None, details, session). Raises InputError
        for bad input and RuntimeError for model failures. The session keeps the last image's
        encoding, so follow-up questions about the same file skip the image encoders."""
        session = session if isinstance(session, Session) else Session()
        session.bind(request)
        path = getattr(image, "name", None) or (image.get("path") if isinstance(image, dict) else image)
        if not path or not isinstance(path, (str, os.PathLike)):
            raise InputError("Please send an image file.")
        path = session.track(path)
        question = api_inputs.question_text(question)
        kwargs = self._kwargs(max_new_tokens, temperature)
        pairs = api_inputs.history_pairs(history)
        digest = _file_digest(path)
        if session.loaded is None or session.digest != digest:
            session.set_image(load_upload(path, filename=Path(str(path)).name))
            session.digest = digest
        hw = session.loaded.image_hw
        region_dicts = parse_api_regions(regions, region_masks, hw, claim=session.track)
        problem = check_question(session, question, len(region_dicts))
        if problem:
            raise InputError(problem)
        answer = None
        try:
            masks = self.medplib.region_masks(region_dicts, hw)
            for item in self.run(session, question.strip(), masks, pairs, kwargs):
                if isinstance(item, Partial):
                    yield item.text, [], None, {}, session
                else:
                    answer = item
        except (RuntimeError, ValueError, MedPLIBError, MemoryError) as err:
            message = self.failure(err)
            raise (InputError(message) if is_user_error(err) else RuntimeError(message)) from None
        if answer is None:
            raise RuntimeError("The model returned no answer.")
        masks_out = [np.asarray(m, dtype=bool) for m in answer.masks]
        files, overlay_path = [], None
        if masks_out:
            folder = session.new_dir("api-masks")
            files = [str(p) for p in export_masks(masks_out, folder, stem=safe_stem(session.loaded.filename),
                                                  spacing=session.loaded.pixel_spacing_mm, formats=("png",))]
            overlay_path = views.save_png(session, overlay.render_masks(session.loaded.display_rgb, masks_out),
                                          "api-overlay")
        spacing = session.loaded.pixel_spacing_mm
        details = {"raw_text": overlay.clean_answer(answer.raw_text, keep_seg=True),
                   "masks": [{"file": Path(f).name, "score": s, "area_px": overlay.mask_area(m, spacing)[0],
                              "area_mm2": overlay.mask_area(m, spacing)[1]}
                             for f, s, m in zip(files, answer.scores, masks_out)],
                   "pixel_spacing_mm": list(spacing) if spacing else None}
        yield answer.text, files, overlay_path, details, session


def _file_digest(path: Any) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def clear_chat(session: Session) -> dict:
    for turn in session.turns:
        for f in turn.files:
            Path(f).unlink(missing_ok=True)
    session.turns = []
    session.error = None
    return {**chat_outputs(session), "overlay": None, "legend": views.legend_html(session), "files": None}


def restyle(session: Session, opacity: float, contours: bool) -> dict:
    return {"overlay": views.mask_overlay(session, opacity, contours)}


# ------------------------------------------------------------------------------------------------
# Programmatic API
# ------------------------------------------------------------------------------------------------


def parse_api_regions(regions: Any, mask_files: Sequence[Any] | None, hw: tuple[int, int],
                      claim=lambda p: p) -> list[dict]:
    """API regions (see :func:`demo.api_inputs.regions_list`)."""
    return api_inputs.regions_list(regions, mask_files, hw, claim)
