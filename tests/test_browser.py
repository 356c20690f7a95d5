"""The demo in a real browser (headless Chromium + Playwright), one live app and one browser context for the
module: drawing and asking, strokes right after answers, Stop / busy / trash, grounded answers in the
conversation, uploads (unfamiliar-image warning, rejected file, volume axis), accessibility (axe-core) and the
narrow-screen layout. Skipped only when /usr/bin/chromium is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.browser_helpers import (AXE_JS, CHROMIUM, ask, draw, load_example, n_answers, n_regions, upload,
                                   wait_answers, wait_idle, wait_regions, wait_text)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                                "(apt-get install -y chromium)")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    pytest.importorskip("playwright.sync_api")
    from tests.browser_helpers import live_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-tmp")))
        with live_app(tmp_path_factory.mktemp("app")) as served:
            yield served


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    from tests.browser_helpers import chromium

    with chromium(tmp_path_factory.mktemp("profile")) as ctx:
        yield ctx


@pytest.fixture
def page(app, context):
    errors: list[str] = []
    page = context.new_page()
    page.set_default_timeout(90_000)  # a loaded 2-core machine: conditions, not durations, decide
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app[0])
    yield page
    page.close()
    assert not errors, errors


def css_color(page, selector: str, prop: str) -> str:
    return page.locator(selector).first.evaluate(f"e => getComputedStyle(e).{prop}")


def test_draw_ask_and_segment(app, page, tmp_path):
    _, forced, _ = app
    assert "not for clinical use" in page.locator(".medplib-notice").inner_text()
    load_example(page)
    wait_text(page, "What is the main abnormal finding in this image?")
    draw(page, 0.35, 0.3, 0.55, 0.45)
    wait_regions(page, 1, timeout=90_000)
    assert "Box" in page.locator(".medplib-regions").inner_text()

    # a region question, with the model's own answer
    forced.active = False
    page.get_by_role("button", name="Insert region in question").click()
    question = page.locator("#medplib-question textarea")
    page.wait_for_function("() => document.querySelector('#medplib-question textarea').value.includes('<region1>')",
                           timeout=30_000)
    question.press("Home")
    question.type("What structure is in ")
    page.get_by_role("button", name="Ask", exact=True).click()
    wait_answers(page, 1)
    assert page.locator(".medplib-answer .medplib-region, .message .medplib-region").count() >= 1  # a chip

    # a segmentation request (answer forced to "Sure, it is <SEG>"): the mask is named after the request
    forced.active = True
    ask(page, "Please segment the liver lesion in this image.")
    wait_answers(page, 2)
    page.wait_for_selector(".medplib-legend table", timeout=30_000)
    chip = page.locator(".medplib-answer .medplib-chip").last
    assert chip.inner_text().strip().endswith("liver lesion")
    assert "liver lesion" in page.locator(".medplib-legend").inner_text()
    # the chip has the colour of its mask in the legend
    assert css_color(page, ".medplib-answer >> nth=-1 >> .medplib-chip", "borderTopColor") == \
        css_color(page, ".medplib-legend td span[style*='font-weight']", "color")
    # the answer's own overlay in the conversation, and the large one at the image's own size (128 px)
    chat_img = page.locator("#medplib-chat img[src*='overlay-']")
    chat_img.first.wait_for(timeout=30_000)
    assert "Segmentation: liver lesion" in page.locator("#medplib-chat").inner_text()  # named beside it
    big = page.locator("#medplib-overlay img[src*='overlay-']")
    big.first.wait_for(timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('#medplib-overlay img')].every(i => i.complete)",
                           timeout=30_000)
    assert big.first.evaluate("i => i.naturalWidth") == 128
    text = page.evaluate("() => document.body.innerText")
    assert text.count("liver_lesion") >= 2 or text.count("ct_mask1") >= 2  # the mask downloads: PNG and NIfTI
    assert "<SEG>" not in page.locator(".medplib-answer").last.inner_text()
    shot = tmp_path / "app.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


@pytest.mark.xfail(strict=False, reason="issue 19, item 1 (open): a stroke drawn right after an answer is still "
                   "sometimes not registered (1 of 10 was lost in a CI run on 2 cores)")
def test_strokes_right_after_answers_always_register(app, page):
    _, forced, _ = app
    forced.active = False
    load_example(page)
    draw(page, 0.2, 0.2, 0.3, 0.3)
    wait_regions(page, 1, timeout=90_000)
    registered = 0
    for k in range(10):
        if n_regions(page) == 8:  # the most regions a question takes
            page.get_by_role("button", name="Clear regions").click()
            wait_regions(page, 0)
        before = n_regions(page)
        ask(page, "What modality is this image?")
        if k == 0:  # the regions it is asked about are named, never appended silently
            wait_text(page, "Your question names no region")
        wait_answers(page, k + 1)
        x = 0.1 + 0.1 * (k % 8)
        draw(page, x, 0.6, x + 0.06, 0.7)  # right after the answer
        wait_regions(page, before + 1, timeout=60_000)
        registered += 1
        # the canvas is not frozen: no event stays queued on it
        page.wait_for_function("() => !document.querySelector('#medplib-editor').innerText.includes('queue')",
                               timeout=15_000)
    assert registered == 10
    # undo removes only the last stroke: one region fewer
    n = n_regions(page)
    page.get_by_role("button", name="Undo last stroke").click()
    wait_regions(page, n - 1)


def test_stop_busy_and_trash(app, page):
    _, forced, gate = app
    forced.active = False
    load_example(page)
    ask(page, "What modality is this image?")
    wait_answers(page, 1)
    # the chat's trash icon clears the conversation for real
    page.locator("#medplib-chat").hover()
    page.locator("#medplib-chat button[aria-label='Clear']").first.click()
    page.wait_for_function("() => document.querySelectorAll('.medplib-answer').length === 0", timeout=30_000)
    box = page.locator("#medplib-question textarea")
    gate.open.clear()  # the next answer runs until Stop
    try:
        ask(page, "Describe the image.")
        stop = page.get_by_role("button", name="Stop")
        stop.wait_for(state="visible", timeout=30_000)
        assert page.get_by_role("button", name="Ask", exact=True).is_disabled()
        box.fill("A second question typed meanwhile")
        box.press("Enter")  # refused visibly, and kept
        wait_text(page, "An answer is being written")
        assert box.input_value() == "A second question typed meanwhile"
        stop.click()
        page.get_by_role("button", name="Stopping…").wait_for()  # the server has the stop
        gate.open.set()  # the generation sees it at its next step
        wait_idle(page, timeout=60_000)
    finally:
        gate.open.set()
    wait_text(page, "Stopped: the partial answer was not kept")
    assert n_answers(page) == 0
    assert box.input_value() == "A second question typed meanwhile"  # nothing typed is lost
    box.fill("")
    ask(page, "What modality is this image?")  # the next question is answered after Stop
    wait_answers(page, 1)
    assert n_answers(page) == 1  # the cleared conversation did not come back


def test_uploads_warning_rejected_file_and_volume(app, page, tmp_path):
    from PIL import Image

    skimage = pytest.importorskip("skimage")
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()[::4, ::4]).save(photo)
    upload(page, photo)
    wait_text(page, "astronaut.png")
    assert not page.get_by_text("Suggested questions").is_visible()  # no empty heading on uploads
    ask(page, "What modality is this image?")
    wait_answers(page, 1)
    assert "unlike the images the model was trained on" in page.locator("#medplib-chat").inner_text()

    bad = tmp_path / "report.png"
    bad.write_bytes(b"not an image at all")
    upload(page, bad)
    page.wait_for_selector(".toast-body", timeout=30_000)
    page.wait_for_function("() => !document.querySelector('#medplib-upload').innerText.includes('report.png')",
                           timeout=30_000)  # the rejected file does not stay listed
    assert "astronaut.png" in page.locator("body").inner_text() and n_answers(page) == 1  # nothing lost

    nib = pytest.importorskip("nibabel")
    vol = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((24, 30, 12)).astype(np.float32), np.eye(4)), str(vol))
    upload(page, vol)
    wait_text(page, "vol.nii.gz")
    wait_text(page, "A new image starts a new conversation")  # said, not silent
    page.get_by_label("coronal").check()
    page.wait_for_function("() => document.querySelector('#medplib-slice input[type=number]').value === '16'",
                           timeout=30_000)  # the coronal axis opens at its middle slice (30 // 2 + 1)


def test_accessibility_and_narrow_screen(app, page):
    load_example(page)
    assert page.get_by_label("Question").count() >= 1  # the question box has a name
    spec = importlib.util.find_spec("axe_playwright_python")
    assert spec is not None, "axe-playwright-python (axe-core) is in requirements.txt"
    page.add_script_tag(path=str(Path(spec.submodule_search_locations[0]).parent / AXE_JS))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["html"][:160] for n in v["nodes"]][:4]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]  # button-name, label, image-alt, color-contrast among them
    assert not bad, bad

    # a phone: the chat follows the image (before the region tools) and the upload tab is visible
    page.set_viewport_size({"width": 420, "height": 900})
    page.wait_for_function("() => document.querySelector('#medplib-chat').getBoundingClientRect().top <"
                           " document.querySelector('#medplib-tools').getBoundingClientRect().top", timeout=30_000)
    editor = page.locator("#medplib-editor").bounding_box()
    chat = page.locator("#medplib-chat").bounding_box()
    assert editor["y"] + editor["height"] <= chat["y"] <= editor["y"] + editor["height"] + 300
    tab = page.get_by_role("tab", name="Upload")
    assert tab.is_visible() and tab.bounding_box()["x"] + tab.bounding_box()["width"] <= 420
