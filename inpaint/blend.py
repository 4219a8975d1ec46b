"""Put a fill into the hole of the original image, at the original's resolution.

All functions take the original and the fill as float H x W x C arrays in [0, 255] and
the hole as bool H x W (True = hole), and return uint8 H x W x C.

poisson  seamless cloning (Perez et al. 2003): keeps the fill's gradients inside the hole
         and the original's values on its boundary; pixels outside the hole are untouched.
alpha    the fill pasted with a feathered edge that reaches `feather` pixels outside the hole.
none     the fill pasted into the hole as it is.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

from .errors import InpaintError

BLENDS = ("poisson", "alpha", "none")
MAX_POISSON_UNKNOWNS = 250_000  # larger holes are solved on a coarser grid (the correction is smooth)


def blend(original: np.ndarray, fill: np.ndarray, hole: np.ndarray, mode: str = "poisson") -> np.ndarray:
    if mode == "poisson":
        out = poisson(original, fill, hole)
    elif mode == "alpha":
        out = alpha(original, fill, hole)
    elif mode in ("none", "paste"):
        out = np.where(hole[..., None], fill, original)
    else:
        raise InpaintError(f"unknown blend mode {mode!r}; choose one of {', '.join(BLENDS)}")
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def alpha(original: np.ndarray, fill: np.ndarray, hole: np.ndarray, feather: int | None = None) -> np.ndarray:
    feather = feather or max(2, round(0.02 * min(hole.shape)))
    outside = ndimage.distance_transform_edt(~hole)  # distance to the hole, 0 inside it
    a = np.clip(1.0 - outside / (feather + 1), 0.0, 1.0)[..., None]
    return a * fill + (1 - a) * original


def poisson(original: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """fill + c inside the hole, where c is harmonic in the hole and equals original - fill
    on the known pixels around it (the same as matching the fill's Laplacian)."""
    if not hole.any() or hole.all():
        return np.where(hole[..., None], fill, original)
    diff = np.where(hole[..., None], 0.0, original - fill)
    n = int(hole.sum())
    factor = max(1, math.ceil(math.sqrt(n / MAX_POISSON_UNKNOWNS)))
    if factor == 1:
        correction = _harmonic(diff, hole)
    else:
        correction = _coarse_harmonic(diff, hole, factor)
    return np.where(hole[..., None], fill + correction, original)


def _harmonic(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Solve the discrete Laplace equation on the hole pixels, Dirichlet values from `values`
    at known 4-neighbours; H x W x C, zero outside the hole."""
    h, w = hole.shape
    index = -np.ones((h, w), dtype=np.int64)
    ys, xs = np.nonzero(hole)
    n = len(ys)
    index[ys, xs] = np.arange(n)
    rows, cols, data = [np.arange(n)], [np.arange(n)], []
    diag = np.zeros(n)
    rhs = np.zeros((n, values.shape[2]))
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        diag[ok] += 1
        nb = np.full(n, -1)
        nb[ok] = index[ny[ok], nx[ok]]
        inner = ok & (nb >= 0)
        rows.append(np.nonzero(inner)[0])
        cols.append(nb[inner])
        known = ok & (nb < 0)
        rhs[known] += values[ny[known], nx[known]]
    # a tiny diagonal term keeps components that touch no known pixel solvable (c = 0 there)
    data = [diag + 1e-6] + [-np.ones(len(r)) for r in rows[1:]]
    A = sparse.csc_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    sol = spsolve(A, rhs)
    out = np.zeros_like(values)
    out[ys, xs] = sol.reshape(n, -1)
    return out


def _coarse_harmonic(diff: np.ndarray, hole: np.ndarray, factor: int) -> np.ndarray:
    h, w = hole.shape
    hh, ww = math.ceil(h / factor), math.ceil(w / factor)
    pad = ((0, hh * factor - h), (0, ww * factor - w))
    hole_c = np.pad(hole, pad, mode="edge").reshape(hh, factor, ww, factor).all(axis=(1, 3))
    known = ~np.pad(hole, pad, mode="edge")
    d = np.pad(diff, pad + ((0, 0),), mode="edge")
    kc = known.reshape(hh, factor, ww, factor).sum(axis=(1, 3))
    dc = (d * known[..., None]).reshape(hh, factor, ww, factor, -1).sum(axis=(1, 3)) / np.maximum(kc, 1)[..., None]
    corr = _harmonic(dc, hole_c) + np.where(hole_c[..., None], 0.0, dc)
    zoom = ndimage.zoom(corr, (factor, factor, 1), order=1)[:h, :w]
    return zoom
