"""Quality on held-out images: the engine's methods vs the paper's search vs classical fills.

    python -m evaluation --model checkpoints/fashion-mnist-32 --n 100 --out reports/fashion-mnist-32

--split val for every choice (settings, exports, defaults); --split test (the default) only
for the reported tables. The methods (--methods) are the engine's registered ones
(`inpaint.methods`: "gan-prior", ...), each run as the app and the CLI run it, and the
evaluation's own rows: "paper" (the gan-prior method at `Settings.paper()`) and the classical
fills "telea", "navier-stokes" and "mean". For each mask type and method: PSNR and SSIM inside
the hole and over the whole image, seconds per image and, for Fashion-MNIST, semantic accuracy
(does the project's classifier, trained on the train split, still see the true class in the
completed image?). The paper's search runs under the project's blend, as Yeh et al. blend
their results too, so "gan-prior vs paper" compares the searches; the blend's own effect is
the "gan-prior, no blend" row (the same search, its best fill pasted as it is), and under the
edge-aware blend the "gan-prior, poisson" row is the same fill under plain Poisson blending.
"projection" (asked for by name, never in the default) is no method but a measure of the prior:
G(z) fitted to the *whole* image, the hole's truth included, blended into the hole as gan-prior's
fill is — what the generator can represent of each held-out image, which a search that sees only
the known pixels can hardly beat; "gan-prior vs projection" is how much of that the search reaches.
Writes results.json, results.md and a figure per mask type (original / masked / each method).
With --samples N it also reports the Fréchet distance between N generated samples and
the split's images in the classifier's features (and the samples' class histogram).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from tqdm import tqdm

from inpaint import blend as blending
from inpaint import methods as registry
from inpaint import operators as ops
from inpaint.complete import Completion, Settings, restore
from inpaint.errors import InpaintError
from inpaint.hub import load_model
from inpaint.imageio import grid, to_tensor
from inpaint.masks import preset
from train.export import update_card

from .classifier import CLASSIFIERS, SmallCNN, classifier_for, labelled, predict
from .metrics import frechet_distance, psnr, ssim

GAN_PRIOR = "gan-prior"  # the engine's latent search (its name in inpaint.methods)
PAPER = "paper"  # the gan-prior method at Settings.paper(), under the evaluated settings' blend
CLASSICAL = ("telea", "navier-stokes", "mean")  # no model: OpenCV's two fills and the known pixels' mean
NO_BLEND = f"{GAN_PRIOR}, no blend"  # the same search with its fill pasted unblended: the blend's effect
PLAIN_POISSON = f"{GAN_PRIOR}, poisson"  # the same search's fill under plain Poisson: the edge-aware blend's effect
REBLENDS = {NO_BLEND: "none", PLAIN_POISSON: "poisson"}  # rows that re-blend gan-prior's best fill, no second search
# per blend of the evaluated settings, the re-blends it is measured against
REFERENCES = {"edge-aware": (NO_BLEND, PLAIN_POISSON), "poisson": (NO_BLEND,), "alpha": (NO_BLEND,), "none": ()}
PAPERS_IMAGES = f"{GAN_PRIOR}, paper's images"  # gan-prior on the images the paper's search ran on
# not a method: G(z) fitted to the whole image (the hole included), blended like gan-prior's fill: the prior's reach.
# Searched by `restore` with A = identity (Noise(0)): 32 restarts from the best of 512 prior draws, up to 200 steps
PROJECTION = "projection"
PROJECTING = Settings(iterations=200)
ORACLES = (PROJECTION,)  # rows that see the hole's truth: only when asked for by name
SPLITS = ("val", "test")
SEMANTIC_MASKS = ("center", "left", "top", "strokes")  # the average for the target


def method_names() -> tuple[str, ...]:
    """Every --methods value, and the default: the engine's registered methods, then the evaluation's own."""
    return (*registry.names(), PAPER, *CLASSICAL, *ORACLES)


def check_methods(methods) -> tuple[str, ...]:
    """The names as a tuple, or a ValueError naming the ones there are."""
    unknown = [m for m in methods if m not in method_names()]
    if unknown:
        raise ValueError(f"unknown method {', '.join(unknown)}; choose from {', '.join(method_names())}")
    return tuple(methods)


def classical_fill(image: np.ndarray, hole: np.ndarray, method: str) -> np.ndarray:
    """OpenCV's Telea / Navier-Stokes inpainting, or the known pixels' mean colour."""
    if method == "mean":
        out = image.copy()
        out[hole] = image[~hole].reshape(-1, *image.shape[2:]).mean(0).round().astype(np.uint8)
        return out
    import cv2

    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    bgr = image[..., ::-1].copy() if image.ndim == 3 else image
    out = cv2.inpaint(bgr, hole.astype(np.uint8) * 255, 3, flag)
    return out[..., ::-1].copy() if image.ndim == 3 else out


def heldout(dataset: str, split: str = "test"):
    """(uint8 images N x C x R x R, labels or None, classifier folder or None) of a split of a model's domain."""
    images, labels, _ = labelled(dataset, split)
    folder = CLASSIFIERS / classifier_for(dataset)
    return images, (labels if dataset == "fashion-mnist" else None), (folder if folder.exists() else None)


def reblended(completion: Completion, image: np.ndarray, hole: np.ndarray, mode: str) -> np.ndarray:
    """The completion's best fill blended into the hole under another blend `mode` ("none":
    pasted as it is), for an image at the model's resolution (uint8 H x W or H x W x C): the
    same search, no second run."""
    return blended(np.asarray(completion.raw), image, hole, mode)


def blended(fill: np.ndarray, image: np.ndarray, hole: np.ndarray, mode: str,
            sigma: float = blending.EDGE_SIGMA) -> np.ndarray:
    """A fill at the model's resolution (uint8, the image's shape) blended into the image's hole."""
    fill = np.asarray(fill, dtype=np.float64).reshape(*image.shape[:2], -1)
    return blending.blend(image.reshape(fill.shape[0], fill.shape[1], -1), fill, hole, mode,
                          sigma=sigma).reshape(image.shape)


def projection(model, image: np.ndarray, seed: int = 0) -> np.ndarray:
    """G(z) fitted to the whole `image` (uint8 at the model's resolution, its hole's truth included),
    in the image's shape: what the prior can represent of it (`PROJECTING`'s search, by `restore`
    with nothing degraded). No hole is involved, so one projection serves every mask."""
    done = restore(model, Image.fromarray(image), ops.Noise(0.0), replace(PROJECTING, seed=seed))
    return np.asarray(done.raw).reshape(image.shape)


def evaluate(model, n: int, masks: list[str], paper_n: int, methods: tuple[str, ...] | None = None,
             figure_rows: int = 6, out: Path | None = None, settings: Settings | None = None, split: str = "test",
             paper_overrides: dict | None = None) -> dict:
    """The table for n images of `split` ("val" for choices, "test" for reports) per mask.

    methods: names from `method_names()` (default: all). settings: the registered methods'
    (default `Settings.for_model(model)`: the warm start where the model ships an encoder). The
    paper's search is `Settings.paper()` with `paper_overrides` (e.g. fewer iterations for a
    quick look) under the same blend."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    methods = check_methods(methods or [m for m in method_names()  # by default, what this model can run
                                         if m not in ORACLES and (m not in registry.names()
                                                                  or registry.get(m).available(model))])
    dataset = model.config["dataset"]
    images, labels, clf_folder = heldout(dataset, split)
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:n]
    images = images[pick]
    labels = labels[pick] if labels is not None else None
    classifier = SmallCNN.load(clf_folder) if clf_folder is not None else None
    settings = settings or Settings.for_model(model)
    paper = replace(Settings.paper(**(paper_overrides or {})), blend=settings.blend)
    if GAN_PRIOR in methods:  # the same search under the blends the settings' one is measured against
        methods = (*methods, *REFERENCES[settings.blend])
    rows, figures = [], {}
    projected: dict[int, tuple[np.ndarray, float]] = {}  # image index -> (its projection, seconds): one for all masks

    def classify(batch):
        return predict(classifier, torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2))[1]

    clean = None
    if classifier is not None and labels is not None:
        clean = float((predict(classifier, images)[1] == labels).float().mean())
    total = len(masks) * sum(n if m != PAPER else min(n, paper_n) for m in methods if m not in REBLENDS)
    bar = tqdm(total=total, unit="img", desc="evaluate", file=sys.stderr)
    for mask_name in masks:
        outputs = {m: [] for m in methods}
        holes = []
        for i, img in enumerate(images):
            arr = img.permute(1, 2, 0).numpy()
            arr = arr[..., 0] if arr.shape[2] == 1 else arr
            hole = preset(mask_name, (arr.shape[1], arr.shape[0]), seed=i)
            holes.append(hole)
            for method in methods:
                if method in REBLENDS or (method == PAPER and i >= paper_n):
                    continue
                t = time.perf_counter()
                if method in CLASSICAL:
                    filled = classical_fill(arr, hole, method)
                elif method == PROJECTION:
                    if i not in projected:
                        projected[i] = projection(model, arr, seed=i), time.perf_counter() - t
                    filled = blended(projected[i][0], arr, hole, settings.blend, settings.edge_sigma)
                else:  # a registered method, or the paper's settings of the gan-prior one
                    registered, s = (GAN_PRIOR, paper) if method == PAPER else (method, settings)
                    done = registry.get(registered).run(model, Image.fromarray(arr), hole, replace(s, seed=i))
                    filled = np.asarray(done.image)
                seconds = time.perf_counter() - t if method != PROJECTION else projected[i][1]  # its search's, every mask
                found = [(method, filled)]
                if method == GAN_PRIOR:  # the same search: the re-blends' seconds are gan-prior's
                    found += [(row, reblended(done, arr, hole, REBLENDS[row])) for row in methods if row in REBLENDS]
                for name, result in found:
                    outputs[name].append(result)
                    rows.append({"mask": mask_name, "method": name, "index": i, "seconds": seconds,
                                 "psnr_hole": psnr(arr, result, hole), "psnr": psnr(arr, result),
                                 "ssim_hole": ssim(arr, result, hole), "ssim": ssim(arr, result)})
                bar.update()
        if classifier is not None and labels is not None:
            for method in methods:
                done = outputs[method]
                preds = classify([d[..., None] if d.ndim == 2 else d for d in done])
                hits = (preds == labels[: len(done)]).tolist()
                for row in rows:
                    if row["mask"] == mask_name and row["method"] == method:
                        row["semantic"] = bool(hits[row["index"]])
        figures[mask_name] = figure(images[:figure_rows], holes[:figure_rows],
                                    {m: outputs[m][:figure_rows] for m in methods})
    bar.close()
    summary = summarize(rows, masks, methods, clean)
    summary["settings"] = {GAN_PRIOR: asdict(settings), PAPER: asdict(paper)}
    summary["n"], summary["paper_n"], summary["dataset"], summary["split"] = n, min(n, paper_n), dataset, split
    if out is not None:
        write_report(out, summary, rows, figures)
    return summary


def summarize(rows, masks, methods, clean) -> dict:
    table = {}
    for mask_name in masks:
        for method in methods:
            sel = [r for r in rows if r["mask"] == mask_name and r["method"] == method]
            if not sel:
                continue
            entry = {k: float(np.mean([r[k] for r in sel])) for k in ("psnr_hole", "psnr", "ssim_hole", "ssim", "seconds")}
            if "semantic" in sel[0]:
                entry["semantic"] = float(np.mean([r["semantic"] for r in sel]))
            entry["n"] = len(sel)
            table.setdefault(mask_name, {})[method] = entry
    # the paper's settings run on the first few images only: compare like with like too
    for mask_name in masks:
        paper = table.get(mask_name, {}).get(PAPER)
        if paper is None or GAN_PRIOR not in table[mask_name]:
            continue
        sel = [r for r in rows if r["mask"] == mask_name and r["method"] == GAN_PRIOR and r["index"] < paper["n"]]
        entry = {k: float(np.mean([r[k] for r in sel])) for k in ("psnr_hole", "psnr", "ssim_hole", "ssim", "seconds")}
        if "semantic" in sel[0]:
            entry["semantic"] = float(np.mean([r["semantic"] for r in sel]))
        entry["n"] = len(sel)
        table[mask_name][PAPERS_IMAGES] = entry
    result = {"table": table, "clean_accuracy": clean}
    comparison = paired(rows)
    if comparison is not None:
        result["paper_comparison"] = comparison
    blend_effect = paired(rows, GAN_PRIOR, NO_BLEND)
    if blend_effect is not None:
        result["blend_effect"] = blend_effect
    edge_effect = paired(rows, GAN_PRIOR, PLAIN_POISSON)
    if edge_effect is not None:
        result["edge_effect"] = edge_effect
    reach = paired(rows, GAN_PRIOR, PROJECTION)
    if reach is not None:
        result["projection_gap"] = reach
    sem = [m for m in SEMANTIC_MASKS if m in table]
    if clean is not None and sem:
        result["semantic_average"] = {
            method: float(np.mean([table[m][method]["semantic"] for m in sem]))
            for method in methods if all(method in table[m] for m in sem)}
        result["semantic_masks"] = sem
    return result


def paired(rows, method: str = GAN_PRIOR, reference: str = PAPER) -> dict | None:
    """`method` against `reference` on the images both ran on: the mean difference in hole PSNR
    (with its standard error, over the pairs, and per mask) and how many times less time it took."""
    ref = {(r["mask"], r["index"]): r for r in rows if r["method"] == reference}
    pairs = [(r, ref[r["mask"], r["index"]]) for r in rows if r["method"] == method and (r["mask"], r["index"]) in ref]
    if not pairs:
        return None
    diff = np.array([a["psnr_hole"] - b["psnr_hole"] for a, b in pairs])
    per_mask = {}
    for (a, b), d in zip(pairs, diff):
        per_mask.setdefault(a["mask"], []).append(float(d))
    return {"method": method, "reference": reference, "n": len(pairs), "psnr_hole_difference": float(diff.mean()),
            "standard_error": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else None,
            "per_mask": {k: float(np.mean(v)) for k, v in per_mask.items()},
            "times_faster": float(sum(b["seconds"] for _, b in pairs) / max(1e-9, sum(a["seconds"] for a, _ in pairs)))}


def figure(images, holes, outputs: dict, scale: int = 3) -> Image.Image:
    """Rows of original / masked / each method's fill, labelled at the top."""
    cols = ["original", "masked", *outputs]
    h, w = images.shape[2] * scale, images.shape[3] * scale
    labels = ["\n".join(part[: max(4, w // 6)] for part in name.split(", ")) for name in cols]  # 6 px a letter
    pad, top = 4, 4 + 11 * max(label.count("\n") + 1 for label in labels)
    canvas = Image.new("RGB", (len(cols) * (w + pad) + pad, top + len(images) * (h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(labels):
        draw.multiline_text((pad + c * (w + pad), 2), label, fill="black", spacing=2)
    for r, img in enumerate(images):
        arr = img.permute(1, 2, 0).numpy()
        arr = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
        masked = arr.copy()
        masked[holes[r]] = (255, 0, 255) if img.shape[0] == 3 else (128, 128, 128)
        tiles = [arr, masked] + [
            (np.repeat(o[r][..., None], 3, axis=2) if o[r].ndim == 2 else o[r]) if r < len(o) else None
            for o in outputs.values()]
        for c, tile in enumerate(tiles):
            if tile is None:
                continue
            pic = Image.fromarray(tile.astype(np.uint8)).resize((w, h), Image.NEAREST)
            canvas.paste(pic, (pad + c * (w + pad), top + pad + r * (h + pad)))
    return canvas


def write_report(out: Path, summary: dict, rows: list, figures: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    for name, fig in figures.items():
        fig.save(out / f"figure-{name}.png")
    (out / "results.md").write_text(markdown(summary) + "\n")


def _difference(c: dict, se_label: str = "") -> str:
    """A paired comparison's hole-PSNR difference in words: mean, standard error, per mask."""
    se = f" ± {c['standard_error']:.2f}{se_label}" if c["standard_error"] is not None else ""
    per = ", ".join(f"{k} {v:+.2f}" for k, v in c["per_mask"].items())
    return f"hole PSNR {c['psnr_hole_difference']:+.2f} dB{se} (per mask: {per})"


def markdown(summary: dict) -> str:
    has_sem = summary.get("clean_accuracy") is not None
    lines = [f"On the {summary['split']} split of {summary.get('dataset', '?')}.", ""] if "split" in summary else []
    head = "| mask | method | PSNR hole (dB) | PSNR (dB) | SSIM hole | SSIM |" + (" semantic acc. |" if has_sem else "") \
        + " s / image | n |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for mask_name, methods in summary["table"].items():
        for method, e in methods.items():
            sem = f" {e['semantic']:.2f} |" if has_sem and "semantic" in e else (" |" if has_sem else "")
            lines.append(f"| {mask_name} | {method} | {e['psnr_hole']:.2f} | {e['psnr']:.2f} | {e['ssim_hole']:.3f} | "
                         f"{e['ssim']:.3f} |{sem} {e['seconds']:.2f} | {e['n']} |")
    if has_sem:
        lines += ["", f"Classifier accuracy on the clean images: {summary['clean_accuracy']:.3f}."]
        if "semantic_average" in summary:
            avg = ", ".join(f"{k} {v:.3f}" for k, v in summary["semantic_average"].items())
            lines.append(f"Semantic accuracy averaged over {', '.join(summary['semantic_masks'])} masks: {avg}.")
    if "paper_comparison" in summary:
        c = summary["paper_comparison"]
        lines += ["", (f"{c['method']} vs {c['reference']} on the same {c['n']} image-mask pairs: "
                      f"{_difference(c, ' (standard error)')}, {c['times_faster']:.0f}× less time.")]
    if "blend_effect" in summary:
        c = summary["blend_effect"]
        lines += ["", (f"The blend alone ({c['method']} vs {c['reference']}, the same search) on {c['n']} image-mask "
                      f"pairs: {_difference(c)}.")]
    if "edge_effect" in summary:
        c = summary["edge_effect"]
        lines += ["", (f"The edge-aware blend vs plain Poisson ({c['method']} vs {c['reference']}, the same search) on "
                      f"{c['n']} image-mask pairs: {_difference(c)}.")]
    if "projection_gap" in summary:
        c = summary["projection_gap"]
        lines += ["", (f"The search against the prior's reach ({c['method']} vs {c['reference']}: G(z) fitted to the "
                      f"whole image, the hole's truth included, under the same blend) on {c['n']} image-mask pairs: "
                      f"{_difference(c)}.")]
    if "samples" in summary:
        s = summary["samples"]
        split = s.get("split", "held-out")
        lines += ["", (f"Fréchet distance ({s['features']}) between {s['n']} samples and {s['reference']} "
                      f"{split} images: {s['frechet']:.3f} ({s['n']} train images vs {split}: {s['frechet_train']:.3f}).")]
        if s.get("histogram"):
            lines.append("Samples per class: " + ", ".join(f"{k} {v}" for k, v in s["histogram"].items()) + ".")
    return "\n".join(lines)


@torch.no_grad()
def sample_quality(model, n: int, split: str = "test") -> dict | None:
    """Fréchet distance of n samples to a split ("val" or "test") in the classifier's features,
    plus the same distance for n training images (the floor a perfect model would reach)."""
    dataset = model.config["dataset"]
    folder = CLASSIFIERS / classifier_for(dataset)
    if not folder.exists():
        return None
    clf = SmallCNN.load(folder)
    split_images, _, classes = labelled(dataset, split)
    train_images, _, _ = labelled(dataset, "train")
    samples = torch.cat([model.generate(min(500, n - i), seed=i) for i in range(0, n, 500)])
    fs, preds = predict(clf, samples)
    ft, _ = predict(clf, split_images)
    pick = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(0))[:n]
    fr, _ = predict(clf, train_images[pick])
    result = {"n": n, "reference": len(split_images), "split": split, "features": f"{clf.info['dataset']} classifier, "
              f"{fs.shape[1]}-d penultimate layer", "frechet": frechet_distance(fs.numpy(), ft.numpy()),
              "frechet_train": frechet_distance(fr.numpy(), ft.numpy())}
    if dataset == "fashion-mnist":
        counts = torch.bincount(preds, minlength=len(classes)).tolist()
        result["histogram"] = dict(zip(classes, counts))
    return result


def completions_grid(model, n: int = 8, masks=("center", "left", "strokes"), split: str = "test") -> Image.Image:
    """Images of a split, masked, completed at the default settings: for the model card."""
    images, _, _ = heldout(model.config["dataset"], split)
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(1))[:n]
    rows = [[], [], []]
    for i, idx in enumerate(pick):
        img = images[idx]
        arr = img.permute(1, 2, 0).numpy().squeeze(-1) if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()
        hole = preset(masks[i % len(masks)], (arr.shape[1], arr.shape[0]), seed=i)
        done = np.asarray(registry.get(GAN_PRIOR).run(model, Image.fromarray(arr), hole,
                                                              Settings.for_model(model, seed=i)).image)
        shown = arr.copy()
        shown[hole] = 127
        for row, a in zip(rows, (arr, shown, done)):
            row.append(to_tensor(a[..., None] if a.ndim == 2 else a).permute(2, 0, 1))
    return grid(torch.stack(rows[0] + rows[1] + rows[2]), nrow=n, scale=2 if model.resolution <= 32 else 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=int, default=50, help="images of the split per mask type")
    p.add_argument("--split", choices=SPLITS, default="test",
                   help="val for choices (settings, exports); test (default) for the reported tables")
    p.add_argument("--paper-n", type=int, default=10,
                   help="images per mask for the paper's settings (about a minute each on 2 CPU cores)")
    p.add_argument("--masks", default="center,left,top,random,strokes")
    p.add_argument("--methods", help=f"comma-separated, from {', '.join(method_names())} "
                   "(default: all the model can run)")
    p.add_argument("--samples", type=int, default=0, help="also the Fréchet distance of N samples")
    p.add_argument("--update-card", action="store_true", help="write the numbers and completions into the model card")
    p.add_argument("--out", required=True)
    p.add_argument("--rewrite", action="store_true",
                   help="no new completions: summarize the rows saved in OUT/results.json again (after a change to the summary)")
    args = p.parse_args(argv)
    try:
        methods = check_methods(args.methods.split(",")) if args.methods else None
    except ValueError as err:
        p.error(str(err))
    command = f"python -m evaluation {' '.join(argv if argv is not None else sys.argv[1:])}"
    if args.rewrite:
        return rewrite(Path(args.out), Path(args.model) if args.update_card else None, command)

    try:
        model = load_model(args.model)
    except InpaintError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    masks = args.masks.split(",")
    summary = evaluate(model, args.n, masks, args.paper_n, methods, out=out, split=args.split)
    summary["command"] = command
    if args.samples:
        summary["samples"] = sample_quality(model, args.samples, args.split)
        write_report(out, summary, json.loads((out / "results.json").read_text())["rows"], {})
    text = markdown(summary)
    print(text)
    if args.update_card and Path(args.model).is_dir():
        completions_grid(model, split=args.split).save(Path(args.model) / "completions.png")
        update_card(Path(args.model), evaluation=f"From `{command}`:\n\n{text}")
    return 0


def rewrite(out: Path, card: Path | None, command: str) -> int:
    """Summarize a finished run's saved rows again, keep what was measured once (samples)."""
    saved = json.loads((out / "results.json").read_text())
    old, rows = saved["summary"], saved["rows"]
    masks = list(old["table"])
    methods = list(dict.fromkeys(r["method"] for r in rows))
    summary = {**old, **summarize(rows, masks, methods, old.get("clean_accuracy"))}
    write_report(out, summary, rows, {})
    text = markdown(summary)
    print(text)
    if card is not None:
        update_card(card, evaluation=f"From `{summary.get('command', '?')}`, summarized again by `{command}`:\n\n{text}")
    return 0

