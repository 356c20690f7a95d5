"""User-facing errors of the demo's input handling.

Every failure that the person using the demo can fix (wrong file, empty stroke, ...) is raised as
:class:`InputError`. Its message is written for that person: it says what is wrong and what to do,
without stack traces, file-system paths or library jargon. The UI layer catches it and shows
``str(err)`` (for example via ``gr.Warning`` / ``gr.Error``).
"""

from __future__ import annotations


class InputError(ValueError):
    """A problem with what the user supplied (upload, drawing, selection).

    Subclasses :class:`ValueError` so generic callers that already handle bad values keep working.
    ``message`` holds the user-facing text (also ``str(err)``).
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def is_user_error(err: BaseException) -> bool:
    """A problem with the request whose message is written for the user: the demo's InputError and
    the library's input errors (the limits, medplib.errors). Other ValueErrors come from deeper code
    and their wording is not shown."""
    from medplib.processing.limits import LimitError

    if isinstance(err, (InputError, LimitError)):
        return True
    try:
        from medplib.errors import MedPLIBInputError
    except ImportError:
        return False
    return isinstance(err, MedPLIBInputError)


def log_failure(err: BaseException) -> None:
    """Log an unexpected failure by its type and place only: the message and the traceback's values
    can hold file names or the user's text (demo.logs keeps them out of every record)."""
    import logging

    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb is not None else "?"
    logging.getLogger("medplib.demo").error("request failed: %s at %s", type(err).__name__, where)
