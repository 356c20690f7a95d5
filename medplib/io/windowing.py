"""Windowing: real-valued pixels (HU, 16-bit, float) -> 8-bit display grey.

* The plain linear ramp: ``center - width/2`` -> 0, ``center + width/2`` -> 255.
* ``"auto"`` without a stored window = the 0.5-99.5 percentile range (:data:`PERCENTILES`).
* CT presets (Hounsfield units): abdomen, lung, bone, brain.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from .errors import ImageInputError


#: CT window presets: name -> (center, width) in Hounsfield units.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "abdomen": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}
#: Names accepted by ``window=`` (besides an explicit ``(center, width)`` pair).
WINDOW_CHOICES: tuple[str, ...] = ("auto", *WINDOW_PRESETS)

PERCENTILES = (0.5, 99.5)

Window = Union[str, tuple[float, float], None]


def apply_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear window: ``center - width/2`` -> 0 and ``center + width/2`` -> 255 (clipped, rounded).

    NaN maps to 0. A width <= 0 becomes a threshold at ``center`` (above -> 255).
    """
    v = np.asarray(values, dtype=np.float32)
    center = float(center)
    width = float(width)
    if not np.isfinite(center) or not np.isfinite(width):
        raise ValueError("window center/width must be finite")
    if width <= 0:
        out = np.where(v > center, 255, 0).astype(np.uint8)
        return out
    lo = center - width / 2.0
    scaled = (v - np.float32(lo)) * np.float32(255.0 / width)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(scaled).astype(np.uint8)


def percentile_window(values: np.ndarray, lo: float = PERCENTILES[0], hi: float = PERCENTILES[1],
                      max_samples: int = 2_000_000) -> tuple[float, float]:
    """``(center, width)`` spanning the ``lo``–``hi`` percentiles of the finite values.

    Large arrays are sub-sampled with a fixed stride (deterministic). Constant data gives width 0.
    """
    v = np.asarray(values).ravel()
    if v.size > max_samples:
        v = v[:: int(np.ceil(v.size / max_samples))]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 0.0
    p_lo, p_hi = np.percentile(v.astype(np.float64), [lo, hi])
    if p_hi <= p_lo:  # (nearly) constant: fall back to the full range
        p_lo, p_hi = float(v.min()), float(v.max())
    return float((p_lo + p_hi) / 2.0), float(p_hi - p_lo)


def resolve_window(window: Window, auto: tuple[float, float] | None,
                    values: np.ndarray | None) -> tuple[str, tuple[float, float]]:
    if window is None:
        window = "auto"
    if isinstance(window, (tuple, list)) and len(window) == 2:
        return "custom", (float(window[0]), float(window[1]))
    if isinstance(window, str):
        key = window.strip().lower()
        # accept UI labels such as "Lung (W1500/L-600)"
        key = key.split("(")[0].strip()
        if key in WINDOW_PRESETS:
            return key, WINDOW_PRESETS[key]
        if key == "auto":
            if auto is not None:
                return "auto", auto
            return "auto", percentile_window(values if values is not None else np.zeros(1))
        if key == "custom":
            raise ImageInputError("A custom window needs a centre and a width.")
    raise ImageInputError(
        f"Unknown window {window!r}; choose one of: {', '.join(WINDOW_CHOICES)}."
    )


def window_label(name: str) -> str:
    """UI label such as ``"lung (W1500/L-600)"`` for a preset name, or the name itself."""
    if name in WINDOW_PRESETS:
        c, w = WINDOW_PRESETS[name]
        return f"{name} (W{w:g}/L{c:g})"
    return name


def grey_to_rgb(grey: np.ndarray, invert: bool = False) -> np.ndarray:
    g = grey.astype(np.uint8, copy=False)
    if invert:
        g = 255 - g
    return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))
