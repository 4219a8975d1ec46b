"""Put a fill into the hole of the original image, at the original's resolution.

All functions take the original and the fill as float H x W x C arrays in [0, 255] and
the hole as bool H x W (True = hole), and return uint8 H x W x C.

edge-aware  Poisson blending whose correction stops at the fill's own edges (the default): as
            poisson, but the membrane that spreads the seam's colour difference into the hole is
            weak between neighbouring fill pixels that differ a lot, so a fill whose background
            meets the seam takes the background's correction and its figure keeps its colours.
poisson     seamless cloning (Perez et al. 2003): keeps the fill's gradients inside the hole
            and the original's values on its boundary; pixels outside the hole are untouched.
            The correction (original - fill on the seam) spreads harmonically across the whole
            hole, so a fill whose colour differs from the seam's is shifted everywhere.
alpha       the fill pasted with a feathered edge that reaches `feather` pixels outside the hole.
none        the fill pasted into the hole as it is.

edge-aware and poisson keep every pixel outside the hole; both solve a sparse linear system
(a coarser grid above MAX_POISSON_UNKNOWNS hole pixels). Poisson's system is the same for every
fill of one hole and is factorized once; edge-aware's depends on the fill (one factorization each).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import splu

from .errors import InpaintError

BLENDS = ("edge-aware", "poisson", "alpha", "none")
MAX_POISSON_UNKNOWNS = 100_000  # larger holes are solved on a coarser grid (the correction is smooth)
# edge-aware factorizes once per fill: above this many hole pixels its own part is solved on cells (README:
# "Blending the fill": at the app's 256 px, cells of 2 px measured as good as every pixel on val, at half the time)
MAX_EDGE_UNKNOWNS = 10_000
# edge-aware: the membrane between neighbouring fill pixels f_p, f_q weighs exp(-|f_p - f_q|^2 / 2 EDGE_SIGMA^2)
# (grey levels, the norm over the channels, per model pixel: see `blend_all`'s scale) + EDGE_FLOOR, so that every
# part of the hole stays tied to the seam. Chosen on val: sigma 10 / 20 / 40 / 80 vs poisson, 80 pairs per
# model (README: "Blending the fill"); 20 and 40 were alike, 10 and 80 gained less. Settings.edge_sigma.
EDGE_SIGMA = 40.0
EDGE_FLOOR = 1e-3
SEAMLESS = ("edge-aware", "poisson")  # the blends that solve for a correction (and keep every outside pixel)


def blend(original: np.ndarray, fill: np.ndarray, hole: np.ndarray, mode: str = "edge-aware",
          scale: float = 1.0, sigma: float = EDGE_SIGMA) -> np.ndarray:
    return blend_all(original, [fill], hole, mode, scale=scale, sigma=sigma)[0]


def region(hole: np.ndarray, mode: str = "edge-aware") -> tuple[slice, slice]:
    """The part of the image a blend reads and writes: the hole's bounding box plus a margin
    (the seam's known neighbours, the coarse grid's cells, the feather)."""
    if not hole.any():
        return slice(0, 0), slice(0, 0)
    rows, cols = np.flatnonzero(hole.any(1)), np.flatnonzero(hole.any(0))
    margin = 2 * max(_coarse_factor(hole), _edge_cell(hole)) + 1 if mode in SEAMLESS else _feather(hole) + 1
    return (slice(max(0, rows[0] - margin), rows[-1] + margin + 1),
            slice(max(0, cols[0] - margin), cols[-1] + margin + 1))


def blend_all(original: np.ndarray, fills: list[np.ndarray], hole: np.ndarray, mode: str = "edge-aware",
              box: tuple[slice, slice] | None = None, scale: float = 1.0, sigma: float = EDGE_SIGMA) -> list[np.ndarray]:
    """`blend` for several fills of the same hole (Poisson builds and factorizes its system once).

    original: H x W x C, uint8 or float. fills: H x W x C floats, or only their `box` part
    when `box` (from `region(hole, mode)`) is given. Only the box is worked on; every pixel
    outside it is the original's. scale: the image's pixels per model pixel (a 64 px model's
    fill blended into a 256 px image: 4). A fill scaled up s times steps by 1/s of its edges per
    pixel; edge-aware reads its edges per model pixel, so that one sigma holds at any size.
    sigma: edge-aware's EDGE_SIGMA.
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
    if mode in SEAMLESS:
        inner = poisson_all(o, fills, h, edges=scale if mode == "edge-aware" else None, sigma=sigma)
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


def poisson(original: np.ndarray, fill: np.ndarray, hole: np.ndarray, edges: float | None = None,
            sigma: float = EDGE_SIGMA) -> np.ndarray:
    """fill + c inside the hole, where c is harmonic in the hole and equals original - fill
    on the known pixels around it (the same as matching the fill's Laplacian). With `edges`
    (the image's pixels per model pixel), c is harmonic under the fill's edge weights instead:
    smooth within the fill's regions, free to jump where the fill does."""
    return poisson_all(original, [fill], hole, edges, sigma)[0]


def poisson_all(original: np.ndarray, fills: list[np.ndarray], hole: np.ndarray,
                edges: float | None = None, sigma: float = EDGE_SIGMA) -> list[np.ndarray]:
    """`poisson` for several fills of one hole. The plain system is built and factorized once.
    Edge-aware weights are the fill's, so each fill gets its own factorization: above
    MAX_EDGE_UNKNOWNS hole pixels that one is made on cells of several pixels, as a change to
    the plain correction (which keeps the seam exact at full resolution)."""
    if not hole.any() or hole.all():
        return [np.where(hole[..., None], f, original) for f in fills]
    factor = _coarse_factor(hole)
    if edges is None:
        return _harmonic(original, fills, hole, factor, None)
    cell = _edge_cell(hole)
    # a fill step spread over `edges` image pixels (or summed into one cell) counts as one model pixel's
    contrast = max(1.0, edges / cell) / sigma
    if cell == factor:
        return _harmonic(original, fills, hole, factor, contrast)
    outs = _harmonic(original, fills, hole, factor, None)
    grid = _Grid(hole, cell)
    for f, out in zip(fills, outs):
        values = grid.boundary(original - f)
        change = np.zeros_like(values)
        change[grid.system.ys, grid.system.xs] = (grid.system.solve(values, grid.system.edge_weights(grid.means(f), contrast))
                                                  - grid.system.solve(values))
        out += np.where(hole[..., None], grid.up(change), 0.0)
    return outs


def _edge_cell(hole: np.ndarray) -> int:
    """The cell size (pixels) the edge-aware systems are solved on: at most MAX_EDGE_UNKNOWNS cells, and
    never finer than the plain system's grid."""
    return max(_coarse_factor(hole), math.ceil(math.sqrt(int(hole.sum()) / MAX_EDGE_UNKNOWNS)))


def _harmonic(original: np.ndarray, fills: list[np.ndarray], hole: np.ndarray, factor: int,
              contrast: float | None) -> list[np.ndarray]:
    """fill + the (edge-weighted where contrast is given) harmonic correction, each fill, solved on
    the pixels (factor 1) or on cells of factor x factor pixels."""
    outs = []
    if factor == 1:
        system = _Laplace(hole)
        for f in fills:
            out = np.where(hole[..., None], f, original)
            out[system.ys, system.xs] += system.solve(original - f, None if contrast is None else
                                                      system.edge_weights(f, contrast))
            outs.append(out)
        return outs
    grid = _Grid(hole, factor)
    for f in fills:
        corr = grid.boundary(original - f)
        weights = None if contrast is None else grid.system.edge_weights(grid.means(f), contrast)
        corr[grid.system.ys, grid.system.xs] = grid.system.solve(corr, weights)
        outs.append(np.where(hole[..., None], f + grid.up(corr), original))
    return outs


class _Grid:
    """A hole on cells of factor x factor pixels (the image padded at its far edges): a cell is
    hole where all its pixels are; a known cell's value is the mean over its known pixels."""

    def __init__(self, hole: np.ndarray, factor: int):
        self.factor, self.shape = factor, hole.shape
        h, w = hole.shape
        self.cells = math.ceil(h / factor), math.ceil(w / factor)
        self.pad = ((0, self.cells[0] * factor - h), (0, self.cells[1] * factor - w))
        self.known = ~np.pad(hole, self.pad, mode="edge")
        known = self._sums(self.known[..., None])  # known pixels per cell
        self.count = np.maximum(known, 1)
        self.system = _Laplace(known[..., 0] == 0)

    def _sums(self, a: np.ndarray) -> np.ndarray:
        hh, ww = self.cells
        return a.reshape(hh, self.factor, ww, self.factor, -1).sum(axis=(1, 3))

    def boundary(self, values: np.ndarray) -> np.ndarray:
        """Per cell, the mean of `values` (H x W x C) over its known pixels."""
        return self._sums(np.pad(values, self.pad + ((0, 0),), mode="edge") * self.known[..., None]) / self.count

    def means(self, values: np.ndarray) -> np.ndarray:
        """Per cell, the mean of `values` over all its pixels."""
        return self._sums(np.pad(values, self.pad + ((0, 0),), mode="edge")) / self.factor ** 2

    def up(self, cells: np.ndarray) -> np.ndarray:
        """Cell values back on the pixels (bilinear), H x W x C."""
        h, w = self.shape
        return ndimage.zoom(cells, (self.factor, self.factor, 1), order=1)[:h, :w]


class _Laplace:
    """The discrete (weighted) Laplace equation on a hole's pixels with Dirichlet values taken
    from their known 4-neighbours: sum over p's neighbours q of w_pq (c_p - c_q) = 0, with c_q
    given where q is known. Unit weights are factorized once and solved for any boundary values;
    other weights (`edge_weights`) are factorized when solved with."""

    def __init__(self, hole: np.ndarray):
        h, w = hole.shape
        index = -np.ones((h, w), dtype=np.int64)
        self.ys, self.xs = np.nonzero(hole)
        n = len(self.ys)
        index[self.ys, self.xs] = np.arange(n)
        # per direction: the hole pixels with a neighbour there (inside the image), its y and x,
        # and its index among the hole's pixels (-1: a known pixel)
        self.links = []
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ny, nx = self.ys + dy, self.xs + dx
            ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            self.links.append((np.nonzero(ok)[0], ny[ok], nx[ok], index[ny[ok], nx[ok]]))
        self._unit = None  # the unit weights' factorization, made on first use

    def edge_weights(self, fill: np.ndarray, contrast: float) -> list[np.ndarray]:
        """Per link, exp(-|contrast (f_p - f_q)|^2 / 2) + EDGE_FLOOR; fill: H x W x C. contrast:
        1 / sigma, times the pixels a model pixel's step is spread over."""
        weights = []
        for i, ny, nx, _ in self.links:
            step = fill[self.ys[i], self.xs[i]] - fill[ny, nx]
            weights.append(np.exp(-(contrast ** 2) * (step ** 2).sum(1) / 2) + EDGE_FLOOR)
        return weights

    def _factorize(self, weights: list[np.ndarray] | None):
        n = len(self.ys)
        weights = weights or [np.ones(len(i)) for i, *_ in self.links]
        diag = np.zeros(n)
        rows, cols, data = [np.arange(n)], [np.arange(n)], []
        for (i, _, _, nb), wgt in zip(self.links, weights):
            diag[i] += wgt
            inner = nb >= 0
            rows.append(i[inner])
            cols.append(nb[inner])
            data.append(-wgt[inner])
        # a tiny diagonal term keeps components that touch no known pixel solvable (c = 0 there)
        matrix = sparse.csc_matrix((np.concatenate([diag + 1e-6, *data]), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(n, n))
        # symmetric positive definite: a symmetric ordering and no pivoting (~1.4x faster than the defaults)
        return splu(matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})

    def solve(self, values: np.ndarray, weights: list[np.ndarray] | None = None) -> np.ndarray:
        """values: H x W x C, read at the known neighbours only; weights: None (unit) or
        `edge_weights`. Returns the solution, n x C."""
        rhs = np.zeros((len(self.ys), values.shape[2]))
        for (i, ny, nx, nb), wgt in zip(self.links, weights or [None] * len(self.links)):
            known = nb < 0
            rhs[i[known]] += values[ny[known], nx[known]] * (1.0 if wgt is None else wgt[known, None])
        if weights is not None:
            return self._factorize(weights).solve(rhs)
        if self._unit is None:
            self._unit = self._factorize(None)
        return self._unit.solve(rhs)
