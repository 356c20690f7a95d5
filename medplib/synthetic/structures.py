"""The phantoms' structure catalogue (modalities, structure facts, count ranges), ``Case`` and the side conventions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

MODALITIES: Tuple[str, ...] = (
    "ct", "mri", "x_ray", "ultrasound", "dermoscopy", "fundus", "endoscopy", "pathology",
)
RADIOLOGICAL_MODALITIES = frozenset({"ct", "mri", "x_ray"})

# Answer text for "What modality is this?"
MODALITY_LABELS: Dict[str, str] = {
    "ct": "CT", "mri": "MRI", "x_ray": "X-ray", "ultrasound": "ultrasound",
    "dermoscopy": "dermoscopy", "fundus": "fundus", "endoscopy": "endoscopy",
    "pathology": "pathology",
}
# Answer text for "Which body part / organ is shown?"
BODY_PARTS: Dict[str, str] = {
    "ct": "abdomen", "mri": "head", "x_ray": "chest", "ultrasound": "kidney",
    "dermoscopy": "skin", "fundus": "eye", "endoscopy": "colon", "pathology": "tissue",
}


@dataclass(frozen=True)
class StructureInfo:
    name: str                 # canonical (singular) name, also the answer text
    plural: str               # used when a countable structure has >1 instance
    abnormal: bool            # default answer of "Is <region> abnormal?" (may be overridden per case)
    groundable: bool          # may be the target of a grounding question
    regionable: bool          # may be the target of a region question
    countable: bool = False   # has instances; count questions
    optional: bool = False    # may be absent
    container: bool = False   # contains other structures (no side/size questions about it)


def _si(name, plural=None, abnormal=False, groundable=True, regionable=True, countable=False,
        optional=False, container=False):
    return StructureInfo(name, plural or name, abnormal, groundable, regionable, countable,
                         optional, container)


STRUCTURE_INFO: Dict[str, StructureInfo] = {s.name: s for s in [
    # ct (abdomen, axial)
    _si("body", container=True),
    _si("liver"),
    _si("spleen"),
    _si("right kidney"),
    _si("left kidney"),
    _si("spine"),
    _si("liver lesion", "liver lesions", abnormal=True, countable=True, optional=True),
    # mri (brain, axial T2-like)
    _si("skull", groundable=False, container=True),          # thin ring: region questions only
    _si("brain", container=True),
    _si("left hemisphere", regionable=False, container=True),  # overlaps "brain": grounding only
    _si("right hemisphere", regionable=False, container=True),
    _si("ventricles"),
    _si("tumor", abnormal=True, optional=True),
    # x_ray (chest PA)
    _si("right lung", container=True),
    _si("left lung", container=True),
    _si("heart"),
    _si("nodule", "nodules", abnormal=True, countable=True, optional=True),
    # ultrasound (kidney)
    _si("scan field", container=True),
    _si("kidney"),
    _si("cyst", "cysts", abnormal=True, countable=True, optional=True),
    # dermoscopy
    _si("skin", container=True),
    _si("skin lesion"),  # abnormal iff melanoma (per-case override in meta["abnormal"])
    # fundus
    _si("retina", container=True),
    _si("optic disc"),
    _si("macula"),
    _si("hemorrhage", "hemorrhages", abnormal=True, countable=True, optional=True),
    # endoscopy (colonoscopy)
    _si("mucosa", container=True),
    _si("lumen"),
    _si("polyp", "polyps", abnormal=True, countable=True, optional=True),
    # pathology (H&E)
    _si("tissue", container=True),
    _si("nucleus", "nuclei", countable=True),
]}

# Per modality, ordered from general to specific (later ones are painted on top / are more specific;
# this order defines the per-pixel "most specific structure" label map used for region questions).
MODALITY_STRUCTURES: Dict[str, Tuple[str, ...]] = {
    "ct": ("body", "liver", "spleen", "right kidney", "left kidney", "spine", "liver lesion"),
    "mri": ("skull", "brain", "left hemisphere", "right hemisphere", "ventricles", "tumor"),
    "x_ray": ("right lung", "left lung", "heart", "nodule"),
    "ultrasound": ("scan field", "kidney", "cyst"),
    "dermoscopy": ("skin", "skin lesion"),
    "fundus": ("retina", "optic disc", "macula", "hemorrhage"),
    "endoscopy": ("mucosa", "lumen", "polyp"),
    "pathology": ("tissue", "nucleus"),
}

# Inclusive instance-count ranges (and probabilities of each count) for the countable structures.
COUNT_RANGES: Dict[str, Tuple[int, ...]] = {
    "liver lesion": (0, 1, 2),
    "nodule": (0, 1, 2, 3),
    "cyst": (0, 1, 2),
    "hemorrhage": (0, 1, 2, 3),
    "polyp": (0, 1, 2, 3),
    "nucleus": (2, 3, 4, 5, 6),
}


@dataclass
class Case:
    """One phantom: ``image`` (H, W, 3) uint8, ``structures`` name -> bool mask (present ones only),
    ``meta`` (JSON-serialisable facts: modality, counts, abnormal flags, eye, diagnosis, ...),
    ``instances`` name -> list of per-instance bool masks (countable structures)."""

    image: np.ndarray
    structures: Dict[str, np.ndarray]
    meta: dict
    modality: str = ""
    instances: Dict[str, List[np.ndarray]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    def instance_masks(self, name: str) -> List[np.ndarray]:
        if name in self.instances:
            return self.instances[name]
        return [self.structures[name]] if name in self.structures else []

    def is_abnormal(self, name: str) -> bool:
        return bool(self.meta.get("abnormal", {}).get(name, STRUCTURE_INFO[name].abnormal))


# --------------------------------------------------------------------------------------------
# Side conventions
# --------------------------------------------------------------------------------------------

def image_side(mask: np.ndarray) -> float:
    """Signed horizontal offset of the mask centroid from the image centre, in fractions of the width
    (negative = image left)."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return 0.0
    w = mask.shape[1]
    return float((xs.mean() + 0.5) / w - 0.5)


def patient_side(modality: str, image_x_offset: float) -> str:
    """Map an image-x offset (negative = image left) to the side word used in answers."""
    image_right = image_x_offset > 0
    if modality in RADIOLOGICAL_MODALITIES:
        return "left" if image_right else "right"
    return "right" if image_right else "left"
