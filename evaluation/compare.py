"""Whole Settings against each other on held-out images, compared pair by pair.

    python -m evaluation.compare --model checkpoints/fashion-mnist-32 --n 20 \\
        --config cold= --config warm=restarts:8,warm_start:0.75,iterations:30 [--config paper=paper,n:2]

`evaluation.sweep` is this with configs that differ in one Settings field; here named settings
may differ in several (`NAME=field:value,...`; `paper` starts from `Settings.paper()`; `n:K`
runs that one on the first K images of each mask only). Every config completes the same images
under the same masks and seeds as the sweep (the split's fixed shuffled order, preset seed and
search seed = the image's index), the configs taking turns image by image, so that a load that
changes over the run weighs on all of them alike. It prints each config's mean hole PSNR,
semantic accuracy (where the domain has a classifier), D's score of the raw fill, seconds and
steps per image, then each config against the first (and against each one named paper...),
paired, with the standard error of the mean difference and how many times less time it took.
Validation split unless told otherwise. `--size PX` completes each image scaled up (bicubic) to
PX x PX with its hole drawn at that size, as the app gets them (the fill scaled up and blended
at full size), and scores it there against the scaled-up image.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inpaint import methods as registry
from inpaint.complete import Settings
from inpaint.errors import InpaintError
from inpaint.hub import load_model
from inpaint.imageio import to_tensor
from inpaint.masks import preset

from .classifier import SmallCNN, predict
from .evaluate import GAN_PRIOR, heldout
from .metrics import psnr


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    settings: Settings
    limit: int | None = None  # only the first `limit` images of each mask


def parse_config(text: str) -> Config:
    """`NAME=field:value,...` -> Config (`paper` as a field: start from Settings.paper(); `n:K`: a limit)."""
    name, _, spec = text.partition("=")
    changes, paper, limit = {}, False, None
    for part in filter(None, spec.split(",")):
        key, _, value = part.partition(":")
        if key == "paper":
            paper = True
        elif key == "n":
            limit = int(value)
        elif key in {f.name for f in dataclasses.fields(Settings)}:
            kind = type(getattr(Settings(), key))
            changes[key] = value if kind is str else int(float(value)) if kind is int else float(value)
        else:
            raise ValueError(f"unknown Settings field {key!r} in --config {text!r}")
    return Config(name, Settings.paper(**changes) if paper else Settings(**changes), limit)


def compare(model, configs: list[Config], n: int, masks: list[str], split: str = "val", offset: int = 0,
            on_mask=None, method: str = GAN_PRIOR, size: int | None = None) -> list[dict]:
    """Rows {config, mask, index, image, psnr_hole, seconds, iterations[, d_score][, semantic]}, one per
    config, mask and image, completed by the registered method `method` (`inpaint.methods`).
    d_score is D's score of the best raw fill (where the model has a D). size: complete the
    images scaled up to size x size (None: at the model's resolution); the classifier reads the
    result scaled back down."""
    engine = registry.get(method)
    images, labels, clf_folder = heldout(model.config["dataset"], split)
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[offset: offset + n]
    classifier = SmallCNN.load(clf_folder) if clf_folder is not None and labels is not None else None
    device = next(model.parameters()).device
    rows = []
    for mask_name in masks:
        for i, idx in enumerate(pick.tolist()):
            arr = images[idx].permute(1, 2, 0).numpy()
            arr = arr[..., 0] if arr.shape[2] == 1 else arr
            small = arr.shape[1], arr.shape[0]
            if size is not None:
                arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.BICUBIC))
            hole = preset(mask_name, (arr.shape[1], arr.shape[0]), seed=i)
            for config in configs:
                if config.limit is not None and i >= config.limit:
                    continue
                started = time.perf_counter()
                result = engine.run(model, Image.fromarray(arr), hole, dataclasses.replace(config.settings, seed=i))
                seconds = time.perf_counter() - started
                out = np.array(result.image)
                row = {"config": config.name, "mask": mask_name, "index": i, "image": idx,
                       "psnr_hole": psnr(arr, out, hole), "seconds": seconds, "iterations": result.iterations}
                if model.D is not None:
                    with torch.no_grad():
                        row["d_score"] = float(torch.sigmoid(model.D(to_tensor(result.raw).to(device))))
                if classifier is not None:
                    seen = out if size is None else np.array(Image.fromarray(out).resize(small, Image.BOX))
                    x = torch.from_numpy(seen[..., None] if seen.ndim == 2 else seen).permute(2, 0, 1)[None]
                    row["semantic"] = bool(predict(classifier, x)[1][0] == labels[idx])
                rows.append(row)
        if on_mask is not None:
            on_mask(mask_name, rows)
    return rows


def report(rows: list[dict], field: str | None = None) -> str:
    """Each config's means, then each config against the first (and against each one named
    paper...), paired: mean difference ± standard error, per mask, and the time ratio. `field`:
    the rows are one Settings field's values (`evaluation.sweep`), named by the value."""
    names = list(dict.fromkeys(r["config"] for r in rows))
    by = {nm: {(r["mask"], r["index"]): r for r in rows if r["config"] == nm} for nm in names}
    semantic, d_score = "semantic" in rows[0], "d_score" in rows[0]
    columns = [("psnr_hole", "hole PSNR (dB)", ".2f")] + ([("semantic", "semantic acc.", ".3f")] if semantic else []) \
        + ([("d_score", "D(G(z))", ".3f")] if d_score else []) + [("seconds", "s / image", ".3f"), ("iterations", "steps", ".1f")]
    lines = [f"| {field or 'config'} | " + " | ".join(title for _, title, _ in columns) + " | n |",
             "|---|" + "---|" * len(columns) + "---|"]
    for nm in names:
        sel = list(by[nm].values())
        lines.append(f"| {nm} | " + " | ".join(f"{np.mean([float(r[key]) for r in sel]):{fmt}}" for key, _, fmt in columns)
                     + f" | {len(sel)} |")
    lines.append("")
    for ref in names[:1] + [nm for nm in names[1:] if nm.startswith("paper")]:
        for nm in names:
            keys = sorted(by[nm].keys() & by[ref].keys())
            if nm == ref or len(keys) < 2:
                continue
            parts = []
            for metric, unit in (("psnr_hole", " dB"), ("semantic", "")) if semantic else (("psnr_hole", " dB"),):
                d = np.array([float(by[nm][k][metric]) - float(by[ref][k][metric]) for k in keys])
                parts.append(f"{metric} {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}{unit}")
            per_mask = []
            for mask in dict.fromkeys(k[0] for k in keys):
                d = np.array([by[nm][k]["psnr_hole"] - by[ref][k]["psnr_hole"] for k in keys if k[0] == mask])
                per_mask.append(f"{mask} {d.mean():+.2f}")
            ratio = np.mean([by[ref][k]["seconds"] for k in keys]) / np.mean([by[nm][k]["seconds"] for k in keys])
            label = f"{field} {nm} vs {ref}" if field else f"{nm} vs {ref}"
            lines.append(f"{label}, paired over {len(keys)} image-mask pairs: " + ", ".join(parts)
                         + f" ({', '.join(per_mask)} dB); {ratio:.2f}x less time")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--config", action="append", required=True,
                   help="NAME=field:value,... (the first is the reference; 'paper': from Settings.paper(); "
                        "'n:K': only the first K images)")
    p.add_argument("--n", type=int, default=20, help="images per mask")
    p.add_argument("--offset", type=int, default=0, help="skip the first N images of the split's fixed order")
    p.add_argument("--masks", default="center,left,top,strokes")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--size", type=int, help="complete the images scaled up to PX x PX (the app's case; default: "
                                            "the model's resolution)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="also save the rows as JSON here (after each mask)")
    args = p.parse_args(argv)
    try:
        configs = [parse_config(c) for c in args.config]
        model = load_model(args.model)
    except (ValueError, InpaintError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)

    def saved(mask_name, rows):
        print(f"  {mask_name}: done", file=sys.stderr, flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")

    rows = compare(model, configs, args.n, args.masks.split(","), args.split, args.offset, on_mask=saved,
                   size=args.size)
    command = f"python -m evaluation.compare {' '.join(argv if argv is not None else sys.argv[1:])}"
    print(f"{command}  ({args.split} split)\n\n{report(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
