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

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message
