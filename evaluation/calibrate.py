"""Calibrate a model's domain check on validation images.

    python -m evaluation.calibrate --model checkpoints/emoji-64 --n 100 [--against fashion-mnist] [--write]

Completes N validation images of the model's own data set under each mask at the default
settings and records `Completion.fit_error` (how far the best G(z) stays from the pixels that
were kept). The 99th percentile is the model's `fit_limit`: an image matched worse than that
gets the engine's "this looks unlike the images the model knows" note. With --against, the
same is done on another data set's validation images (out of domain), to say how many of
those the limit catches. --write stores the limit in the checkpoint's config.json and the
numbers in its model card.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

import inpaint
from inpaint.hub import load_model
from inpaint.masks import preset
from train.export import update_card

from .evaluate import heldout

MASKS = ("center", "left", "top", "strokes", "random")
QUANTILE = 0.99


def fit_errors(model, dataset: str, n: int, masks=MASKS, split: str = "val") -> np.ndarray:
    """fit_error of n images of `dataset` under each mask: masks x n, completed at the defaults."""
    images, _, _ = heldout(dataset, split)
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(3))[:n]
    errors = np.zeros((len(masks), len(pick)))
    bar = tqdm(total=errors.size, desc=f"{dataset} ({split})", unit="image", file=sys.stderr)
    for j, i in enumerate(pick.tolist()):
        arr = images[i].permute(1, 2, 0).numpy()
        image = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
        for k, name in enumerate(masks):
            hole = preset(name, image.size, seed=i)
            errors[k, j] = inpaint.complete(model, image, hole, seed=i, candidates=1).fit_error
            bar.update()
    bar.close()
    return errors


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a checkpoint folder")
    p.add_argument("--n", type=int, default=100, help="validation images (each under every mask)")
    p.add_argument("--against", help="another data set whose validation images are out of this model's domain")
    p.add_argument("--write", action="store_true", help="store fit_limit in config.json and the numbers in the card")
    args = p.parse_args(argv)
    folder = Path(args.model)
    model = load_model(folder, device="cpu")
    dataset = model.dataset
    own = fit_errors(model, dataset, args.n)
    limit = float(np.quantile(own, QUANTILE))
    lines = [f"Domain check of {folder.name}: `fit_error` (mean |G(z) − image| over the kept pixels, 0..1) at the "
             f"default settings, {args.n} validation images × masks {', '.join(MASKS)}.", "",
             "| images | median | 99th percentile | flagged as out of domain |", "|---|---|---|---|",
             f"| {dataset} (val, own) | {np.median(own):.4f} | {limit:.4f} | {np.mean(own > limit):.1%} |"]
    if args.against:
        other = fit_errors(model, args.against, args.n)
        lines.append(f"| {args.against} (val, other) | {np.median(other):.4f} | {np.quantile(other, QUANTILE):.4f} | "
                     f"{np.mean(other > limit):.1%} |")
        per_mask = ", ".join(f"{m} {np.mean(other[k] > limit):.0%}" for k, m in enumerate(MASKS))
        lines.append(f"\nOut-of-domain images flagged per mask: {per_mask}.")
    lines.append(f"\nfit_limit = {limit:.4f} (the 99th percentile of its own validation images). Command: "
                 f"`python -m evaluation.calibrate {' '.join(sys.argv[1:] if argv is None else argv)}`")
    report = "\n".join(lines)
    print(report)
    if args.write:
        config_path = folder / "config.json"
        config = json.loads(config_path.read_text())
        config["fit_limit"] = round(limit, 6)
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        update_card(folder, domain_check=report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
