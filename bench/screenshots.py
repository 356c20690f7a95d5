"""Screenshots of the app's main states at desktop and phone width, for README (docs/screenshots/*.png).

    python bench/screenshots.py [--out docs/screenshots]

Serves the app in this process (the built-in model; segmentation answers are forced, as in the browser
tests, so that the grounded state shows masks), drives Debian's /usr/bin/chromium with Playwright and saves
small palette PNGs: a grounded answer with its overlay in the conversation, an answer being written (Stop),
and the phone layout (the chat follows the image).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser_helpers import (ask, chromium, draw, load_example, wait_answers, wait_regions,  # noqa: E402
                                   wait_text)

DESKTOP = (1280, 900)
PHONE = (420, 900)


def save_small(page, path: Path, down_to: str | None = None) -> None:
    """A screenshot as a 96-colour palette PNG: the viewport, or the page from its top down to the bottom of
    the element ``down_to``."""
    raw = path.with_suffix(".raw.png")
    if down_to is None:
        page.screenshot(path=str(raw))
    else:
        bottom = page.evaluate("s => document.querySelector(s).getBoundingClientRect().bottom + window.scrollY",
                               down_to)
        width = page.viewport_size["width"]
        page.screenshot(path=str(raw), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": bottom + 16})
    Image.open(raw).convert("RGB").quantize(colors=96).save(path, optimize=True)
    raw.unlink()
    print(f"{path} {path.stat().st_size // 1024} KiB")


def grounded(page, forced) -> None:
    """The CT example, one Box region, a region question and a segmentation answer."""
    load_example(page)
    draw(page, 0.35, 0.3, 0.55, 0.45)
    wait_regions(page, 1)
    forced.active = False
    ask(page, "What structure is in <region1>?")
    wait_answers(page, 1)
    forced.active = True
    ask(page, "Please segment the liver lesion in this image.")
    wait_answers(page, 2)
    page.wait_for_function("() => [...document.querySelectorAll('img')].every(i => i.complete)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="medplib-shots-")
    os.environ.setdefault("GRADIO_TEMP_DIR", tmp)  # the app's files go with the folder below
    try:
        shoot(Path(tmp), args.out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def shoot(tmp: Path, out: Path) -> None:
    from tests.browser_helpers import live_app

    with live_app(tmp) as (url, forced, gate):
        with chromium(tmp / "profile", *DESKTOP) as ctx:
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            page.goto(url)
            grounded(page, forced)
            page.locator("#medplib-chat").scroll_into_view_if_needed()
            save_small(page, out / "desktop-grounded.png")
            forced.active = False
            gate.open.clear()  # an answer that is being written, with Stop
            try:
                ask(page, "Describe the image.")
                page.get_by_role("button", name="Stop").wait_for(state="visible")
                save_small(page, out / "desktop-answering.png")
                page.get_by_role("button", name="Stop").click()
                page.get_by_role("button", name="Stopping…").wait_for()
            finally:
                gate.open.set()
            wait_text(page, "Stopped")
            page2 = ctx.new_page()
            page2.set_default_timeout(120_000)
            page2.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
            page2.goto(url)
            grounded(page2, forced)
            save_small(page2, out / "phone.png", down_to="#medplib-question")


if __name__ == "__main__":
    main()
