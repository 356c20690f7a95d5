"""Names for the masks of a grounded answer: the library's rule (:mod:`medplib.structure_names`), numbered
where it finds none ("mask k") or where several masks share a name."""

from __future__ import annotations

from medplib.structure_names import structure_names


def mask_names(raw_answer: str, n_masks: int, question: str = "") -> list[str]:
    """One name per mask (``n_masks``), in SEG order."""
    found = structure_names(raw_answer or "", question or "")
    names = [(found[k] if k < len(found) else None) or f"mask {k + 1}" for k in range(n_masks)]
    return [f"{name} {k + 1}" if names.count(name) > 1 else name for k, name in enumerate(names)]
