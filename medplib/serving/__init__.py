"""Serving several users from one loaded model (see docs/serving.md for real serving engines)."""

from .batcher import MicroBatcher

__all__ = ["MicroBatcher"]
