"""UI behaviour without a browser: per-slice conversations, the middle slice of a new axis, undo that
redraws the kept strokes, the Ask/Stop cycle, the unfamiliar-image warning, streaming chips, mask names."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("gradio")

from demo import asking, naming, views  # noqa: E402
from demo import handlers as h  # noqa: E402
from demo import session as sess  # noqa: E402
from demo.session import Session  # noqa: E402
from tests.test_app import ct_session, editor_with_box  # noqa: E402


def test_slices_keep_their_own_conversation_and_new_axis_opens_in_the_middle(tmp_path):
    nib = pytest.importorskip("nibabel")
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((30, 20, 5)).astype(np.float32), np.eye(4)), str(path))
    s = Session()
    h.load_file(s, str(path))
    first = s.loaded.slice_index
    s.turns.append(sess.Turn("q", [], "a", "a"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h.change_slice(s, first + 2 if first < 3 else 1, "axial")
        assert s.turns == []  # the other slice has its own (empty) conversation
        h.change_slice(s, first + 1, "axial")
    assert [t.question for t in s.turns] == ["q"]  # back on the first slice: its conversation returns
    out = h.change_slice(s, None, "coronal")
    assert s.loaded.axis == 1 and s.loaded.slice_index == 10 and out["slice"]["value"] == 11


def test_undo_redraws_only_the_kept_strokes():
    s = ct_session()
    h.stroke(s, editor_with_box(s, (20, 30, 60, 70)), "Box")
    v = editor_with_box(s, (20, 30, 60, 70))
    v["layers"][0][400:420, 400:480] = (255, 214, 0, 255)
    h.stroke(s, v, "Box")
    out = h.undo_region(s)
    assert len(s.regions) == 1
    from PIL import Image

    layer = np.asarray(Image.open(out["editor"]["layers"][0]))
    f = views.view_factor(s.loaded.image_hw)
    drawn = layer[..., 3] > 0
    assert drawn.any() and not drawn[400:420, 400:480].any()  # region 1's stroke stays, region 2's is gone
    assert (drawn.reshape(drawn.shape[0] // f, f, -1, f).any(axis=(1, 3)) == s.regions[0].stroke).all()
    # the editor reporting the redrawn layer back is not a new stroke
    assert h.stroke(s, {**out["editor"], "layers": [layer]}, "Box") == {} and len(s.regions) == 1


def test_ask_cycle_stop_and_what_was_typed():
    s = ct_session()
    c = asking.Cycle()
    assert asking.start(c, s, "  What is this? ") == {"question": "What is this?"} and c.busy
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert asking.start(c, s, "Another one") is None  # busy: not asked, the box keeps it
        assert asking.start_regenerate(c, s) is None
        assert asking.done(c, "") is None  # a refused Ask's "done" leaves the running one alone
        assert c.press_stop() and c.stop.is_set()
        c.finish()
        assert not c.busy
        assert asking.done(c, "") == {"idle": True, "question": "What is this?"}  # the stopped question returns
        assert asking.start(c, s, "   ") is None and not c.busy
    asking.start(c, s, "Third")
    c.finish()  # answered: nothing to put back
    assert asking.done(c, "") == {"idle": True}
    asking.start(c, s, "Fourth")
    c.press_stop()
    c.finish()
    assert asking.done(c, "typed meanwhile") == {"idle": True}  # what was typed meanwhile is kept
    assert not c.press_stop()  # nothing runs


def test_stop_event_ends_the_answer_unkept(medplib):
    import threading

    s = ct_session()
    model = h.ModelHandlers(medplib)
    stop = threading.Event()
    stop.set()  # pressed before the first token
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outs = list(model.submit(s, "What modality is this?", 64, stop_event=stop))
    assert s.turns == [] and s.error == h.STOPPED
    assert "overlay" not in outs[-1] and h.STOPPED in str(outs[-1]["chat"])
    outs = list(model.submit(s, "What modality is this?", 8))
    assert len(s.turns) == 1 and s.error is None


def test_scores_none_show_no_score():
    from demo import overlay

    assert "Score" not in overlay.mask_legend_html(["liver"], areas_px=[10], scores=[None])
    assert "0.75" in overlay.mask_legend_html(["liver"], areas_px=[10], scores=[0.75])


def test_unfamiliar_image_warning_with_each_answer(medplib):
    s = ct_session()
    s.encoded = medplib.encode(s.loaded.display_rgb)
    s.turns.append(sess.Turn("q", [], "a", "a"))
    assert views.UNFAMILIAR not in str(views.chat_messages(s))
    s.encoded.familiar = False  # what the familiarity check reports for an image unlike the training set
    assert views.UNFAMILIAR in str(views.chat_messages(s))
    s.encoded.familiar = True
    assert views.UNFAMILIAR not in str(views.chat_messages(s))


@pytest.fixture(scope="module")
def medplib(tmp_path_factory):
    from tests.app_helpers import load_test_model

    return load_test_model(tmp_path_factory.mktemp("model"))


def test_streaming_shows_a_pending_chip_not_a_stray_full_stop():
    html = views.streaming_html("Sure, the liver is .")
    assert views.PENDING_CHIP in html and "is." not in html
    assert views.PENDING_CHIP not in views.streaming_html("It is a CT scan.")


@pytest.mark.parametrize("answer,question,names", [
    ("Sure, the liver is <SEG>.", "", ["liver"]),
    ("Sure, it is <SEG>", "Please segment the liver lesion in this image.", ["liver lesion"]),
    ("<p>left kidney</p><SEG> and <p>spleen</p><SEG>", "", ["left kidney", "spleen"]),
    ("The left kidney <SEG> and the spleen <SEG>.", "", ["left kidney", "spleen"]),
    ("<SEG>", "What is this?", ["mask 1"]),
])
def test_mask_names_come_from_the_answer(answer, question, names):
    assert naming.mask_names(answer, len(names), question) == names


def test_brush_and_redrawn_strokes_take_each_regions_colour():
    from PIL import Image

    from demo import overlay, style

    for n in range(3):  # thin, translucent, the colour of the next region's chip
        b = style.brush(n)
        assert b.default_size <= 4 and b.default_color == (overlay.to_hex(overlay.region_color(n)), style.BRUSH_OPACITY)
        assert 0 < style.BRUSH_OPACITY < 1
    s = ct_session()
    h.stroke(s, editor_with_box(s, (10, 10, 30, 30)), "Box")
    v = editor_with_box(s, (10, 10, 30, 30))
    f = views.view_factor(s.loaded.image_hw)
    v["layers"][0][80 * f:90 * f, 80 * f:100 * f] = (255, 214, 0, 255)
    h.stroke(s, v, "Box")
    assert len(s.regions) == 2
    layer = np.asarray(Image.open(views.editor_value(s)["layers"][0]))
    first, second = layer[10 * f, 20 * f], layer[85 * f, 90 * f]
    assert tuple(first[:3]) == overlay.region_color(0) and tuple(second[:3]) == overlay.region_color(1)
    assert 0 < first[3] < 255  # translucent


def test_upload_hides_the_empty_suggestions_heading():
    s = ct_session()
    assert h.suggestion_props(s)["visible"]  # an example: its questions
    s.example = None  # an upload
    assert h.suggestion_props(s) == {"samples": [], "visible": False}
    s.example = {"questions": ["What is this?"]}
    assert h.suggestion_props(s) == {"samples": [["What is this?"]], "visible": True}
