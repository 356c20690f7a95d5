"""The demo app: handlers (no browser), privacy / serving settings, and a live server via gradio_client.

Uses the built-in model when it exists, else a small random checkpoint. Grounded answers are forced
with a logits processor passed through ``build_app(..., generate_kwargs=...)`` (a generic option)."""

from __future__ import annotations

import html
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio")

from demo import handlers as h  # noqa: E402
from demo import session as sess  # noqa: E402
from demo import views  # noqa: E402
from medplib.io import read_mask_nifti  # noqa: E402
from demo.session import Session, explicit_question, model_history, renumber  # noqa: E402
from demo.strokes import Region, point_span  # noqa: E402
from tests.app_helpers import free_port, grounding_kwargs, load_test_model  # noqa: E402

EXAMPLES = h.load_examples()
FAST = {"max_new_tokens": 8}


@pytest.fixture(scope="module")
def medplib(tmp_path_factory):
    return load_test_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def plain(medplib):
    return h.ModelHandlers(medplib, FAST)


@pytest.fixture(scope="module")
def grounded(medplib):
    return h.ModelHandlers(medplib, grounding_kwargs(medplib, n_masks=2)[0])


@pytest.fixture(scope="module", autouse=True)
def _own_temp(tmp_path_factory):
    """Gradio's temp folder (and so the sessions' folders) in a fresh directory for this module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-tmp")))
        yield


def warned(fn, *args, **kwargs):
    """Call fn and return (result, [warning messages])."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
        if hasattr(result, "__next__"):
            result = list(result)
    return result, [html.unescape(str(w.message)) for w in caught]  # toasts are HTML


def ct_session() -> Session:
    s = Session()
    out = h.load_example(s, 0, EXAMPLES)
    assert out["info"].startswith("**ct.png**")
    return s


def editor_with_box(session: Session, box_xyxy, hw=None) -> dict:
    """An ImageEditor value (filepath-free numpy form) with one rectangle stroke outline, drawn on
    the enlarged canvas the app shows."""
    ih, iw = session.image_hw
    f = views.view_factor((ih, iw))
    ch, cw = hw or (ih * f, iw * f)
    layer = np.zeros((ch, cw, 4), np.uint8)
    x1, y1, x2, y2 = (v * f for v in box_xyxy)
    layer[y1:y1 + 3, x1:x2] = (255, 214, 0, 255)
    layer[y1:y2, x2 - 3:x2] = (255, 214, 0, 255)
    bg = np.full((ch, cw, 4), 255, np.uint8)
    return {"background": bg, "layers": [layer], "composite": bg}


def ask(handlers, session, question, **kw):
    outs, msgs = warned(handlers.submit, session, question, **kw)
    return outs, msgs


# ------------------------------------------------------------------------------------------------
# Image loading and bad input
# ------------------------------------------------------------------------------------------------


def test_examples_cover_every_modality():
    assert len(EXAMPLES) >= 8
    assert {"ct", "mri", "x_ray", "ultrasound", "dermoscopy", "fundus", "endoscopy", "pathology"} <= \
        {e["modality"] for e in EXAMPLES}


def test_load_example_sets_views(tmp_path):
    s = Session()
    out = h.load_example(s, 0, EXAMPLES)
    assert s.loaded is not None and s.loaded.image_hw == (128, 128)
    bg = out["editor"]["background"]
    assert Path(bg).is_file() and Path(bg).is_relative_to(sess.sessions_root())
    assert Image.open(bg).size == (512, 512)  # small images are enlarged for drawing
    assert len(out["editor"]["layers"]) == 1  # the empty layer that makes the first stroke count
    assert out["suggestions"]["samples"][0] == [EXAMPLES[0]["questions"][0]]
    assert out["window"]["visible"] is False and out["slice"]["visible"] is False


def _png_header_only(path: Path, w: int, h: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))
    return path


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    data = good.read_bytes()
    files = {
        "unreadable": tmp_path / "noise.png",
        "truncated": tmp_path / "truncated.png",
        "unsupported": tmp_path / "notes.txt",
        "empty": tmp_path / "empty.png",
    }
    files["unreadable"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["unsupported"].write_text("not an image at all\n" * 20)
    files["empty"].write_bytes(b"")
    files["huge"] = _png_header_only(tmp_path / "huge.png", 60000, 60000)
    from tests.test_demo_pieces import write_dicom

    files["dicom_no_pixels"] = write_dicom(tmp_path / "nopix.dcm", np.zeros((8, 8), np.int16), with_pixels=False)
    return files


@pytest.mark.parametrize("kind", ["unreadable", "truncated", "unsupported", "empty", "huge", "dicom_no_pixels"])
def test_bad_upload_warns_and_keeps_image_and_chat(kind, tmp_path, plain):
    s = ct_session()
    ask(plain, s, "What is the main abnormal finding in this image?")
    before = (s.loaded, list(s.turns), views.chat_messages(s))
    out, msgs = warned(h.load_file, s, str(_bad_files(tmp_path)[kind]))
    assert msgs, f"no warning for {kind}"
    assert set(out) == {"session", "upload"} and out["upload"] is None  # the rejected file is not listed;
    # nothing else on screen changes
    assert (s.loaded, list(s.turns), views.chat_messages(s)) == before
    expected = {"unreadable": "could not be read", "truncated": "truncated", "unsupported": "not an image",
                "empty": "empty", "huge": "too large", "dicom_no_pixels": "without image data"}[kind]
    assert expected in msgs[0].lower()


def test_dicom_upload_windowing_and_spacing(tmp_path):
    from tests.test_demo_pieces import write_dicom

    hu = np.full((64, 64), -1000, np.int16)
    hu[16:48, 16:48] = 40
    path = write_dicom(tmp_path / "ct.dcm", hu, spacing=(0.5, 0.8))
    s = Session()
    out = h.load_file(s, str(path))
    assert s.loaded.is_ct and s.loaded.pixel_spacing_mm == (0.5, 0.8)
    assert out["window"]["visible"] and out["window"]["choices"] == ["auto", "abdomen", "lung", "bone", "brain"]
    s.turns.append(sess.Turn("q", [], "a", "a"))
    before = s.loaded.display_rgb.copy()
    out = h.change_window(s, "lung")
    assert s.loaded.window == "lung" and not np.array_equal(before, s.loaded.display_rgb)
    assert len(s.turns) == 1 and s.encoded is None  # same picture geometry: chat kept, encoding redone


def test_nifti_slice_slider(tmp_path):
    nib = pytest.importorskip("nibabel")
    vol = np.zeros((32, 32, 5), np.float32)
    for k in range(5):
        vol[..., k] = k * 10
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.diag([0.7, 0.7, 2.0, 1.0])), str(path))
    s = Session()
    out = h.load_file(s, str(path))
    assert out["slice"]["visible"] and out["slice"]["maximum"] == 5 and out["axis"]["visible"]
    s.turns.append(sess.Turn("q", [], "a", "a"))
    out = h.change_slice(s, 1, "axial")
    assert s.loaded.slice_index == 0 and s.turns == []  # another slice is another image
    out = h.change_slice(s, 1, "coronal")
    assert s.loaded.axis == 1 and out["slice"]["maximum"] == 32


# ------------------------------------------------------------------------------------------------
# Strokes -> regions
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["Point", "Box", "Free-form"])
def test_stroke_becomes_region(mode):
    s = ct_session()
    out = h.stroke(s, editor_with_box(s, (20, 30, 60, 70)), mode)
    assert len(s.regions) == 1 and s.regions[0].mode == mode
    x1, y1, x2, y2 = s.regions[0].bbox
    if mode == "Point":
        span = point_span(s.loaded.image_hw)  # a square proportional to the image, not a fixed 41 px
        assert abs(s.regions[0].center[0] - 50) < 12 and x2 - x1 == 2 * span and 2 * span + 1 < 41
    else:
        tol = 0 if mode == "Box" else 2  # an open free-form scribble is dilated a little
        assert abs(x1 - 20) <= tol and abs(y1 - 30) <= tol and abs(x2 - 59) <= tol + 1 and abs(y2 - 69) <= tol + 1
    assert Path(out["preview"]).is_file() and "region 1" in out["regions"]
    assert out["region_pick"] == {"choices": ["1"], "value": "1"}
    # a second stroke (the editor keeps the first) becomes region 2
    v = editor_with_box(s, (20, 30, 60, 70))
    v["layers"][0][400:420, 400:480] = (255, 214, 0, 255)
    h.stroke(s, v, "Box")
    assert len(s.regions) == 2 and s.regions[1].bbox[0] == 100


def test_region_undo_remove_clear_and_insert():
    s = ct_session()
    h.stroke(s, editor_with_box(s, (20, 30, 60, 70)), "Box")
    v = editor_with_box(s, (20, 30, 60, 70))
    v["layers"][0][400:420, 400:480] = (255, 214, 0, 255)
    h.stroke(s, v, "Box")
    assert h.insert_reference("What is", "2") == "What is <region2>"
    out = h.remove_region(s, "1")
    assert len(s.regions) == 1 and s.regions[0].bbox[0] == 100 and out["editor"] is not None  # canvas reset
    out = h.undo_region(s)
    assert len(s.regions) == 0 and out["region_pick"]["choices"] == []
    _, msgs = warned(h.undo_region, s)
    assert msgs
    h.stroke(s, editor_with_box(s, (20, 30, 60, 70)), "Box")  # after a reset the canvas starts over
    assert len(s.regions) == 1
    h.clear_regions(s)
    assert len(s.regions) == 0 and s.regions.seen is None


def test_drawing_without_image_warns():
    s = Session()
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[10:20, 10:20] = 255
    out, msgs = warned(h.stroke, s, {"background": None, "layers": [layer], "composite": None}, "Box")
    assert msgs and "load an image" in msgs[0].lower()
    assert out["editor"] is None and len(s.regions) == 0


# ------------------------------------------------------------------------------------------------
# Chat
# ------------------------------------------------------------------------------------------------


def test_vqa_streams_then_answers(plain):
    s = ct_session()
    outs, msgs = ask(plain, s, "What is the main abnormal finding in this image?")
    assert not msgs
    assert len(outs) >= 2  # at least the pending message, then the answer
    first = outs[0]["chat"]
    assert first[-2]["role"] == "user" and first[-1]["role"] == "assistant"
    final = outs[-1]
    assert len(s.turns) == 1 and final["question"] == ""
    assert [m["role"] for m in final["chat"][:2]] == ["user", "assistant"]
    assert "medplib-answer" in final["chat"][1]["content"]
    assert "<SEG>" not in str(final["chat"]) and "&lt;SEG&gt;" not in str(final["chat"])
    assert final["overlay"] is None and final["files"] is None  # no <SEG>, no mask


def test_region_question_and_follow_up_reuses_encoding(plain, medplib, monkeypatch):
    s = ct_session()
    h.stroke(s, editor_with_box(s, (20, 30, 60, 70)), "Box")
    calls = []
    real = medplib.model.model.encode_image
    monkeypatch.setattr(medplib.model.model, "encode_image", lambda *a, **k: calls.append(1) or real(*a, **k))
    ask(plain, s, "What structure is in <region1>?")
    ask(plain, s, "Is it normal?")
    assert len(s.turns) == 2 and len(calls) == 1  # the image was encoded once
    assert "<region1>" in s.turns[0].question and "<region1>" not in s.turns[1].question
    chat = views.chat_messages(s)
    assert "region 1" in chat[0]["content"] and "&lt;region1&gt;" not in chat[0]["content"]


def test_grounded_answer_gives_overlay_legend_and_files(grounded, tmp_path):
    from tests.test_demo_pieces import write_dicom

    hu = np.full((64, 64), -1000, np.int16)
    hu[16:48, 16:48] = 40
    s = Session()
    h.load_file(s, str(write_dicom(tmp_path / "ct.dcm", hu, spacing=(0.5, 0.8))))
    outs, msgs = ask(grounded, s, "Please segment the lesion.", opacity=0.6, contours=True)
    assert not msgs
    final = outs[-1]
    turn = s.turns[-1]
    assert len(turn.masks) == 2
    assert Path(final["overlay"]).is_file()
    # "Sure, it is <SEG> <SEG>" names nothing: the masks are named after what the question asks for
    assert "lesion 1" in final["legend"] and "lesion 2" in final["legend"] and "mm²" in final["legend"]
    answer_html = final["chat"][1]["content"]
    for k in range(2):  # the answer's chips use the legend's colours
        assert views.overlay.to_hex(views.overlay.mask_color(k)) in answer_html
        assert views.overlay.to_hex(views.overlay.mask_color(k)) in final["legend"]
    pngs = [f for f in final["files"] if f.endswith(".png")]
    niis = [f for f in final["files"] if f.endswith(".nii.gz")]
    assert len(pngs) == len(niis) == 2
    m = np.asarray(Image.open(pngs[0]))
    assert m.shape == (64, 64) and set(np.unique(m)) <= {0, 255}
    np.testing.assert_array_equal(read_mask_nifti(niis[0]), turn.masks[0])
    px, mm2 = views.overlay.mask_area(turn.masks[0], (0.5, 0.8))
    assert f"{px:,} px" in final["legend"] and mm2 == pytest.approx(px * 0.4)
    # opacity 0 re-renders the plain image (at its own size, for the download), without the model
    shown = np.asarray(Image.open(h.restyle(s, 0.0, False)["overlay"]).convert("RGB"))
    np.testing.assert_array_equal(shown, s.loaded.display_rgb)
    assert final["chat"][2]["content"]["path"] == turn.overlay  # the answer's own overlay in the chat


@pytest.mark.parametrize("question,expected", [
    ("", "type a question"),
    ("   ", "type a question"),
    ("What is in <region2>?", "refers to <region2>, but no region is drawn"),
    ("What is in <region>?", "no region is drawn"),
])
def test_bad_questions_warn_and_keep_chat(plain, question, expected):
    s = ct_session()
    ask(plain, s, "What is the main abnormal finding in this image?")
    before = views.chat_messages(s)
    outs, msgs = ask(plain, s, question)
    assert msgs and expected in msgs[0].lower()
    assert len(s.turns) == 1 and outs[-1]["chat"] == before and "question" not in outs[-1]


def test_question_without_image_warns(plain):
    outs, msgs = ask(plain, Session(), "What is this?")
    assert msgs and "load an image" in msgs[0].lower() and outs[-1]["chat"] == []


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
                                   RuntimeError("expected scalar type Float but found Half")])
def test_model_error_keeps_conversation(plain, medplib, monkeypatch, error):
    s = ct_session()
    ask(plain, s, "What is the main abnormal finding in this image?")
    turns = list(s.turns)

    def boom(*args, **kwargs):
        yield "partial"
        raise error

    monkeypatch.setattr(medplib, "stream", boom)
    outs, msgs = ask(plain, s, "And now?")
    assert s.turns == turns and msgs
    chat = outs[-1]["chat"]
    assert chat[:2] == views.chat_messages(Session(turns=turns, loaded=s.loaded))[:2]
    assert "medplib-error" in chat[-1]["content"]
    assert ("out of memory" in chat[-1]["content"]) == isinstance(error, torch.OutOfMemoryError)
    monkeypatch.undo()
    outs, _ = ask(plain, s, "And now?")  # the next question works and the error line is gone
    assert len(s.turns) == 2 and "medplib-error" not in str(outs[-1]["chat"])


def test_regenerate_and_clear(grounded, plain, medplib, monkeypatch):
    s = ct_session()
    ask(grounded, s, "Please segment the liver lesion in this image.")
    old = s.turns[-1]
    outs, msgs = warned(grounded.regenerate, s)
    assert not msgs and len(s.turns) == 1 and s.turns[-1] is not old
    assert s.turns[-1].question == old.question and all(not Path(f).exists() for f in old.files)
    # a failed regenerate keeps the previous answer
    kept = s.turns[-1]
    monkeypatch.setattr(medplib, "stream", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    outs, msgs = warned(grounded.regenerate, s)
    assert msgs and s.turns == [kept]
    monkeypatch.undo()
    files = list(kept.files)
    out = h.clear_chat(s)
    assert s.turns == [] and out["chat"] == [] and out["overlay"] is None and out["files"] is None
    assert all(not Path(f).exists() for f in files)
    _, msgs = warned(plain.regenerate, s)
    assert msgs and "no answer to regenerate" in msgs[0]


def test_region_references_across_turns():
    mask = np.zeros((8, 8), bool)
    mask[1:3, 1:3] = True
    r1, r2, r3 = (Region("Box", mask, (1, 1, 2, 2), (1, 1)) for _ in range(3))
    t = sess.Turn("What is <region1> next to <region2>?", [r1, r2], "a", "a")
    assert renumber(t.question, t.regions, [r2, r3]) == "What is a previously marked area next to <region1>?"
    assert model_history([t], [r1, r2]) == [("What is <region1> next to <region2>?", "a")]
    # a question naming no region is about the regions not discussed yet
    assert explicit_question("And this?", [r1, r2, r3], [t]) == "And this? <region3>"
    assert explicit_question("And this?", [r1, r2], [t]) == "And this?"
    assert explicit_question("Describe", [r1], []) == "Describe <region1>"


# ------------------------------------------------------------------------------------------------
# API function, privacy, serving settings
# ------------------------------------------------------------------------------------------------


def test_api_regions_parsing(tmp_path):
    m = tmp_path / "m.png"
    Image.fromarray((np.arange(100).reshape(10, 10) > 50).astype(np.uint8) * 255).save(m)
    regs = h.parse_api_regions('[{"point": [3, 4]}, {"box": [1, 1, 5, 5]}]', [str(m)], (20, 20))
    assert regs[0] == {"point": (3.0, 4.0)} and regs[1] == {"box": (1.0, 1.0, 5.0, 5.0)}
    assert regs[2]["mask"].shape == (20, 20) and regs[2]["mask"].any()
    with pytest.raises(h.InputError):
        h.parse_api_regions([{"circle": [1, 2, 3]}], None, (20, 20))
    with pytest.raises(h.InputError):
        h.parse_api_regions([{"box": [1, 2]}], None, (20, 20))


def test_session_files_removed_at_end(grounded):
    from demo import files

    s = Session()
    s.bind(type("R", (), {"session_hash": "abc123"})())
    h.load_example(s, 0, EXAMPLES)
    upload = files.new_upload_dir() / "upload.png"  # what demo.guard does with an upload
    upload.write_bytes(b"x")
    s.track(upload)
    shared = sess.gradio_temp_root() / "somehash" / "upload.png"  # Gradio's cache, shared by sessions
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"x")
    with pytest.raises(h.InputError):
        s.track(shared)
    s.track("/etc/hostname")  # outside Gradio's temp folder: the Python caller's file, never deleted
    ask(grounded, s, "Please segment the liver lesion in this image.")
    assert s.folder.is_dir() and any(s.folder.rglob("*.nii.gz"))
    folder = s.folder
    sess.end_session("abc123")
    assert not folder.exists() and not upload.exists()
    assert shared.exists() and Path("/etc/hostname").exists()


def test_notice(medplib):
    html_ = views.notice_html(medplib)
    assert "not for clinical use" in html_ and "cpu" in html_
    fake = type("Fake", (), {"name": "medplib-tiny (built-in)", "is_builtin": True, "devices": lambda self: ["cpu"]})()
    assert "synthetic phantom images of 8 modalities" in views.notice_html(fake)
    assert "not real patients" in views.notice_html(fake)


def test_app_settings(medplib, monkeypatch):
    from demo import ui

    demo = ui.build_app(medplib, FAST)
    fns = list(demo.fns.values())
    model_fns = [f for f in fns if getattr(f, "concurrency_id", None) == "model"]
    assert len(model_fns) == 4  # Enter, Ask, Regenerate, API
    from demo import runtime

    # as many model events at once as the micro-batcher folds into one batch
    assert runtime.MAX_BATCH > 1 and all(f.concurrency_limit == runtime.MAX_BATCH for f in model_fns)
    assert medplib.batcher is not None and medplib.batcher.max_batch == runtime.MAX_BATCH
    api = [f for f in fns if f.api_name == "ask"]
    assert len(api) == 1 and api[0].api_visibility == "public"
    assert all(f.api_visibility == "private" for f in fns if f.api_name != "ask" and f.fn is not None
               and f.name != "on_unload")
    assert demo.delete_cache is not None and demo.analytics_enabled is False
    assert ui.default_host() == "127.0.0.1"
    monkeypatch.setenv("SPACE_ID", "someone/medplib")
    assert ui.default_host() == "0.0.0.0"


def test_app_main_reports_bad_model(capsys):
    import app

    with pytest.raises(SystemExit) as exc:
        app.main(["--model", "/nonexistent/checkpoint"])
    assert "Cannot load the model" in str(exc.value)


# ------------------------------------------------------------------------------------------------
# Live server through gradio_client
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(medplib, tmp_path_factory):
    from demo import ui

    kwargs, forced = grounding_kwargs(medplib)
    demo = ui.build_app(medplib, kwargs)
    port = free_port()
    ui.launch(demo, host="127.0.0.1", port=port, max_file_size="1mb", prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", forced
    demo.close()


@pytest.mark.slow
def test_live_server_api(server, tmp_path):
    from gradio_client import Client, handle_file

    url, forced = server
    client = Client(url, verbose=False)
    assert "/ask" in client.view_api(return_format="dict")["named_endpoints"]
    image = handle_file(EXAMPLES[0]["path"])

    forced.active = False  # the model's own answers
    answer, masks, overlay, details = client.predict(
        image, "What is the main abnormal finding in this image?", [], [], [], 8, 0.0, api_name="/ask")
    assert isinstance(answer, str) and "<SEG>" not in answer and "raw_text" in details
    answer, masks, overlay, details = client.predict(
        image, "What structure is in <region1>?", [{"box": [40, 30, 80, 70]}], [], [], 8, 0.0, api_name="/ask")
    assert isinstance(answer, str) and answer.strip() and "<region" not in answer

    forced.active = True  # a grounded answer
    job = client.submit(image, "Please segment the liver lesion in this image.", [], [], [], 12, 0.0,
                        api_name="/ask")
    answer, masks, overlay, details = job.result(timeout=120)
    assert answer.startswith("Sure") and len(masks) == 1 and Path(overlay).is_file()
    mask = np.asarray(Image.open(masks[0]))
    assert mask.shape == (128, 128) and set(np.unique(mask)) <= {0, 255}
    assert details["masks"][0]["area_px"] == int((mask > 0).sum())

    with pytest.raises(Exception, match="<region2>"):  # bad input: a clear message, not a traceback
        client.predict(image, "What is <region2>?", [], [], [], 8, 0.0, api_name="/ask")
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (800, 800, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 1 << 20
    with pytest.raises(Exception, match=r"(?i)exceed.*maximum.*size"):  # the upload limit of launch(max_file_size=...)
        client.predict(handle_file(str(big)), "What is this?", [], [], [], 8, 0.0, api_name="/ask")
