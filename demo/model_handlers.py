"""Chat handlers: the question check, `ModelHandlers` (answers, regenerate, the /ask API call), clear, restyle."""

from __future__ import annotations

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

from demo import api_inputs, runtime, views
from demo.api_handlers import api_result, file_digest, parse_api_regions
from demo.errors import InputError, info, is_user_error, log_failure, warn
from demo.image_handlers import last_files
from demo.session import Session, Turn, explicit_question, model_history
from medplib.io import export_masks, load_upload, safe_stem

DEFAULT_MAX_NEW_TOKENS = 128
REQUEST_TIME_LIMIT_S = 30  # one answer holds the model at most this long (generation stops there)
_SPECIAL = re.compile(r"<image>|<SEG>|</?im_(?:start|end)>|<im_patch>", re.IGNORECASE)
REGENERATE_TEMPERATURE = 0.7  # regenerate samples (greedy decoding would repeat the same answer)
STOPPED = "Stopped: the partial answer was not kept."


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
    def _kwargs(self, max_new_tokens: Any, temperature: Any, stop_event: Any = None) -> dict:
        kw = {"max_new_tokens": api_inputs.max_new_tokens(max_new_tokens, DEFAULT_MAX_NEW_TOKENS),
              "temperature": api_inputs.temperature(temperature), "max_time": REQUEST_TIME_LIMIT_S}
        if stop_event is not None and not runtime.ZERO_GPU:  # an Event cannot travel to a ZeroGPU worker
            kw["stop_event"] = stop_event
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
        if q != question.strip():  # never silently: say which regions the question is taken to be about
            info(f"Your question names no region; it is asked about {q[len(question.strip()):].strip()} "
                 "(write <regionN> to choose).")
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
        stop = kwargs.get("stop_event")
        if stop is not None and stop.is_set():  # Stop pressed: a cut answer is not part of the conversation
            session.error = STOPPED
            yield chat_outputs(session)
            return
        if answer is None:
            session.error = "The model returned no answer. Please try again."
            yield chat_outputs(session)
            return
        turn = self._finish(session, q, regions, answer)
        session.turns.append(turn)
        turn.overlay = views.mask_overlay(session, turn=turn)
        yield self.turn_outputs(session)

    def turn_outputs(self, session: Session, opacity: float = 0.45, contours: bool = True) -> dict:
        return {**chat_outputs(session, question=""), "overlay": views.mask_overlay(session, opacity, contours),
                "legend": views.legend_html(session), "files": last_files(session)}

    # ---- UI events ---------------------------------------------------------------------------
    def submit(self, session: Session, question: str, max_new_tokens: Any = DEFAULT_MAX_NEW_TOKENS,
               temperature: Any = 0.0, opacity: float = 0.45, contours: bool = True,
               request: Any = None, stop_event: Any = None) -> Iterator[dict]:
        """Answer ``question``; ``stop_event`` (a `threading.Event`) set meanwhile ends the answer unkept."""
        kwargs = self._kwargs(max_new_tokens, temperature, stop_event)
        for out in self._answer(session, question, list(session.regions), list(session.turns), kwargs, request):
            if "overlay" in out:
                out["overlay"] = views.mask_overlay(session, opacity, contours)
            yield out

    def regenerate(self, session: Session, max_new_tokens: Any = DEFAULT_MAX_NEW_TOKENS,
                   temperature: Any = 0.0, opacity: float = 0.45, contours: bool = True,
                   request: Any = None, stop_event: Any = None) -> Iterator[dict]:
        """Ask the last question again (sampling); the old answer is kept if this fails or is stopped."""
        if not session.turns:
            warn("There is no answer to regenerate yet.")
            yield chat_outputs(session)
            return
        last = session.turns.pop()
        kwargs = self._kwargs(max_new_tokens, float(temperature or 0.0) or REGENERATE_TEMPERATURE, stop_event)
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
        digest = file_digest(path)
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
        files, overlay_path, details = api_result(session, answer)
        yield answer.text, files, overlay_path, details, session


def clear_chat(session: Session) -> dict:
    for turn in session.turns:
        for f in turn.files:
            Path(f).unlink(missing_ok=True)
    session.turns = []
    session.error = None
    return {**chat_outputs(session), "overlay": None, "legend": views.legend_html(session), "files": None}


def restyle(session: Session, opacity: float, contours: bool) -> dict:
    return {"overlay": views.mask_overlay(session, opacity, contours)}
