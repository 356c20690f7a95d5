"""The demo in a real browser (headless Chromium + Playwright): load an example, draw a box, ask about
it, ask for a segmentation; the answer, the overlay and the legend must appear. Saves a screenshot
(``app.png``) in the test's tmp_path. Skipped only when /usr/bin/chromium is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                                "(apt-get install -y chromium)")


@pytest.fixture(scope="module")
def live_app(tmp_path_factory):
    pytest.importorskip("playwright.sync_api")
    from demo import ui
    from tests.app_helpers import free_port, grounding_kwargs, load_test_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-tmp")))
        medplib = load_test_model(tmp_path_factory.mktemp("model"))
        kwargs, forced = grounding_kwargs(medplib, max_new_tokens=16)
        demo = ui.build_app(medplib, kwargs)
        port = free_port()
        ui.launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
        yield f"http://127.0.0.1:{port}/", forced
        demo.close()


def test_draw_ask_and_segment(live_app, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    url, forced = live_app
    errors: list[str] = []
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=str(CHROMIUM),
                                                   headless=True, args=ARGS, viewport={"width": 1440, "height": 1000})
        try:
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            assert "not for clinical use" in page.locator(".medplib-notice").inner_text()

            # load the CT example
            page.locator("button.thumbnail-item").first.click()
            page.wait_for_selector("text=ct.png", timeout=60_000)
            page.wait_for_selector("text=What is the main abnormal finding in this image?", timeout=30_000)
            page.wait_for_function("() => { const c = document.querySelector('canvas');"
                                   " return c && c.getBoundingClientRect().width > 0; }", timeout=30_000)

            # draw one stroke in Box mode (few moves: software rendering is slow); a stroke that lands before the
            # editor has placed the picture is not registered, so draw again until the region list shows one
            canvas = page.locator("canvas").first
            canvas.scroll_into_view_if_needed()
            for attempt in range(3):
                bb = canvas.bounding_box()
                x0, y0 = bb["x"] + bb["width"] * 0.35, bb["y"] + bb["height"] * 0.3
                x1, y1 = bb["x"] + bb["width"] * 0.55, bb["y"] + bb["height"] * 0.45
                page.mouse.move(x0, y0)
                page.mouse.down()
                page.mouse.move(x1, y0)
                page.mouse.move(x1, y1)
                page.mouse.up()
                try:
                    page.wait_for_selector(".medplib-regions li", timeout=45_000)
                    break
                except PlaywrightTimeout:
                    if attempt == 2:
                        raise
            assert "Box" in page.locator(".medplib-regions").inner_text()

            # a region question, with the model's own answer
            forced.active = False
            page.get_by_role("button", name="Insert in question").click()
            question = page.get_by_placeholder("Type a question and press Enter")
            page.wait_for_function("() => document.querySelector('textarea[placeholder^=\"Type a question\"]')"
                                   ".value.includes('<region1>')", timeout=30_000)
            question.press("Home")
            question.type("What structure is in ")
            page.get_by_role("button", name="Ask", exact=True).click()
            page.wait_for_selector(".medplib-answer", timeout=90_000)
            assert page.locator(".medplib-region").count() >= 1  # the reference shows as a region chip

            # a segmentation request (answer forced to contain <SEG>)
            forced.active = True
            question.fill("Please segment the liver lesion in this image.")
            question.press("Enter")
            page.wait_for_selector(".medplib-legend table", timeout=90_000)
            page.wait_for_function("() => document.querySelectorAll('.medplib-answer').length >= 2", timeout=30_000)
            assert page.locator(".medplib-chip").count() >= 1  # the grounded phrase in its mask colour
            overlay = page.locator("img[src*='overlay-']")
            overlay.first.wait_for(timeout=30_000)
            text = page.evaluate("() => document.body.innerText")
            assert text.count("ct_mask1") >= 2  # the mask downloads: PNG and NIfTI
            assert "<SEG>" not in page.locator(".medplib-answer").last.inner_text()
            page.wait_for_function("() => [...document.querySelectorAll('img')].every(i => i.complete)",
                                   timeout=30_000)
            shot = tmp_path / "app.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            ctx.close()
    assert not errors, errors
