"""Turn what the user drew in a ``gr.ImageEditor`` into region masks at the original image size.

Gradio 6 hands an ImageEditor handler a dict ``{"background", "layers", "composite"}``. All three
images are exported by the browser at the editor's *canvas* size, which may differ from the
image's own size (``fixed_canvas=True`` letterboxes the image into ``canvas_size``; a server-set
image that fits is not upscaled, an uploaded one is "contain"-fitted). So the strokes are mapped
back through the image's placement inside the canvas:

* placement = bounding box of the background's alpha (the canvas around the picture is
  transparent) when the background has an alpha channel (``image_mode="RGBA"``, the default);
* otherwise the whole canvas when the aspect ratios agree, else a centred "contain" fit.

Stroke pixels are the alpha > 0 pixels of all layers (never a diff of composite vs background:
the brush colour can equal the pixel colour). With ``image_mode="RGB"``/``"L"`` Gradio drops the
layers' alpha and transparent pixels come back as 0, so any non-zero channel counts as a stroke
(a pure black brush then cannot be seen: keep ``image_mode="RGBA"``).

Region rules (``parse_region``):

* **Point** — centre = median row / median column of the stroke pixels; region = the square of
  side ``point_size`` x the image's longer side around it (default :data:`POINT_FRACTION` = 3 %,
  at least 3 px; the original demo used a fixed 41 px, 32 % of a 128 px image), clipped at the border.
* **Box** — the stroke's bounding box, filled: rows ``y1..y2`` and columns ``x1..x2`` inclusive
  (the original demo filled the transpose; fixed).
* **Free-form** — :func:`medplib.processing.regions.freeform_region`, the library's one outline
  rule: a closed loop becomes the loop plus its interior, a small gap is closed first, an open
  scribble keeps its (slightly dilated) painted pixels.

Coordinates: ``Region.bbox`` is ``(x1, y1, x2, y2)`` inclusive (x = column, y = row, same order as
``gr.AnnotatedImage`` boxes); ``Region.center`` is ``(x, y)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
from PIL import Image

from demo.errors import InputError
from medplib.processing.limits import MAX_REGIONS
from medplib.processing.regions import box_region, freeform_region, point_region

MODES: tuple[str, ...] = ("Point", "Box", "Free-form")
POINT_FRACTION = 0.03  # side of the point square / longer image side (adjustable in the UI)

_MODE_ALIASES = {
    "point": "Point", "click": "Point",
    "box": "Box", "bbox": "Box", "rectangle": "Box",
    "free-form": "Free-form", "freeform": "Free-form", "free form": "Free-form",
    "sketch": "Free-form", "scribble": "Free-form", "mask": "Free-form",
}


def normalize_mode(mode: str) -> str:
    """``"point"``/``"Box"``/``"sketch"``/... -> one of :data:`MODES`."""
    key = str(mode or "").strip().lower().replace("_", "-")
    if key in _MODE_ALIASES:
        return _MODE_ALIASES[key]
    raise InputError(f"Unknown region type {mode!r}; choose Point, Box or Free-form.")


# --------------------------------------------------------------------------------------------
# Editor value -> stroke mask
# --------------------------------------------------------------------------------------------


def _as_array(img: Any) -> np.ndarray | None:
    """numpy / PIL / file path (the three ImageEditor ``type=`` options) -> numpy array."""
    if img is None:
        return None
    if isinstance(img, np.ndarray):
        return img
    if isinstance(img, Image.Image):
        return np.asarray(img)
    if isinstance(img, (str, os.PathLike)):
        with Image.open(img) as im:
            im.load()
            return np.asarray(im)
    if isinstance(img, dict) and img.get("path"):  # a FileData-like dict
        return _as_array(img["path"])
    raise TypeError(f"unsupported image value of type {type(img).__name__}")


def _drawn(layer: np.ndarray) -> np.ndarray:
    """Boolean 'something was painted here' map of one layer."""
    if layer.ndim == 2:  # "L" mode: alpha dropped, transparent -> 0
        return layer > 0
    c = layer.shape[2]
    if c == 4:
        return layer[:, :, 3] > 0
    if c == 2:  # "LA"
        return layer[:, :, 1] > 0
    return np.any(layer > 0, axis=2)  # "RGB": alpha dropped


def _placement(bg: np.ndarray | None, canvas_hw: tuple[int, int],
               image_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` (exclusive ends) of the picture inside the canvas."""
    ch, cw = canvas_hw
    ih, iw = image_hw
    if bg is not None and bg.ndim == 3 and bg.shape[2] in (2, 4) and bg.shape[:2] == (ch, cw):
        alpha = bg[:, :, -1] > 0
        if alpha.any() and not alpha.all():
            rows = np.flatnonzero(alpha.any(axis=1))
            cols = np.flatnonzero(alpha.any(axis=0))
            return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
        if alpha.all():
            return 0, 0, ch, cw
    # same aspect ratio (within a pixel after scaling): the canvas is the picture
    if abs(iw * ch / ih - cw) <= 1.0 or abs(ih * cw / iw - ch) <= 1.0:
        return 0, 0, ch, cw
    # centred "contain" fit, rounded like the browser does
    s = min(cw / iw, ch / ih)
    w, h = round(iw * s), round(ih * s)
    x0, y0 = round((cw - iw * s) / 2), round((ch - ih * s) / 2)
    return y0, x0, min(ch, y0 + h), min(cw, x0 + w)


def resize_mask(mask: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Resize a boolean mask. Upscaling: nearest neighbour. Downscaling: a target pixel is on
    when any part of it was covered (so thin strokes never vanish)."""
    mask = np.asarray(mask, dtype=bool)
    oh, ow = int(out_hw[0]), int(out_hw[1])
    if mask.shape == (oh, ow):
        return mask.copy()
    if mask.size == 0 or oh <= 0 or ow <= 0:
        return np.zeros((max(oh, 0), max(ow, 0)), dtype=bool)
    if mask.shape[0] >= oh and mask.shape[1] >= ow:
        area = cv2.resize(mask.astype(np.float32), (ow, oh), interpolation=cv2.INTER_AREA)
        return area > 1e-6
    return cv2.resize(mask.astype(np.uint8), (ow, oh), interpolation=cv2.INTER_NEAREST_EXACT) > 0


def stroke_mask(editor_value: Any, image_hw: Sequence[int]) -> np.ndarray:
    """All strokes of all layers as a boolean mask of shape ``image_hw`` (original image size).

    ``editor_value`` is the ``gr.ImageEditor`` value (dict with ``background``, ``layers``,
    ``composite``; images as numpy, PIL or file paths). Raises :class:`InputError` when there is
    no image under the strokes.
    """
    ih, iw = int(image_hw[0]), int(image_hw[1])
    if ih <= 0 or iw <= 0:
        raise InputError("Please upload an image before drawing.")
    if editor_value is None:
        raise InputError("Please upload an image before drawing.")
    if not isinstance(editor_value, dict):
        # a bare image as value = background only, no strokes
        return np.zeros((ih, iw), dtype=bool)
    bg = _as_array(editor_value.get("background"))
    if bg is None and editor_value.get("composite") is None:
        raise InputError("Please upload an image before drawing.")
    raw_layers = editor_value.get("layers") or []
    layers = [a for a in (_as_array(x) for x in raw_layers) if a is not None]
    if not layers:
        return np.zeros((ih, iw), dtype=bool)
    canvas_hw = layers[0].shape[:2]
    union = np.zeros(canvas_hw, dtype=bool)
    for layer in layers:
        drawn = _drawn(layer)
        if drawn.shape != union.shape:  # should not happen; be tolerant
            drawn = resize_mask(drawn, canvas_hw)
        union |= drawn
    y0, x0, y1, x1 = _placement(bg, canvas_hw, (ih, iw))
    return resize_mask(union[y0:y1, x0:x1], (ih, iw))


def new_strokes(prev_mask: np.ndarray | None, cur_mask: np.ndarray) -> np.ndarray:
    """Pixels drawn since ``prev_mask`` (``cur & ~prev``); all of ``cur`` when there was none or
    the image size changed."""
    cur = np.asarray(cur_mask, dtype=bool)
    if prev_mask is None or np.shape(prev_mask) != cur.shape:
        return cur.copy()
    return cur & ~np.asarray(prev_mask, dtype=bool)


# --------------------------------------------------------------------------------------------
# Stroke -> region
# --------------------------------------------------------------------------------------------


@dataclass
class Region:
    """One prompt region at original image size.

    ``bbox`` = ``(x1, y1, x2, y2)`` inclusive, ``center`` = ``(x, y)`` (column, row).
    """

    mode: str
    mask: np.ndarray = field(repr=False)
    bbox: tuple[int, int, int, int]
    center: tuple[int, int]
    stroke: np.ndarray | None = field(default=None, repr=False)  # the pixels drawn (to redraw after undo)

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.mask.shape[0]), int(self.mask.shape[1])


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def point_span(hw: Sequence[int], point_size: float = POINT_FRACTION) -> int:
    """Half side (px) of a Point's square: ``point_size`` x the longer side, at least 3 px across."""
    return max(1, int(round(float(point_size) * max(int(hw[0]), int(hw[1])) / 2)))


def parse_region(stroke: np.ndarray, mode: str, point_size: float = POINT_FRACTION) -> Region:
    """Stroke mask (original image size) -> :class:`Region` for ``mode`` in :data:`MODES`."""
    mode = normalize_mode(mode)
    stroke = np.asarray(stroke, dtype=bool)
    if stroke.ndim != 2 or stroke.size == 0:
        raise InputError("Please upload an image before drawing a region.")
    if not stroke.any():
        raise InputError("No stroke found: draw on the image to mark a region.")
    h, w = stroke.shape
    if mode == "Point":
        rows, cols = np.nonzero(stroke)
        r = int(np.floor(np.median(rows) + 0.5))
        c = int(np.floor(np.median(cols) + 0.5))
        mask = point_region(h, w, c, r, span=point_span((h, w), point_size))
        return Region("Point", mask, _bbox(mask), (c, r), stroke)
    if mode == "Box":
        x1, y1, x2, y2 = _bbox(stroke)
        return Region("Box", box_region(h, w, x1, y1, x2, y2), (x1, y1, x2, y2), ((x1 + x2) // 2, (y1 + y2) // 2),
                      stroke)
    mask = freeform_region(stroke)
    x1, y1, x2, y2 = _bbox(mask)
    rows, cols = np.nonzero(mask)
    return Region("Free-form", mask, (x1, y1, x2, y2),
                  (int(np.floor(np.median(cols) + 0.5)), int(np.floor(np.median(rows) + 0.5))), stroke)


# --------------------------------------------------------------------------------------------
# Per-session region list
# --------------------------------------------------------------------------------------------


@dataclass
class RegionSet:
    """Numbered regions of one session (keep one in ``gr.State``; Gradio deep-copies the initial
    value per session). Numbers shown to the user are 1-based (``labels``); ``remove`` takes the
    0-based list index. ``seen`` holds the cumulative stroke mask already turned into regions so
    that only new strokes become the next region."""

    regions: list[Region] = field(default_factory=list)
    seen: np.ndarray | None = field(default=None, repr=False)
    max_regions: int = MAX_REGIONS

    def __len__(self) -> int:
        return len(self.regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self.regions)

    def __getitem__(self, i: int) -> Region:
        return self.regions[i]

    @property
    def labels(self) -> list[str]:
        return [str(i + 1) for i in range(len(self.regions))]

    @property
    def masks(self) -> list[np.ndarray]:
        return [r.mask for r in self.regions]

    def add(self, region: Region) -> int:
        """Append; returns the region's 1-based number."""
        if self.regions and region.image_hw != self.regions[0].image_hw:
            raise ValueError("all regions of a set must have the same image size; clear first")
        if len(self.regions) >= self.max_regions:
            raise InputError(
                f"At most {self.max_regions} regions per question; remove one or clear them."
            )
        self.regions.append(region)
        return len(self.regions)

    def undo_last(self) -> Region | None:
        return self.regions.pop() if self.regions else None

    def remove(self, index: int) -> Region:
        if not 0 <= int(index) < len(self.regions):
            raise InputError(f"There is no region {int(index) + 1}.")
        return self.regions.pop(int(index))

    def clear(self) -> None:
        self.regions.clear()
        self.seen = None

    def redrawn_strokes(self) -> np.ndarray | None:
        """Union of the kept regions' strokes (image size), now the strokes already seen: call when
        the editor is reloaded with exactly these strokes (after an undo / remove)."""
        kept = [r.stroke for r in self.regions if r.stroke is not None]
        self.seen = np.logical_or.reduce(kept) if kept else None
        return self.seen

    def add_from_editor(self, editor_value: Any, image_hw: Sequence[int],
                        mode: str, point_size: float = POINT_FRACTION) -> Region | None:
        """Turn the strokes drawn since the last call into a region and add it.

        Returns the new region, or ``None`` when nothing new was drawn (e.g. only erasing).
        """
        cur = stroke_mask(editor_value, image_hw)
        fresh = new_strokes(self.seen, cur)
        if self.seen is not None and fresh.any():  # rounding of redrawn strokes is not a new stroke
            near = cv2.dilate(self.seen.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            if not (fresh & ~near).any():
                fresh = np.zeros_like(fresh)
        self.seen = cur
        if not fresh.any():
            return None
        region = parse_region(fresh, mode, point_size)
        self.add(region)
        return region
