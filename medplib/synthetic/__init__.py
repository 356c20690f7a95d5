"""Synthetic MeCoVQA-style data: procedural phantoms for 8 modalities, question generation for the
three MeCoVQA kinds (complex VQA, region VQA, grounding), the official JSON record format (writer and
a reader that also parses the real MeCoVQA files) and an in-memory sample stream for training."""

from .mecovqa import (
    Sample,
    build_record,
    load_mask,
    load_records,
    merged_mask_name,
    modality_from_path,
    parse_record,
    region_mask_name,
    resolve_path,
)
from .phantoms import (
    BODY_PARTS,
    COUNT_RANGES,
    MODALITIES,
    MODALITY_LABELS,
    MODALITY_STRUCTURES,
    RADIOLOGICAL_MODALITIES,
    STRUCTURE_INFO,
    Case,
    StructureInfo,
    generate_case,
    patient_side,
)
from .questions import (
    ANSWER_VOCABULARY,
    KINDS,
    QA,
    REGION_MODES,
    REGION_PLACEHOLDER,
    label_map,
    make_grounding,
    make_qa,
    make_region_qa,
    make_vqa,
    region_prompt,
    text_vocabulary,
)

_GENERATE_NAMES = ("SPLIT_IDS", "case_rngs", "case_stem", "image_path", "iter_cases", "iter_samples", "make_samples",
                   "split_id", "write_examples", "write_split")


def __getattr__(name):
    # ``generate`` is imported lazily so that ``python -m medplib.synthetic.generate`` does not import the
    # module twice (runpy warning).
    if name in _GENERATE_NAMES:
        from . import generate

        return getattr(generate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ANSWER_VOCABULARY", "BODY_PARTS", "COUNT_RANGES", "Case", "KINDS", "MODALITIES", "MODALITY_LABELS",
    "MODALITY_STRUCTURES", "QA", "RADIOLOGICAL_MODALITIES", "REGION_MODES", "REGION_PLACEHOLDER",
    "SPLIT_IDS", "STRUCTURE_INFO", "Sample", "StructureInfo", "build_record", "case_rngs", "case_stem",
    "generate_case", "image_path", "iter_cases", "iter_samples", "label_map", "load_mask", "load_records",
    "make_grounding", "make_qa", "make_region_qa", "make_samples", "make_vqa", "merged_mask_name",
    "modality_from_path", "parse_record", "patient_side", "region_mask_name", "region_prompt",
    "resolve_path", "split_id", "text_vocabulary", "write_examples", "write_split",
]
