"""The two losses of Yeh et al. (2017), per restart (one value per z in the batch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def contextual_loss(generated: torch.Tensor, image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """|| W * (G(z) - y) ||_1 per restart.

    generated: K x C x H x W; image: 1 x C x H x W; weights: 1 x 1 x H x W, zero on the
    hole (it already contains M). Returns K. A sum, as in the paper, so lambda keeps the
    paper's scale for a given resolution.
    """
    return (weights * (generated - image)).abs().flatten(1).sum(1)


def perceptual_loss(logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)) per restart, from D's logits (K).

    The paper writes log(1 - D(G(z))); this non-saturating form has the same minimiser
    and does not vanish when D is sure the image is fake.
    """
    return F.softplus(-logits)
