"""Shared by the browser tests and bench/screenshots.py: a live app on a free port, a Chromium context,
and the few gestures the tests make (drawing a stroke, asking, waiting for the answer). Every wait is
for a condition in the page, never a fixed time."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from transformers import LogitsProcessor

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
AXE_JS = "axe_playwright_python/axe.min.js"  # axe-core, shipped inside the PyPI package axe-playwright-python


class Gate(LogitsProcessor):
    """Holds every generation step while closed (at most 60 s a step): an answer that runs until the test
    opens it."""

    def __init__(self):
        self.open = threading.Event()
        self.open.set()

    def __call__(self, input_ids, scores):
        self.open.wait(timeout=60)
        return scores


@contextmanager
def live_app(tmp_dir: Path, max_new_tokens: int = 16) -> Iterator[tuple[str, object, Gate]]:
    """``(url, forced answer switch, gate)`` of the demo served in this process."""
    from transformers import LogitsProcessorList

    from demo import ui
    from tests.app_helpers import free_port, grounding_kwargs, load_test_model

    medplib = load_test_model(tmp_dir / "model")
    kwargs, forced = grounding_kwargs(medplib, max_new_tokens=max_new_tokens)
    gate = Gate()
    kwargs["logits_processor"] = LogitsProcessorList([gate, *kwargs["logits_processor"]])
    demo = ui.build_app(medplib, kwargs)
    port = free_port()
    ui.launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", forced, gate
    finally:
        gate.open.set()
        demo.close()


@contextmanager
def chromium(profile: Path, width: int = 1440, height: int = 1000):
    """A headless Chromium context (Debian's /usr/bin/chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=str(CHROMIUM), headless=True,
                                                   args=ARGS, viewport={"width": width, "height": height})
        try:
            yield ctx
        finally:
            ctx.close()


def draw(page, fx0: float, fy0: float, fx1: float, fy1: float) -> None:
    """One stroke from (fx0, fy0) to (fx1, fy1), as fractions of the canvas (few moves: slow renderer)."""
    canvas = page.locator("#medplib-editor canvas").first
    canvas.scroll_into_view_if_needed()
    bb = canvas.bounding_box()
    x0, y0 = bb["x"] + bb["width"] * fx0, bb["y"] + bb["height"] * fy0
    x1, y1 = bb["x"] + bb["width"] * fx1, bb["y"] + bb["height"] * fy1
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y0)
    page.mouse.move(x1, y1)
    page.mouse.up()


def n_regions(page) -> int:
    return page.locator(".medplib-regions li").count()


def wait_regions(page, n: int, timeout: float = 60_000) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('.medplib-regions li').length === {n}",
                           timeout=timeout)


def ask(page, text: str) -> None:
    box = page.locator("#medplib-question textarea")
    box.fill(text)
    box.press("Enter")


def wait_idle(page, timeout: float = 90_000) -> None:
    """No answer runs: Ask is enabled again and Stop is hidden."""
    page.wait_for_function("() => { const bs = [...document.querySelectorAll('button')];"
                           " const ask = bs.find(x => x.innerText.trim() === 'Ask');"
                           " return ask && !ask.disabled && !bs.some(x => x.innerText.trim() === 'Stop'"
                           " && x.offsetParent !== null); }", timeout=timeout)


def wait_answers(page, n: int, timeout: float = 90_000) -> None:
    """``n`` answers are in the conversation and the app is idle again."""
    page.wait_for_function(f"() => document.querySelectorAll('.medplib-answer').length === {n}", timeout=timeout)
    wait_idle(page, timeout)


def n_answers(page) -> int:
    return page.locator(".medplib-answer").count()


def load_example(page, index: int = 0, name: str = "ct.png") -> None:
    page.locator("button.thumbnail-item").nth(index).click()
    page.wait_for_selector(f"text={name}", timeout=60_000)
    page.wait_for_function("() => { const c = document.querySelector('#medplib-editor canvas');"
                           " return c && c.getBoundingClientRect().width > 0; }", timeout=30_000)


def upload(page, path: Path) -> None:
    """Upload ``path`` in the Upload tab (removing the file shown there first, as a person would)."""
    page.get_by_role("tab", name="Upload").click()
    shown = page.locator("#medplib-upload button[aria-label='Clear']")
    if shown.count():
        shown.first.click()
    page.locator("#medplib-upload input[type=file]").set_input_files(str(path))


def wait_text(page, text: str, timeout: float = 60_000) -> None:
    """``text`` shows somewhere on the page (a toast among them)."""
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout)
