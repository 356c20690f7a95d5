"""Drawing regions and masks over the image, legends and the colour-coded answer text.

Palettes are module-level *tuples* (immutable) and colours are picked by index with
:func:`region_color` / :func:`mask_color`, so nothing ever runs out or gets mutated (GLaMM popped
colours from a shared list). Region (prompt) colours are bright outline colours; mask colours are
a different set of saturated fill colours, so a prompt can never be mistaken for a prediction.
Beyond the fixed lists, further colours come from a deterministic golden-ratio hue walk.

``opacity`` in :func:`render_masks` is the overlay's visibility: fills are blended with
``opacity``, contour lines (drawn on the mask's inner border, so no pixel outside a mask changes)
with ``min(1, 2 * opacity)``; ``opacity=0`` returns the image unchanged.
"""

from __future__ import annotations

import colorsys
import html
import re
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from medplib.processing.tokens import tidy_spacing

RGB = tuple[int, int, int]

#: Colours of user-drawn regions (prompts): bright, for outlines on greyscale images.
REGION_COLORS: tuple[RGB, ...] = (
    (255, 214, 0),    # yellow
    (0, 229, 255),    # cyan
    (255, 64, 255),   # magenta
    (174, 234, 0),    # lime
    (255, 145, 0),    # orange
    (179, 136, 255),  # lavender
)
#: Colours of predicted masks: saturated mid-tone fills, distinct from REGION_COLORS.
MASK_COLORS: tuple[RGB, ...] = (
    (230, 25, 75),    # red
    (60, 180, 75),    # green
    (67, 99, 216),    # blue
    (145, 30, 180),   # purple
    (70, 153, 144),   # teal
    (154, 99, 36),    # brown
    (128, 128, 0),    # olive
    (0, 0, 117),      # navy
)


def _extra_color(i: int, offset: float) -> RGB:
    h = (offset + 0.618033988749895 * i) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def region_color(i: int) -> RGB:
    """Colour of region ``i`` (0-based)."""
    if i < len(REGION_COLORS):
        return REGION_COLORS[i]
    return _extra_color(i, 0.11)


def mask_color(i: int) -> RGB:
    """Colour of mask ``i`` (0-based)."""
    if i < len(MASK_COLORS):
        return MASK_COLORS[i]
    return _extra_color(i, 0.61)


def mask_colors(n: int) -> list[RGB]:
    return [mask_color(i) for i in range(n)]


def to_hex(color: Any) -> str:
    """``(r, g, b)`` or ``"#rrggbb"`` -> ``"#rrggbb"`` (lower case)."""
    r, g, b = to_rgb(color)
    return f"#{r:02x}{g:02x}{b:02x}"


def to_rgb(color: Any) -> RGB:
    if isinstance(color, str):
        s = color.strip().lstrip("#")
        if len(s) == 3:
            s = "".join(ch * 2 for ch in s)
        if len(s) != 6 or not re.fullmatch(r"[0-9a-fA-F]{6}", s):
            raise ValueError(f"not a colour: {color!r}")
        return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)
    r, g, b = (int(round(float(c))) for c in tuple(color)[:3])
    return (min(max(r, 0), 255), min(max(g, 0), 255), min(max(b, 0), 255))


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def _rgb_copy(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img).copy()


def _line_width(hw: tuple[int, int]) -> int:
    return max(1, int(round(min(hw) / 256)))


def _fit_mask(mask: Any, hw: tuple[int, int]) -> np.ndarray:
    m = np.asarray(mask)
    m = m >= 0.5 if m.dtype.kind == "f" else m.astype(bool)
    if m.ndim == 3:
        m = m.reshape(m.shape[-2:]) if m.shape[0] == 1 else m[..., 0]
    if m.shape != tuple(hw):
        m = cv2.resize(m.astype(np.uint8), (hw[1], hw[0]),
                       interpolation=cv2.INTER_NEAREST_EXACT) > 0
    return m


def inner_border(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels of ``mask`` within ``width`` px of its edge (a contour that stays inside)."""
    m = mask.astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * width + 1, 2 * width + 1))
    eroded = cv2.erode(np.pad(m, width + 1), k)[width + 1:-(width + 1), width + 1:-(width + 1)]
    return mask & (eroded == 0)


def _blend(out: np.ndarray, where: np.ndarray, color: RGB, alpha: float,
           base: np.ndarray | None = None) -> None:
    if alpha <= 0 or not where.any():
        return
    src = (out if base is None else base)[where].astype(np.float32)
    col = np.asarray(color, dtype=np.float32)
    out[where] = np.clip(np.rint(src * (1.0 - alpha) + col * alpha), 0, 255).astype(np.uint8)


def _put_label(out: np.ndarray, text: str, x: int, y: int, color: RGB) -> None:
    h, w = out.shape[:2]
    scale = max(0.45, min(h, w) / 500.0)
    thick = max(1, int(round(scale * 1.5)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x = int(min(max(x, 1), max(1, w - tw - 1)))
    y = int(min(max(y, th + 1), max(th + 1, h - base - 1)))
    cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2,
                cv2.LINE_AA)
    cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, tuple(int(c) for c in color),
                thick, cv2.LINE_AA)


def render_regions(image_rgb: np.ndarray, regions: Iterable[Any],
                   colors: Sequence[Any] | None = None, fill_opacity: float = 0.3) -> np.ndarray:
    """Preview of the prompt regions ("what the model sees"), each numbered and coloured.

    Point: square outline + centre dot; Box: rectangle; Free-form: translucent fill + contour.
    ``regions`` are :class:`demo.strokes.Region`-like (``mode``, ``mask``, ``bbox``, ``center``).
    """
    out = _rgb_copy(image_rgb)
    hw = out.shape[:2]
    lw = _line_width(hw)
    for i, reg in enumerate(regions):
        color = to_rgb(colors[i]) if colors is not None and i < len(colors) else region_color(i)
        x1, y1, x2, y2 = (int(v) for v in reg.bbox)
        mode = str(getattr(reg, "mode", "Box"))
        if mode == "Point":
            cv2.rectangle(out, (x1, y1), (x2, y2), color, lw, cv2.LINE_8)
            cx, cy = (int(v) for v in reg.center)
            cv2.circle(out, (cx, cy), max(2, 2 * lw), color, -1, cv2.LINE_8)
        elif mode == "Box":
            cv2.rectangle(out, (x1, y1), (x2, y2), color, lw, cv2.LINE_8)
        else:
            m = _fit_mask(reg.mask, hw)
            _blend(out, m, color, fill_opacity)
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, color, lw, cv2.LINE_8)
        _put_label(out, str(i + 1), x1 + lw + 2, y1 - lw - 2 if y1 > 20 else y2 + 20, color)
    return out


def render_masks(image_rgb: np.ndarray, masks: Sequence[Any], opacity: float = 0.45,
                 contours: bool = True, colors: Sequence[Any] | None = None) -> np.ndarray:
    """Alpha-blend each mask in its own colour (default :func:`mask_color`) plus contour lines.

    Only pixels inside a mask change. ``opacity=0`` returns an unchanged copy. Masks of another
    size are resized (nearest) to the image; float masks are thresholded at 0.5.
    """
    out = _rgb_copy(image_rgb)
    a = float(min(max(opacity, 0.0), 1.0))
    if a <= 0 or not masks:
        return out
    hw = out.shape[:2]
    lw = _line_width(hw)
    fitted = [_fit_mask(m, hw) for m in masks]
    cols = [to_rgb(colors[i]) if colors is not None and i < len(colors) else mask_color(i)
            for i in range(len(fitted))]
    base = out.copy()
    for m, c in zip(fitted, cols):
        _blend(out, m, c, a)
    if contours:  # contour pixel = original pixel blended with alpha min(1, 2 * opacity)
        ca = min(1.0, 2.0 * a)
        for m, c in zip(fitted, cols):
            _blend(out, inner_border(m, lw), c, ca, base=base)
    return out


def mask_area(mask: Any, spacing: Sequence[float] | None) -> tuple[int, float | None]:
    """``(pixels, mm²)``; mm² is ``None`` without a ``(row, col)`` pixel spacing in mm."""
    m = np.asarray(mask)
    px = int(np.count_nonzero(m >= 0.5 if m.dtype.kind == "f" else m))
    if spacing is None:
        return px, None
    r, c = float(spacing[0]), float(spacing[1])
    if not (np.isfinite(r) and np.isfinite(c)) or r <= 0 or c <= 0:
        return px, None
    return px, px * r * c


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def escape(text: Any) -> str:
    """HTML-escape user / model text (quotes too)."""
    return html.escape(str(text), quote=True)


def _rgba(color: Any, alpha: float) -> str:
    r, g, b = to_rgb(color)
    return f"rgba({r}, {g}, {b}, {alpha:g})"


def _swatch(color: Any) -> str:
    return (f'<span class="medplib-swatch" style="display:inline-block;width:0.8em;height:0.8em;'
            f'border-radius:2px;margin-right:0.3em;vertical-align:-0.05em;'
            f'background:{to_hex(color)};"></span>')


def mask_legend_html(labels: Sequence[Any], colors: Sequence[Any] | None = None,
                     areas_px: Sequence[int | None] | None = None,
                     areas_mm2: Sequence[float | None] | None = None,
                     scores: Sequence[float | None] | None = None) -> str:
    """A small table: colour swatch, (escaped) label, area in pixels and mm², and the model's mask
    score when it has one (a model whose IoU head is untrained gives None: no score column)."""
    if not labels:
        return '<div class="medplib-legend"><em>No masks.</em></div>'
    rows = []
    has_scores = any(s is not None for s in (scores or ()))
    for i, label in enumerate(labels):
        color = colors[i] if colors is not None and i < len(colors) else mask_color(i)
        px = areas_px[i] if areas_px is not None and i < len(areas_px) else None
        mm = areas_mm2[i] if areas_mm2 is not None and i < len(areas_mm2) else None
        px_s = f"{int(px):,} px" if px is not None else "—"
        mm_s = f"{float(mm):,.1f} mm²" if mm is not None else "— (no pixel spacing)"
        rows.append(
            f'<tr><td style="padding:2px 6px;">{_swatch(color)}'
            f'<span style="color:{to_hex(color)};font-weight:600;">{i + 1}</span></td>'
            f'<td style="padding:2px 6px;">{escape(label)}</td>'
            f'<td style="padding:2px 6px;text-align:right;">{px_s}</td>'
            f'<td style="padding:2px 6px;text-align:right;">{mm_s}</td>'
            + (f'<td style="padding:2px 6px;text-align:right;">{_score(scores, i)}</td>' if has_scores else "")
            + "</tr>"
        )
    head = ('<tr><th></th><th style="text-align:left;padding:2px 6px;">Mask</th>'
            '<th style="padding:2px 6px;">Pixels</th><th style="padding:2px 6px;">Physical area</th>'
            + ('<th style="padding:2px 6px;">Score</th>' if has_scores else "") + "</tr>")
    return ('<div class="medplib-legend"><table style="border-collapse:collapse;">'
            + head + "".join(rows) + "</table></div>")


def _score(scores: Sequence[float | None] | None, i: int) -> str:
    s = scores[i] if scores is not None and i < len(scores) else None
    return "—" if s is None else f"{float(s):.2f}"


# Special tokens that must never reach the user.
_SEG_RE = re.compile(r"<\s*seg\s*>|\[\s*seg\s*\]", re.IGNORECASE)
_SPECIAL_RE = re.compile(
    r"</?(?:im_start|im_end|im_patch|image|region\d*|s|unk|pad|bbox|ref|sr|gen_\d+|p)\s*/?>"
    r"|<\|[a-z_]+\|>",
    re.IGNORECASE,
)
_EOS_RE = re.compile(r"</s>", re.IGNORECASE)
SEG = "<SEG>"


def clean_answer(text: str, keep_seg: bool = False) -> str:
    """Remove special tokens (``<SEG>``, ``[SEG]``, ``<im_start>``, ``<region>``, ``<p>`` ...).

    Everything after the first ``</s>`` is dropped. With ``keep_seg=True`` every SEG token form is
    kept as the canonical ``"<SEG>"`` (to colour its position); everything else is removed.
    """
    if text is None:
        return ""
    text = str(text).replace("\x00", "")
    m = _EOS_RE.search(text)
    if m:
        text = text[: m.start()]
    text = _SEG_RE.sub("\x00" if keep_seg else " ", text)
    text = _SPECIAL_RE.sub(" ", text)
    text = text.replace("\x00", f" {SEG} " if keep_seg else " ")
    return tidy_spacing(text)


_PHRASE_SEG_RE = re.compile(
    r"<p>(?P<phrase>.*?)</p>\s*(?:<\s*seg\s*>|\[\s*seg\s*\])|(?P<seg><\s*seg\s*>|\[\s*seg\s*\])",
    re.IGNORECASE | re.DOTALL,
)


def seg_count(text: str) -> int:
    """Number of SEG tokens in (the part before ``</s>`` of) a raw answer."""
    return clean_answer(text, keep_seg=True).count(SEG)


def colorize_answer_html(answer_text: str, colors: Sequence[Any] | None = None,
                         labels: Sequence[Any] | None = None) -> str:
    """Answer as HTML where each SEG position shows as a chip in its mask's colour.

    GLaMM-style ``<p>phrase</p><SEG>`` becomes the phrase itself as a coloured chip; a bare
    ``<SEG>`` becomes a chip ``■ label`` (``labels[k]`` or ``"mask k+1"``). The k-th SEG uses
    ``colors[k]`` (default :func:`mask_color`). All text is HTML-escaped; special tokens removed.
    """
    text = "" if answer_text is None else str(answer_text)
    m = _EOS_RE.search(text)
    if m:
        text = text[: m.start()]
    parts: list[str] = []
    pos = 0
    k = 0

    def plain(s: str) -> str:
        s = tidy_spacing(_SPECIAL_RE.sub(" ", s), strip=False)
        return escape(s).replace("\n", "<br>")

    for match in _PHRASE_SEG_RE.finditer(text):
        parts.append(plain(text[pos:match.start()]))
        color = colors[k] if colors is not None and k < len(colors) else mask_color(k)
        label = labels[k] if labels is not None and k < len(labels) else f"mask {k + 1}"
        style = (f"background:{_rgba(color, 0.25)};border:1px solid {to_hex(color)};"
                 "border-radius:4px;padding:0 0.3em;white-space:nowrap;")
        if match.group("phrase") is not None:
            phrase = tidy_spacing(_SPECIAL_RE.sub(" ", match.group("phrase"))) or str(label)
            inner = _swatch(color) + escape(phrase)
        else:
            inner = _swatch(color) + escape(label)
        parts.append(f'<span class="medplib-chip" data-mask="{k}" title="{escape(label)}" '
                     f'style="{style}">{inner}</span>')
        pos = match.end()
        k += 1
    parts.append(plain(text[pos:]))
    body = "".join(parts)
    body = re.sub(r"^(?:\s|<br>)+|(?:\s|<br>)+$", "", body)
    return f'<div class="medplib-answer">{body}</div>'
