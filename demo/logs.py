"""Keep uploads' file names and users' text out of the server log, even in tracebacks.

Tracebacks carry exception messages and source lines with the values of the request (a DICOM
file named after a patient, the question typed). :func:`install` makes every traceback the process
would print - uncaught in a thread or in the main thread, or attached to a log record (uvicorn,
Gradio) - a single line with the exception's type and where it was raised.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType


def summary(etype: type[BaseException] | None, tb: TracebackType | None) -> str:
    """``ValueError at handlers.py:123``: the type and the innermost frame, no message, no values."""
    frames = traceback.extract_tb(tb) if tb is not None else []
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
    return f"{getattr(etype, '__name__', 'Exception')} at {where} (details withheld: they may hold user data)"


class WithoutDetails(logging.Filter):
    """Replaces a record's traceback by :func:`summary`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            etype, _, tb = record.exc_info
            record.msg = f"{record.getMessage()} - {summary(etype, tb)}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


_installed = False


def install() -> None:
    """Once per process: the filter on the root logger's and web server's handlers, and excepthooks."""
    global _installed
    if _installed:
        return
    _installed = True
    f = WithoutDetails()
    for name in ("", "uvicorn", "uvicorn.error", "gradio", "fastapi", "starlette"):
        logger = logging.getLogger(name)
        logger.addFilter(f)
        for handler in logger.handlers:
            handler.addFilter(f)
    if logging.lastResort is not None:
        logging.lastResort.addFilter(f)

    def excepthook(etype, value, tb):
        print(summary(etype, tb), file=sys.stderr)

    def thread_excepthook(args):
        print(summary(args.exc_type, args.exc_traceback), file=sys.stderr)

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
