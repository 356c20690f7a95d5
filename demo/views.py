"""What the UI shows, computed from a :class:`demo.session.Session` (no Gradio imports).

Images are written as PNG files into the session's own folder and returned as paths, so Gradio
serves them from there without making copies elsewhere (see :mod:`demo.session`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image

from medplib.processing.conversation import REGION_REF

from demo import naming, overlay
from demo.session import Session, Turn

VIEW_MIN_SIDE = 512  # small images are enlarged (whole-number factor, nearest) for drawing / viewing
VIEW_MAX_FACTOR = 8

BUILTIN_TRAINING = ("synthetic phantom images of 8 modalities (CT, MRI, X-ray, ultrasound, dermoscopy, "
                    "fundus, endoscopy, pathology), not real patients")


# ------------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------------


def view_factor(hw: Sequence[int]) -> int:
    return int(min(VIEW_MAX_FACTOR, max(1, -(-VIEW_MIN_SIDE // max(int(hw[0]), int(hw[1]))))))


def enlarge(rgb: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return rgb
    return cv2.resize(rgb, (rgb.shape[1] * factor, rgb.shape[0] * factor), interpolation=cv2.INTER_NEAREST)


def save_png(session: Session, rgb: np.ndarray, stem: str) -> str:
    path = session.new_path(stem)
    Image.fromarray(np.ascontiguousarray(rgb)).save(path, format="PNG", compress_level=1)
    return str(path)


@dataclass
class _Scaled:  # a Region drawn on the enlarged view
    mode: str
    mask: np.ndarray
    bbox: tuple[int, int, int, int]
    center: tuple[int, int]


def _scaled(region: Any, f: int) -> _Scaled:
    x1, y1, x2, y2 = region.bbox
    cx, cy = region.center
    return _Scaled(region.mode, region.mask, (x1 * f, y1 * f, x2 * f + f - 1, y2 * f + f - 1),
                   (cx * f + f // 2, cy * f + f // 2))


STROKE_ALPHA = 150  # redrawn strokes: translucent, like the brush


def editor_value(session: Session) -> dict | None:
    """ImageEditor value: the (enlarged) image as background and one layer holding the kept regions'
    strokes, each in its region's colour (empty when there are none)."""
    if session.loaded is None:
        return None
    f = view_factor(session.loaded.display_rgb.shape[:2])
    rgb = enlarge(session.loaded.display_rgb, f)
    path = save_png(session, rgb, "view")
    # The layer is always sent: the browser editor treats its first change after a value is set as
    # the load itself; loading a layer is that change, so the user's next stroke is reported.
    layer = np.zeros((*rgb.shape[:2], 4), np.uint8)
    for k, region in enumerate(session.regions):
        if region.stroke is not None:
            layer[enlarge(region.stroke.astype(np.uint8), f) > 0] = (*overlay.region_color(k), STROKE_ALPHA)
    blank = session.new_path("layer")
    Image.fromarray(layer, "RGBA").save(blank, format="PNG")
    return {"background": path, "layers": [str(blank)], "composite": path}


def regions_preview(session: Session) -> str | None:
    """'What the model sees': the image with each region numbered and coloured."""
    if session.loaded is None:
        return None
    rgb = session.loaded.display_rgb
    f = view_factor(rgb.shape[:2])
    img = overlay.render_regions(enlarge(rgb, f), [_scaled(r, f) for r in session.regions])
    return save_png(session, img, "regions")


def mask_overlay(session: Session, opacity: float = 0.45, contours: bool = True,
                 turn: Turn | None = None) -> str | None:
    """``turn``'s (default: the latest grounded answer's) masks over the image, at the image's own
    size so that its download is the image size (None when there are none)."""
    turn = turn or session.last_grounded()
    if session.loaded is None or turn is None or not turn.masks:
        return None
    img = overlay.render_masks(session.loaded.display_rgb, turn.masks, opacity=opacity, contours=contours)
    return save_png(session, img, "overlay")


# ------------------------------------------------------------------------------------------------
# Text / HTML
# ------------------------------------------------------------------------------------------------


def mask_labels(turn: Turn) -> list[str]:
    """The structure each mask shows, as the answer (or the question) names it."""
    return naming.mask_names(turn.raw_text, len(turn.masks), turn.question)


def legend_html(session: Session) -> str:
    turn = session.last_grounded()
    if turn is None:
        return ('<div class="medplib-legend"><em>No masks yet. Ask for a segmentation, e.g. '
                '"Please segment the liver lesion."</em></div>')
    spacing = session.loaded.pixel_spacing_mm if session.loaded is not None else None
    areas = [overlay.mask_area(m, spacing) for m in turn.masks]
    table = overlay.mask_legend_html(mask_labels(turn), areas_px=[a[0] for a in areas],
                                     areas_mm2=[a[1] for a in areas], scores=turn.scores)
    number = session.turns.index(turn) + 1
    return f'<div class="medplib-legend-title">Masks of answer {number}</div>' + table


def region_chip(k: int) -> str:
    color = overlay.to_hex(overlay.region_color(k))
    return (f'<span class="medplib-region" style="border:2px solid {color};border-radius:4px;'
            f'padding:0 4px;font-weight:600;">region {k + 1}</span>')


def question_html(question: str) -> str:
    """A user question for the chat: escaped, region references as coloured chips."""
    parts, pos = [], 0
    for m in REGION_REF.finditer(question):
        parts.append(html.escape(question[pos:m.start()]))
        parts.append(region_chip(int(m.group(1) or 1) - 1))
        pos = m.end()
    parts.append(html.escape(question[pos:]))
    return "".join(parts)


def regions_html(session: Session) -> str:
    if session.loaded is None:
        return "<em>Load an image, then draw on it to mark regions.</em>"
    if not len(session.regions):
        return ("<em>No regions. Draw on the image: each stroke becomes a numbered region; refer to it "
                "in the question as &lt;region1&gt;, &lt;region2&gt;, ...</em>")
    rows = []
    for k, r in enumerate(session.regions):
        x1, y1, x2, y2 = r.bbox
        where = f"centre ({r.center[0]}, {r.center[1]})" if r.mode == "Point" else f"({x1}, {y1})–({x2}, {y2})"
        rows.append(f"<li>{region_chip(k)} {html.escape(r.mode)} · {where} · {r.area:,} px</li>")
    return '<ul class="medplib-regions">' + "".join(rows) + "</ul>"


def answer_html(turn: Turn) -> str:
    return overlay.colorize_answer_html(turn.raw_text, labels=mask_labels(turn)) if turn.masks else (
        '<div class="medplib-answer">' + html.escape(turn.text or "(empty answer)") + "</div>")


# The stream skips special tokens, so a <SEG> shows only as the gap it leaves before punctuation
# ("the liver is ." would read "is."): while streaming that gap shows as a pending mask chip.
_SEG_GAP = re.compile(r"(?<=\w) +(?=[.,;:!?](?:\s|$))")
PENDING_CHIP = '<span class="medplib-chip medplib-chip-pending">■ mask…</span>'


def streaming_html(partial: str) -> str:
    """A partial answer for the chat: escaped, a <SEG> (or its gap) shown as a pending chip."""
    text = overlay.clean_answer(_SEG_GAP.sub(" " + overlay.SEG, partial or ""), keep_seg=True)
    return html.escape(text).replace(html.escape(overlay.SEG), PENDING_CHIP)


UNFAMILIAR = ("⚠️ This image looks unlike the images the model was trained on; treat this answer with extra "
              "caution.")


def unfamiliar(session: Session) -> bool:
    """The model's familiarity check says the shown image is unlike its training images."""
    return getattr(session.encoded, "familiar", None) is False


def grounding_note(session: Session, turn: Turn) -> str:
    spacing = session.loaded.pixel_spacing_mm if session.loaded is not None else None
    bits = []
    for k, (m, label) in enumerate(zip(turn.masks, mask_labels(turn))):
        px, mm2 = overlay.mask_area(m, spacing)
        area = f"{px:,} px" + (f" = {mm2:,.1f} mm²" if mm2 is not None else "")
        color = overlay.to_hex(overlay.mask_color(k))
        bits.append(f'<span style="color:{color};font-weight:600;">■</span> {html.escape(label)}: {area}')
    return "<br>".join(bits)


def chat_messages(session: Session, pending: tuple[str, str] | None = None) -> list[dict]:
    """The conversation for ``gr.Chatbot``; ``pending`` = (question, partial answer) being streamed."""
    out: list[dict] = []
    warning = f'<div class="medplib-unfamiliar">{html.escape(UNFAMILIAR)}</div>' if unfamiliar(session) else ""
    for turn in session.turns:
        out.append({"role": "user", "content": question_html(turn.question)})
        out.append({"role": "assistant", "content": answer_html(turn) + warning})
        if turn.masks:
            names = ", ".join(mask_labels(turn))
            if turn.overlay:  # the answer's own masks, in the conversation itself
                out.append({"role": "assistant", "content": {"path": turn.overlay, "alt_text": f"Masks: {names}"}})
            out.append({"role": "assistant", "content": grounding_note(session, turn),
                        "metadata": {"title": f"Segmentation: {names}", "status": "done"}})
    if pending is not None:
        question, partial = pending
        out.append({"role": "user", "content": question_html(question)})
        text = streaming_html(partial)
        out.append({"role": "assistant", "content": (text + " ▌") if text else "<em>thinking…</em>"})
    if session.error:
        out.append({"role": "assistant", "content": f'<div class="medplib-error">⚠️ {html.escape(session.error)} '
                                                    "<em>(not added to the conversation)</em></div>"})
    return out


def is_builtin(medplib: Any) -> bool:
    return bool(getattr(medplib, "is_builtin", False))


def notice_html(medplib: Any) -> str:
    try:
        devices = ", ".join(medplib.devices())
    except Exception:
        devices = "unknown"
    name = html.escape(str(getattr(medplib, "name", "unknown")))
    if is_builtin(medplib):
        about = (f"<b>Model:</b> built-in <code>medplib-tiny</code> on {html.escape(devices)} — a small model "
                 f"trained only on {BUILTIN_TRAINING}. Its answers are a demonstration of the interface, not "
                 "medical statements.")
    else:
        about = f"<b>Model:</b> <code>{name}</code> on {html.escape(devices)}."
    return (
        '<div class="medplib-notice">'
        "<b>Research and teaching demo — not for clinical use.</b> Do not use it for diagnosis or treatment, "
        "and do not upload identifiable patient data. Uploads, questions and masks stay in this browser "
        "session and are deleted when it ends. "
        f"<br>{about}</div>"
    )
