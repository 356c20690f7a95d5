"""One rule "image -> model pixels": the Python API (path, PIL image, array), the app's handlers (upload
and /ask) and evaluation hand the model identical pixel tensors for the same file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio")

from demo import handlers as h  # noqa: E402
from demo.session import Session  # noqa: E402
from medplib.synthetic import Sample  # noqa: E402
from medplib.evaluation.evaluate import evaluate  # noqa: E402
from medplib.io import load_image  # noqa: E402
from tests.app_helpers import load_test_model  # noqa: E402

pydicom = pytest.importorskip("pydicom")
FAST = {"max_new_tokens": 2}


@pytest.fixture(scope="module")
def medplib(tmp_path_factory):
    return load_test_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module", autouse=True)
def _own_temp(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-tmp")))
        yield


def png16(folder: Path) -> Path:
    """A 16-bit greyscale PNG with a few very bright pixels (min-max and >>8 scaling both darken it)."""
    y, x = np.mgrid[0:60, 0:90]
    values = (800 + 10 * x + 5 * y).astype(np.uint16)
    values[:2, :2] = 65535
    path = folder / "ct16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    return path


def exif_jpeg(folder: Path) -> Path:
    """An 80x128 (H x W) JPEG whose EXIF says "rotate 90° clockwise to view" (orientation 6)."""
    rgb = np.zeros((80, 128, 3), np.uint8)
    rgb[:, :40] = (220, 220, 220)
    rgb[10:30, 60:120] = (90, 160, 40)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = folder / "phone.jpg"
    Image.fromarray(rgb).save(path, exif=exif, quality=95)
    return path


def ct_dicom(folder: Path) -> Path:
    from pydicom.data import get_testdata_file

    return Path(shutil.copy(get_testdata_file("CT_small.dcm"), folder / "ct_small.dcm"))


class Recorder:
    """Stands in for MedPLIB in `evaluate()`: records what reaches the model, then answers as MedPLIB does."""

    def __init__(self, inner):
        self.inner, self.encoded = inner, []

    def ask(self, image, question, **kwargs):
        encoded = self.inner.encode(image)
        self.encoded.append(encoded)
        return self.inner.ask(encoded, question, **kwargs)


def doors(medplib, path: Path) -> dict[str, torch.Tensor]:
    """pixel_values [1, 3, C, C] (and the SAM input) per door, for the file at ``path``."""
    out = {"api path": medplib.encode(path), "api str": medplib.encode(str(path))}
    if path.suffix != ".dcm":
        out["api PIL"] = medplib.encode(Image.open(path))
    handlers = h.ModelHandlers(medplib, FAST)
    session = Session()
    h.load_file(session, str(path))
    list(handlers.submit(session, "What modality is this image?"))
    out["app upload"] = session.encoded
    api_session = Session()
    list(handlers.api_ask(str(path), "What modality is this image?", session=api_session))
    out["app /ask"] = api_session.encoded
    recorder = Recorder(medplib)
    evaluate(recorder, [Sample(image_path=str(path), question="Is this a CT image?", answer="yes",
                               answer_type="closed")], max_new_tokens=2, show_progress=False)
    out["evaluation"] = recorder.encoded[0]
    return out


def assert_same(encoded: dict) -> None:
    ref_name, ref = next(iter(encoded.items()))
    for name, enc in encoded.items():
        assert enc.size == ref.size, (name, ref_name)
        assert torch.equal(enc.prepared.pixel_values, ref.prepared.pixel_values), (name, ref_name)
        assert torch.equal(enc.prepared.sam_pixel_values, ref.prepared.sam_pixel_values), (name, ref_name)


def display_of(encoded) -> np.ndarray:
    """The 0..255 picture inside the CLIP input (undo the normalisation)."""
    from medplib.processing.image import CLIP_MEAN, CLIP_STD

    x = encoded.prepared.pixel_values[0].numpy().transpose(1, 2, 0)
    return x * np.asarray(CLIP_STD, np.float32) * 255 + np.asarray(CLIP_MEAN, np.float32) * 255


def test_16bit_png_same_everywhere_and_windowed(medplib, tmp_path):
    path = png16(tmp_path)
    encoded = doors(medplib, path)
    values = np.asarray(Image.open(path))
    encoded["api array"] = medplib.encode(values)
    assert_same(encoded)
    # windowed like a display (0.5-99.5 percentile), not min-max: the gradient spans the 8-bit range
    shown = load_image(path).display_rgb
    assert 100 < shown.mean() < 160 and shown.min() == 0 and shown.max() == 255
    ref = medplib.encode(shown)
    assert torch.equal(ref.prepared.pixel_values, encoded["api path"].prepared.pixel_values)


def test_exif_jpeg_same_everywhere_and_upright(medplib, tmp_path):
    path = exif_jpeg(tmp_path)
    encoded = doors(medplib, path)
    upright = np.asarray(Image.open(path).transpose(Image.Transpose.ROTATE_270))
    encoded["api array (upright)"] = medplib.encode(upright)
    assert_same(encoded)
    assert encoded["api path"].size == (128, 80)  # rotated: 128 rows, 80 columns


def test_dicom_same_everywhere_and_in_hounsfield_window(medplib, tmp_path):
    path = ct_dicom(tmp_path)
    encoded = doors(medplib, path)
    loaded = load_image(path)
    encoded["api array (app's display)"] = medplib.encode(loaded.display_rgb)
    assert_same(encoded)
    assert loaded.is_ct and loaded.window_cw is not None
    raw = np.asarray(pydicom.dcmread(path).pixel_array)
    assert not torch.equal(medplib.encode(raw).prepared.pixel_values, encoded["api path"].prepared.pixel_values)


def test_path_errors_are_clear(medplib, tmp_path):
    with pytest.raises(ValueError, match="could not be found"):
        medplib.encode(tmp_path / "missing.png")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="not a valid PNG"):
        medplib.encode(text)
