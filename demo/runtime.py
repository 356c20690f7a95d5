"""Where the model runs: the one loaded `MedPLIB`, and `@spaces.GPU` on Hugging Face ZeroGPU.

On ZeroGPU the decorated function runs in a GPU worker and its arguments are pickled, so the model
is looked up in a module-level registry (never passed as an argument) and encoded images are not
cached across calls there (their tensors would live in the worker).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

try:  # present on Hugging Face Spaces; a no-op outside ZeroGPU
    import spaces  # type: ignore

    gpu = spaces.GPU
except ImportError:  # pragma: no cover - depends on the host
    def gpu(fn=None, **_kwargs):
        return fn if fn is not None else (lambda f: f)

ZERO_GPU = bool(os.environ.get("SPACES_ZERO_GPU"))
# Requests arriving within BATCH_WAIT_MS of each other are generated as one batch of up to MAX_BATCH rows; the
# Gradio queue lets as many model events run at once (ZeroGPU: one call per GPU worker, no batching).
MAX_BATCH = 1 if ZERO_GPU else max(1, int(os.environ.get("MEDPLIB_MAX_BATCH", "8")))
BATCH_WAIT_MS = float(os.environ.get("MEDPLIB_BATCH_WAIT_MS", "20"))

_MODELS: dict[int, Any] = {}


def register(medplib: Any) -> int:
    key = id(medplib)
    if key not in _MODELS and MAX_BATCH > 1 and hasattr(medplib, "enable_batching"):
        medplib.enable_batching(MAX_BATCH, BATCH_WAIT_MS)
    _MODELS[key] = medplib
    return key


def model_concurrency() -> int:
    """The Gradio queue's concurrency limit for model events: the batch size."""
    return MAX_BATCH


@gpu
def model_stream(key: int, image: Any, question: str, regions: list, history: list,
                 kwargs: dict) -> Iterator[Any]:
    """`MedPLIB.stream`: growing answer texts, then the final `Answer` (`kwargs["session"]` keys the KV cache
    kept for the conversation's next turn)."""
    yield from _MODELS[key].stream(image, question, regions=regions, history=history, **kwargs)


def encode(key: int, image: Any) -> Any:
    """Cached image encoding (CLIP now, SAM lazily); the raw image itself on ZeroGPU."""
    if ZERO_GPU:
        return image
    return _MODELS[key].encode(image)
