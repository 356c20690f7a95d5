"""Typed regions ("pixel prompts") and the one conversion of any accepted region form to a boolean mask.

A region is a `Point`, a `Box`, a `Stroke` (free-form outline, filled) or a `Mask`; the API also accepts the
dict forms ``{"point": (x, y)}``, ``{"box": (x1, y1, x2, y2)}``, ``{"stroke": HxW}``, ``{"mask": HxW}`` and a
bare HxW array (a mask). Coordinates are pixels of the original image: x = column, y = row.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ..errors import MedPLIBInputError, MedPLIBTypeError
from .limits import MAX_REGIONS
from .regions import box_region, freeform_region, point_region



def real_number(value: Any, name: str) -> float:
    """A finite int/float (numpy scalars too; bools and strings are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise MedPLIBTypeError(f"{name} must be a number, got {type(value).__name__} {value!r:.40}")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise MedPLIBInputError(f"{name} must be a finite number, got {value!r:.40}")
    return out


def _numbers(values: Any, n: int, name: str) -> tuple[float, ...]:
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise MedPLIBTypeError(f"{name} must be {n} numbers, got {type(values).__name__} {values!r:.40}")
    if len(values) != n:
        raise MedPLIBInputError(f"{name} must be {n} numbers, got {len(values)}: {values!r:.60}")
    return tuple(real_number(v, f"{name}[{i}]") for i, v in enumerate(values))


def mask_array(value: Any, name: str) -> np.ndarray:
    """A 2-D boolean / integer / float array (finite) -> bool HxW."""
    try:
        arr = np.asarray(value)
    except Exception:
        raise MedPLIBTypeError(f"{name} must be an HxW array, got {type(value).__name__}") from None
    if arr.dtype.kind not in "biuf":
        raise MedPLIBTypeError(f"{name} must be a boolean or numeric HxW array, got dtype {arr.dtype}")
    if arr.ndim != 2 or 0 in arr.shape:
        raise MedPLIBInputError(f"{name} must be a non-empty HxW array, got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise MedPLIBInputError(f"{name} contains NaN or infinite values")
    return arr > 0


@dataclass(frozen=True)
class Point:
    """A clicked point; the region is a square around it (see `point_region`)."""

    x: float
    y: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", real_number(self.x, "Point.x"))
        object.__setattr__(self, "y", real_number(self.y, "Point.y"))


@dataclass(frozen=True)
class Box:
    """A solid box; corners inclusive and in any order; clipped to the image."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        for field in ("x1", "y1", "x2", "y2"):
            object.__setattr__(self, field, real_number(getattr(self, field), f"Box.{field}"))


@dataclass(frozen=True, eq=False)
class Stroke:
    """A free-form outline (HxW, non-zero = drawn); the region is the outline plus what it encloses."""

    mask: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", mask_array(self.mask, "Stroke.mask"))


@dataclass(frozen=True, eq=False)
class Mask:
    """A region given as a mask (HxW, non-zero = inside)."""

    mask: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", mask_array(self.mask, "Mask.mask"))


Region = Union[Point, Box, Stroke, Mask]
_DICT_KINDS = {"point": lambda v: Point(*v), "box": lambda v: Box(*v), "stroke": Stroke, "mask": Mask}


def as_region(value: Any, name: str = "region") -> Region:
    """Any accepted form -> a typed region (validated)."""
    if isinstance(value, (Point, Box, Stroke, Mask)):
        return value
    if isinstance(value, dict):
        keys = sorted(map(str, value))
        if len(value) != 1 or keys[0] not in _DICT_KINDS:
            raise MedPLIBInputError(f"{name} must have exactly one key of point, box, stroke, mask; got {keys}")
        kind, payload = keys[0], value[keys[0]]
        if kind in ("point", "box"):
            payload = _numbers(payload, 2 if kind == "point" else 4, f"{name}[{kind!r}]")
        try:
            return _DICT_KINDS[kind](payload)
        except (MedPLIBInputError, MedPLIBTypeError) as err:
            raise type(err)(f"{name}: {err}") from None
    if isinstance(value, (str, bytes)) or value is None or isinstance(value, (numbers.Number, bool)):
        raise MedPLIBTypeError(f"{name} must be a Point, Box, Stroke, Mask, a dict such as {{'box': (x1, y1, x2, "
                               f"y2)}} or an HxW mask, got {type(value).__name__} {value!r:.40}")
    return Mask(mask_array(value, name))


def region_mask(region: Any, hw: tuple[int, int], name: str = "region") -> np.ndarray:
    """One region as a bool [H, W] mask at the image size `hw`."""
    region = as_region(region, name)
    h, w = hw
    try:
        if isinstance(region, Point):
            return point_region(h, w, region.x, region.y)
        if isinstance(region, Box):
            return box_region(h, w, region.x1, region.y1, region.x2, region.y2)
    except ValueError as err:
        raise MedPLIBInputError(f"{name}: {err}") from None
    if region.mask.shape != (h, w):
        raise MedPLIBInputError(f"{name}: its mask is {region.mask.shape[1]}x{region.mask.shape[0]} (WxH) but the "
                                f"image is {w}x{h}; give a mask at the image size")
    if not region.mask.any():
        raise MedPLIBInputError(f"{name}: the mask is empty (no pixel marked)")
    return freeform_region(region.mask) if isinstance(region, Stroke) else region.mask


def region_masks(regions: Any, hw: tuple[int, int]) -> list[np.ndarray]:
    """The `regions` argument (a list of regions in any accepted form) -> bool [H, W] masks, in order."""
    if isinstance(regions, (str, bytes, dict, np.ndarray)) or not isinstance(regions, Sequence):
        raise MedPLIBTypeError(f"regions must be a list of regions (e.g. [Box(10, 10, 40, 40)]), got "
                               f"{type(regions).__name__}" + ("; wrap a single region in a list" if
                                                              isinstance(regions, (dict, np.ndarray)) else ""))
    if len(regions) > MAX_REGIONS:
        raise MedPLIBInputError(f"regions: at most {MAX_REGIONS} regions per question, got {len(regions)}")
    return [region_mask(r, hw, f"regions[{k}]") for k, r in enumerate(regions)]
