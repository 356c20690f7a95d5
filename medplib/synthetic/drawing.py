"""Drawing helpers for the phantoms (fractional-coordinate grids, shapes, noise, instance placement)."""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .structures import (
    COUNT_RANGES,
)

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
