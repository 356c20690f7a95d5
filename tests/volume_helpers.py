"""Small volumes built at test time: a NIfTI in a non-RAS orientation and an enhanced multi-frame CT DICOM,
both made of the CT example phantom (so the built-in model grounds its liver lesion) and a blank slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUESTION = "Please segment the liver lesion in this image."


def phantom_frames(n: int = 3, blank: int | None = 1) -> np.ndarray:
    """(n, H, W) HU-like frames of the CT example (each a little brighter; about -160..250 HU, which the
    abdomen window shows as the example looks), frame ``blank`` all air."""
    ct = np.asarray(Image.open(EXAMPLES / "ct.png").convert("L"), np.float32)
    frames = np.stack([ct * (1.6 + 0.05 * k) - 160.0 for k in range(n)])
    if blank is not None:
        frames[blank] = frames.min()  # the phantom's own background: the window stays the same
    return frames.astype(np.int16)


# a left-posterior-superior ("LPS") affine with permuted axes: voxel axes (i, j, k) -> (y, z, x) in mm
ODD_AFFINE = np.array([[0.0, 0.0, -0.9, 40.0],
                       [-0.8, 0.0, 0.0, 30.0],
                       [0.0, 2.5, 0.0, -12.0],
                       [0.0, 0.0, 0.0, 1.0]])


def odd_nifti(path: Path, data: np.ndarray, affine: np.ndarray = ODD_AFFINE) -> Path:
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return path


def phantom_nifti(path: Path, n: int = 3, blank: int | None = 1) -> Path:
    """The phantom frames as axial slices of a NIfTI stored in :data:`ODD_AFFINE`'s voxel order."""
    import nibabel as nib
    from nibabel import orientations as ornt

    frames = phantom_frames(n, blank)  # (slice, row, col) in display orientation
    ras = np.ascontiguousarray(np.transpose(frames[:, ::-1, ::-1], (2, 1, 0)))  # x = -col, y = -row, z = slice
    to_src = ornt.ornt_transform(ornt.axcodes2ornt("RAS"), ornt.io_orientation(ODD_AFFINE))
    nib.save(nib.Nifti1Image(ornt.apply_orientation(ras, to_src).astype(np.int16), ODD_AFFINE), str(path))
    return path


def enhanced_ct(path: Path, frames: np.ndarray, spacing=(0.7, 0.8), thickness: float = 2.5,
                orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0), origin=(-40.0, 12.0, 30.0)) -> Path:
    """An Enhanced CT Image Storage file of ``frames`` (F, H, W) int16 HU with per-frame plane positions
    (coronal by default: rows run towards the feet), every UID and attribute highdicom needs for DICOM-SEG."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    frames = np.asarray(frames, np.int16)
    n, rows, cols = frames.shape
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "CT", "Test^Phantom", "P1", "", "O"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.ReferringPhysicianName = "20260101", "120000", "", ""
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber, ds.Manufacturer = "1", 1, 1, "MedPLIB tests"
    ds.ContentDate, ds.ContentTime, ds.ImageType = "20260101", "120000", ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, n
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = "1", "0"
    orient = np.asarray(orientation, float)
    normal = np.cross(orient[:3], orient[3:])
    measures, plane = Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness = [f"{spacing[0]:g}", f"{spacing[1]:g}"], f"{thickness:g}"
    plane.ImageOrientationPatient = [f"{v:g}" for v in orient]
    shared = Dataset()
    shared.PixelMeasuresSequence, shared.PlaneOrientationSequence = Sequence([measures]), Sequence([plane])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for f in range(n):
        position, content, group = Dataset(), Dataset(), Dataset()
        position.ImagePositionPatient = [f"{v:g}" for v in np.asarray(origin) + normal * thickness * f]
        content.DimensionIndexValues, content.StackID, content.InStackPositionNumber = [f + 1], "1", f + 1
        group.PlanePositionSequence, group.FrameContentSequence = Sequence([position]), Sequence([content])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = frames.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def dicom_ras(row: int, col: int, frame: int, spacing=(0.7, 0.8), thickness: float = 2.5,
              orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0), origin=(-40.0, 12.0, 30.0)) -> np.ndarray:
    """Scanner RAS (mm) of pixel (row, col) of ``frame`` of :func:`enhanced_ct`, straight from the DICOM rule."""
    orient = np.asarray(orientation, float)
    normal = np.cross(orient[:3], orient[3:])
    lps = np.asarray(origin) + normal * thickness * frame + orient[:3] * spacing[1] * col + orient[3:] * spacing[0] * row
    return lps * np.array([-1.0, -1.0, 1.0])
