"""User-facing errors of the demo's input handling.

Every failure that the person using the demo can fix (wrong file, empty stroke, ...) is raised as
:class:`InputError`. Its message is written for that person: it says what is wrong and what to do,
without stack traces, file-system paths or library jargon. The UI layer catches it and shows
``str(err)`` (for example via ``gr.Warning`` / ``gr.Error``).
"""

from __future__ import annotations

import html

from medplib.errors import MedPLIBError

# One error type for the library's file readers and the demo (handlers catch InputError).
from medplib.io.errors import ImageInputError as InputError  # noqa: F401


def is_user_error(err: BaseException) -> bool:
    """A problem with the request whose message is written for the user: the demo's and the library's
    input errors (`medplib.errors`, the limits among them). Other ValueErrors come from deeper code and
    their wording is not shown."""
    return isinstance(err, (InputError, MedPLIBError))


def log_failure(err: BaseException) -> None:
    """Log an unexpected failure by its type and place only: the message and the traceback's values
    can hold file names or the user's text (demo.logs keeps them out of every record)."""
    import logging

    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb is not None else "?"
    logging.getLogger("medplib.demo").error("request failed: %s at %s", type(err).__name__, where)


def warn(message: str) -> None:
    """A yellow toast in the UI (a Python warning outside a Gradio event)."""
    import gradio as gr

    gr.Warning(html.escape(message, quote=False))


def info(message: str) -> None:
    """A blue notice in the UI: something the app did that the user should know about (nothing is
    shown outside a Gradio event)."""
    import gradio as gr

    gr.Info(html.escape(message, quote=False))
