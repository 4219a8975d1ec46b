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
from scipy.sparse.linalg import splu

from .errors import InpaintError

BLENDS = ("poisson", "alpha", "none")
MAX_POISSON_UNKNOWNS = 100_000  # larger holes are solved on a coarser grid (the correction is smooth)


def blend(original: np.ndarray, fill: np.ndarray, hole: np.ndarray, mode: str = "poisson") -> np.ndarray:
    return blend_all(original, [fill], hole, mode)[0]


def region(hole: np.ndarray, mode: str = "poisson") -> tuple[slice, slice]:
    """The part of the image a blend reads and writes: the hole's bounding box plus a margin
    (the seam's known neighbours, the coarse grid's cells, the feather)."""
    if not hole.any():
        return slice(0, 0), slice(0, 0)
    rows, cols = np.flatnonzero(hole.any(1)), np.flatnonzero(hole.any(0))
    margin = 2 * _coarse_factor(hole) + 1 if mode == "poisson" else _feather(hole) + 1
    return (slice(max(0, rows[0] - margin), rows[-1] + margin + 1),
            slice(max(0, cols[0] - margin), cols[-1] + margin + 1))


def blend_all(original: np.ndarray, fills: list[np.ndarray], hole: np.ndarray, mode: str = "poisson",
              box: tuple[slice, slice] | None = None) -> list[np.ndarray]:
    """`blend` for several fills of the same hole (Poisson builds and factorizes its system once).

    original: H x W x C, uint8 or float. fills: H x W x C floats, or only their `box` part
    when `box` (from `region(hole, mode)`) is given. Only the box is worked on; every pixel
    outside it is the original's.
    """
    if mode not in BLENDS:
        raise InpaintError(f"unknown blend mode {mode!r}; choose one of {', '.join(BLENDS)}")
    base = original if original.dtype == np.uint8 else _to_uint8(original)
    if not hole.any():
        return [base.copy() for _ in fills]
    if box is None:
        box = region(hole, mode)
        fills = [f[box] for f in fills]
    o, h = original[box].astype(np.float64), hole[box]
    if mode == "poisson":
        inner = poisson_all(o, fills, h)
    elif mode == "alpha":
        inner = [alpha(o, f, h, _feather(hole)) for f in fills]
    else:
        inner = [np.where(h[..., None], f, o) for f in fills]
    outs = []
    for part in inner:
        out = base.copy()
        out[box] = _to_uint8(part)
        outs.append(out)
    return outs


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def _feather(hole: np.ndarray) -> int:
    return max(2, round(0.02 * min(hole.shape)))


def _coarse_factor(hole: np.ndarray) -> int:
    return max(1, math.ceil(math.sqrt(int(hole.sum()) / MAX_POISSON_UNKNOWNS)))


def alpha(original: np.ndarray, fill: np.ndarray, hole: np.ndarray, feather: int | None = None) -> np.ndarray:
    feather = feather or _feather(hole)
    outside = ndimage.distance_transform_edt(~hole)  # distance to the hole, 0 inside it
    a = np.clip(1.0 - outside / (feather + 1), 0.0, 1.0)[..., None]
    return a * fill + (1 - a) * original


def poisson(original: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """fill + c inside the hole, where c is harmonic in the hole and equals original - fill
    on the known pixels around it (the same as matching the fill's Laplacian)."""
    return poisson_all(original, [fill], hole)[0]


def poisson_all(original: np.ndarray, fills: list[np.ndarray], hole: np.ndarray) -> list[np.ndarray]:
    """`poisson` for several fills of one hole: the linear system is built and factorized once."""
    if not hole.any() or hole.all():
        return [np.where(hole[..., None], f, original) for f in fills]
    factor = _coarse_factor(hole)
    outs = []
    if factor == 1:
        system = _Laplace(hole)
        for f in fills:
            out = np.where(hole[..., None], f, original)
            out[system.ys, system.xs] += system.solve(original - f)
            outs.append(out)
        return outs
    # a coarse grid: each cell's boundary value is the mean difference over its known pixels
    h, w = hole.shape
    hh, ww = math.ceil(h / factor), math.ceil(w / factor)
    pad = ((0, hh * factor - h), (0, ww * factor - w))
    padded = np.pad(hole, pad, mode="edge")
    hole_c = padded.reshape(hh, factor, ww, factor).all(axis=(1, 3))
    known = ~padded
    count = np.maximum(known.reshape(hh, factor, ww, factor).sum(axis=(1, 3)), 1)[..., None]
    system = _Laplace(hole_c)
    for f in fills:
        d = np.pad(original - f, pad + ((0, 0),), mode="edge") * known[..., None]
        corr = d.reshape(hh, factor, ww, factor, -1).sum(axis=(1, 3)) / count
        corr[system.ys, system.xs] = system.solve(corr)
        out = np.where(hole[..., None], f + ndimage.zoom(corr, (factor, factor, 1), order=1)[:h, :w], original)
        outs.append(out)
    return outs


class _Laplace:
    """The discrete Laplace equation on a hole's pixels with Dirichlet values taken from their
    known 4-neighbours, factorized once and solved for any boundary values."""

    def __init__(self, hole: np.ndarray):
        h, w = hole.shape
        index = -np.ones((h, w), dtype=np.int64)
        self.ys, self.xs = np.nonzero(hole)
        n = len(self.ys)
        index[self.ys, self.xs] = np.arange(n)
        rows, cols = [np.arange(n)], [np.arange(n)]
        diag = np.zeros(n)
        self.links = []  # per direction: (hole pixels with a known neighbour there, its y, its x)
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ny, nx = self.ys + dy, self.xs + dx
            ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            diag[ok] += 1
            nb = np.full(n, -1)
            nb[ok] = index[ny[ok], nx[ok]]
            inner = ok & (nb >= 0)
            rows.append(np.nonzero(inner)[0])
            cols.append(nb[inner])
            known = ok & (nb < 0)
            self.links.append((np.nonzero(known)[0], ny[known], nx[known]))
        # a tiny diagonal term keeps components that touch no known pixel solvable (c = 0 there)
        data = [diag + 1e-6] + [-np.ones(len(r)) for r in rows[1:]]
        matrix = sparse.csc_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        self.lu = splu(matrix)

    def solve(self, values: np.ndarray) -> np.ndarray:
        """values: H x W x C, read at the known neighbours only. Returns the solution, n x C."""
        rhs = np.zeros((len(self.ys), values.shape[2]))
        for i, ny, nx in self.links:
            rhs[i] += values[ny, nx]
        return self.lu.solve(rhs)
