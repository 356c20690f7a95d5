"""MedPLIB: a biomedical multimodal LLM with pixel-level insight (clean PyTorch / transformers 5 port)."""

from .errors import MedPLIBError, MedPLIBInputError, MedPLIBTypeError
from .model.configuration import MedPLIBConfig
from .model.modeling import GroundedGeneration, MedPLIBForCausalLM, MedPLIBModel
from .pipeline import Answer, EncodedImage, MedPLIB
from .processing.region_types import Box, Mask, Point, Stroke
from .streaming import Partial

__all__ = ["MedPLIBConfig", "MedPLIBForCausalLM", "MedPLIBModel", "GroundedGeneration", "MedPLIB", "Answer",
           "EncodedImage", "Partial", "Point", "Box", "Stroke", "Mask", "MedPLIBError", "MedPLIBInputError",
           "MedPLIBTypeError"]
