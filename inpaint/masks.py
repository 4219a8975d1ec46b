"""Masks: presets, mask images, growing and shrinking a hole, and the paper's importance weights.

Convention. Outside the engine (files, the CLI, the app, every function here that returns
a mask) a mask is a boolean H x W array with True = hole to fill (white in a mask image).
Inside the optimization M = 1 marks known pixels, as in Yeh et al.; `known_from_hole` is
the one place that converts.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from scipy import ndimage

from .errors import InpaintError

PRESETS = ("center", "left", "right", "top", "bottom", "random", "grid", "strokes")


def preset(name: str, size: tuple[int, int], *, fraction: float = 0.8, seed: int = 0) -> np.ndarray:
    """A preset hole mask, bool H x W (True = hole), for an image of `size` = (width, height).

    center: the middle quarter of the area; left/right/top/bottom: that half;
    random: `fraction` of the pixels, independently; grid: every other 1/16-wide band in
    both directions; strokes: seeded free-form brush strokes covering about a third.
    """
    w, h = size
    hole = np.zeros((h, w), dtype=bool)
    if name == "center":
        hole[h // 4: h - h // 4, w // 4: w - w // 4] = True
    elif name == "left":
        hole[:, : w // 2] = True
    elif name == "right":
        hole[:, w // 2:] = True
    elif name == "top":
        hole[: h // 2] = True
    elif name == "bottom":
        hole[h // 2:] = True
    elif name == "random":
        hole = np.random.default_rng(seed).random((h, w)) < fraction
    elif name == "grid":
        band = max(1, min(w, h) // 16)
        ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
        hole = ((ys // band) % 2 == 1) | ((xs // band) % 2 == 1)
    elif name == "strokes":
        hole = strokes((w, h), seed=seed)
    else:
        raise InpaintError(f"unknown mask preset {name!r}; choose one of {', '.join(PRESETS)}")
    return hole


def strokes(size: tuple[int, int], *, seed: int = 0, coverage: float = 0.3) -> np.ndarray:
    """Free-form brush strokes (random walks of thick lines), bool H x W, seeded."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    scale = min(w, h)
    for _ in range(50):  # strokes until the coverage is reached
        x, y = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        width = max(1, int(rng.uniform(0.06, 0.14) * scale))
        angle = rng.uniform(0, 2 * math.pi)
        points = [(x, y)]
        for _ in range(int(rng.integers(3, 7))):
            angle += rng.uniform(-1.2, 1.2)
            length = rng.uniform(0.1, 0.3) * scale
            x = float(np.clip(x + length * math.cos(angle), 0, w - 1))
            y = float(np.clip(y + length * math.sin(angle), 0, h - 1))
            points.append((x, y))
        draw.line(points, fill=255, width=width, joint="curve")
        r = width / 2
        for px, py in points:
            draw.ellipse((px - r, py - r, px + r, py + r), fill=255)
        if np.asarray(img).mean() / 255 >= coverage:
            break
    return np.asarray(img) > 0


def from_image(mask: Image.Image | np.ndarray) -> np.ndarray:
    """A mask image (white / nonzero = hole; an alpha channel counts where present) -> bool H x W."""
    if isinstance(mask, Image.Image):
        if mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info):
            rgba = np.asarray(mask.convert("RGBA"))
            return (rgba[..., 3] > 0) & (rgba[..., :3].max(-1) > 0)
        mask = np.asarray(mask.convert("L"))
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(-1)
    return mask > 0


def grow(hole: np.ndarray, pixels: int) -> np.ndarray:
    """The hole (bool H x W, True = hole) grown by `pixels` (every pixel within that Euclidean
    distance of the hole joins it), or shrunk by -pixels (only hole pixels farther than that
    from the known ones stay). 0: the hole as it is. A hole shrunk to nothing is empty."""
    pixels = int(pixels)
    if pixels > 0:
        return ndimage.distance_transform_edt(~hole) <= pixels
    if pixels < 0:
        # pad with hole, so that the image's border does not count as known pixels
        inside = ndimage.distance_transform_edt(np.pad(hole, 1, constant_values=True))[1:-1, 1:-1]
        return inside > -pixels
    return hole.copy()


def known_from_hole(hole: torch.Tensor) -> torch.Tensor:
    """The one conversion: hole (1 = fill) -> M (1 = known), float."""
    return 1.0 - hole.float()


def importance_weights(known: torch.Tensor, window: int = 7, hole: torch.Tensor | None = None) -> torch.Tensor:
    """Yeh et al.'s W: for each known pixel, the fraction of hole pixels in a window around it.

    known: N x 1 x H x W, 1 = known (0 = hole or outside the image). Returns N x 1 x H x W,
    0 on unknown pixels. Known pixels far from any hole get 0 too; callers that want the
    global context to count add a floor (see `complete`). `hole` defaults to 1 - known;
    pass it where some unknown pixels (letterbox padding) are not holes.
    """
    pad = window // 2
    hole = 1.0 - known if hole is None else hole
    frac = F.avg_pool2d(F.pad(hole, (pad, pad, pad, pad), mode="replicate"), window, stride=1)
    return frac * known
