"""The model: configuration, the MedPLIB network (CLIP tower, projector, MoE LLaMA, SAM-Med2D mask head) and
its losses. See docs/architecture.md."""
