"""Test images shared by the test modules."""

from __future__ import annotations

import numpy as np
from PIL import Image


def photo(w: int = 40, h: int = 30, mode: str = "RGB", *, seed: int = 0) -> Image.Image:
    """A smooth random image of any size (even 1 x 1) and mode: 4 x 4 random colours, bicubic-upsampled."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8))
    return small.resize((w, h), Image.BICUBIC).convert(mode)
