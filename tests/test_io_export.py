"""medplib.io mask export with the source's geometry: NIfTI masks on the source's own affine (NIfTI header or
DICOM position / orientation / spacing) and DICOM-SEG referencing a DICOM source."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from medplib.io import export_masks, load_image, mask_dicom_seg

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")


def oblique_nifti(folder: Path) -> Path:
    """A LPI-ordered volume with a rotation and an offset in its affine (nothing axis-aligned to RAS)."""
    vol = np.arange(7 * 9 * 5, dtype=np.float32).reshape(7, 9, 5)
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.array([[-0.8 * c, -0.9 * s, 0, 12.0], [0.8 * s, -0.9 * c, 0, -30.0],
                       [0, 0, -2.5, 40.0], [0, 0, 0, 1]])
    path = folder / "oblique.nii.gz"
    nib.save(nib.Nifti1Image(vol, affine), str(path))
    return path


@pytest.mark.parametrize("axis", [2, 1, 0])
def test_nifti_mask_lands_on_the_source_voxels(tmp_path, axis):
    path = oblique_nifti(tmp_path)
    loaded = load_image(path).with_slice(3, axis=axis)
    mask = np.zeros(loaded.image_hw, bool)
    mask[1, 2] = mask[-1, 0] = True
    out = tmp_path / "out"
    out.mkdir()
    (nii,) = [f for f in export_masks([mask], out, stem="m", source=loaded) if f.name.endswith(".nii.gz")]
    exported = nib.load(str(nii))
    source = nib.load(str(path))
    data = source.get_fdata()
    for r, c in zip(*np.nonzero(mask)):
        world = exported.affine @ np.array([r, c, 0, 1.0])
        voxel = np.linalg.solve(source.affine, world)[:3]
        np.testing.assert_allclose(voxel, np.rint(voxel), atol=1e-6)
        i, j, k = np.rint(voxel).astype(int)
        assert data[i, j, k] == loaded.values[r, c]  # the same voxel the user saw at (r, c)
    np.testing.assert_array_equal(np.asarray(exported.dataobj)[..., 0] > 0, mask)


def test_dicom_exports_nifti_on_patient_geometry_and_a_dicom_seg(tmp_path):
    from pydicom.data import get_testdata_file

    src = Path(shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "ct.dcm"))
    loaded = load_image(src)
    ds = pydicom.dcmread(src)
    masks = [np.zeros(loaded.image_hw, bool) for _ in range(2)]
    masks[0][10:30, 20:40] = True
    masks[1][60:70, 5:9] = True
    out = tmp_path / "out"
    out.mkdir()
    files = export_masks(masks, out, stem="ct", labels=["liver", ""], source=loaded)
    assert sorted(f.name for f in files) == sorted(["ct_mask1_liver.png", "ct_mask1_liver.nii.gz", "ct_mask2.png",
                                                    "ct_mask2.nii.gz", "ct_masks.seg.dcm"])
    # NIfTI: pixel (row, col) at ImagePositionPatient + col * spacing * row direction + row * ... (LPS -> RAS)
    nii = nib.load(str(out / "ct_mask1_liver.nii.gz"))
    spacing = [float(v) for v in ds.PixelSpacing]
    orient = np.array([float(v) for v in ds.ImageOrientationPatient])
    lps = (np.array([float(v) for v in ds.ImagePositionPatient]) + 7 * spacing[1] * orient[:3]
           + 5 * spacing[0] * orient[3:])
    np.testing.assert_allclose(nii.affine @ [5, 7, 0, 1], [-lps[0], -lps[1], lps[2], 1], atol=1e-4)
    # DICOM-SEG: one segment per mask, pixels equal, referencing the source image and study
    seg = pydicom.dcmread(out / "ct_masks.seg.dcm")
    assert seg.Modality == "SEG" and seg.StudyInstanceUID == ds.StudyInstanceUID
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["liver", "mask 2"]
    refs = [r.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence for r in s.ReferencedInstanceSequence]
    assert refs == [ds.SOPInstanceUID]
    frames = seg.pixel_array.reshape(-1, *loaded.image_hw).astype(bool)
    np.testing.assert_array_equal(frames, np.stack(masks))


def test_dicom_seg_refuses_what_it_cannot_reference(tmp_path):
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    with pytest.raises(ValueError, match="source's size"):
        mask_dicom_seg([np.ones((4, 4), bool)], tmp_path / "x.seg.dcm", ds)
    png_source = tmp_path / "p.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(png_source)
    with pytest.raises(ValueError, match="single-frame DICOM"):
        export_masks([np.ones((8, 8), bool)], tmp_path, source=load_image(png_source), formats=("seg.dcm",))
