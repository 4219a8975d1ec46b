"""Differentiable augmentation of D's inputs (Zhao et al., 2020, "DiffAugment").

With a few thousand images (emoji) D memorises the training set and its gradients stop
teaching G. Augmenting *both* the real and the generated images before D, with operations
that gradients pass through, keeps D from memorising without teaching G the augmentations
(G's samples are never augmented where they are used). Each function takes N x C x H x W in
[-1, 1] and a torch.Generator (draws on the CPU, so a run is reproducible on any device).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _uniform(n: int, generator: torch.Generator, like: torch.Tensor, low: float = 0.0, high: float = 1.0):
    return (torch.rand(n, 1, 1, 1, generator=generator) * (high - low) + low).to(like.device, like.dtype)


def color(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random brightness (±0.5), saturation (×0–2, colour images) and contrast (×0.5–1.5)."""
    n = x.shape[0]
    x = x + _uniform(n, generator, x, -0.5, 0.5)
    if x.shape[1] > 1:
        mean = x.mean(1, keepdim=True)
        x = (x - mean) * _uniform(n, generator, x, 0.0, 2.0) + mean
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(n, generator, x, 0.5, 1.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its size in each direction; what comes in is 0 (grey)."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator).to(x.device)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator).to(x.device)
    # index into a copy padded by one pixel: out[i, :, r, c] = x[i, :, r + ty, c + tx], or 0 outside
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + ty + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # N x H x W x C -> N x C x H x W


def cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Set a square of `ratio` of the image's side, at a random place, to 0 (grey)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=generator).to(x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=generator).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows - cy).abs() <= ch // 2) & ((cols - cx).abs() <= cw // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": color, "translation": translation, "cutout": cutout}


@functools.lru_cache(maxsize=16)  # train_step asks every step
def parse(policy: str) -> tuple[str, ...]:
    """"color,translation,cutout" -> the names, checked; "" or "none" -> ()."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip() and p.strip() != "none")
    unknown = [p for p in names if p not in _OPS]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    return names


def augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """x with each operation of `policy` applied in turn (gradients pass through)."""
    for name in policy:
        x = _OPS[name](x, generator)
    return x
