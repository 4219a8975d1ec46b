"""The data-consistency step's own settings, swept on held-out images (`inpaint.operators.consistent`).

    python -m evaluation.consistency --model checkpoints/fashion-mnist-32 --n 16 --trust 3,1,0.3 --smooth 0,3,10,30

One search per image and task (`inpaint.restore` at the default settings, its best G(z)), then
the consistency step at every (trust, smooth) pair on that same G(z): the step's settings are
compared on identical starting points, and the search runs once. Prints the mean PSNR against
the clean image per task and pair, and the best pair. On the val split (the default): the
step's defaults were chosen this way.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch
from PIL import Image

import inpaint
from inpaint import operators as ops
from inpaint.imageio import Fit

from .evaluate import heldout
from .metrics import psnr

TASKS = {"deblur-1": ops.GaussianBlur(1), "deblur-2": ops.GaussianBlur(2), "deblur-3": ops.GaussianBlur(3),
         "upscale-4": ops.Downsample(4), "upscale-8": ops.Downsample(8),
         "denoise-0.1": ops.Noise(0.1), "denoise-0.2": ops.Noise(0.2)}


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def sweep(model, images: torch.Tensor, op: ops.Degradation, pairs: list[tuple[float, float]]) -> dict:
    """{(trust, smooth): [PSNR per image]} for one degradation; images: uint8 N x C x R x R."""
    chain = ops.compose(op)
    scores: dict[tuple[float, float], list[float]] = {pair: [] for pair in pairs}
    for i, image in enumerate(images):
        truth = image.permute(1, 2, 0).numpy()
        clean = Image.fromarray(truth[..., 0] if truth.shape[2] == 1 else truth)
        observed = op.degrade(clean, seed=i)
        raw = inpaint.restore(model, observed, op, candidates=1, seed=i).raw
        fill = torch.from_numpy(np.asarray(raw, dtype=np.float32).reshape(raw.height, raw.width, -1).copy())
        x0 = torch.from_numpy(Fit(clean.size, model.resolution).undo(fill.permute(2, 0, 1) / 127.5 - 1))
        x0 = x0.permute(2, 0, 1)[None] / 255
        y = np.asarray(observed, dtype=np.float32).reshape(observed.height, observed.width, -1)
        y = torch.from_numpy(y.copy()).permute(2, 0, 1)[None] / 255
        known = torch.ones(1, 1, observed.height, observed.width)
        for trust, smooth in pairs:
            out = ops.consistent(chain, x0, y, known, trust=trust, smooth=smooth)
            scores[(trust, smooth)].append(psnr((out[0].permute(1, 2, 0).numpy() * 255).round(),
                                                truth.astype(np.float32)))
    return scores


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.consistency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    p.add_argument("--trust", type=_floats, default=[3.0, 1.0, 0.3])
    p.add_argument("--smooth", type=_floats, default=[0.0, 3.0, 10.0, 30.0])
    args = p.parse_args(argv)
    model = inpaint.load_model(args.model)
    images, _, _ = heldout(model.dataset, args.split)
    pairs = list(itertools.product(args.trust, args.smooth))
    for task in args.tasks.split(","):
        scores = sweep(model, images[: args.n], TASKS[task], pairs)
        means = {pair: float(np.mean(v)) for pair, v in scores.items()}
        best = max(means, key=means.get)
        table = "  ".join(f"trust {t:g} smooth {s:g}: {m:.2f}" for (t, s), m in means.items())
        print(f"{task}: best trust {best[0]:g} smooth {best[1]:g} ({means[best]:.2f} dB) | {table}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
