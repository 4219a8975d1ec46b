"""One setting at several values on validation images, compared pair by pair.

    python -m evaluation.sweep --model checkpoints/fashion-mnist-32 --field lam --values 0,0.003,1 --n 40

Every value completes the same images under the same masks and seeds (the split's images in a
fixed shuffled order; `--offset` skips the first ones, so a choice made on one set can be
checked on a disjoint one). For each value it prints the mean hole PSNR, the semantic
accuracy (where the domain has a classifier), D's mean score of the best raw fills and the
seconds per image; then each value against the first, paired over the same image-mask pairs,
with the standard error of the mean difference. This is for choosing settings: it reads the
validation split unless told otherwise.
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


def sweep(model, field: str, values: list, n: int, masks: list[str], split: str = "val", offset: int = 0,
          settings: Settings | None = None, method: str = GAN_PRIOR) -> list[dict]:
    """Rows {value, mask, index, psnr_hole, d_score, seconds[, semantic]}, one per value, mask and image,
    completed by the registered method `method` (`inpaint.methods`)."""
    engine = registry.get(method)
    images, labels, clf_folder = heldout(model.config["dataset"], split)
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[offset: offset + n]
    classifier = SmallCNN.load(clf_folder) if clf_folder is not None and labels is not None else None
    base = settings or Settings.for_model(model)
    rows = []
    for value in values:
        for mask_name in masks:
            outputs = []
            for i, idx in enumerate(pick.tolist()):
                arr = images[idx].permute(1, 2, 0).numpy()
                arr = arr[..., 0] if arr.shape[2] == 1 else arr
                hole = preset(mask_name, (arr.shape[1], arr.shape[0]), seed=i)
                s = dataclasses.replace(base, **{field: value, "seed": i})
                started = time.perf_counter()
                result = engine.run(model, Image.fromarray(arr), hole, s)
                seconds = time.perf_counter() - started
                with torch.no_grad():
                    d_score = float(torch.sigmoid(model.D(to_tensor(result.raw).to(next(model.parameters()).device))))
                out = np.asarray(result.image)
                outputs.append(out[..., None] if out.ndim == 2 else out)
                rows.append({"value": value, "mask": mask_name, "index": i, "image": idx,
                             "psnr_hole": psnr(arr, out, hole), "d_score": d_score, "seconds": seconds})
            if classifier is not None:
                preds = predict(classifier, torch.from_numpy(np.stack(outputs)).permute(0, 3, 1, 2))[1]
                hits = (preds == labels[pick]).tolist()
                for row in rows[-len(outputs):]:
                    row["semantic"] = bool(hits[row["index"]])
            print(f"  {field}={value} {mask_name}: done", file=sys.stderr, flush=True)
    return rows


def report(rows: list[dict], field: str) -> str:
    """Each value's means, then each value against the first, paired (mean difference ± standard error)."""
    values = list(dict.fromkeys(r["value"] for r in rows))
    by = {v: {(r["mask"], r["index"]): r for r in rows if r["value"] == v} for v in values}
    semantic = "semantic" in rows[0]
    lines = [f"| {field} | hole PSNR (dB) |" + (" semantic acc. |" if semantic else "") + " D(G(z)) | s / image | n |",
             "|---|---|" + ("---|" if semantic else "") + "---|---|---|"]
    for v in values:
        sel = list(by[v].values())
        sem = f" {np.mean([r['semantic'] for r in sel]):.3f} |" if semantic else ""
        lines.append(f"| {v:g} | {np.mean([r['psnr_hole'] for r in sel]):.2f} |{sem} "
                     f"{np.mean([r['d_score'] for r in sel]):.3f} | {np.mean([r['seconds'] for r in sel]):.2f} | {len(sel)} |")
    lines.append("")
    ref = values[0]
    for v in values[1:]:
        keys = sorted(by[v].keys() & by[ref].keys())
        parts = []
        for metric, unit in (("psnr_hole", " dB"), ("semantic", "")) if semantic else (("psnr_hole", " dB"),):
            d = np.array([float(by[v][k][metric]) - float(by[ref][k][metric]) for k in keys])
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            parts.append(f"{metric} {d.mean():+.3f} ± {se:.3f}{unit}")
        lines.append(f"{field} {v:g} vs {ref:g}, paired over {len(keys)} image-mask pairs: " + ", ".join(parts))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--field", required=True, help="a Settings field, e.g. lam, restarts, iterations")
    p.add_argument("--values", required=True, help="comma-separated; the first is the reference")
    p.add_argument("--n", type=int, default=20, help="images per mask")
    p.add_argument("--offset", type=int, default=0, help="skip the first N images of the split's fixed order")
    p.add_argument("--masks", default="center,left,top,strokes")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--method", choices=registry.names(), default=GAN_PRIOR, help="a registered completion method")
    p.add_argument("--out", help="also save the rows as JSON here")
    args = p.parse_args(argv)
    kind = type(getattr(Settings(), args.field, None))
    if args.field not in {f.name for f in dataclasses.fields(Settings)} or kind not in (int, float):
        p.error(f"--field must be a numeric Settings field, got {args.field!r}")
    try:
        model = load_model(args.model)
    except InpaintError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    values = [kind(v) if kind is int else float(v) for v in args.values.split(",")]
    rows = sweep(model, args.field, values, args.n, args.masks.split(","), args.split, args.offset,
                 method=args.method)
    text = report(rows, args.field)
    command = f"python -m evaluation.sweep {' '.join(argv if argv is not None else sys.argv[1:])}"
    print(f"{command}  ({args.split} split)\n\n{text}")
    if args.out:
        Path(args.out).write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
