"""The Ask / Stop cycle of the chat, without Gradio: one answer at a time per session, Stop ends it, and
nothing typed is lost.

A question that can be asked moves out of the box (free for the next one) into a *ticket* for the
answer event; a question sent while an answer is being written stays in the box, with a notice. Stop
sets the running answer's stop event: the generation ends at its next token and the partial answer is
not kept; the stopped question goes back into the box unless something new was typed there meanwhile.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from demo.errors import info, warn
from demo.model_handlers import REQUEST_TIME_LIMIT_S, check_question
from demo.session import Session

BUSY = "An answer is being written: wait for it or press Stop. Your question stays in the box."
# a cycle whose answer event never reported back (e.g. killed by the queue's time limit) stops counting
STALE_S = 2 * REQUEST_TIME_LIMIT_S + 30


@dataclass
class Cycle:
    """One session's answer in progress (in its own ``gr.State``: the start, answer, stop and done
    events of a session all see the same object)."""

    question: str | None = None  # being answered ("" for a regeneration); None: idle
    started: float = 0.0
    stop: threading.Event | None = field(default=None, repr=False)
    restore: str | None = None  # a stopped question, for the box

    @property
    def busy(self) -> bool:
        return self.question is not None and time.monotonic() - self.started < STALE_S

    def begin(self, question: str) -> dict:
        self.question, self.started, self.stop, self.restore = question, time.monotonic(), threading.Event(), None
        return {"question": question}

    def press_stop(self) -> bool:
        """Stop the running answer (False when none runs)."""
        if not self.busy or self.stop is None:
            return False
        self.stop.set()
        return True

    def finish(self) -> None:
        """The answer event ended (answered, failed or stopped)."""
        if self.stop is not None and self.stop.is_set() and self.question:
            self.restore = self.question
        self.question = None


def start(cycle: Cycle, session: Session, question: str | None) -> dict | None:
    """The ticket for a new question (None: not asked, the box keeps it)."""
    if cycle.busy:
        info(BUSY)
        return None
    problem = check_question(session, question, len(session.regions))
    if problem:
        warn(problem)
        return None
    return cycle.begin(question.strip())


def start_regenerate(cycle: Cycle, session: Session) -> dict | None:
    if cycle.busy:
        info(BUSY)
        return None
    if not session.turns:
        warn("There is no answer to regenerate yet.")
        return None
    ticket = cycle.begin("")
    return {**ticket, "regenerate": True}


def done(cycle: Cycle, typed: str | None) -> dict | None:
    """After an answer event: ``{"idle": True}`` and the stopped question for an empty box; None while
    another answer of this session still runs (then nothing changes)."""
    if cycle.busy:
        return None
    out: dict = {"idle": True}
    if cycle.restore and not (typed or "").strip():
        out["question"] = cycle.restore
    cycle.restore = None
    return out
