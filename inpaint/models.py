"""DCGAN generator and discriminator (Radford et al., 2016) and the checkpoint bundle.

One definition serves every power-of-two resolution >= 8 and any channel count. A
checkpoint is a `DCGAN`: G and D together (D is needed for the perceptual loss) with the
facts a user needs (resolution, channels, z size and prior, data set) in `config.json`.
"""

from __future__ import annotations

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

PRIORS = ("gaussian", "uniform")


def _levels(resolution: int) -> int:
    """Number of 2x up/down-sampling stages between 4x4 and `resolution`."""
    levels = math.log2(resolution) - 2
    if resolution < 8 or levels != int(levels):
        raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
    return int(levels)


class Generator(nn.Module):
    """z (N x z_dim) -> image (N x C x R x R) in [-1, 1].

    Transposed convolutions + BatchNorm + ReLU, Tanh at the end; widths halve as the
    resolution doubles, ending at `ngf` channels before the output layer.
    """

    def __init__(self, resolution: int = 32, channels: int = 1, z_dim: int = 100, ngf: int = 64):
        super().__init__()
        levels = _levels(resolution)
        width = ngf * 2 ** (levels - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(levels - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], self.z_dim, 1, 1))


class Discriminator(nn.Module):
    """image (N x C x R x R) in [-1, 1] -> realness logit (N,).

    Strided convolutions + LeakyReLU(0.2), BatchNorm on all but the first layer.
    """

    def __init__(self, resolution: int = 32, channels: int = 1, ndf: int = 64):
        super().__init__()
        levels = _levels(resolution)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(levels - 1):
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, True),
            ]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def weights_init(module: nn.Module) -> None:
    """The DCGAN initialisation: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGAN(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="gan-inpaint",
    tags=["dcgan", "image-inpainting", "gan"],
):
    """A trained DCGAN checkpoint: generator `G`, discriminator `D` and their config.

    Keyword arguments are the config (saved to `config.json` by `save_pretrained`):
    resolution and channels of the images, `z_dim` and `prior` of the latent code
    ("gaussian": z ~ N(0, I); "uniform": z ~ U(-1, 1)), widths `ngf`/`ndf`, and the
    `dataset` it was trained on. `discriminator=False` builds G alone (`D` is None), as the
    Hub's community DCGANs are published (see `inpaint.hub`): such a model completes by the
    contextual loss alone. `fit_limit` (0: not calibrated) is how closely the default
    search matches the known pixels of the model's own kind of image: the 99th percentile of
    `Completion.fit_error` on validation images (`python -m evaluation.calibrate`); an image
    matched worse than that is probably not of the model's domain.
    """

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 1,
        z_dim: int = 100,
        ngf: int = 64,
        ndf: int = 64,
        prior: str = "gaussian",
        dataset: str = "unknown",
        fit_limit: float = 0.0,
        discriminator: bool = True,
    ):
        super().__init__()
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.resolution, self.channels, self.z_dim = resolution, channels, z_dim
        self.prior, self.dataset, self.fit_limit = prior, dataset, float(fit_limit)
        self.G = Generator(resolution, channels, z_dim, ngf)
        self.D = Discriminator(resolution, channels, ndf) if discriminator else None

    @property
    def config(self) -> dict:
        return dict(self._hub_mixin_config)

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """n draws from the prior, N x z_dim (on `device`, drawn on the CPU for determinism)."""
        if self.prior == "uniform":
            z = torch.rand(n, self.z_dim, generator=generator) * 2 - 1
        else:
            z = torch.randn(n, self.z_dim, generator=generator)
        return z.to(device or "cpu")

    def project_z(self, z: torch.Tensor) -> torch.Tensor:
        """Keep z inside the prior's support, in place.

        Uniform: clip to [-1, 1]. Gaussian: nearly all prior mass lies near the sphere of
        radius sqrt(z_dim), so rescale any z that strays outside that radius onto it.
        """
        with torch.no_grad():
            if self.prior == "uniform":
                z.clamp_(-1, 1)
            else:
                radius = math.sqrt(self.z_dim)
                norm = z.norm(dim=1, keepdim=True).clamp_min(1e-8)
                z.mul_(torch.where(norm > radius, radius / norm, torch.ones_like(norm)))
        return z

    @torch.no_grad()
    def fused(self) -> "DCGAN":
        """A copy for inference with every BatchNorm folded into the convolution before it.

        Same outputs as this model in eval mode (to float rounding), fewer passes over the
        activations: the latent optimization runs G and D forward and backward thousands of
        times per completion, and the BatchNorms are a sizeable share of that on a CPU.
        """
        fused = DCGAN(**self.config).to(next(self.parameters()).device)
        fused.load_state_dict(self.state_dict())
        nets = [(fused.G.net, 1)] + ([(fused.D.net, 0)] if fused.D is not None else [])  # ConvTranspose: (in, out, k, k)
        for net, out_dim in nets:
            for i, layer in enumerate(list(net)):
                if isinstance(layer, nn.BatchNorm2d):
                    conv = net[i - 1]
                    scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
                    shape = [1] * conv.weight.dim()
                    shape[out_dim] = -1
                    conv.weight.mul_(scale.reshape(shape))
                    conv.bias = nn.Parameter(layer.bias - layer.running_mean * scale)
                    net[i] = nn.Identity()
        fused.eval().requires_grad_(False)
        fused.source = getattr(self, "source", None)
        # the search's warm start (inpaint.complete), if any; not a submodule: not in the state dict
        object.__setattr__(fused, "encoder", getattr(self, "encoder", None))
        return fused

    @torch.no_grad()
    def generate(self, n: int, seed: int = 0) -> torch.Tensor:
        """n samples, N x C x R x R in [-1, 1], in eval mode."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        images = self.G(self.sample_z(n, torch.Generator().manual_seed(seed), device)).float()
        self.train(was_training)
        return images
