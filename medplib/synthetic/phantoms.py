"""Procedural phantoms for the eight MeCoVQA modalities.

Every phantom is an RGB ``uint8`` image plus a set of *named structures*, each with an exact boolean
mask (the same masks the renderer painted with, so masks and pixels agree exactly).  The phantoms are
deliberately simple: every structure name has its own shape / brightness / texture so that a tiny
model trained for a few minutes on a CPU can learn them, while each modality keeps a recognisable
look (grey-scale CT/MR/X-ray with noise, ultrasound speckle inside a fan, orange fundus with a yellow
optic disc, skin tones for dermoscopy, pink mucosa for endoscopy, pink/purple H&E for pathology).

Conventions
-----------
* Geometry is defined in fractions of the image size, so ``size`` may be anything >= 48 (default 128).
* **Left / right.**  CT, MRI and X-ray use the *radiological* convention: the patient's left is on
  the *image right* (``left kidney``, ``left lung``, ``left hemisphere`` and the spleen / heart lie in
  the right half of the image; the liver and the ``right *`` structures in the left half).
  All other modalities (ultrasound, dermoscopy, fundus, endoscopy, pathology) use plain *image*
  sides.  ``Upper`` / ``lower`` always mean the top / bottom half of the image.
  For fundus photographs the optic disc lies on the nasal side: disc in the image right half means a
  *right* eye (``meta["eye"]``).
* **Containers include their contents**: ``body`` contains the organs, ``brain`` the ventricles and
  tumour, ``retina`` the disc, ``tissue`` the nuclei, ``skin`` the lesion, ``mucosa`` the polyps, a
  lung the nodules inside it.  Non-nested organs are mutually exclusive (e.g. the lungs exclude the
  heart shadow, the liver excludes the kidneys).
* Countable structures (``liver lesion``, ``nodule``, ``cyst``, ``hemorrhage``, ``polyp``,
  ``nucleus``) have well separated instances: the number of 8-connected components of the merged
  mask equals ``meta["counts"][name]``; the individual instances are in ``Case.instances``.
* Optional structures that are absent are simply not in ``Case.structures`` (their count is 0).

Determinism: ``generate_case(modality, seed_or_rng, size)`` depends only on its arguments (NumPy
``Generator`` + OpenCV filters, no global state).
"""

from __future__ import annotations

# The catalogue, drawing helpers and per-modality generators live in structures, drawing and
# phantoms_radiology / phantoms_optical; this module keeps the public names and ``generate_case``.
from typing import Callable, Dict, Union

import numpy as np

from .drawing import _to_uint8
from .phantoms_optical import (
    _dermoscopy,
    _endoscopy,
    _fundus,
    _pathology,
)
from .phantoms_radiology import (
    _ct,
    _mri,
    _ultrasound,
    _x_ray,
)
from .structures import (
    BODY_PARTS,
    COUNT_RANGES,
    MODALITIES,
    MODALITY_LABELS,
    MODALITY_STRUCTURES,
    RADIOLOGICAL_MODALITIES,
    STRUCTURE_INFO,
    Case,
    StructureInfo,
    image_side,
    patient_side,
)

__all__ = [
    "MODALITIES",
    "RADIOLOGICAL_MODALITIES",
    "MODALITY_LABELS",
    "BODY_PARTS",
    "StructureInfo",
    "STRUCTURE_INFO",
    "MODALITY_STRUCTURES",
    "COUNT_RANGES",
    "Case",
    "generate_case",
    "patient_side",
    "image_side",
]


_GENERATORS: Dict[str, Callable] = {
    "ct": _ct, "mri": _mri, "x_ray": _x_ray, "ultrasound": _ultrasound,
    "dermoscopy": _dermoscopy, "fundus": _fundus, "endoscopy": _endoscopy, "pathology": _pathology,
}


def generate_case(modality: str, rng_or_seed: Union[int, np.random.Generator, None] = 0,
                  size: int = 128) -> Case:
    """Generate one phantom of ``modality`` (one of ``MODALITIES``) at ``size`` x ``size`` pixels."""
    if modality not in _GENERATORS:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    if size < 48:
        raise ValueError(f"size must be >= 48, got {size}")
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else np.random.default_rng(rng_or_seed)
    img, structures, instances, meta = _GENERATORS[modality](rng, int(size))
    # drop empty structures, keep masks as C-contiguous bool
    unknown = set(structures) - set(MODALITY_STRUCTURES[modality])
    if unknown:  # pragma: no cover - programming error
        raise AssertionError(f"{modality}: undeclared structures {unknown}")
    structures = {k: np.ascontiguousarray(structures[k], dtype=bool)
                  for k in MODALITY_STRUCTURES[modality] if k in structures and structures[k].any()}
    instances = {k: [np.ascontiguousarray(m, dtype=bool) for m in v]
                 for k, v in instances.items() if k in structures}
    counts = dict(meta.get("counts", {}))
    for name in MODALITY_STRUCTURES[modality]:
        if STRUCTURE_INFO[name].countable:
            counts[name] = len(instances.get(name, []))
    abnormal = {name: bool(meta.get("abnormal", {}).get(name, STRUCTURE_INFO[name].abnormal))
                for name in structures}
    meta = dict(meta)
    meta.update({
        "modality": modality,
        "size": int(size),
        "counts": counts,
        "present": [n for n in MODALITY_STRUCTURES[modality] if n in structures],
        "abnormal": abnormal,
        "side_convention": "radiological" if modality in RADIOLOGICAL_MODALITIES else "image",
    })
    return Case(image=_to_uint8(img), structures=structures, meta=meta, modality=modality,
                instances=instances)
