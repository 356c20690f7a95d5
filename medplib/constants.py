"""Token-id conventions shared by the processor and the model (same values as the original)."""

IGNORE_INDEX = -100
# Placeholder ids inside a compressed prompt: one IMAGE id stands for all image patches,
# one REGION id (between `<region>` and `</region>`) for one region feature vector.
IMAGE_TOKEN_INDEX = -200
REGION_TOKEN_INDEX = -300

# Added to the LLaMA vocabulary in this order (ids 32000.. for the 7B).
ADD_OTHERS_TOKENS = ["<SEG>", "<ref>", "</ref>", "<region>", "</region>", "<sr>", "</sr>", "<mask>", "</mask>"]
GEN_TOKENS = [f"<gen_{i}>" for i in range(1, 257)]
IM_START, IM_END = "<im_start>", "<im_end>"
ADDED_TOKENS = ADD_OTHERS_TOKENS + GEN_TOKENS + [IM_START, IM_END]
SEG_TOKEN, REGION_START, REGION_END = "<SEG>", "<region>", "</region>"
IMAGE_PLACEHOLDER = "<image>"

# How a region mask reaches the CLIP patch grid (config `region_grid`; docs/architecture.md, "Regions").
REGION_GRID_MODES = ("nearest", "cover")
QUESTION_NORMALIZATIONS = ("none", "lower")  # model config `question_normalization` (processing/normalize.py)
