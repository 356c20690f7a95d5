"""SAM-Med2D segmentation head of MedPLIB."""

from .config import SamConfig
from .model import SamMed2D
from .postprocess import postprocess_masks

__all__ = ["SamConfig", "SamMed2D", "postprocess_masks"]
