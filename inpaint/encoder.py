"""The search's learned warm start: a latent encoder E, masked image -> z.

E reads what the search reads, the known pixels and the mask at the model's resolution, and
answers a z whose G(z) matches them (trained by `train.encoder` with G frozen). The search
(`inpaint.complete`, `Settings.warm_start`) starts a share of its K restarts from E's answers:
E's own guess for the first, and for the others that guess mixed with fresh draws from the
prior, more for each restart, so that they stay diverse. A checkpoint ships E in its
`encoder/` subfolder; `load_model` attaches it as `model.encoder`.
"""

from __future__ import annotations

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .models import PRIORS, DCGAN, _levels

__all__ = ["LatentEncoder", "attach"]


class LatentEncoder(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="gan-inpaint",
    tags=["dcgan", "image-inpainting", "latent-encoder"],
):
    """(masked image, known mask) at the model's resolution -> z, N x z_dim.

    Keyword arguments are the config (`config.json`): the prior's `resolution`, `channels`,
    `z_dim` and `prior`; `width` of the first convolution (doubling at each 2x downsampling
    to 4x4, then a linear layer); `spread`, how far `propose` mixes its last restart toward
    a prior draw (0: all restarts at E's answer; 1: the last one is a fresh draw).
    """

    def __init__(self, resolution: int = 32, channels: int = 1, z_dim: int = 100, width: int = 32,
                 prior: str = "gaussian", spread: float = 0.5):
        super().__init__()
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if not 0.0 <= spread <= 1.0:
            raise ValueError(f"spread must be between 0 and 1, got {spread}")
        levels = _levels(resolution)
        layers: list[nn.Module] = []
        c_in, c_out = channels + 1, width  # the masked image and the known mask
        for _ in range(levels):  # R -> R/2 -> ... -> 4
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2, True),
                       nn.Conv2d(c_out, c_out, 3, 1, 1), nn.LeakyReLU(0.2, True)]
            c_in, c_out = c_out, c_out * 2
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * 16, z_dim))
        self.resolution, self.channels, self.z_dim = resolution, channels, z_dim
        self.prior, self.spread = prior, float(spread)

    def forward(self, y: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """y: N x C x R x R in [-1, 1] (values in the hole are ignored); known: N x 1 x R x R in
        [0, 1] (1 = known pixel, 0 = hole or letterbox). Returns E's z, N x z_dim (for the
        uniform prior inside [-1, 1]; for the Gaussian trained to lie near the prior's shell)."""
        z = self.net(torch.cat([y * known, known], dim=1))
        return torch.tanh(z) if self.prior == "uniform" else z

    @torch.no_grad()
    def propose(self, y: torch.Tensor, known: torch.Tensor, n: int, generator: torch.Generator | None = None,
                spread: float | None = None) -> torch.Tensor:
        """n starting points for the search, n x z_dim on y's device.

        y: 1 x C x R x R in [-1, 1], known: 1 x 1 x R x R in [0, 1] (as `forward`). The first is
        E's answer z_E; restart i mixes it toward a prior draw e_i (drawn with `generator`, a
        seeded CPU generator: same seed, same answers) by a share s_i rising evenly from 0 to
        `spread` (default: the config's): sqrt(1 - s_i^2) z_E + s_i e_i for the Gaussian prior
        (which keeps z near the prior's shell), (1 - s_i) z_E + s_i e_i for the uniform one
        (inside [-1, 1]). The search projects them into the prior.
        """
        spread = self.spread if spread is None else float(spread)
        device = next(self.parameters()).device
        z = self(y.to(device, torch.float32), known.to(device, torch.float32))[:1].cpu()  # 1 x z_dim
        if self.prior == "uniform":
            draws = torch.rand(n, self.z_dim, generator=generator) * 2 - 1
        else:
            draws = torch.randn(n, self.z_dim, generator=generator)
        share = torch.linspace(0, spread, n)[:, None] if n > 1 else torch.zeros(1, 1)
        if self.prior == "uniform":  # a convex mix stays inside [-1, 1]
            mixed = (1 - share) * z + share * draws
        else:  # independent Gaussians: the norm stays about that of z_E and e_i
            mixed = torch.sqrt(1 - share ** 2) * z + share * draws  # n x z_dim
        return mixed.to(y.device)

    def prior_penalty(self, z: torch.Tensor) -> torch.Tensor:
        """How far each z (N x z_dim) strays from where the prior's mass is, N: for the Gaussian the
        squared relative distance of |z| from sqrt(z_dim); for the uniform nothing (tanh keeps it in)."""
        if self.prior == "uniform":
            return z.new_zeros(z.shape[0])
        return (z.norm(dim=1) / math.sqrt(self.z_dim) - 1) ** 2


def attach(model: DCGAN, encoder: LatentEncoder | None) -> DCGAN:
    """Give the model its encoder (None: none) as `model.encoder`, for the search's warm start.

    Set outside nn.Module's bookkeeping, so the model's state_dict stays the prior's own (the
    checkpoint and `DCGAN.fused` read it) and E is not among its parameters."""
    object.__setattr__(model, "encoder", encoder)
    return model
