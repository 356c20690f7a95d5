"""A browser session leaves nothing behind (headless Chromium + Playwright): upload a file, draw a region,
ask a grounded question, download a mask, close the tab; within a minute 0 bytes of that session are left
under Gradio's temp folder. While the tab is open, its files are served to it and to no one else.
Skipped only when /usr/bin/chromium is absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability_helpers import CT, is_gallery_copy, left_bytes, wait_for

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                                "(apt-get install -y chromium)")


@pytest.fixture(scope="module")
def heartbeat_1s():
    """Gradio notices a closed tab at its next heartbeat (15 s by default): 1 s here."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")
        yield


def draw_box(page) -> None:
    """One stroke in Box mode; a stroke that lands before the editor has placed the picture is not
    registered, so draw again until the region list shows one."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

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
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def test_browser_session_leaves_nothing(heartbeat_1s, grounded_app, temp_dir, tmp_path):
    pytest.importorskip("playwright.sync_api")
    import httpx
    from playwright.sync_api import sync_playwright

    from demo import files

    url, _, forced = grounded_app
    forced.active = True
    scan = tmp_path / "Doe-Jane-scan.png"
    shutil.copy(CT, scan)
    before = left_bytes(temp_dir)
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=str(CHROMIUM),
                                                   headless=True, args=ARGS, accept_downloads=True,
                                                   viewport={"width": 1440, "height": 1000})
        try:
            page = ctx.new_page()
            page.goto(url + "/")
            page.get_by_role("tab", name="Upload").click()
            page.locator("input[type=file]").first.set_input_files(str(scan))
            page.wait_for_function("() => { const c = document.querySelector('canvas');"
                                   " return c && c.getBoundingClientRect().width > 0; }", timeout=60_000)
            draw_box(page)
            question = page.get_by_placeholder("Type a question and press Enter")
            question.fill("Please segment the lesion in <region1>.")
            question.press("Enter")
            page.wait_for_selector(".medplib-legend table", timeout=90_000)
            overlay = page.locator("img[src*='overlay-']").first
            overlay.wait_for(timeout=30_000)
            page.wait_for_function("() => [...document.querySelectorAll('img[src*=\"overlay-\"]')]"
                                   ".every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
            link = page.locator("a[download][href*='mask1']").first  # the download of mask 1 (PNG or NIfTI)
            with page.expect_download() as download:
                link.click()
            assert Path(download.value.path()).stat().st_size > 0  # the page's own file reached it

            # every file the page shows lives in the session's private folders and is the page's alone
            sources = page.evaluate("() => [...document.querySelectorAll('img[src*=\"/file=\"], a[href*=\"/file=\"]')]"
                                    ".map(e => e.src || e.href)")
            assert sources
            targets = [Path(httpx.URL(src).path.split("/file=", 1)[1]) for src in sources]
            own = [(src, t) for src, t in zip(sources, targets) if not is_gallery_copy(t, temp_dir)]
            assert len(own) >= 3  # the upload, the editor's picture, the preview, the overlay, the masks
            for src, target in own:
                assert target.is_relative_to(files.private_root()), target
                assert httpx.get(src).status_code == 403, src  # the URL without the page's cookie
            assert left_bytes(temp_dir) > before
            page.close()  # the tab goes; Gradio's heartbeat notices and the session ends
            assert wait_for(lambda: left_bytes(temp_dir) == 0, timeout=60), left_bytes(temp_dir)
        finally:
            ctx.close()
