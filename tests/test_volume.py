"""Whole-volume grounding (medplib.volume) on a small NIfTI and a multi-frame DICOM built here: the 3-D result
keeps the source's shape and geometry, each slice's masks equal asking that slice alone, and stop / progress /
bad input behave."""

from __future__ import annotations

import threading

import nibabel as nib
import numpy as np
import pydicom
import pytest

from medplib import MedPLIB
from medplib.errors import MedPLIBInputError
from medplib.io import load_image
from medplib.pipeline import Answer
from medplib.volume import segment_volume
from tests.volume_helpers import ODD_AFFINE, QUESTION, dicom_ras, enhanced_ct, odd_nifti, phantom_frames, \
    phantom_nifti


@pytest.fixture(scope="module")
def builtin():
    return MedPLIB.from_pretrained()


class Threshold:
    """A stand-in model for the geometry checks: one mask per answer, the displayed slice's bright pixels."""

    def __init__(self, name: str = "bright part", stop_after: int | None = None, event: threading.Event | None = None):
        self.calls, self.name, self.stop_after, self.event = 0, name, stop_after, event

    def ask(self, image, question, stop_event=None, **kwargs):
        self.calls += 1
        if self.stop_after is not None and self.calls > self.stop_after:
            self.event.set()
        mask = np.asarray(image)[..., 0] > 127
        if not mask.any():
            return Answer("Nothing found.", "Nothing found.", [], [])
        return Answer(f"Sure, the {self.name} is .", f"Sure, the {self.name} is <SEG>.", [mask], [None])


def test_nifti_result_is_in_the_source_layout_and_geometry(tmp_path):
    rng = np.random.default_rng(0)
    data = np.where(rng.random((7, 5, 6)) > 0.6, 1000, 0).astype(np.int16)  # two values: windowing is exact
    data[:, 2, :] = 0  # one axial slice (voxel axis 1 is superior-inferior here) with nothing in it
    loaded = load_image(odd_nifti(tmp_path / "odd.nii.gz", data))
    assert loaded.is_volume and loaded.volume.shape != data.shape  # reoriented to RAS for display

    for axis in (0, 1, 2):  # sagittal, coronal, axial
        result = segment_volume(Threshold(), loaded, "Segment the bright part.", axis=axis)
        labels, affine = result.nifti_geometry()
        assert labels.shape == data.shape and np.allclose(affine, ODD_AFFINE)
        np.testing.assert_array_equal(labels == 1, data == 1000)
        assert result.names == ["bright part"] and result.n_slices == loaded.volume.shape[axis]

    files = result.export(tmp_path)
    assert [p.name for p in files] == ["odd_volume_labels.nii.gz"]
    img = nib.load(files[0])
    assert img.shape == data.shape and np.allclose(img.affine, ODD_AFFINE) and img.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), (data == 1000).astype(np.uint8))


def test_empty_slices_stay_empty_and_the_result_counts_slices_with_masks(tmp_path):
    data = np.zeros((4, 4, 5), np.int16)
    data[1:3, 1:3, [0, 3]] = 1000  # only voxel slices 0 and 3 along the last stored axis hold anything
    loaded = load_image(odd_nifti(tmp_path / "sparse.nii.gz", data, np.diag([1.0, 1.0, 2.0, 1.0])))
    result = segment_volume(Threshold(), loaded, "Segment the bright part.")
    assert result.slices_with_masks == [0, 3] and result.slices_done == 5 and not result.stopped
    assert "bright part found in 2 of 5 slices" == result.summary()
    assert not result.masks[0][:, :, [1, 2, 4]].any()


def test_structures_get_one_label_each(tmp_path):
    data = np.zeros((4, 4, 3), np.int16)
    data[1:3, 1:3, :] = 1000
    loaded = load_image(odd_nifti(tmp_path / "two.nii.gz", data, np.eye(4)))

    class TwoNames(Threshold):
        def ask(self, image, question, stop_event=None, **kwargs):
            mask = np.asarray(image)[..., 0] > 127
            left, right = mask.copy(), mask.copy()
            left[:, 2:], right[:, :2] = False, False
            return Answer("", "The left part is <SEG> and the right part is <SEG>.", [left, right], [None, None])

    result = segment_volume(TwoNames(), loaded, "Segment both parts.")
    assert result.names == ["left part", "right part"]
    assert set(np.unique(result.labels)) == {0, 1, 2} and (result.labels > 0).sum() == (data > 0).sum()


def test_builtin_model_on_a_nifti_each_slice_as_asked_alone(builtin, tmp_path):
    loaded = load_image(phantom_nifti(tmp_path / "ct.nii.gz", n=3, blank=1))
    seen = []
    result = segment_volume(builtin, loaded, QUESTION, progress=lambda done, total: seen.append((done, total)),
                            max_new_tokens=32)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert result.names == ["liver lesion"] and 0 in result.slices_with_masks and 1 not in result.slices_with_masks
    for k in range(3):
        alone = builtin.ask(loaded.with_slice(k, 2).display_rgb, QUESTION, max_new_tokens=32)
        shown = result.masks[0][:, :, k].T[::-1, ::-1]  # the slice as displayed
        expected = np.any(alone.masks, axis=0) if alone.masks else np.zeros_like(shown)
        np.testing.assert_array_equal(shown, expected)
    labels, affine = result.nifti_geometry()
    assert labels.shape == nib.load(tmp_path / "ct.nii.gz").shape and np.allclose(affine, ODD_AFFINE)


def test_builtin_model_on_a_multiframe_dicom(builtin, tmp_path):
    frames = phantom_frames(3, blank=2)
    loaded = load_image(enhanced_ct(tmp_path / "ct.dcm", frames))
    assert loaded.layout == "frames" and loaded.n_slices == 3
    result = segment_volume(builtin, loaded, QUESTION, max_new_tokens=32)
    assert result.names == ["liver lesion"] and 2 not in result.slices_with_masks and result.slices_with_masks
    for k in range(3):
        alone = builtin.ask(loaded.with_slice(k).display_rgb, QUESTION, max_new_tokens=32)
        expected = np.any(alone.masks, axis=0) if alone.masks else np.zeros(frames.shape[1:], bool)
        np.testing.assert_array_equal(result.masks[0][k], expected)

    nifti, seg = result.export(tmp_path)
    img = nib.load(nifti)
    assert img.shape == (frames.shape[1], frames.shape[2], 3)  # (rows, columns, frames)
    for r, c, f in [(0, 0, 0), (5, 7, 1), (frames.shape[1] - 1, frames.shape[2] - 1, 2)]:
        np.testing.assert_allclose(img.affine @ [r, c, f, 1], [*dicom_ras(r, c, f), 1], atol=1e-4)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj) == 1, np.transpose(result.masks[0], (1, 2, 0)))

    import highdicom as hd

    source = pydicom.dcmread(tmp_path / "ct.dcm")
    dicom_seg = hd.seg.segread(seg)
    assert dicom_seg.StudyInstanceUID == source.StudyInstanceUID
    assert dicom_seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert dicom_seg.SegmentSequence[0].SegmentLabel == "liver lesion"
    pixels = dicom_seg.get_pixels_by_source_frame(source.SOPInstanceUID, source_frame_numbers=[1, 2, 3],
                                                  segment_numbers=[1], assert_missing_frames_are_empty=True)
    np.testing.assert_array_equal(pixels[..., 0] > 0, result.masks[0])


def test_stop_event_keeps_the_slices_done(tmp_path):
    data = np.full((4, 4, 6), 1000, np.int16)
    data[0, 0, :] = 0
    loaded = load_image(odd_nifti(tmp_path / "stop.nii.gz", data, np.eye(4)))
    event = threading.Event()
    model = Threshold(stop_after=2, event=event)
    result = segment_volume(model, loaded, "Segment the bright part.", stop_event=event)
    assert result.stopped and result.slices_done == 2 and result.slices_with_masks == [0, 1]
    assert model.calls == 3 and not result.masks[0][:, :, 2:].any()
    assert "stopped after 2 slices" in result.summary()
    event.set()
    assert segment_volume(Threshold(), loaded, "Segment it.", stop_event=event).slices_done == 0


def test_bad_input_is_refused_with_a_message(builtin, tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "flat.png")
    with pytest.raises(MedPLIBInputError, match="needs a volume"):
        segment_volume(builtin, load_image(tmp_path / "flat.png"), QUESTION)
    loaded = load_image(phantom_nifti(tmp_path / "ct.nii.gz", n=2, blank=None))
    with pytest.raises(MedPLIBInputError, match="axis"):
        segment_volume(builtin, loaded, QUESTION, axis=3)
    with pytest.raises(MedPLIBInputError, match="region"):
        segment_volume(builtin, loaded, "What is in <region1>?")
