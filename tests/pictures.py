"""Test images and masks shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def photo(w: int = 40, h: int = 30, mode: str = "RGB", *, seed: int = 0) -> Image.Image:
    """A smooth random image of any size (even 1 x 1) and mode: 4 x 4 random colours, bicubic-upsampled."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8))
    return small.resize((w, h), Image.BICUBIC).convert(mode)


def box(size: tuple[int, int], x0=0.2, y0=0.1, x1=0.5, y1=0.6) -> np.ndarray:
    """A rectangular hole (bool H x W) off the centre, so that a rotation or flip moves it."""
    w, h = size
    hole = np.zeros((h, w), bool)
    hole[int(y0 * h): max(int(y1 * h), int(y0 * h) + 1), int(x0 * w): max(int(x1 * w), int(x0 * w) + 1)] = True
    return hole


def mask_image(hole: np.ndarray) -> Image.Image:
    """A black-and-white mask image, white = hole."""
    return Image.fromarray(np.where(hole, 255, 0).astype(np.uint8), "L")


def save_mask(path: Path, hole: np.ndarray) -> Path:
    mask_image(hole).save(path)
    return path
