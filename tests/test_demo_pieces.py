"""Tests of the model-free helpers: medplib.io (file reading, export), the demo's strokes and overlay."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from demo import overlay
from medplib.io import export, limits
from demo.errors import InputError
from medplib.io import WINDOW_PRESETS, apply_window, load_upload, slice_image
from demo.strokes import MODES, RegionSet, new_strokes, parse_region, stroke_mask

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def shipped_dicom(name: str) -> Path:
    """pydicom's bundled test file (looked up on disk: get_testdata_file would try the network
    for files that are not bundled)."""
    p = PYDICOM_FILES / name
    if not p.is_file():
        pytest.skip(f"pydicom test file {name} is not installed")
    return p


# =============================================================================================
# helpers
# =============================================================================================


def editor_value(layer_alpha: np.ndarray, background: np.ndarray | None = "auto",
                 color=(255, 0, 0)) -> dict:
    """A gr.ImageEditor value (type="numpy", image_mode="RGBA") with one stroke layer."""
    h, w = layer_alpha.shape
    layer = np.zeros((h, w, 4), np.uint8)
    layer[layer_alpha > 0] = (*color, 255)
    if isinstance(background, str):
        background = np.full((h, w, 4), 255, np.uint8)
    return {"background": background, "layers": [layer], "composite": background}


def rect_stroke(hw, r0, r1, c0, c1) -> np.ndarray:
    a = np.zeros(hw, np.uint8)
    a[r0:r1 + 1, c0:c1 + 1] = 1
    return a


def write_dicom(path: Path, pixels: np.ndarray, *, modality="CT", slope=1.0, intercept=0.0,
                spacing=(0.5, 0.8), window=None, photometric="MONOCHROME2", frames=None,
                with_pixels=True) -> Path:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else \
        "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "Test^Phantom"
    if with_pixels:
        arr = np.ascontiguousarray(pixels)
        ds.Rows, ds.Columns = arr.shape[-2:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if arr.dtype == np.int16 else 0
        if frames:
            ds.NumberOfFrames = frames
        ds.PixelData = arr.tobytes()
        if spacing is not None:
            ds.PixelSpacing = [f"{spacing[0]:g}", f"{spacing[1]:g}"]
        if slope != 1.0 or intercept != 0.0 or modality == "CT":
            ds.RescaleSlope = f"{slope:g}"
            ds.RescaleIntercept = f"{intercept:g}"
        if window is not None:
            ds.WindowCenter = f"{window[0]:g}"
            ds.WindowWidth = f"{window[1]:g}"
    ds.save_as(path, enforce_file_format=True)
    return path


# =============================================================================================
# strokes
# =============================================================================================


def test_box_is_not_transposed_same_canvas():
    hw = (100, 200)
    alpha = np.zeros(hw, np.uint8)
    cv2.line(alpha, (40, 10), (90, 30), 1, 1)  # (x, y): columns 40..90, rows 10..30
    sm = stroke_mask(editor_value(alpha), hw)
    reg = parse_region(sm, "Box")
    assert reg.mode == "Box"
    assert reg.bbox == (40, 10, 90, 30)
    expected = np.zeros(hw, bool)
    expected[10:31, 40:91] = True
    np.testing.assert_array_equal(reg.mask, expected)
    assert reg.mask.shape == hw


def test_canvas_larger_than_image_maps_back():
    hw = (100, 150)
    canvas = (200, 300)  # 2x, same aspect
    alpha = rect_stroke(canvas, 20, 59, 40, 119)
    sm = stroke_mask(editor_value(alpha), hw)
    assert sm.shape == hw
    rows, cols = np.nonzero(sm)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 29, 20, 59)
    reg = parse_region(sm, "Box")
    assert reg.bbox == (20, 10, 59, 29)


def test_canvas_smaller_keeps_thin_strokes():
    hw = (400, 400)
    canvas = (100, 100)
    alpha = np.zeros(canvas, np.uint8)
    alpha[50, 10:90] = 1  # 1-px line
    sm = stroke_mask(editor_value(alpha), hw)
    assert sm.any()
    rows, cols = np.nonzero(sm)
    assert 196 <= rows.min() and rows.max() <= 207
    assert cols.min() == 40 and cols.max() == 359


@pytest.mark.parametrize("with_alpha_background", [True, False])
def test_fixed_canvas_letterbox(with_alpha_background):
    # image 100 x 200 (h, w) contain-fitted into a 400 x 400 canvas: scale 2, rows 100..299
    hw = (100, 200)
    canvas = (400, 400)
    if with_alpha_background:
        bg = np.zeros((*canvas, 4), np.uint8)
        bg[100:300, :, :3] = 90
        bg[100:300, :, 3] = 255
    else:  # image_mode="RGB": no alpha, flattened on white
        bg = np.full((*canvas, 3), 255, np.uint8)
        bg[100:300] = 90
    alpha = rect_stroke(canvas, 120, 159, 40, 79)
    sm = stroke_mask(editor_value(alpha, background=bg), hw)
    rows, cols = np.nonzero(sm)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 29, 20, 39)


def test_layers_as_pil_and_rgb_and_multiple_layers():
    hw = (60, 80)
    a1 = rect_stroke(hw, 5, 9, 5, 9)
    a2 = rect_stroke(hw, 40, 45, 60, 70)
    v = editor_value(a1)
    layer2 = np.zeros((*hw, 4), np.uint8)
    layer2[a2 > 0] = (0, 0, 255, 255)
    v["layers"] = [Image.fromarray(v["layers"][0]), layer2]
    sm = stroke_mask(v, hw)
    np.testing.assert_array_equal(sm, (a1 | a2).astype(bool))
    # image_mode="RGB": layers lose alpha, transparent pixels are 0
    rgb_layer = np.zeros((*hw, 3), np.uint8)
    rgb_layer[a1 > 0] = (255, 255, 0)
    sm2 = stroke_mask({"background": np.zeros((*hw, 3), np.uint8), "layers": [rgb_layer],
                       "composite": None}, hw)
    np.testing.assert_array_equal(sm2, a1.astype(bool))


def test_stroke_errors():
    hw = (50, 50)
    with pytest.raises(InputError, match="upload an image"):
        stroke_mask(None, hw)
    with pytest.raises(InputError, match="upload an image"):
        stroke_mask({"background": None, "layers": [], "composite": None}, hw)
    empty = stroke_mask(editor_value(np.zeros(hw, np.uint8)), hw)
    assert not empty.any()
    for mode in MODES:
        with pytest.raises(InputError, match="No stroke"):
            parse_region(empty, mode)
    with pytest.raises(InputError, match="Unknown region type"):
        parse_region(np.ones(hw, bool), "lasso")


def test_point_centre_and_clipping():
    hw = (100, 120)
    s = np.zeros(hw, bool)
    s[48:53, 60:65] = True  # centre (row 50, col 62)
    assert parse_region(s, "Point").area == 5 * 5  # default: 3 % of the longer side (120 px)
    reg = parse_region(s, "Point", point_size=41 / 120)
    assert reg.center == (62, 50)
    assert reg.area == 41 * 41
    assert reg.bbox == (42, 30, 82, 70)
    corner = np.zeros(hw, bool)
    corner[0:5, 0:5] = True  # centre (2, 2): clipped square rows/cols 0..22
    reg = parse_region(corner, "point", point_size=41 / 120)
    assert reg.center == (2, 2)
    assert reg.bbox == (0, 0, 22, 22)
    assert reg.area == 23 * 23
    far = np.zeros(hw, bool)
    far[97:100, 117:120] = True  # bottom-right corner
    reg = parse_region(far, "Point", point_size=41 / 120)
    assert reg.bbox == (98, 78, 119, 99)


def test_freeform_closed_loop_is_filled():
    hw = (120, 120)
    s = np.zeros(hw, np.uint8)
    cv2.circle(s, (60, 60), 30, 1, 2)
    reg = parse_region(s.astype(bool), "Free-form")
    assert reg.mode == "Free-form"
    assert reg.mask[60, 60]
    assert abs(reg.area - np.pi * 31 ** 2) < 0.1 * np.pi * 31 ** 2
    assert not reg.mask[5, 5]
    assert reg.bbox[0] >= 28 and reg.bbox[2] <= 92


def test_freeform_small_gap_is_closed_but_open_scribble_is_not_filled():
    hw = (120, 120)
    s = np.zeros(hw, np.uint8)
    cv2.ellipse(s, (60, 60), (30, 30), 0, 10, 350, 1, 2)  # 20 degree gap (~10 px)
    reg = parse_region(s.astype(bool), "Sketch")
    assert reg.mask[60, 60]
    # an open arc (a "C" with a wide opening) keeps only the (slightly dilated) painted pixels
    arc = np.zeros(hw, np.uint8)
    cv2.ellipse(arc, (60, 60), (30, 30), 0, 60, 300, 1, 2)
    reg = parse_region(arc.astype(bool), "Free-form")
    assert not reg.mask[60, 60]
    assert reg.mask[arc > 0].all()
    assert reg.area < 3 * int(arc.sum())
    # straight line
    line = np.zeros(hw, np.uint8)
    cv2.line(line, (10, 100), (100, 10), 1, 1)
    reg = parse_region(line.astype(bool), "Free-form")
    assert reg.mask[line > 0].all() and reg.area < 6 * int(line.sum())


def test_new_strokes_and_region_set():
    hw = (80, 100)
    a1 = rect_stroke(hw, 10, 20, 10, 20)
    a2 = a1 | rect_stroke(hw, 50, 60, 70, 90)
    np.testing.assert_array_equal(new_strokes(None, a1.astype(bool)), a1.astype(bool))
    fresh = new_strokes(a1.astype(bool), a2.astype(bool))
    assert fresh.sum() == 11 * 21 and not fresh[15, 15]
    assert new_strokes(np.zeros((3, 3), bool), a2.astype(bool)).sum() == a2.sum()

    rs = RegionSet(max_regions=3)
    r1 = rs.add_from_editor(editor_value(a1), hw, "Box")
    r2 = rs.add_from_editor(editor_value(a2), hw, "Box")
    assert len(rs) == 2 and rs.labels == ["1", "2"]
    assert r1.bbox == (10, 10, 20, 20) and r2.bbox == (70, 50, 90, 60)
    assert rs.add_from_editor(editor_value(a2), hw, "Box") is None  # nothing new
    assert rs.undo_last() is r2 and len(rs) == 1
    rs.add(r2)
    rs.add(parse_region(a1.astype(bool), "Point"))
    with pytest.raises(InputError, match="At most 3"):
        rs.add(r1)
    removed = rs.remove(0)
    assert removed is r1 and rs[0] is r2
    with pytest.raises(InputError):
        rs.remove(5)
    rs.clear()
    assert len(rs) == 0 and rs.seen is None and rs.undo_last() is None


# =============================================================================================
# overlay
# =============================================================================================


def _img(h=64, w=80):
    rng = np.random.default_rng(0)
    return rng.integers(20, 230, size=(h, w, 3), dtype=np.uint8)


def test_render_masks_blends_only_inside():
    img = _img()
    m = np.zeros(img.shape[:2], bool)
    m[10:40, 20:60] = True
    color = (255, 0, 0)
    out = overlay.render_masks(img, [m], opacity=0.5, contours=False, colors=[color])
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~m], img[~m])
    d_before = np.abs(img[m].astype(int) - color).sum(axis=1)
    d_after = np.abs(out[m].astype(int) - color).sum(axis=1)
    assert (d_after < d_before).all()
    expected = np.rint(img[m] * 0.5 + np.array(color) * 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out[m], expected)
    # contours stay inside the mask and are stronger than the fill
    out_c = overlay.render_masks(img, [m], opacity=0.3, contours=True, colors=[color])
    np.testing.assert_array_equal(out_c[~m], img[~m])
    # border pixel: contour alpha min(1, 2 * 0.3) = 0.6; interior pixel: fill alpha 0.3
    col = np.asarray(color, float)
    np.testing.assert_array_equal(out_c[10, 30], np.rint(img[10, 30] * 0.4 + col * 0.6))
    np.testing.assert_array_equal(out_c[25, 40], np.rint(img[25, 40] * 0.7 + col * 0.3))
    # opacity 0 = original, input untouched
    before = img.copy()
    np.testing.assert_array_equal(overlay.render_masks(img, [m], opacity=0.0), img)
    np.testing.assert_array_equal(img, before)


def test_render_masks_distinct_default_colors_and_float_masks():
    img = np.full((40, 40, 3), 128, np.uint8)
    m1 = np.zeros((40, 40), np.float32)
    m1[:10] = 0.9
    m2 = np.zeros((20, 20), bool)  # other size -> resized
    m2[15:] = True
    out = overlay.render_masks(img, [m1, m2], opacity=1.0, contours=False)
    assert tuple(out[0, 0]) == overlay.MASK_COLORS[0]
    assert tuple(out[39, 39]) == overlay.MASK_COLORS[1]
    assert tuple(out[20, 20]) == (128, 128, 128)


def test_palettes_distinct_and_immutable():
    assert isinstance(overlay.MASK_COLORS, tuple) and isinstance(overlay.REGION_COLORS, tuple)
    mask_cols = [overlay.mask_color(i) for i in range(30)]
    region_cols = [overlay.region_color(i) for i in range(30)]
    assert len(set(mask_cols)) == 30 and len(set(region_cols)) == 30
    for rc in overlay.REGION_COLORS:
        for mc in overlay.MASK_COLORS:
            assert np.abs(np.subtract(rc, mc)).sum() >= 90, (rc, mc)
    assert overlay.mask_color(3) == overlay.mask_color(3)
    assert overlay.to_hex((255, 0, 16)) == "#ff0010" and overlay.to_rgb("#0f0") == (0, 255, 0)


def test_render_regions_preview():
    img = np.full((120, 160, 3), 60, np.uint8)
    s_box = rect_stroke(img.shape[:2], 20, 50, 30, 90).astype(bool)
    s_pt = rect_stroke(img.shape[:2], 80, 82, 120, 122).astype(bool)
    loop = np.zeros(img.shape[:2], np.uint8)
    cv2.circle(loop, (40, 85), 20, 1, 2)
    regions = [parse_region(s_box, "Box"), parse_region(s_pt, "Point"),
               parse_region(loop.astype(bool), "Free-form")]
    out = overlay.render_regions(img, regions)
    assert out.shape == img.shape and (img == 60).all()  # input not mutated
    for i, reg in enumerate(regions):
        col = overlay.region_color(i)
        assert (out == col).all(axis=2).any(), f"region {i + 1} colour missing"
    x1, y1, x2, y2 = regions[0].bbox
    assert tuple(out[y1, (x1 + x2) // 2]) == overlay.region_color(0)  # rectangle edge
    cx, cy = regions[1].center
    assert tuple(out[cy, cx]) == overlay.region_color(1)  # point dot
    assert (out[85, 40] != 60).any()  # free-form interior tinted


def test_mask_area():
    m = np.zeros((10, 10), bool)
    m[:4, :5] = True
    assert overlay.mask_area(m, None) == (20, None)
    px, mm2 = overlay.mask_area(m, (0.5, 0.8))
    assert px == 20 and mm2 == pytest.approx(8.0)
    assert overlay.mask_area(m, (0, 1))[1] is None


def test_legend_html_has_colors_and_escapes():
    html = overlay.mask_legend_html(["liver <b>&", "kidney"], [(230, 25, 75), "#3CB44B"],
                                    [1234, 5], [56.78, None])
    assert "#e6194b" in html and "#3cb44b" in html
    assert "liver &lt;b&gt;&amp;" in html and "<b>&" not in html
    assert "1,234 px" in html and "56.8 mm²" in html and "no pixel spacing" in html


def test_clean_answer_removes_special_tokens():
    raw = "<im_start>Sure, the liver is <SEG>. It sits at <region> right.</s><s> junk <SEG>"
    assert overlay.clean_answer(raw) == "Sure, the liver is. It sits at right."
    assert overlay.clean_answer(raw, keep_seg=True) == "Sure, the liver is <SEG>. It sits at right."
    assert overlay.clean_answer("a [SEG] b <p>x</p> <region1></region1>") == "a b x"
    assert overlay.seg_count("x <SEG> y [SEG] </s> <SEG>") == 2
    assert overlay.clean_answer("size < 5 mm & <script>") == "size < 5 mm & <script>"


def test_colorize_answer_html():
    colors = [(230, 25, 75), (60, 180, 75)]
    raw = "Found <p>the liver</p> <SEG> and <SEG>. a<b & <script>x</script></s>hidden <SEG>"
    html = overlay.colorize_answer_html(raw, colors, labels=["liver", "kidney <2>"])
    assert "<SEG>" not in html and "&lt;SEG&gt;" not in html and "hidden" not in html
    assert html.count('class="medplib-chip"') == 2
    assert "#e6194b" in html and "#3cb44b" in html
    assert "the liver" in html and "kidney &lt;2&gt;" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "a&lt;b &amp;" in html
    plain = overlay.colorize_answer_html("It is <SEG>.")
    assert overlay.to_hex(overlay.mask_color(0)) in plain and "mask 1" in plain
    assert "</span>." in plain


# =============================================================================================
# export
# =============================================================================================


def test_export_png_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    m = rng.random((37, 53)) > 0.6
    p = export.mask_png(m, tmp_path / "m.png")
    with Image.open(p) as im:
        assert im.mode == "L" and im.size == (53, 37)
        a = np.asarray(im)
    assert set(np.unique(a)) <= {0, 255}
    np.testing.assert_array_equal(a == 255, m)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_export_nifti_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(2)
    m = rng.random((37, 53)) > 0.5
    p = export.mask_nifti(m, tmp_path / f"m{suffix}", spacing=(0.5, 0.8))
    img = nib.load(str(p))
    assert img.shape == (37, 53, 1)
    assert img.get_data_dtype() == np.uint8
    data = np.asanyarray(img.dataobj)
    np.testing.assert_array_equal(data[:, :, 0] > 0, m)
    assert set(np.unique(data)) <= {0, 1}
    assert img.header.get_zooms()[:2] == pytest.approx((0.5, 0.8))
    assert nib.aff2axcodes(img.affine) == ("P", "L", "S")
    np.testing.assert_array_equal(export.read_mask_nifti(p), m)


def test_export_refuses_relative_and_cwd(tmp_path, monkeypatch):
    m = np.ones((4, 4), bool)
    with pytest.raises(ValueError, match="absolute"):
        export.mask_png(m, "mask.png")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="working directory"):
        export.mask_png(m, tmp_path / "mask.png")
    with pytest.raises(ValueError):
        export.mask_nifti(m, tmp_path / "sub" / "x.nii")  # directory missing


def test_export_masks_names(tmp_path):
    out = tmp_path / "exp"
    out.mkdir()
    files = export.export_masks([np.eye(5, dtype=bool)], out, stem="CT scan.nii.gz",
                                labels=["left kidney"], spacing=(1, 1))
    assert [f.name for f in files] == ["CT_scan_mask1_left_kidney.png",
                                       "CT_scan_mask1_left_kidney.nii.gz"]
    assert export.safe_stem("../../etc/passwd") == "passwd"


# =============================================================================================
# medplib.io: windowing
# =============================================================================================


def test_apply_window_and_presets():
    c, w = WINDOW_PRESETS["abdomen"]
    assert (c, w) == (40.0, 400.0)
    assert WINDOW_PRESETS["lung"] == (-600.0, 1500.0)
    assert WINDOW_PRESETS["bone"] == (400.0, 1800.0)
    assert WINDOW_PRESETS["brain"] == (40.0, 80.0)
    hu = np.array([-1000, -160, 40, 240, 3000, np.nan], np.float32)
    out = apply_window(hu, c, w)
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 128, 255, 255, 0]
    assert apply_window(np.array([5.0, 15.0]), 10, 0).tolist() == [0, 255]


# =============================================================================================
# medplib.io: DICOM
# =============================================================================================


def test_ct_dicom_hu_window_spacing(tmp_path):
    hu = np.array([[-1000, -160, 40], [240, 1000, 0]], np.float32)
    raw = ((hu + 1024) / 2).astype(np.int16)  # slope 2, intercept -1024
    p = write_dicom(tmp_path / "ct.dcm", raw, modality="CT", slope=2, intercept=-1024,
                    spacing=(0.5, 0.8))
    li = load_upload(p)
    assert li.kind == "dicom" and li.is_ct and li.modality == "CT"
    np.testing.assert_allclose(li.hu, hu)
    assert li.pixel_spacing_mm == pytest.approx((0.5, 0.8))
    assert li.window == "auto" and li.window_cw == WINDOW_PRESETS["abdomen"]
    assert li.display_rgb.shape == (2, 3, 3) and li.display_rgb.dtype == np.uint8
    assert li.display_rgb[..., 0].tolist() == [[0, 0, 128], [255, 255, 102]]
    lung = li.with_window("lung")
    # lung window: -1350..150 HU
    assert lung.display_rgb[0, 0, 0] == round((-1000 + 1350) * 255 / 1500)
    assert lung.display_rgb[1, 0, 0] == 255
    assert li.with_window("Bone (W1800/L400)").window == "bone"
    assert li.with_window((0, 2)).display_rgb[1, 2, 0] == 128
    with pytest.raises(InputError, match="Unknown window"):
        li.with_window("liver")
    assert "CT DICOM" in li.describe()


def test_mr_dicom_file_window_and_percentiles(tmp_path):
    px = np.arange(0, 4096, 16, dtype=np.uint16).reshape(16, 16)
    p = write_dicom(tmp_path / "mr.dcm", px, modality="MR", window=(1000, 1000), spacing=None)
    li = load_upload(p)
    assert not li.is_ct and li.hu is None and li.pixel_spacing_mm is None
    assert li.window_cw == (1000.0, 1000.0)
    np.testing.assert_array_equal(li.display_rgb[..., 0], apply_window(px, 1000, 1000))
    p2 = write_dicom(tmp_path / "mr2.dcm", px, modality="MR", spacing=(1, 1))
    li2 = load_upload(p2)
    assert li2.display_rgb.min() == 0 and li2.display_rgb.max() == 255
    # MONOCHROME1 is inverted
    p3 = write_dicom(tmp_path / "mr3.dcm", px, modality="MR", window=(1000, 1000),
                     photometric="MONOCHROME1")
    li3 = load_upload(p3)
    np.testing.assert_array_equal(li3.display_rgb, 255 - li.display_rgb)


def test_multiframe_dicom_is_a_volume(tmp_path):
    vol = np.stack([np.full((8, 10), v, np.int16) for v in (0, 100, 200)])
    p = write_dicom(tmp_path / "mf.dcm", vol, modality="CT", intercept=-100, frames=3)
    li = load_upload(p)
    assert li.is_volume and li.n_slices == 3 and li.slice_index == 1 and li.axis == 0
    assert li.hu[0, 0] == 0
    li0 = li.with_slice(0)
    assert li0.hu[0, 0] == -100 and li0.slice_index == 0
    assert li.with_slice(99).slice_index == 2


def test_dicom_without_pixel_data(tmp_path):
    p = write_dicom(tmp_path / "sr.dcm", None, modality="SR", with_pixels=False)
    with pytest.raises(InputError, match="without image data"):
        load_upload(p)
    with pytest.raises(InputError, match="without image data"):
        load_upload(shipped_dicom("rtplan.dcm"))


def test_truncated_dicom(tmp_path):
    p = write_dicom(tmp_path / "ct.dcm", np.zeros((64, 64), np.int16))
    data = p.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 500])
    with pytest.raises(InputError, match="truncated|damaged"):
        load_upload(cut)
    with pytest.raises(InputError, match="truncated|damaged"):
        load_upload(shipped_dicom("MR_truncated.dcm"))


def test_pydicom_shipped_ct_small():
    p = shipped_dicom("CT_small.dcm")
    ds = pydicom.dcmread(p)
    li = load_upload(p)
    assert li.is_ct
    expected = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + \
        float(ds.RescaleIntercept)
    np.testing.assert_allclose(li.hu, expected)
    assert li.pixel_spacing_mm == pytest.approx((0.661468, 0.661468))
    np.testing.assert_array_equal(li.display_rgb[..., 1], apply_window(expected, 40, 400))


# =============================================================================================
# medplib.io: NIfTI
# =============================================================================================


def _nifti(tmp_path, name, vol, affine):
    img = nib.Nifti1Image(vol, affine)
    img.header.set_xyzt_units("mm")
    p = tmp_path / name
    nib.save(img, str(p))
    return p


@pytest.mark.parametrize("name", ["vol.nii", "vol.nii.gz"])
def test_nifti_slices_orientation_spacing(tmp_path, name):
    X, Y, Z = 6, 8, 5
    vol = np.zeros((X, Y, Z), np.float32)
    vol[0, 0, :] = 1000  # RAS index x=0 = patient left-most, y=0 = posterior-most
    vol[:, :, 3] += 5
    p = _nifti(tmp_path, name, vol, np.diag([0.7, 0.8, 2.5, 1]))
    li = load_upload(p)
    assert li.kind == "nifti" and li.n_slices == Z and li.axis == 2 and li.slice_index == 2
    assert li.display_rgb.shape == (Y, X, 3)
    assert li.pixel_spacing_mm == pytest.approx((0.8, 0.7))
    assert li.voxel_spacing_mm == pytest.approx((0.7, 0.8, 2.5))
    # radiological display: RAS x=0 (patient left) on the right, y=0 (posterior) at the bottom
    assert li.values[Y - 1, X - 1] == 1000 and li.values[0, 0] == 0
    s3 = li.with_slice(3)
    assert s3.values[0, 0] == 5 and s3.slice_index == 3
    img = slice_image(li.volume, 3, (0, 10))
    assert img.shape == (Y, X, 3) and img[0, 0, 0] == 255
    cor = li.with_slice(1, axis=1)
    assert cor.display_rgb.shape == (Z, X, 3) and cor.pixel_spacing_mm == pytest.approx((2.5, 0.7))


def test_nifti_reoriented_to_ras(tmp_path):
    X, Y, Z = 6, 8, 3
    vol = np.zeros((X, Y, Z), np.float32)
    vol[0, 0, :] = 1000
    aff = np.diag([-0.7, 0.8, 2.5, 1])  # x stored right-to-left (LAS)
    li = load_upload(_nifti(tmp_path, "las.nii", vol, aff))
    assert li.values[Y - 1, 0] == 1000  # voxel 0 is patient right -> viewer's left


def test_nifti_ct_like_auto_window_and_2d(tmp_path):
    vol = np.linspace(-1000, 1000, 4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    li = load_upload(_nifti(tmp_path, "ct.nii.gz", vol, np.eye(4)))
    assert li.is_ct and li.window_cw == WINDOW_PRESETS["abdomen"]
    flat = load_upload(_nifti(tmp_path, "flat.nii", np.arange(12, dtype=np.int16).reshape(3, 4),
                              np.eye(4)))
    assert flat.n_slices == 1 and not flat.is_volume and flat.display_rgb.shape == (4, 3, 3)


def test_nifti_4d_refused(tmp_path):
    p = _nifti(tmp_path, "fmri.nii", np.zeros((4, 4, 4, 3), np.float32), np.eye(4))
    with pytest.raises(InputError, match="4D"):
        load_upload(p)
    ok = load_upload(_nifti(tmp_path, "one.nii", np.ones((4, 4, 4, 1), np.float32), np.eye(4)))
    assert ok.n_slices == 4


def test_nibabel_shipped_anatomical():
    from nibabel.testing import data_path

    p = Path(data_path) / "anatomical.nii"
    if not p.is_file():
        pytest.skip("nibabel's anatomical.nii is not installed")
    li = load_upload(p)
    img = nib.as_closest_canonical(nib.load(str(p)))
    assert li.volume.shape == img.shape[:3]
    assert li.voxel_spacing_mm == pytest.approx(tuple(img.header.get_zooms()[:3]))
    np.testing.assert_allclose(li.volume, img.get_fdata(dtype=np.float32))
    assert li.display_rgb.dtype == np.uint8 and li.display_rgb.max() > 0


# =============================================================================================
# medplib.io: ordinary pictures and bad input
# =============================================================================================


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_greyscale_windowed_to_full_range(tmp_path, ext):
    a = np.linspace(1000, 40000, 64 * 48).reshape(48, 64).astype(np.uint16)
    p = tmp_path / f"x16.{ext}"
    Image.fromarray(a).save(p)
    with Image.open(p) as im:
        assert im.mode.startswith("I")
    li = load_upload(p)
    assert li.kind == "image" and li.display_rgb.shape == (48, 64, 3)
    assert li.display_rgb.dtype == np.uint8
    assert li.display_rgb.min() == 0 and li.display_rgb.max() == 255
    assert li.values is not None and li.values.max() == 40000


def test_8bit_pictures(tmp_path):
    rgb = _img(30, 40)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    li = load_upload(tmp_path / "a.png", filename="orig name.png")
    np.testing.assert_array_equal(li.display_rgb, rgb)
    assert li.filename == "orig name.png" and li.values is None
    assert li.with_window("lung") is li  # nothing to window
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:5, :, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "t.png")
    li = load_upload(tmp_path / "t.png")
    assert tuple(li.display_rgb[0, 0]) == (200, 0, 0) and tuple(li.display_rgb[9, 9]) == (0, 0, 0)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.jpg", quality=95)
    li = load_upload(tmp_path / "g.jpg")
    assert li.display_rgb.shape == (30, 40, 3)
    assert (li.display_rgb[..., 0] == li.display_rgb[..., 2]).all()


def test_truncated_png(tmp_path):
    a = np.random.default_rng(3).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    p = tmp_path / "full.png"
    Image.fromarray(a).save(p)
    data = p.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated|damaged"):
        load_upload(cut)


def test_random_bytes_with_png_extension(tmp_path):
    p = tmp_path / "fake.png"
    p.write_bytes(np.random.default_rng(4).integers(0, 255, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match=r"\.png extension.*not a valid PNG"):
        load_upload(p)


def test_text_file_and_empty_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("patient notes, not an image\n" * 10)
    with pytest.raises(InputError, match="text file"):
        load_upload(p)
    e = tmp_path / "empty.png"
    e.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_upload(e)
    with pytest.raises(InputError, match="could not be found"):
        load_upload(tmp_path / "missing.png")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + \
        struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_huge_png_header_is_refused(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + \
        _png_chunk(b"IDAT", zlib.compress(b"\0" * 100)) + _png_chunk(b"IEND", b"")
    p = tmp_path / "bomb.png"
    p.write_bytes(data)
    with pytest.raises(InputError, match="too large"):
        load_upload(p)


def test_pillow_bomb_guard_and_own_limit_respected(tmp_path, monkeypatch):
    p = tmp_path / "small.png"
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # 900 px > 400: Pillow warns
    with pytest.raises(InputError, match="too large"):
        load_upload(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)  # 900 px > 2 * 200: Pillow raises
    with pytest.raises(InputError, match="too large"):
        load_upload(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    monkeypatch.setattr(limits, "MAX_PIXELS", 100)
    with pytest.raises(InputError, match="too large"):
        load_upload(p)
    with pytest.raises(InputError, match="too large"):
        load_upload(write_dicom(tmp_path / "big.dcm", np.zeros((20, 20), np.int16)))


def test_dicom_detected_by_content_not_extension(tmp_path):
    p = write_dicom(tmp_path / "scan.dcm", np.zeros((4, 4), np.int16))
    renamed = tmp_path / "scan.png"
    renamed.write_bytes(p.read_bytes())
    assert load_upload(renamed).kind == "dicom"
    nii = _nifti(tmp_path, "v.nii.gz", np.zeros((3, 3, 3), np.float32), np.eye(4))
    odd = tmp_path / "upload.bin"
    odd.write_bytes(nii.read_bytes())
    assert load_upload(odd).kind == "nifti"


# =============================================================================================
# the real Gradio value (only the component's preprocess; no server)
# =============================================================================================


def test_real_gradio_image_editor_value(tmp_path):
    gr = pytest.importorskip("gradio")
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData

    bg = np.zeros((400, 400, 4), np.uint8)  # fixed_canvas: 100x200 image letterboxed
    bg[100:300, :, :3] = 120
    bg[100:300, :, 3] = 255
    layer = np.zeros((400, 400, 4), np.uint8)
    layer[120:160, 40:80] = (255, 0, 0, 255)
    Image.fromarray(bg).save(tmp_path / "bg.png")
    Image.fromarray(layer).save(tmp_path / "layer.png")
    payload = EditorData(background=FileData(path=str(tmp_path / "bg.png")),
                         layers=[FileData(path=str(tmp_path / "layer.png"))],
                         composite=FileData(path=str(tmp_path / "bg.png")))
    for kwargs in ({"type": "numpy"}, {"type": "pil"}, {"type": "numpy", "image_mode": "RGB"}):
        value = gr.ImageEditor(**kwargs).preprocess(payload)
        assert set(value) == {"background", "layers", "composite"}
        reg = parse_region(stroke_mask(value, (100, 200)), "Box")
        assert reg.bbox == (20, 10, 39, 29), kwargs
