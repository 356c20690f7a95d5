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

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

import cv2
import numpy as np

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


# --------------------------------------------------------------------------------------------
# Drawing helpers (fractional coordinates: x, y in [0, 1], pixel centres at (i + .5) / size)
# --------------------------------------------------------------------------------------------

_GRIDS: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int):
    g = _GRIDS.get(size)
    if g is None:
        c = (np.arange(size, dtype=np.float32) + 0.5) / size
        g = (c[:, None].repeat(size, 1), c[None, :].repeat(size, 0))  # (Y, X)
        g[0].setflags(write=False)
        g[1].setflags(write=False)
        _GRIDS[size] = g
    return g


def _rot(g, cx, cy, theta):
    Y, X = g
    dx, dy = X - cx, Y - cy
    if theta == 0.0:
        return dx, dy
    c, s = math.cos(theta), math.sin(theta)
    return dx * c + dy * s, -dx * s + dy * c


def _window(g, cx, cy, R):
    """Slices of the grid covering the square [cx-R, cx+R] x [cy-R, cy+R] (fractional), or None."""
    size = g[0].shape[0]
    x0, x1 = max(0, int(math.floor((cx - R) * size)) - 1), min(size, int(math.ceil((cx + R) * size)) + 1)
    y0, y1 = max(0, int(math.floor((cy - R) * size)) - 1), min(size, int(math.ceil((cy + R) * size)) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _ellipse(g, cx, cy, a, b, theta=0.0) -> np.ndarray:
    out = np.zeros(g[0].shape, bool)
    win = _window(g, cx, cy, max(a, b))
    if win is not None:
        u, v = _rot((g[0][win], g[1][win]), cx, cy, theta)
        out[win] = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return out


def _ellipse_field(g, cx, cy, a, b, theta=0.0, mask=None) -> np.ndarray:
    """Normalised elliptical radius (1 on the border); only at ``mask`` pixels (1-D) when given."""
    if mask is not None:
        g = (g[0][mask], g[1][mask])
    u, v = _rot(g, cx, cy, theta)
    return np.sqrt((u / a) ** 2 + (v / b) ** 2)


def _blob(g, rng, cx, cy, r, irregularity=0.08, harmonics=(2, 3, 4), aspect=1.0, theta=0.0):
    """Star-shaped blob: radius r * (1 + sum a_k cos(k phi + p_k)), optional aspect ratio."""
    amps, phases = [], []
    for k in harmonics:
        amps.append(irregularity * rng.uniform(0.4, 1.0) / math.sqrt(k / harmonics[0]))
        phases.append(rng.uniform(0, 2 * math.pi))
    out = np.zeros(g[0].shape, bool)
    R = r * (1 + sum(amps)) * max(1.0, 1.0 / aspect)
    win = _window(g, cx, cy, R)
    if win is None:
        return out
    u, v = _rot((g[0][win], g[1][win]), cx, cy, theta)
    v = v * aspect
    rad = np.sqrt(u * u + v * v)
    phi = np.arctan2(v, u)
    rr = np.ones_like(rad)
    for k, amp, ph in zip(harmonics, amps, phases):
        rr += amp * np.cos(k * phi + ph)
    out[win] = rad <= r * rr
    return out


def _noise(rng, size, sigma_px) -> np.ndarray:
    """Smooth Gaussian noise with unit standard deviation; ``sigma_px`` is the correlation length
    in pixels of a 128-pixel image (scaled with ``size``).  Wide kernels are computed at a lower
    resolution and resized (cheaper, same look)."""
    sigma = sigma_px * size / 128.0
    if sigma <= 0.3:
        return rng.standard_normal((size, size), dtype=np.float32)
    f = int(min(4, max(1, sigma // 1.5)))
    small = -(-size // f)
    n = rng.standard_normal((small, small), dtype=np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma / f)
    n /= max(float(n.std()), 1e-6)
    if f > 1:
        n = cv2.resize(n, (small * f, small * f), interpolation=cv2.INTER_LINEAR)[:size, :size]
    return np.ascontiguousarray(n)


def _blur(img, sigma_px):
    if sigma_px <= 0.2:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigma_px)


def _dist_inside(mask: np.ndarray) -> np.ndarray:
    """Distance (pixels) of each pixel inside ``mask`` to the nearest outside pixel."""
    m = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    m[1:-1, 1:-1] = mask
    return cv2.distanceTransform(m, cv2.DIST_L2, 5)[1:-1, 1:-1]


def _pick_point(rng, allowed: np.ndarray) -> Optional[Tuple[float, float]]:
    idx = np.flatnonzero(allowed)
    if idx.size == 0:
        return None
    k = int(idx[rng.integers(idx.size)])
    size = allowed.shape[1]
    y, x = divmod(k, size)
    return (x + 0.5) / allowed.shape[1], (y + 0.5) / allowed.shape[0]


def _place_instances(g, rng, n, region, radius_range, make_shape, gap_frac=0.03, avoid=None,
                     tries=30):
    """Place up to ``n`` non-touching shapes inside ``region``.

    make_shape(cx, cy, r) -> bool mask.  Returns the list of instance masks (each fully inside
    ``region``, separated from each other and from ``avoid`` by >= gap)."""
    size = region.shape[0]
    gap = max(2.0, gap_frac * size)
    inside = _dist_inside(region)
    occupied = np.zeros_like(region) if avoid is None else avoid.copy()
    out: List[np.ndarray] = []
    for _ in range(n):
        far = (cv2.distanceTransform((~occupied).astype(np.uint8), cv2.DIST_L2, 5)
               if occupied.any() else None)
        for _t in range(tries):
            r = rng.uniform(*radius_range)
            rpx = r * size * 1.25  # margin for irregular outlines
            if far is not None:
                allowed = (inside >= rpx + 1) & (far >= rpx + gap)
            else:
                allowed = inside >= rpx + 1
            pt = _pick_point(rng, allowed)
            if pt is None:
                continue
            m = make_shape(pt[0], pt[1], r) & region
            if not m.any():
                continue
            grown = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8),
                               iterations=int(math.ceil(gap))).astype(bool)
            if (grown & occupied).any():
                continue
            out.append(m)
            occupied = occupied | grown
            break
    return out


def _draw_curve(layer, pts, value, thickness):
    """Polyline (fractional points) into a float layer."""
    size = layer.shape[0]
    p = np.round(np.asarray(pts) * size * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(layer, [p], False, value, max(1, int(round(thickness))), cv2.LINE_AA, shift=4)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _choose_count(rng, name) -> int:
    opts = COUNT_RANGES[name]
    return int(opts[rng.integers(len(opts))])


# --------------------------------------------------------------------------------------------
# Modalities
# --------------------------------------------------------------------------------------------

def _ct(rng, size):
    g = _grid(size)
    S: Dict[str, np.ndarray] = {}
    inst: Dict[str, List[np.ndarray]] = {}
    ox, oy = rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03)
    body = _ellipse(g, 0.5 + ox, 0.52 + oy, rng.uniform(0.41, 0.46), rng.uniform(0.31, 0.36),
                    rng.uniform(-0.05, 0.05))
    inner = _dist_inside(body) > 0.035 * size
    img = np.zeros((size, size), np.float32)
    img[body] = 0.22                               # subcutaneous fat (dark grey)
    img[inner] = 0.40 + 0.03 * _noise(rng, size, 2.0)[inner]   # muscle / bowel background
    # bowel gas / fluid blobs (decoration, labelled "body")
    for _ in range(rng.integers(3, 7)):
        bx, by = rng.uniform(0.35, 0.65) + ox, rng.uniform(0.30, 0.50) + oy
        m = _ellipse(g, bx, by, rng.uniform(0.02, 0.045), rng.uniform(0.015, 0.03), rng.uniform(0, 3.14))
        img[m & inner] = rng.choice([0.05, 0.30])
    # liver: patient right = image left
    lx, ly = 0.31 + ox + rng.uniform(-0.02, 0.02), 0.42 + oy + rng.uniform(-0.02, 0.02)
    liver = (_ellipse(g, lx, ly, rng.uniform(0.14, 0.17), rng.uniform(0.11, 0.13), rng.uniform(-0.3, 0.3))
             | _ellipse(g, lx + 0.08, ly - 0.05, rng.uniform(0.09, 0.12), rng.uniform(0.05, 0.07),
                        rng.uniform(-0.3, 0.1)))
    liver &= inner
    spleen = _blob(g, rng, 0.71 + ox, 0.44 + oy, rng.uniform(0.06, 0.075), 0.05, aspect=1.5,
                   theta=rng.uniform(-0.9, -0.4)) & inner
    # kidneys (possibly asymmetric so that "which kidney is larger" is answerable)
    kscale = [rng.uniform(0.95, 1.1), rng.uniform(0.95, 1.1)]
    if rng.random() < 0.5:
        kscale[int(rng.integers(2))] *= rng.uniform(0.62, 0.72)
    kidneys = {}
    for name, sgn, ks in (("right kidney", -1, kscale[0]), ("left kidney", 1, kscale[1])):
        kx, ky = 0.5 + sgn * 0.165 + ox, 0.645 + oy + rng.uniform(-0.015, 0.015)
        th = sgn * rng.uniform(0.15, 0.4)
        k = _ellipse(g, kx, ky, 0.05 * ks, 0.082 * ks, th) & inner
        sinus = _ellipse(g, kx - sgn * 0.012 * ks, ky, 0.022 * ks, 0.045 * ks, th) & k
        kidneys[name] = (k, sinus)
    spine = (_ellipse(g, 0.5 + ox, 0.715 + oy, 0.055, 0.05)
             | _ellipse(g, 0.5 + ox, 0.79 + oy, 0.018, 0.04)) & inner
    aorta = _ellipse(g, 0.5 + ox + 0.01, 0.625 + oy, 0.024, 0.024) & inner
    # paint (painter's order) and make non-nested organs exclusive
    tex = _noise(rng, size, 1.2)
    for name, (k, _s) in kidneys.items():
        liver &= ~k
        spleen &= ~k
    liver &= ~spine & ~aorta
    spleen &= ~spine
    img[liver] = (0.58 + 0.025 * tex)[liver]
    img[spleen] = (0.50 + 0.025 * tex)[spleen]
    img[aorta] = 0.78
    for name, (k, sinus) in kidneys.items():
        img[k] = 0.74
        img[sinus] = 0.30
        S[name] = k
    cancellous = _dist_inside(spine) > 0.012 * size
    img[spine] = 0.97
    img[cancellous] = 0.80
    S["body"] = body
    S["liver"] = liver
    S["spleen"] = spleen
    S["spine"] = spine
    n_les = _choose_count(rng, "liver lesion")
    lesions = _place_instances(
        g, rng, n_les, liver, (0.045, 0.065),
        lambda cx, cy, r: _blob(g, rng, cx, cy, r, 0.06), gap_frac=0.03)
    for m in lesions:
        img[m] = 0.26 + 0.02 * tex[m]
    if lesions:
        S["liver lesion"] = np.logical_or.reduce(lesions)
        inst["liver lesion"] = lesions
    img = _blur(img, 0.45 * size / 128) + rng.uniform(0.02, 0.035) * rng.standard_normal((size, size), dtype=np.float32)
    img[~body] = 0.02 * np.abs(rng.standard_normal(int((~body).sum()), dtype=np.float32))
    meta = {"counts": {"liver lesion": len(lesions)}}
    return img, S, inst, meta


def _mri(rng, size):
    g = _grid(size)
    S, inst = {}, {}
    ox, oy = rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02)
    a, b = rng.uniform(0.36, 0.41), rng.uniform(0.43, 0.46)
    head = _ellipse(g, 0.5 + ox, 0.5 + oy, a, b)
    t = rng.uniform(0.05, 0.06)
    brain = _ellipse(g, 0.5 + ox, 0.5 + oy, a - t, b - t)
    skull = head & ~brain
    scalp = head & ~_ellipse(g, 0.5 + ox, 0.5 + oy, a - 0.018, b - 0.018)
    img = np.zeros((size, size), np.float32)
    img[skull] = 0.12                        # cortical bone: dark
    img[scalp] = 0.72                        # scalp fat: bright rim
    # grey matter with gyral texture, white matter darker inside
    gyri = _noise(rng, size, 1.6)
    wm = _ellipse(g, 0.5 + ox, 0.5 + oy, (a - t) * 0.72, (b - t) * 0.75)
    gm_val = 0.52 + 0.06 * np.tanh(gyri * 1.5)
    img[brain] = gm_val[brain]
    img[wm] = (0.38 + 0.02 * gyri)[wm]
    # sulci: thin bright CSF lines near the cortex
    sulci = (np.abs(gyri) < 0.12) & brain & ~wm
    img[sulci] = 0.75
    mid = 0.5 + ox
    falx = (np.abs(g[1] - mid) < 0.5 / size + 0.004) & brain
    img[falx] = 0.8
    # ventricles: two bright crescents around the midline
    vs = rng.uniform(0.8, 1.45)
    vy = 0.47 + oy + rng.uniform(-0.02, 0.02)
    vent = (_ellipse(g, mid - 0.04 * vs, vy, 0.026 * vs, 0.10 * vs, 0.3)
            | _ellipse(g, mid + 0.04 * vs, vy, 0.026 * vs, 0.10 * vs, -0.3)
            | _ellipse(g, mid, vy + 0.02, 0.03 * vs, 0.03 * vs)) & brain
    img[vent] = 0.96
    S["skull"] = skull
    S["brain"] = brain
    S["left hemisphere"] = brain & (g[1] >= mid)     # patient left = image right
    S["right hemisphere"] = brain & (g[1] < mid)
    S["ventricles"] = vent
    meta = {"counts": {}}
    if rng.random() < 0.5:
        side = 1 if rng.random() < 0.5 else -1
        r = rng.uniform(0.06, 0.105)
        free = brain & ~cv2.dilate(vent.astype(np.uint8), np.ones((3, 3), np.uint8),
                                   iterations=max(2, int(0.03 * size))).astype(bool)
        free &= (g[1] - mid) * side > r + 0.03
        inside = _dist_inside(free) >= r * size * 1.2 + 1
        pt = _pick_point(rng, inside)
        if pt is not None:
            tum = _blob(g, rng, pt[0], pt[1], r, 0.1) & brain
            core = _ellipse_field(g, pt[0], pt[1], r, r, mask=tum)
            # ring-enhancing heterogeneous mass with a darker necrotic core
            img[tum] = 0.80 - 0.35 * np.exp(-(core * 2.2) ** 2) + 0.05 * _noise(rng, size, 0.8)[tum]
            S["tumor"] = tum
            meta["tumor_side"] = patient_side("mri", pt[0] - 0.5)
    img = _blur(img, 0.5 * size / 128) + 0.025 * rng.standard_normal((size, size), dtype=np.float32)
    img = np.abs(img)  # Rician-like background
    return img, S, inst, meta


def _x_ray(rng, size):
    g = _grid(size)
    S, inst = {}, {}
    ox, oy = rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02)
    img = np.full((size, size), 0.08, np.float32)
    thorax = _ellipse(g, 0.5 + ox, 0.55 + oy, rng.uniform(0.43, 0.47), 0.55)
    img[thorax] = 0.62
    # neck / shoulders
    img[_ellipse(g, 0.5 + ox, 0.0, 0.11, 0.2)] = 0.6
    lungs = {}
    for name, sgn in (("right lung", -1), ("left lung", 1)):
        h = rng.uniform(0.26, 0.30) * rng.choice([1.0, rng.uniform(0.62, 0.75)], p=[0.75, 0.25])
        w = rng.uniform(0.13, 0.15)
        cx = 0.5 + ox + sgn * rng.uniform(0.185, 0.2)
        top = 0.2 + oy
        cy = top + h
        lung = _ellipse(g, cx, cy, w, h, sgn * 0.08) & (g[0] < cy + 0.55 * h)
        # diaphragm dome cut
        dome = _ellipse(g, cx, cy + 0.55 * h + 0.09, w * 1.3, 0.12)
        lung &= ~dome
        lungs[name] = lung
    heart = _ellipse(g, 0.555 + ox, 0.6 + oy + rng.uniform(-0.02, 0.02), rng.uniform(0.13, 0.16),
                     rng.uniform(0.10, 0.12), rng.uniform(-0.4, -0.2))
    field = _noise(rng, size, 1.0)
    vessels = _noise(rng, size, 0.7)
    for name, lung in lungs.items():
        lung &= ~heart
        S[name] = lung
        img[lung] = (0.20 + 0.03 * field + 0.04 * np.clip(vessels, 0, None))[lung]
    # ribs: bright curved bands over the thorax (decoration)
    ribs = np.zeros_like(img)
    for k in range(7):
        y0 = 0.22 + oy + k * 0.075
        for sgn in (-1, 1):
            xs = np.linspace(0.5 + ox + sgn * 0.06, 0.5 + ox + sgn * 0.42, 12)
            ys = y0 + 0.07 * ((xs - 0.5 - ox) * sgn / 0.36) ** 1.5 - 0.03
            _draw_curve(ribs, np.stack([xs, ys], 1), 0.1, 0.018 * size)
    img += ribs * thorax
    # mediastinum / spine
    spine = (np.abs(g[1] - 0.5 - ox) < 0.04) & thorax
    img[spine & ~heart] = np.maximum(img[spine & ~heart], 0.72)
    img[heart] = 0.74
    # clavicles
    clav = np.zeros_like(img)
    for sgn in (-1, 1):
        _draw_curve(clav, [(0.5 + ox + sgn * 0.05, 0.2 + oy), (0.5 + ox + sgn * 0.3, 0.15 + oy)],
                    0.15, 0.025 * size)
    img += clav
    S["heart"] = heart
    n = _choose_count(rng, "nodule")
    both = lungs["right lung"] | lungs["left lung"]
    nod = _place_instances(g, rng, n, both, (0.045, 0.06),
                           lambda cx, cy, r: _ellipse(g, cx, cy, r, r * rng.uniform(0.9, 1.1)),
                           gap_frac=0.04)
    # a nodule must lie inside a single lung (the placement region is the union)
    nod = [m for m in nod if any((m & ~l).sum() == 0 for l in lungs.values())]
    for m in nod:
        img[m] = 0.66 + 0.03 * field[m]
    if nod:
        S["nodule"] = np.logical_or.reduce(nod)
        inst["nodule"] = nod
    img = _blur(img, 0.7 * size / 128) + 0.02 * rng.standard_normal((size, size), dtype=np.float32)
    return img, S, inst, {"counts": {"nodule": len(nod)}}


def _ultrasound(rng, size):
    g = _grid(size)
    S, inst = {}, {}
    Y, X = g
    ax, ay = 0.5, 0.02
    half = math.radians(rng.uniform(36, 44))
    r_min, r_max = 0.08, rng.uniform(0.9, 0.96)
    dx, dy = X - ax, Y - ay
    rad = np.sqrt(dx * dx + dy * dy)
    ang = np.arctan2(dx, dy)
    fan = (np.abs(ang) <= half) & (rad >= r_min) & (rad <= r_max)
    # speckle: Rayleigh-distributed, slightly elongated laterally
    sp = np.hypot(_blur(rng.standard_normal((size, size), dtype=np.float32), 0.6 * size / 128),
                  _blur(rng.standard_normal((size, size), dtype=np.float32), 0.6 * size / 128))
    sp = sp / max(float(sp.mean()), 1e-6)
    atten = np.clip(1.1 - 0.55 * rad, 0.3, 1.2)
    tissue = (0.42 + 0.08 * _noise(rng, size, 4.0)) * atten
    img = np.zeros((size, size), np.float32)
    kx, ky = rng.uniform(0.4, 0.6), rng.uniform(0.42, 0.58)
    ka, kb = rng.uniform(0.22, 0.28), rng.uniform(0.12, 0.15)
    kth = rng.uniform(-0.35, 0.35)
    kidney = _ellipse(g, kx, ky, ka, kb, kth) & fan
    kf = _ellipse_field(g, kx, ky, ka, kb, kth)
    sinus = (kf < 0.5) & kidney
    capsule = (kf > 0.9) & kidney
    base = tissue.copy()
    base[kidney] = (0.22 * atten)[kidney]      # hypoechoic cortex
    base[sinus] = (0.78 * atten)[sinus]        # echogenic sinus fat
    base[capsule] = (0.85 * atten)[capsule]    # bright capsule line
    n = _choose_count(rng, "cyst")
    fan_core = fan & (rad > r_min + 0.05) & (rad < r_max - 0.03)
    cysts = _place_instances(g, rng, n, fan_core, (0.06, 0.09),
                             lambda cx, cy, r: _blob(g, rng, cx, cy, r, 0.04), gap_frac=0.04)
    for m in cysts:
        ys, xs = np.nonzero(m)
        cx, cy_bottom = (xs.mean() + 0.5) / size, (ys.max() + 0.5) / size
        w = (xs.max() - xs.min() + 1) / size / 2
        enh = (np.abs(X - cx) < w * 0.8) & (Y > cy_bottom) & (Y < cy_bottom + 0.2) & ~m
        base[enh] *= 1.35                      # posterior acoustic enhancement
    img = base * sp
    for m in cysts:
        img[m] = 0.03 * sp[m]                  # anechoic
    img = np.clip(img, 0, 1)
    img[~fan] = 0.0
    S["scan field"] = fan
    S["kidney"] = kidney
    if cysts:
        S["cyst"] = np.logical_or.reduce(cysts)
        inst["cyst"] = cysts
    # depth markers at the right edge (decoration outside the fan)
    for k in range(1, 6):
        yy = int((0.02 + k * 0.17) * size)
        if yy < size:
            img[yy, int(size * 0.96):int(size * 0.98)] = 0.8
    return img, S, inst, {"counts": {"cyst": len(cysts)}}


_SKIN_TONES = np.array([[0.93, 0.78, 0.70], [0.88, 0.70, 0.60], [0.80, 0.60, 0.48],
                        [0.95, 0.82, 0.76], [0.72, 0.52, 0.40]], np.float32)


def _dermoscopy(rng, size):
    g = _grid(size)
    S, inst = {}, {}
    Y, X = g
    tone = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.95, 1.03)
    field = _ellipse(g, 0.5, 0.5, rng.uniform(0.56, 0.64), rng.uniform(0.56, 0.64))
    n1 = _noise(rng, size, 3.0)
    n2 = _noise(rng, size, 0.8)
    img = tone[None, None, :] * (1 + 0.03 * n1[..., None] + 0.02 * n2[..., None])
    # dermatoglyphic lines
    lines = (np.sin((X * math.cos(0.7) + Y * math.sin(0.7)) * size * 0.9 + 2 * n1) > 0.92)
    img[lines] *= 0.96
    melanoma = rng.random() < 0.5
    cx, cy = 0.5 + rng.uniform(-0.14, 0.14), 0.5 + rng.uniform(-0.14, 0.14)
    if melanoma:
        r = rng.uniform(0.17, 0.26)
        lesion = _blob(g, rng, cx, cy, r, rng.uniform(0.14, 0.2), harmonics=(2, 3, 5, 7),
                       aspect=rng.uniform(0.8, 1.25), theta=rng.uniform(0, 3.14))
        base = np.array([0.36, 0.22, 0.14], np.float32)
        col = base[None, None, :] * (1 + 0.25 * _noise(rng, size, 2.0)[..., None])
        blk = (_noise(rng, size, 2.5) > 0.7) & lesion
        blue = (_noise(rng, size, 3.0) > 0.9) & lesion
        white = (_noise(rng, size, 3.0) > 1.2) & lesion
        img[lesion] = col[lesion]
        img[blk] = np.array([0.12, 0.08, 0.08])
        img[blue] = np.array([0.45, 0.5, 0.62])
        img[white] = np.array([0.85, 0.8, 0.82])
    else:
        r = rng.uniform(0.11, 0.19)
        lesion = _blob(g, rng, cx, cy, r, 0.03, aspect=rng.uniform(0.85, 1.2), theta=rng.uniform(0, 3.14))
        base = np.array([0.60, 0.40, 0.26], np.float32) * tone / _SKIN_TONES[0]
        net = 1 - 0.12 * (np.sin(X * size * 1.1) * np.sin(Y * size * 1.1) > 0.3)
        f = _ellipse_field(g, cx, cy, r, r, mask=lesion)
        img[lesion] = base[None, :] * (net[lesion] * (0.92 + 0.1 * f))[:, None]
    lesion &= field
    # hairs (decoration; do not change the masks)
    hair = np.zeros((size, size), np.float32)
    for _ in range(rng.integers(0, 4)):
        x0, y0 = rng.uniform(0, 1), rng.uniform(0, 1)
        th = rng.uniform(0, math.pi)
        ts = np.linspace(-0.5, 0.5, 16)
        pts = np.stack([x0 + ts * math.cos(th) + 0.05 * np.sin(ts * 6),
                        y0 + ts * math.sin(th) + 0.05 * np.cos(ts * 5)], 1)
        _draw_curve(hair, pts, 1.0, max(1, size / 128))
    hair = _blur(hair, 0.4)
    img = img * (1 - 0.75 * hair[..., None])
    img = _blur(img, 0.5 * size / 128)
    # dermatoscope vignette and field stop
    vig = np.clip(1.08 - 0.35 * ((X - 0.5) ** 2 + (Y - 0.5) ** 2) * 4, 0.5, 1.0)
    img = img * vig[..., None]
    img[~field] = 0.02
    S["skin"] = field
    S["skin lesion"] = lesion
    meta = {"diagnosis": "melanoma" if melanoma else "nevus",
            "abnormal": {"skin lesion": bool(melanoma)}, "counts": {}}
    return img, S, inst, meta


def _fundus(rng, size):
    g = _grid(size)
    S, inst = {}, {}
    Y, X = g
    R = rng.uniform(0.45, 0.48)
    retina = _ellipse(g, 0.5, 0.5, R, R)
    eye = "right" if rng.random() < 0.5 else "left"
    sgn = 1 if eye == "right" else -1            # optic disc on the nasal side
    dx, dy = 0.5 + sgn * rng.uniform(0.2, 0.24), 0.5 + rng.uniform(-0.05, 0.05)
    dr = rng.uniform(0.07, 0.09)
    mx, my = dx - sgn * rng.uniform(0.27, 0.31), dy + rng.uniform(0.0, 0.04)
    mr = rng.uniform(0.065, 0.08)
    rf = np.sqrt((X - 0.5) ** 2 + (Y - 0.5) ** 2) / R
    base = np.array([0.82, 0.34, 0.12], np.float32) * rng.uniform(0.9, 1.08)
    shade = (1.05 - 0.45 * rf ** 2) * (1 + 0.04 * _noise(rng, size, 2.5))
    img = base[None, None, :] * shade[..., None]
    # vessels: arcades leaving the disc above and below, curving toward the macula side
    ves = np.zeros((size, size), np.float32)
    for vy in (-1, 1):
        for spread in (1.0, 0.7):
            ts = np.linspace(0, 1, 20)
            xs = dx - sgn * ts * rng.uniform(0.45, 0.6)
            ys = dy + vy * (0.12 * spread * np.sin(ts * math.pi * 0.9) + 0.02)
            _draw_curve(ves, np.stack([xs, ys], 1), 1.0, max(1.0, 0.018 * size * spread))
        for _ in range(2):
            ts = np.linspace(0, 1, 10)
            xs = dx + sgn * ts * 0.15
            ys = dy + vy * ts * rng.uniform(0.1, 0.3)
            _draw_curve(ves, np.stack([xs, ys], 1), 1.0, max(1.0, 0.01 * size))
    ves = _blur(ves, 0.5)
    img = img * (1 - 0.45 * ves[..., None]) + np.array([0.0, -0.02, -0.02]) * ves[..., None]
    # macula: darker round area with a tiny bright foveal reflex
    macula = _ellipse(g, mx, my, mr, mr)
    mf = _ellipse_field(g, mx, my, mr, mr, mask=macula)
    mcol = np.array([0.50, 0.16, 0.06], np.float32)
    img[macula] = mcol[None, :] * (0.9 + 0.15 * mf)[:, None]
    img[_ellipse(g, mx, my, 0.012, 0.012)] = np.array([0.8, 0.5, 0.3])
    disc = _ellipse(g, dx, dy, dr, dr * rng.uniform(1.0, 1.1))
    df = _ellipse_field(g, dx, dy, dr, dr, mask=disc)
    dcol = np.array([1.0, 0.85, 0.52], np.float32)
    img[disc] = dcol[None, :] * (1.0 - 0.12 * df)[:, None]
    img[_ellipse(g, dx, dy, dr * 0.45, dr * 0.45)] = np.array([1.0, 0.95, 0.78])  # cup
    n = _choose_count(rng, "hemorrhage")
    avoid = (cv2.dilate((disc | macula).astype(np.uint8), np.ones((3, 3), np.uint8),
                        iterations=max(1, int(0.03 * size))) > 0)
    hem = _place_instances(g, rng, n, retina & (rf < 0.85), (0.048, 0.065),
                           lambda cx, cy, r: _blob(g, rng, cx, cy, r, 0.12), gap_frac=0.04, avoid=avoid)
    hcol = np.array([0.42, 0.05, 0.03], np.float32)
    for m in hem:
        img[m] = hcol
    img = _blur(img, 0.5 * size / 128)
    img = img + 0.012 * rng.standard_normal(img.shape, dtype=np.float32)
    img[~retina] = 0.0
    S["retina"] = retina
    S["optic disc"] = disc
    S["macula"] = macula
    if hem:
        S["hemorrhage"] = np.logical_or.reduce(hem)
        inst["hemorrhage"] = hem
    return img, S, inst, {"eye": eye, "counts": {"hemorrhage": len(hem)}}


def _endoscopy(rng, size):
    g = _grid(size)
    S, inst = {}, {}
    Y, X = g
    # octagonal field of view
    c = rng.uniform(0.27, 0.33)
    field = (np.abs(X - 0.5) + np.abs(Y - 0.5) < 1 - c) & (X > 0.02) & (X < 0.98) & (Y > 0.02) & (Y < 0.98)
    lx, ly = 0.5 + rng.uniform(-0.2, 0.2), 0.5 + rng.uniform(-0.2, 0.2)
    lr = rng.uniform(0.10, 0.16)
    lumen = _blob(g, rng, lx, ly, lr, 0.15, aspect=rng.uniform(0.8, 1.3), theta=rng.uniform(0, 3.14)) & field
    d = np.sqrt((X - lx) ** 2 + (Y - ly) ** 2)
    mucosa_col = np.array([0.86, 0.44, 0.38], np.float32) * rng.uniform(0.92, 1.05)
    folds = 0.5 + 0.5 * np.sin(d * size * 0.35 + 1.5 * _noise(rng, size, 4.0))
    light = np.clip(0.55 + 0.9 * d, 0.4, 1.15)     # farther from lumen = closer to the scope
    img = mucosa_col[None, None, :] * (light * (0.9 + 0.1 * folds) * (1 + 0.04 * _noise(rng, size, 1.5)))[..., None]
    lf = np.clip(d / lr, 0, 1)
    img[lumen] = np.array([0.25, 0.06, 0.05], np.float32)[None, :] * (lf[lumen] ** 1.5)[:, None]
    n = _choose_count(rng, "polyp")
    avoid = cv2.dilate(lumen.astype(np.uint8), np.ones((3, 3), np.uint8),
                       iterations=max(2, int(0.04 * size))) > 0
    polyps = _place_instances(g, rng, n, field, (0.07, 0.11),
                              lambda cx, cy, r: _blob(g, rng, cx, cy, r, 0.07, aspect=rng.uniform(0.85, 1.2)),
                              gap_frac=0.04, avoid=avoid)
    pcol = np.array([0.96, 0.66, 0.55], np.float32)
    for m in polyps:
        ys, xs = np.nonzero(m)
        cx, cy = (xs.mean() + 0.5) / size, (ys.mean() + 0.5) / size
        r = math.sqrt(m.sum() / math.pi) / size
        pf = _ellipse_field(g, cx - 0.3 * r, cy - 0.3 * r, r, r, mask=m)
        shade = np.clip(1.15 - 0.35 * pf, 0.6, 1.15)
        img[m] = pcol[None, :] * shade[:, None]
        spec = _ellipse(g, cx - 0.35 * r, cy - 0.35 * r, 0.22 * r, 0.14 * r, 0.6) & m
        img[spec] = 1.0
    if polyps:
        S["polyp"] = np.logical_or.reduce(polyps)
        inst["polyp"] = polyps
    # specular highlights on the wall (decoration)
    for _ in range(rng.integers(2, 6)):
        hx, hy = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)
        h = _ellipse(g, hx, hy, 0.012, 0.006, rng.uniform(0, 3.14)) & field & ~lumen
        img[h] = 1.0
    img = _blur(img, 0.5 * size / 128)
    img = img + 0.01 * rng.standard_normal(img.shape, dtype=np.float32)
    img[~field] = 0.0
    S["mucosa"] = field & ~lumen
    S["lumen"] = lumen
    return img, S, inst, {"counts": {"polyp": len(polyps)}}


def _pathology(rng, size):
    g = _grid(size)
    S, inst = {}, {}
    Y, X = g
    # tissue = image minus a few white spaces (lumina / fat)
    holes = np.zeros((size, size), bool)
    for _ in range(rng.integers(1, 4)):
        holes |= _blob(g, rng, rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.18), 0.15)
    tissue = ~holes
    fib = _blur(rng.standard_normal((size, size), dtype=np.float32), 1.0 * size / 128)
    fib = cv2.GaussianBlur(fib, (0, 0), sigmaX=3.0 * size / 128, sigmaY=0.6 * size / 128)  # fibres
    fib /= max(float(fib.std()), 1e-6)
    pink = np.array([0.93, 0.58, 0.74], np.float32) * rng.uniform(0.95, 1.03)
    img = np.ones((size, size, 3), np.float32) * np.array([0.97, 0.95, 0.97], np.float32)
    stroma = pink[None, None, :] * (1 + 0.05 * fib[..., None] + 0.03 * _noise(rng, size, 3.0)[..., None])
    img[tissue] = stroma[tissue]
    n = _choose_count(rng, "nucleus")
    nuclei = _place_instances(
        g, rng, n, tissue, (0.065, 0.085),
        lambda cx, cy, r: _blob(g, rng, cx, cy, r, 0.06, aspect=rng.uniform(1.1, 1.4),
                                theta=rng.uniform(0, 3.14)),
        gap_frac=0.05)
    chrom = _noise(rng, size, 0.7)
    ncol = np.array([0.36, 0.20, 0.55], np.float32)
    if nuclei:
        allm = np.logical_or.reduce(nuclei)
        img[allm] = ncol[None, :] * (1 + 0.12 * chrom[allm][:, None])
    img = _blur(img, 0.45 * size / 128)
    img = img + 0.012 * rng.standard_normal(img.shape, dtype=np.float32)
    S["tissue"] = tissue
    if nuclei:
        S["nucleus"] = np.logical_or.reduce(nuclei)
        inst["nucleus"] = nuclei
    return img, S, inst, {"counts": {"nucleus": len(nuclei)}}


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
