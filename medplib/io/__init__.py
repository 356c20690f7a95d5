"""Reading medical files and writing masks (no model, no UI): one home for what the API, the app and
evaluation read.

    from medplib.io import load_image
    loaded = load_image("scan.dcm")          # PNG/JPEG/TIFF/BMP/WebP/GIF, DICOM, NIfTI (.nii/.nii.gz)
    loaded.display_rgb                        # H x W x 3 uint8: what is shown and what the model gets

Modules: ``reader`` (type sniffing, entry point), ``pictures`` (the rule "picture -> 8-bit RGB"),
``dicom``, ``nifti``, ``windowing``, ``limits``, ``loaded`` (:class:`LoadedImage`, volume slices),
``export`` (PNG / NIfTI / DICOM-SEG masks). Bad files raise :class:`ImageInputError` (a ValueError).
"""

from .errors import SUPPORTED_TEXT, ImageInputError
from .export import export_masks, mask_dicom_seg, mask_nifti, mask_png, read_mask_nifti, safe_stem, volume_nifti
from .limits import MAX_FILE_BYTES, MAX_PIXELS, MAX_VOXELS
from .loaded import LoadedImage, slice_image, slice_values
from .pictures import PictureRGB, array_rgb, picture_rgb
from .reader import load_upload
from .windowing import WINDOW_CHOICES, WINDOW_PRESETS, Window, apply_window, percentile_window, window_label

load_image = load_upload  # the library's name for it; the app's handlers call it load_upload

__all__ = [
    "SUPPORTED_TEXT", "ImageInputError", "export_masks", "mask_dicom_seg", "mask_nifti", "mask_png", "read_mask_nifti",
    "safe_stem", "volume_nifti", "MAX_FILE_BYTES", "MAX_PIXELS", "MAX_VOXELS", "LoadedImage", "slice_image", "slice_values",
    "PictureRGB", "array_rgb", "picture_rgb", "load_upload", "load_image", "WINDOW_CHOICES", "WINDOW_PRESETS",
    "Window", "apply_window", "percentile_window", "window_label",
]
