"""The app's "Segment in all slices" (demo.volume_handlers) without a browser: shown for volumes only, the
progress it reports, the 3-D downloads, Stop, and bad questions."""

from __future__ import annotations

import threading
import time
import warnings

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")

from demo import handlers as h  # noqa: E402
from demo import volume_handlers as vh  # noqa: E402
from demo.session import Session  # noqa: E402
from medplib import MedPLIB  # noqa: E402
from medplib.io import load_image  # noqa: E402
from medplib.pipeline import Answer  # noqa: E402
from tests.volume_helpers import ODD_AFFINE, QUESTION, enhanced_ct, phantom_frames, phantom_nifti  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return h.ModelHandlers(MedPLIB.from_pretrained(), {"max_new_tokens": 32})


@pytest.fixture(autouse=True)
def _own_temp(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-tmp"))


def shown(path) -> Session:
    s = Session()
    s.bind()
    s.set_image(load_image(path))
    return s


def warned(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, [str(w.message) for w in caught]


def test_the_control_is_shown_for_volumes_only(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "flat.png")
    assert vh.volume_controls(Session()) == {"visible": False}
    assert vh.volume_controls(shown(tmp_path / "flat.png")) == {"visible": False}
    nifti = vh.volume_controls(shown(phantom_nifti(tmp_path / "ct.nii.gz", n=3)))
    assert nifti == {"visible": True, "label": "Segment in all 3 slices (axial)"}
    dicom = vh.volume_controls(shown(enhanced_ct(tmp_path / "ct.dcm", phantom_frames(4))))
    assert dicom == {"visible": True, "label": "Segment in all 4 slices (frame)"}


def test_segment_all_slices_reports_progress_and_returns_the_3d_files(model, tmp_path):
    s = shown(phantom_nifti(tmp_path / "ct.nii.gz", n=3, blank=1))
    steps = []
    out = vh.segment_all_slices(model, s, QUESTION, 32, progress=lambda value, desc=None: steps.append(value))
    assert steps == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert "liver lesion found in 2 of 3 slices (slices 1, 3)" in out["volume_info"]
    (nifti,) = out["volume_files"]
    assert nifti.endswith("ct_volume_labels.nii.gz") and str(s.folder) in nifti
    img = nib.load(nifti)
    assert img.shape == nib.load(tmp_path / "ct.nii.gz").shape and np.allclose(img.affine, ODD_AFFINE)
    assert set(np.unique(np.asanyarray(img.dataobj))) == {0, 1}
    assert s.turns == []  # the conversation is left as it was


def test_a_dicom_volume_also_gets_a_dicom_seg(model, tmp_path):
    s = shown(enhanced_ct(tmp_path / "ct.dcm", phantom_frames(2, blank=None)))
    out = vh.segment_all_slices(model, s, QUESTION)
    assert sorted(p.rsplit("/", 1)[-1] for p in out["volume_files"]) == ["ct_volume.seg.dcm", "ct_volume_labels.nii.gz"]


@pytest.mark.parametrize("question, expected", [
    ("", "type a question"), ("What is in <region1>?", "one slice only"), ("<SEG>", "in words")])
def test_bad_questions_warn_and_change_nothing(model, tmp_path, question, expected):
    s = shown(phantom_nifti(tmp_path / "ct.nii.gz", n=2))
    out, msgs = warned(vh.segment_all_slices, model, s, question)
    assert out == {} and msgs and expected in msgs[0].lower()


def test_a_2d_image_is_refused(model, tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "flat.png")
    out, msgs = warned(vh.segment_all_slices, model, shown(tmp_path / "flat.png"), QUESTION)
    assert out == {} and "needs a volume" in msgs[0]


class Slow:
    """A model whose every answer takes a moment (so Stop lands mid-run) and grounds the bright pixels."""

    def __init__(self):
        self.calls = 0
        self.started = threading.Event()

    def ask(self, image, question, stop_event=None, **kwargs):
        self.calls += 1
        self.started.set()
        stop_event.wait(0.3)
        mask = np.asarray(image)[..., 0] > 127
        return Answer("", "Sure, the bright part is <SEG>.", [mask], [None])


def test_stop_ends_the_run_and_keeps_the_slices_done(tmp_path):
    data = np.full((4, 4, 30), 1000, np.int16)
    data[0, 0, :] = 0
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(tmp_path / "long.nii.gz"))
    s = shown(tmp_path / "long.nii.gz")
    slow = Slow()
    model = h.ModelHandlers(slow)
    assert not vh.stop(s)  # nothing runs yet
    result = {}
    runner = threading.Thread(target=lambda: result.update(vh.segment_all_slices(model, s, "Segment the bright part.")))
    runner.start()
    assert slow.started.wait(10)
    while slow.calls < 3:
        time.sleep(0.01)
    assert vh.stop(s)
    runner.join(10)
    assert not runner.is_alive() and slow.calls < 30
    assert "stopped after" in result["volume_info"] and result["volume_files"]
    labels = np.asanyarray(nib.load(result["volume_files"][0]).dataobj)
    done = int(result["volume_info"].split("stopped after ")[1].split()[0])
    assert labels[..., :done].any() and not labels[..., done:].any()
    assert not vh.stop(s)  # the run is over


def test_the_app_has_the_hidden_volume_row_wired(model):
    import gradio as gr

    from demo import ui

    demo = ui.build_app(model.medplib)
    (button,) = [b for b in demo.blocks.values() if isinstance(b, gr.Button) and b.value == "Segment in all slices"]
    (group,) = [b for b in demo.blocks.values() if isinstance(b, gr.Group) and button in b.children[0].children]
    assert group.visible is False

    def listening(component, trigger):
        return [fn for fn in demo.fns.values() if (component._id, trigger) in {tuple(t) for t in fn.targets}]

    (click,) = listening(button, "click")
    assert click.concurrency_id == "volume" and click.api_visibility == "private"
    (info,) = [b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and "No image loaded" in str(b.value)]
    assert any(group in fn.outputs for fn in listening(info, "change"))
