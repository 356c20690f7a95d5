"""User-facing errors of the demo's input handling.

Every failure that the person using the demo can fix (wrong file, empty stroke, ...) is raised as
:class:`InputError`. Its message is written for that person: it says what is wrong and what to do,
without stack traces, file-system paths or library jargon. The UI layer catches it and shows
``str(err)`` (for example via ``gr.Warning`` / ``gr.Error``).
"""

from __future__ import annotations

# One error type for the library's file readers and the demo (handlers catch InputError).
from medplib.io.errors import ImageInputError as InputError  # noqa: F401
