"""Phantom generators for the radiological and ultrasound modalities (CT, MRI, X-ray, ultrasound)."""

from __future__ import annotations

import math
from typing import Dict, List

import cv2
import numpy as np

from .drawing import (
    _blob,
    _blur,
    _choose_count,
    _dist_inside,
    _draw_curve,
    _ellipse,
    _ellipse_field,
    _grid,
    _noise,
    _pick_point,
    _place_instances,
)
from .structures import (
    patient_side,
)

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
