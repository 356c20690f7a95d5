"""Phantom generators for the photographic and microscopy modalities (dermoscopy, fundus, endoscopy, pathology)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .drawing import (
    _blob,
    _blur,
    _choose_count,
    _draw_curve,
    _ellipse,
    _ellipse_field,
    _grid,
    _noise,
    _place_instances,
)

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
