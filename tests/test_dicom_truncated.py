"""A real DICOM cut short is called a truncated / incomplete DICOM file, wherever the cut falls; a complete
DICOM without pixel data (a report, an RT plan) keeps its own message."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from medplib.io import ImageInputError, load_image

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def real_dicom(name: str) -> bytes:
    p = PYDICOM_FILES / name
    if not p.is_file():
        pytest.skip(f"pydicom test file {name} is not installed")
    return p.read_bytes()


def pixel_data_offset(data: bytes) -> int:
    """Where the (7FE0,0010) element starts in an explicit-VR little-endian file."""
    return data.rindex(b"\xe0\x7f\x10\x00")


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
@pytest.mark.parametrize("where", ["in the header", "further in the header", "just before the pixel data", "in the pixel data",
                                   "one byte short of the image"])
def test_a_real_dicom_cut_short_is_called_truncated(tmp_path, name, where):
    data = real_dicom(name)
    full = pydicom.dcmread(PYDICOM_FILES / name)
    pixels = pixel_data_offset(data)
    image_end = pixels + 12 + full.Rows * full.Columns * full.BitsAllocated // 8  # 12: tag, VR, length
    size = {"in the header": 405, "further in the header": 1001, "just before the pixel data": pixels - 1,
            "in the pixel data": (pixels + image_end) // 2, "one byte short of the image": image_end - 1}[where]
    path = tmp_path / "scan.dcm"
    path.write_bytes(data[:size])
    with pytest.raises(ImageInputError) as err:
        load_image(path)
    message = str(err.value)
    assert "truncated" in message and "incomplete" in message and "'scan.dcm'" in message
    assert "report" not in message and "could not be decoded" not in message


def test_the_shipped_truncated_dicom_says_how_much_is_missing():
    data = real_dicom("MR_truncated.dcm")
    assert data
    with pytest.raises(ImageInputError, match=r"truncated \(incomplete\) DICOM file: it holds [\d,]+ of the 8,192 bytes"):
        load_image(PYDICOM_FILES / "MR_truncated.dcm")


@pytest.mark.parametrize("name", ["reportsi.dcm", "rtplan.dcm", "rtstruct.dcm"])
def test_a_complete_dicom_without_pixels_is_still_not_called_truncated(name):
    real_dicom(name)
    with pytest.raises(ImageInputError) as err:
        load_image(PYDICOM_FILES / name)
    assert "without image data" in str(err.value) and "truncated" not in str(err.value)


def test_a_complete_real_dicom_still_loads():
    real_dicom("CT_small.dcm")
    loaded = load_image(PYDICOM_FILES / "CT_small.dcm")
    assert loaded.image_hw == (128, 128) and loaded.is_ct


@pytest.mark.parametrize("name", ["rtstruct.dcm", "reportsi.dcm"])
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_a_non_image_dicom_cut_short_is_called_truncated_too(tmp_path, name, fraction):
    data = real_dicom(name)
    path = tmp_path / "object.dcm"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ImageInputError, match=r"truncated \(incomplete\) DICOM file"):
        load_image(path)
