"""MeCoVQA JSON records: the ``Sample`` type, a reader for real and synthetic files, and the
record builder used by the synthetic generator.

Record format (LLaVA style, as in the released MeCoVQA files)::

    {"id": "...", "image": "images/<stem>.png",
     "conversations": [{"from": "human", "value": "<image>\\n<question>"},
                       {"from": "gpt", "value": "<answer>"}],
     "answer_type": "closed" | "open"}

Inline markup: grounding answers carry ``<SEG><mask>masks_merged/<stem>--<class>_merged.png</mask>``
(one per ``<SEG>``), region questions carry ``<region>masks/<stem>--region_<k>.png</region>``.
``load_records`` removes the paths (leaving ``<SEG>`` and ``<region></region>``) and loads the masks.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from medplib.constants import IMAGE_PLACEHOLDER, REGION_END, REGION_START, SEG_TOKEN
from medplib.io import load_image

__all__ = [
    "Sample",
    "load_records",
    "parse_record",
    "modality_from_path",
    "resolve_path",
    "load_mask",
    "build_record",
    "merged_mask_name",
    "region_mask_name",
    "strip_image_token",
]

_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
_MASK_RE = re.compile(r"<mask>(.*?)</mask>", re.DOTALL)
_REGION_RE = re.compile(re.escape(REGION_START) + r"(.*?)" + re.escape(REGION_END), re.DOTALL)
_MODALITY_ALIASES = {"mr": "mri", "mri": "mri", "xray": "x_ray", "x-ray": "x_ray", "x_ray": "x_ray",
                     "us": "ultrasound"}


@dataclass
class Sample:
    """One question/answer pair on one image.

    ``question`` has no ``<image>`` placeholder; region questions keep ``<region></region>`` (one
    pair per entry of ``region_masks``, in order); grounding answers keep one ``<SEG>`` per entry of
    ``seg_masks`` (in order).  ``image`` is set only for in-memory samples (``make_samples``);
    ``load_image()`` works for both."""

    image_path: str
    question: str
    answer: str
    answer_type: str
    seg_masks: List[np.ndarray] = field(default_factory=list)
    region_masks: List[np.ndarray] = field(default_factory=list)
    kind: str = "vqa"                    # "vqa" | "region" | "grounding"
    modality: str = "unknown"
    id: str = ""
    question_type: str = ""
    seg_names: List[str] = field(default_factory=list)      # per <SEG> where known
    region_names: List[str] = field(default_factory=list)   # per region where known
    seg_mask_paths: List[str] = field(default_factory=list)
    region_mask_paths: List[str] = field(default_factory=list)
    image: Optional[np.ndarray] = field(default=None, repr=False)

    def load_image(self) -> np.ndarray:
        """RGB uint8 (H, W, 3), read exactly like the app and ``MedPLIB.encode(path)``
        (:func:`medplib.io.load_image`: 16-bit windowed, EXIF applied, DICOM / NIfTI too)."""
        if self.image is not None:
            return self.image
        return load_image(self.image_path).display_rgb


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------

def modality_from_path(path: str) -> str:
    """Modality from an SA-Med2D style stem ``<modality>[_NN]--<dataset>--<case>--<slice>``
    (``ct_00`` -> ``ct``, ``mr_t2`` -> ``mri``, ``x_ray`` -> ``x_ray``); ``unknown`` otherwise."""
    stem = os.path.basename(str(path))
    if "--" not in stem:
        return "unknown"
    prefix = stem.split("--", 1)[0].lower()
    base = re.sub(r"(_\d+)+$", "", prefix)
    if base in _MODALITY_ALIASES:
        return _MODALITY_ALIASES[base]
    if base.startswith("mr"):
        return "mri"
    return base or "unknown"


def _has_image_ext(p: str) -> bool:
    return p.lower().endswith(_IMAGE_EXTS)


def resolve_path(path: str, image_folder: Union[str, os.PathLike, None]) -> str:
    """Resolve a record path: absolute paths as they are; paths containing ``llavamed`` relative to
    the *parent* of ``image_folder`` (as the original loader does); others relative to
    ``image_folder``.  A missing ``.png`` suffix is added (when the file without it does not exist)."""
    p = str(path).strip()
    if os.path.isabs(p):
        cand = p
    else:
        base = Path(image_folder) if image_folder is not None else Path(".")
        if "llavamed" in p:
            base = base.parent
        cand = str(base / p)
    if not os.path.exists(cand) and not _has_image_ext(cand):
        cand = cand + ".png"
    return cand


def load_mask(path: str) -> np.ndarray:
    """Grey-scale load, binarised ``>= 1``.  Raises FileNotFoundError."""
    m = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise FileNotFoundError(path)
    return m >= 1


def strip_image_token(text: str) -> str:
    return text.replace(IMAGE_PLACEHOLDER, "").strip()


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def _load_json(json_path: Path) -> list:
    try:
        with open(json_path, "r", encoding="utf-8") as f:
            if json_path.suffix.lower() == ".jsonl":
                data = [json.loads(line) for line in f if line.strip()]
            else:
                data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_path}: invalid JSON: {e}") from e
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError(f"{json_path}: expected a JSON array of records, got {type(data).__name__}")
    return data


def _extract(pattern: re.Pattern, open_tag: str, close_tag: str, text: str, keep: str, where: str
             ) -> Tuple[str, List[str]]:
    if text.count(open_tag) != text.count(close_tag):
        raise ValueError(f"{where}: unbalanced {open_tag}...{close_tag} in {text!r}")
    paths = [m.strip() for m in pattern.findall(text)]
    return pattern.sub(keep, text), paths


def parse_record(rec: dict, image_folder=None, where: str = "record", load_masks: bool = True
                 ) -> List[Sample]:
    """Parse one record into one Sample per (human, gpt) turn pair."""
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: record is not an object")
    image = rec.get("image")
    if isinstance(image, list) and len(image) == 1:
        image = image[0]
    if not isinstance(image, str) or not image.strip():
        raise ValueError(f"{where}: missing or invalid 'image' field ({image!r})")
    convs = rec.get("conversations")
    if not isinstance(convs, list) or len(convs) < 2:
        raise ValueError(f"{where}: 'conversations' must be a list with at least one human/gpt pair")
    if len(convs) % 2:
        raise ValueError(f"{where}: odd number of conversation turns ({len(convs)})")
    image_path = resolve_path(image, image_folder)
    modality = modality_from_path(image)
    rec_id = str(rec.get("id", ""))
    out: List[Sample] = []
    for t in range(0, len(convs), 2):
        hum, gpt = convs[t], convs[t + 1]
        for j, turn, role in ((t, hum, "human"), (t + 1, gpt, "gpt")):
            if not isinstance(turn, dict) or turn.get("from") != role or "value" not in turn:
                raise ValueError(f"{where}: conversation entry {j} must be a {role!r} turn with a 'value'")
        q_raw, a_raw = str(hum["value"]), str(gpt["value"])
        twhere = f"{where}, turn {t // 2}"
        if "<mask>" in q_raw or "</mask>" in q_raw:
            raise ValueError(f"{twhere}: <mask> markup in the human question")
        if any(p.strip() for p in _REGION_RE.findall(a_raw)):
            raise ValueError(f"{twhere}: region path in the gpt answer")
        question, region_paths = _extract(_REGION_RE, REGION_START, REGION_END, q_raw,
                                          REGION_START + REGION_END, twhere)
        answer, seg_paths = _extract(_MASK_RE, "<mask>", "</mask>", a_raw, "", twhere)
        n_seg = answer.count(SEG_TOKEN)
        if seg_paths and n_seg != len(seg_paths):
            raise ValueError(f"{twhere}: {len(seg_paths)} <mask> path(s) but {n_seg} {SEG_TOKEN} token(s)")
        if any(not p for p in seg_paths):
            raise ValueError(f"{twhere}: empty <mask></mask>")
        seg_res = [resolve_path(p, image_folder) for p in seg_paths]
        reg_res = [resolve_path(p, image_folder) for p in region_paths if p]
        seg_masks, region_masks = [], []
        if load_masks:
            for kind, paths, dst in (("mask", seg_res, seg_masks), ("region", reg_res, region_masks)):
                for p in paths:
                    try:
                        dst.append(load_mask(p))
                    except FileNotFoundError:
                        raise ValueError(f"{twhere}: cannot read {kind} file {p}") from None
        seg_names = []
        for p in seg_paths:
            m = re.fullmatch(r"(.*)_merged(\.png)?", os.path.basename(p).rsplit("--", 1)[-1])
            seg_names.append(m.group(1).replace("_", " ") if m else "")
        if n_seg or seg_paths:
            kind = "grounding"
        elif REGION_START in question:
            kind = "region"
        else:
            kind = "vqa"
        answer_type = rec.get("answer_type")
        if not isinstance(answer_type, str) or not answer_type:
            norm = re.sub(r"[^a-z]", "", answer.lower())
            answer_type = "closed" if norm in ("yes", "no") else "open"
        out.append(Sample(
            image_path=image_path, question=strip_image_token(question), answer=answer.strip(),
            answer_type=answer_type, seg_masks=seg_masks, region_masks=region_masks, kind=kind,
            modality=modality, id=rec_id if t == 0 else f"{rec_id}#{t // 2}",
            question_type=str(rec.get("question_type", "")), seg_names=seg_names,
            seg_mask_paths=seg_res, region_mask_paths=reg_res))
    return out


def load_records(json_path: Union[str, os.PathLike], image_folder: Union[str, os.PathLike, None] = None,
                 load_masks: bool = True) -> List[Sample]:
    """Read a MeCoVQA JSON (array) or JSONL file into Samples (one per human/gpt turn pair).

    Paths are resolved relative to ``image_folder`` (default: the JSON file's folder); masks are
    loaded eagerly unless ``load_masks=False`` (then only ``*_mask_paths`` are filled).  Malformed
    records raise ValueError naming the file and the record."""
    json_path = Path(json_path)
    if image_folder is None:
        image_folder = json_path.parent
    data = _load_json(json_path)
    out: List[Sample] = []
    for i, rec in enumerate(data):
        rid = rec.get("id") if isinstance(rec, dict) else None
        where = f"{json_path}: record {i}" + (f" (id={rid!r})" if rid is not None else "")
        out.extend(parse_record(rec, image_folder, where, load_masks))
    return out


# --------------------------------------------------------------------------------------------
# Writing (used by medplib.synthetic.generate)
# --------------------------------------------------------------------------------------------

def merged_mask_name(stem: str, structure: str) -> str:
    return f"masks_merged/{stem}--{structure.replace(' ', '_')}_merged.png"


def region_mask_name(stem: str, k: int) -> str:
    return f"masks/{stem}--region_{k}.png"


def build_record(rec_id: str, image_rel: str, question: str, answer: str, answer_type: str,
                 seg_paths: Sequence[str] = (), region_paths: Sequence[str] = (),
                 question_type: Optional[str] = None) -> dict:
    """Official-format record: inserts ``<mask>PATH</mask>`` after each ``<SEG>`` of ``answer`` and
    each region path between the ``<region></region>`` pairs of ``question`` (in order)."""
    empty = REGION_START + REGION_END
    if question.count(empty) != len(region_paths):
        raise ValueError(f"{rec_id}: {question.count(empty)} region slots for {len(region_paths)} paths")
    if seg_paths and answer.count(SEG_TOKEN) != len(seg_paths):
        raise ValueError(f"{rec_id}: {answer.count(SEG_TOKEN)} {SEG_TOKEN} for {len(seg_paths)} masks")
    q = question
    for p in region_paths:
        q = q.replace(empty, f"{REGION_START}{p}{REGION_END}", 1)
    a = answer
    if seg_paths:
        parts = a.split(SEG_TOKEN)
        a = parts[0] + "".join(f"{SEG_TOKEN}<mask>{p}</mask>{rest}" for p, rest in zip(seg_paths, parts[1:]))
    rec = {"id": rec_id, "image": image_rel,
           "conversations": [{"from": "human", "value": f"{IMAGE_PLACEHOLDER}\n{q}"},
                             {"from": "gpt", "value": a}],
           "answer_type": answer_type}
    if question_type:
        rec["question_type"] = question_type
    return rec
