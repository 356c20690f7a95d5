"""The library's error types (a leaf module: it imports nothing from medplib, so any module can raise them)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with a message saying what and why."""
