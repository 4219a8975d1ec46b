"""The context encoder (Pathak et al., CVPR 2016), as a U-Net: a second way to fill a hole.

Where the GAN prior searches a generator's latent space for each image (`inpaint.complete`),
a context encoder is trained to map a masked image straight to its completion, so a fill is
one forward pass (milliseconds) instead of a search. Its input is the masked image (hole
zeroed, [-1, 1]) and the mask (1 = known) as one more channel; its output is the whole image
in [-1, 1], of which the engine keeps the hole (`inpaint.methods`).

A checkpoint's context encoder lives beside the prior, in its folder's `context-encoder/`
subfolder (config.json, model.safetensors in fp16, README.md); `train/context_encoder.py`
trains one.
"""

from __future__ import annotations

import time

import torch
from huggingface_hub import PyTorchModelHubMixin
from PIL import Image
from torch import nn

from .complete import Completion, Job, Progress, Settings, _task, paste_back
from .errors import InpaintError
from .hub import load_companion
from .imageio import to_pil
from .models import _levels

FOLDER = "context-encoder"  # the subfolder of a prior's checkpoint that holds its context encoder


def _down(c_in: int, c_out: int) -> nn.Sequential:
    """Halve the resolution: strided 4x4 convolution, BatchNorm, LeakyReLU(0.2)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    """Double the resolution: transposed 4x4 convolution, BatchNorm, ReLU."""
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))


class ContextEncoder(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="gan-inpaint",
    tags=["context-encoder", "image-inpainting", "u-net"],
):
    """masked image (N x C x R x R, [-1, 1], hole = 0) and known (N x 1 x R x R, 1 = known)
    -> completed image (N x C x R x R, [-1, 1]).

    An encoder of strided convolutions down to 4x4, a bottleneck of two 3x3 convolutions
    there (whose receptive field spans the whole image, as Pathak et al.'s channel-wise fully
    connected layer does), and a decoder of transposed convolutions that takes the encoder's
    features of each resolution as well (U-Net skips: the known pixels' detail need not pass
    through the bottleneck). Widths start at `width` and double per level up to 4 x `width`.

    Keyword arguments are the config (`config.json`): `resolution` (a power of two >= 8),
    `channels` (1 or 3), `width`, and the `dataset` it was trained on.
    """

    def __init__(self, resolution: int = 32, channels: int = 1, width: int = 32, dataset: str = "unknown"):
        super().__init__()
        levels = _levels(resolution)  # 2x stages from R down to 4x4
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.resolution, self.channels, self.dataset = resolution, channels, dataset
        widths = [width * 2 ** min(i, 2) for i in range(levels + 1)]  # at R, R/2, ..., 4
        self.stem = nn.Sequential(nn.Conv2d(channels + 1, widths[0], 3, 1, 1), nn.LeakyReLU(0.2, True))
        self.down = nn.ModuleList(_down(widths[i], widths[i + 1]) for i in range(levels))
        deepest = widths[-1]
        self.bottleneck = nn.Sequential(
            nn.Conv2d(deepest, deepest, 3, 1, 1, bias=False), nn.BatchNorm2d(deepest), nn.LeakyReLU(0.2, True),
            nn.Conv2d(deepest, deepest, 3, 1, 1, bias=False), nn.BatchNorm2d(deepest), nn.LeakyReLU(0.2, True),
        )
        # up[i] brings level i+1 to level i; it sees the level's own encoder features beside the decoder's
        self.up = nn.ModuleList(_up(2 * widths[i + 1], widths[i]) for i in range(levels))
        self.head = nn.Sequential(nn.Conv2d(2 * widths[0], channels, 3, 1, 1), nn.Tanh())

    @property
    def config(self) -> dict:
        return dict(self._hub_mixin_config)

    def forward(self, masked: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        h = self.stem(torch.cat([masked * (known > 0), known], 1))  # N x width x R x R
        skips = [h]
        for down in self.down:
            h = down(h)
            skips.append(h)                                 # ..., N x 4width x 4 x 4
        h = self.bottleneck(h)
        for i in reversed(range(len(self.up))):
            h = self.up[i](torch.cat([h, skips[i + 1]], 1))  # N x widths[i] x (2x the size)
        return self.head(torch.cat([h, skips[0]], 1))        # N x C x R x R

    @torch.no_grad()
    def fill(self, masked: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """The completion in eval mode (the model's mode is restored after)."""
        was_training = self.training
        self.eval()
        out = self(masked, known).float()
        self.train(was_training)
        return out


# --- the method: one forward pass, pasted back as the search's fills are ------------------------


def has_context_encoder(model) -> bool:
    """Whether the model's checkpoint ships a context encoder (False for a model made in memory)."""
    try:
        return load_companion(model, FOLDER, ContextEncoder) is not None
    except InpaintError:  # a broken one: the method itself says what is wrong
        return True


def context_encoder_of(model) -> ContextEncoder:
    """The model's context encoder (its checkpoint's `context-encoder/` subfolder, loaded once), or an
    InpaintError saying how to train one."""
    encoder = load_companion(model, FOLDER, ContextEncoder)
    if encoder is None:
        folder = getattr(model, "checkpoint_dir", None) or "CHECKPOINT"
        dataset = model.dataset if model.dataset != "unknown" else "DATASET"
        raise InpaintError(f"this checkpoint ships no context encoder; train one with python -m train --kind "
                           f"context-encoder --dataset {dataset} --out {folder}/{FOLDER}")
    if (encoder.resolution, encoder.channels) != (model.resolution, model.channels):
        raise InpaintError(f"this checkpoint's context encoder is for {encoder.resolution}x{encoder.resolution} "
                           f"images with {encoder.channels} channel(s), but its prior for {model.resolution}x"
                           f"{model.resolution} with {model.channels}; retrain it for the prior")
    return encoder


def complete(model, image: Image.Image, mask, settings: Settings | None = None, on_progress=None) -> Completion:
    """Fill the hole of `image` with the model's context encoder: `inpaint.complete`'s contract.

    image: a PIL image of any size and mode; mask: a mask image or bool H x W array (True / white
    = hole); settings: `Settings` (only `blend`, `max_side` and `device` apply: there is no search).
    The image is fitted to the model's square as the search fits it, filled in one forward pass, and
    the fill is blended into the hole at the image's full size. Returns a `Completion` with one
    candidate; `on_progress` is called once, after the pass. Raises InpaintError for a wrong input,
    and when the checkpoint has no context encoder.
    """
    settings = settings or Settings()
    started = time.perf_counter()
    encoder = context_encoder_of(model)
    task = _task(model, Job(image, mask, settings))  # the engine's door: checks, scaling, fitting
    problem = task.problem
    fill = encoder.fill(problem.y, problem.known).cpu()  # 1 x C x R x R
    if on_progress is not None:
        on_progress(Progress(1, 1, 0.0, {}, fill[0], problem.y[0].cpu(), problem.known[0].cpu()))
    blended = paste_back(task, [fill[0]])[0]
    fit_error = problem.fit_error(fill[0])
    return Completion(
        image=blended, candidates=[blended], losses=[fit_error], raw=to_pil(fill[0]), raw_candidates=[to_pil(fill[0])],
        masked=to_pil(problem.y[0].cpu()), iterations=1, seconds=time.perf_counter() - started, history=[],
        curves={}, stopped_early=False, device=str(problem.y.device), precision="fp32", notes=list(task.notes),
        fit_error=fit_error, in_domain=None,  # the prior's fit_limit is calibrated on the search's fits, not these
    )
