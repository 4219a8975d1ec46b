"""Run by test_train.py under torchrun (2 gloo ranks): a tiny DCGAN on 32 distinct images;
each rank then writes OUT/rank<R>.pt with its parameters and the images it was given."""

from __future__ import annotations

import os
import sys

import torch

from train import loop
from train.data import random_indices

models, seen = [], []


class RecordedDCGAN(loop.DCGAN):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        models.append(self)


def recorded_indices(*args, **kwargs):
    for idx in random_indices(*args, **kwargs):
        seen.extend(idx)
        yield idx


def main(out: str) -> None:
    images = torch.arange(32, dtype=torch.uint8).view(32, 1, 1, 1).expand(32, 1, 8, 8).contiguous()
    cfg = loop.TrainConfig(dataset="folder:ddp-test", out=out, resolution=8, channels=1, z_dim=4, ngf=4, ndf=4,
                           batch_size=4, steps=3, threads=1, checkpoint_every=100, sample_every=100,
                           run=os.path.join(out, "..", "run"))
    torch.manual_seed(cfg.seed)  # the loop's own initialization, to show that the parameters moved
    initial = dict(loop.DCGAN(resolution=8, channels=1, z_dim=4, ngf=4, ndf=4).apply(loop.weights_init)
                   .named_parameters())
    loop.DCGAN, loop.random_indices = RecordedDCGAN, recorded_indices
    loop.train(cfg, images)
    params = {k: v.detach().cpu() for k, v in models[0].named_parameters()}
    torch.save({"params": params, "initial": initial, "seen": seen}, os.path.join(out, f"rank{os.environ['RANK']}.pt"))


if __name__ == "__main__":
    main(sys.argv[1])
