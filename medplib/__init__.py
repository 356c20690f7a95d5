"""MedPLIB: a biomedical multimodal LLM with pixel-level insight (clean PyTorch / transformers 5 port)."""

from .model.configuration import MedPLIBConfig
from .model.modeling import GroundedGeneration, MedPLIBForCausalLM, MedPLIBModel
from .pipeline import Answer, EncodedImage, MedPLIB

__all__ = ["MedPLIBConfig", "MedPLIBForCausalLM", "MedPLIBModel", "GroundedGeneration", "MedPLIB", "Answer",
           "EncodedImage"]
