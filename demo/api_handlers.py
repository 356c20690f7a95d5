"""The /ask API's own pieces: its regions, the file digest that keeps an image's encoding, and its outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from demo import api_inputs, overlay, views
from demo.session import Session
from medplib.io import export_masks, safe_stem


def file_digest(path: Any) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def api_result(session: Session, answer: Any) -> tuple[list[str], str | None, dict]:
    """An answer's outputs for the API: mask PNG files, the overlay PNG (or None) and the details."""
    masks_out = [np.asarray(m, dtype=bool) for m in answer.masks]
    files, overlay_path = [], None
    if masks_out:
        folder = session.new_dir("api-masks")
        files = [str(p) for p in export_masks(masks_out, folder, stem=safe_stem(session.loaded.filename),
                                              spacing=session.loaded.pixel_spacing_mm, formats=("png",))]
        overlay_path = views.save_png(session, overlay.render_masks(session.loaded.display_rgb, masks_out),
                                      "api-overlay")
    spacing = session.loaded.pixel_spacing_mm
    details = {"raw_text": overlay.clean_answer(answer.raw_text, keep_seg=True),
               "masks": [{"file": Path(f).name, **({"score": s} if s is not None else {}), "area_px": overlay.mask_area(m, spacing)[0],
                          "area_mm2": overlay.mask_area(m, spacing)[1]}
                         for f, s, m in zip(files, answer.scores, masks_out)],
               "pixel_spacing_mm": list(spacing) if spacing else None}
    return files, overlay_path, details


def parse_api_regions(regions: Any, mask_files: Sequence[Any] | None, hw: tuple[int, int],
                      claim=lambda p: p) -> list[dict]:
    """API regions (see :func:`demo.api_inputs.regions_list`)."""
    return api_inputs.regions_list(regions, mask_files, hw, claim)
