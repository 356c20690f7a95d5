"""MedPLIB: a biomedical multimodal LLM with pixel-level insight (clean PyTorch / transformers 5 port)."""

from .configuration import MedPLIBConfig
from .modeling import GroundedGeneration, MedPLIBForCausalLM, MedPLIBModel

__all__ = ["MedPLIBConfig", "MedPLIBForCausalLM", "MedPLIBModel", "GroundedGeneration"]
