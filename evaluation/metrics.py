"""Image quality numbers: PSNR and SSIM over the whole image or inside the hole, and the
Fréchet distance between two feature sets.

Images are uint8 (or float in [0, 255]) H x W or H x W x C arrays; `region` is an
optional bool H x W mask of the pixels that count.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, ndimage

PSNR_CAP = 100.0  # dB for identical pixels, so averages and JSON stay finite


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    a, b = _hwc(a), _hwc(b)
    err = (a - b) ** 2
    if region is not None:
        err = err[region]
    mse = float(err.mean()) if err.size else 0.0
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004; Gaussian window, sigma 1.5) over the region's pixels."""
    a, b = _hwc(a), _hwc(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    maps = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]

        def blur(img):
            return ndimage.gaussian_filter(img, sigma, truncate=3.5, mode="reflect")

        mx, my = blur(x), blur(y)
        vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        maps.append(((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    m = np.mean(maps, axis=0)
    return float(m[region].mean() if region is not None else m.mean())


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two N x D feature sets.

    Tr (S1 S2)^(1/2) is the sum of the square roots of the eigenvalues of the symmetric
    S1^(1/2) S2 S1^(1/2) (same spectrum as S1 S2), which stays exact when the covariances are
    singular (fewer samples than features), where a general matrix square root is not.
    """
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.atleast_2d(np.cov(f1, rowvar=False)), np.atleast_2d(np.cov(f2, rowvar=False))
    w, v = linalg.eigh(s1)
    root1 = (v * np.sqrt(w.clip(0))) @ v.T
    trace_covmean = np.sqrt(linalg.eigvalsh(root1 @ s2 @ root1).clip(0)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_covmean)


def _hwc(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[..., None] if x.ndim == 2 else x
