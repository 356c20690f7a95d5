"""The library's error types: what a caller can catch to tell bad input from a bug.

Every check of user input raises one of these with a message that names the argument and what was expected.
They subclass ValueError / TypeError so code written against the built-in exceptions keeps working. A leaf
module: it imports nothing from medplib, so any module can raise them.
"""

from __future__ import annotations


class MedPLIBError(Exception):
    """Base of every error the library raises on purpose."""


class MedPLIBInputError(MedPLIBError, ValueError):
    """An argument has the right type but a value the library cannot use (empty, out of range, ...)."""


class MedPLIBTypeError(MedPLIBError, TypeError):
    """An argument has a type the library does not accept."""


class CheckpointError(MedPLIBError, ValueError):
    """A checkpoint that cannot be used, with a message saying what and why."""
