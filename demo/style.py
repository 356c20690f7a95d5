"""The demo's look: theme, CSS (the narrow-screen order among it) and the region brush."""

from __future__ import annotations

import gradio as gr

from demo.overlay import REGION_COLORS, region_color, to_hex

BRUSH_SIZE = 3  # px radius on the (>= 512 px) canvas: thin, the anatomy stays visible
BRUSH_OPACITY = 0.6

CSS = """
.medplib-notice {border-left: 4px solid #d97706; background: rgba(217,119,6,0.08); padding: 8px 12px;
  border-radius: 6px; font-size: 0.92em;}
.medplib-title h1 {margin-bottom: 0;}
.medplib-legend table {width: 100%; font-size: 0.88em;}
.medplib-legend td {white-space: nowrap;}
.medplib-legend-title {font-weight: 600; margin-bottom: 4px;}
.medplib-regions {list-style: none; padding-left: 0; margin: 0;}
.medplib-regions li {margin: 2px 0;}
.medplib-error {color: #b91c1c;}
.medplib-chip {margin: 0 0.2em;}
.medplib-chip-pending {border: 1px dashed #888; border-radius: 4px; padding: 0 0.3em; opacity: 0.8;}
.medplib-unfamiliar {color: #92400e; font-size: 0.9em; margin-top: 4px;}
#medplib-overlay img, #medplib-chat img {image-rendering: pixelated;}
#medplib-hidden-api {display: none;}
/* narrow screens: the chat follows the image (the region tools come after it) */
@media (max-width: 700px) {
  #medplib-main {flex-direction: column;}
  #medplib-main > #medplib-left, #medplib-main > #medplib-right {display: contents;}
  #medplib-image-block {order: 1;} #medplib-right > * {order: 2;} #medplib-tools {order: 3;}
}
"""


def theme() -> gr.themes.Base:
    # darker accents than Soft's own: its teal-500 text on light fills fails WCAG AA contrast (axe: color-contrast)
    return gr.themes.Soft(primary_hue="teal", secondary_hue="amber", neutral_hue="slate").set(
        block_label_text_color="*primary_800", block_title_text_color="*primary_800",
        block_info_text_color="*neutral_600", body_text_color_subdued="*neutral_600", color_accent="*primary_700",
        checkbox_label_background_fill_selected="*primary_700", button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800")


def brush(n_regions: int) -> gr.Brush:
    """Thin translucent brush in the colour of the next region (that region's chip colour)."""
    colors = [(to_hex(c), BRUSH_OPACITY) for c in REGION_COLORS]
    current = (to_hex(region_color(n_regions)), BRUSH_OPACITY)
    if current not in colors:
        colors.append(current)
    return gr.Brush(default_size=BRUSH_SIZE, colors=colors, default_color=current, color_mode="fixed")
