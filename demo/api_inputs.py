"""Reading the `/ask` API's arguments: every malformed value gets one short sentence naming the
argument and what was expected (never a Gradio error without a message, a Python exception name
or a library's wording)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from demo.errors import InputError
from medplib.processing.limits import MAX_NEW_TOKENS, MAX_REGIONS

REGION_FORMS = '{"point": [x, y]} or {"box": [x1, y1, x2, y2]}'
MAX_TEMPERATURE = 2.0


def json_arg(value: Any, name: str, expected: str) -> Any:
    """A JSON argument given as text or as the value itself; '' and None mean empty."""
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            raise InputError(f"{name} must be {expected} (JSON); the text sent is not valid JSON.") from None
    return value


def question_text(question: Any) -> str:
    if not isinstance(question, str):
        raise InputError("question must be text.")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("question contains characters that are not valid text (a lone surrogate); "
                         "please retype it.") from None
    return question


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _given_number(value: Any) -> float | None:
    """A finite number, or the text of one ("8"); None for anything else."""
    f = _number(value)
    if f is None and isinstance(value, str):
        try:
            f = _number(float(value))
        except ValueError:
            f = None
    return f


def whole_number(value: Any, name: str, lo: int, hi: int, default: int) -> int:
    if value is None or value == "":
        return default
    f = _given_number(value)
    if f is None or f != int(f) or not lo <= f <= hi:
        raise InputError(f"{name} must be a whole number from {lo} to {hi}.")
    return int(f)


def real_number(value: Any, name: str, lo: float, hi: float, default: float) -> float:
    if value is None or value == "":
        return default
    f = _given_number(value)
    if f is None or not lo <= f <= hi:
        raise InputError(f"{name} must be a number from {lo:g} to {hi:g}.")
    return f


def max_new_tokens(value: Any, default: int) -> int:
    return whole_number(value, "max_new_tokens", 1, MAX_NEW_TOKENS, default)


def temperature(value: Any) -> float:
    return real_number(value, "temperature", 0.0, MAX_TEMPERATURE, 0.0)


def history_pairs(history: Any) -> list[tuple[str, str]]:
    history = json_arg(history, "history", "a list of [question, answer] pairs")
    bad = InputError("history must be a list of [question, answer] pairs of text.")
    if not isinstance(history, list):
        raise bad
    out = []
    for item in history:
        if not isinstance(item, (list, tuple)) or len(item) != 2 or not all(isinstance(x, str) for x in item):
            raise bad
        out.append((question_text(item[0]), question_text(item[1])))
    return out


def regions_list(regions: Any, mask_files: Sequence[Any] | None, hw: tuple[int, int],
                 claim: Callable[[Any], Any] = lambda p: p) -> list[dict]:
    """API regions: a list (or JSON text) of points / boxes in image pixels, then one region per mask
    image (non-zero = inside, resized to the image if needed), in that order. ``claim`` checks
    that a mask file belongs to the caller's session."""
    regions = json_arg(regions, "regions", f"a list of {REGION_FORMS}")
    if isinstance(regions, dict):
        regions = [regions]
    if not isinstance(regions, list):
        raise InputError(f"regions must be a list of {REGION_FORMS}.")
    mask_files = list(mask_files or [])
    if len(regions) + len(mask_files) > MAX_REGIONS:
        raise InputError(f"At most {MAX_REGIONS} regions per question ({len(regions) + len(mask_files)} given).")
    h, w = hw
    out: list[dict] = []
    for k, r in enumerate(regions):
        if not isinstance(r, dict) or len({"point", "box"} & set(r)) != 1:
            raise InputError(f"Region {k + 1} must be {REGION_FORMS}.")
        key = "point" if "point" in r else "box"
        n = 2 if key == "point" else 4
        vals = r[key]
        nums = [_number(v) for v in vals] if isinstance(vals, (list, tuple)) else []
        if len(nums) != n or any(v is None for v in nums):
            raise InputError(f"Region {k + 1}: a {key} needs {n} finite numbers (pixels of the image).")
        xs, ys = nums[0::2], nums[1::2]
        if any(not 0 <= x <= w for x in xs) or any(not 0 <= y <= h for y in ys):
            raise InputError(f"Region {k + 1}: the {key} lies outside the image ({w} x {h} pixels).")
        if key == "box" and (nums[2] <= nums[0] or nums[3] <= nums[1]):
            raise InputError(f"Region {k + 1}: a box needs x1 < x2 and y1 < y2.")
        out.append({key: tuple(nums)})
    for j, f in enumerate(mask_files):
        out.append({"mask": _mask(claim(_path_of(f)), hw, len(regions) + j + 1)})
    return out


def _path_of(f: Any) -> Any:
    return getattr(f, "name", None) or (f.get("path") if isinstance(f, dict) else f)


def _mask(path: Any, hw: tuple[int, int], number: int) -> np.ndarray:
    from medplib.io import load_upload

    try:
        loaded = load_upload(path, filename=f"region mask {number}")
    except InputError as err:
        raise InputError(f"Region {number} (a mask image) could not be used: {err}") from None
    m = np.asarray(loaded.display_rgb).max(axis=-1) > 0
    if m.shape != tuple(hw):
        m = np.asarray(Image.fromarray(m).resize((hw[1], hw[0]), Image.NEAREST)) > 0
    if not m.any():
        raise InputError(f"Region {number} (a mask image) is empty: it has no non-zero pixel.")
    return m
