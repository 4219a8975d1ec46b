"""Restoration on held-out images: the engine's latent search vs the classical answers.

    python -m evaluation.restoration --model checkpoints/fashion-mnist-32 --split test --n 100 \
        --out reports/fashion-mnist-32/restoration

For each task at two strengths (deblurring a Gaussian blur of sigma 1 and 2, upscaling by 4
and 8, denoising noise of sigma 0.1 and 0.2, and colourising for colour models) every clean
image of the split is degraded by the engine's own `op.degrade` (seeded by the image's index)
and restored by

- "input": the degraded image itself (for upscaling, the small image scaled up by repeating
  its pixels, nearest neighbour: what the user has, shown at the clean size);
- the classical answers, given the true degradation: Richardson-Lucy and Wiener deconvolution
  with the true kernel (scikit-image; the Wiener filter also unsupervised, which estimates its
  own regularisation) for a blur; bicubic and Lanczos resampling (PIL) for upscaling; non-local
  means with the noise's sigma known for denoising;
- "gan-prior": `inpaint.restore` at the default `Settings` (seeded by the image's index).

The classical answers' own parameters (Richardson-Lucy's iterations, the Wiener balance,
non-local means' h as a multiple of sigma) are chosen per task and strength on the val split
(--tune-n images, best mean PSNR), whatever split is evaluated: their best on images the
table does not hold. Scores: PSNR and SSIM against the clean image (`evaluation.metrics`),
semantic accuracy where the data set has labels (does the project's classifier, trained on
the train split, see the true class in the restored image?) and seconds per image (wall
clock, one image at a time). Writes results.json, results.md and a figure per task and
strength (columns: images; rows: input, each classical answer, gan-prior, truth; scaled up x3,
nearest neighbour).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw
from tqdm import tqdm

from inpaint import operators as ops
from inpaint.complete import Settings, restore
from inpaint.errors import InpaintError

from .classifier import SmallCNN, predict
from .metrics import psnr, ssim

SPLITS = ("val", "test")
INPUT, PROJECT, TRUTH = "input", "gan-prior", "truth"
TASKS = ("deblur", "upscale", "denoise", "colorize")
RL_ITERATIONS = (10, 20, 50, 100, 200, 500)   # Richardson-Lucy's grid
WIENER_BALANCE = (1e-5, 1e-4, 3e-4, 0.001, 0.003, 0.01, 0.03, 0.1)
NLM_H = (0.2, 0.3, 0.4, 0.6, 0.8, 1.0)      # non-local means' h in units of the noise's sigma


@dataclass
class Case:
    """One task at one strength: `op` degrades the clean image."""

    task: str                 # deblur | upscale | denoise | colorize
    strength: str             # e.g. "sigma 2", "x4"
    op: ops.Degradation

    @property
    def name(self) -> str:
        return f"{self.task}-{self.strength.replace(' ', '')}"


def cases(colour: bool, blur=(1.0, 2.0), factors=(4, 8), noise=(0.1, 0.2)) -> list[Case]:
    """The evaluated tasks and strengths; colourising only for colour models."""
    out = [Case("deblur", f"sigma {s:g}", ops.GaussianBlur(s)) for s in blur]
    out += [Case("upscale", f"x{f}", ops.Downsample(f)) for f in factors]
    out += [Case("denoise", f"sigma {s:g}", ops.Noise(s)) for s in noise]
    if colour:
        out.append(Case("colorize", "grey", ops.Greyscale()))
    return out


# --- the classical answers ------------------------------------------------------------------------------
# Each takes the degraded image as floats H x W x C in [0, 1] (the small one for upscaling), the case and
# its parameter, and returns the clean-size estimate H x W x C in [0, 1].


def _per_channel(y: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.stack([fn(y[..., c]) for c in range(y.shape[2])], axis=2)


def _deconvolve(y: np.ndarray, case: Case, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """fn(channel, kernel) on the observation with its edges extended (as the engine blurs, replicate),
    cropped back: the deconvolutions then see no false edge at the border. The margin is wide: scikit-image
    convolves with zeros beyond it, and Richardson-Lucy's iterations carry that edge inwards (by a kernel's
    radius each); a margin of the kernel's radius alone cost it 5-10 dB on emoji's white backgrounds."""
    k = case.op.kernel(1.0).double().numpy()
    r = max(16, 2 * max(k.shape))
    pad = np.pad(y, ((r, r), (r, r), (0, 0)), mode="edge")
    out = _per_channel(pad, lambda ch: fn(ch, k))
    return out[r:-r, r:-r]


def richardson_lucy(y, case, iterations):
    from skimage.restoration import richardson_lucy as rl

    return _deconvolve(y, case, lambda ch, k: rl(ch, k, num_iter=int(iterations), clip=True))


def wiener(y, case, balance):
    from skimage.restoration import wiener as w

    return _deconvolve(y, case, lambda ch, k: w(ch, k, balance, clip=True))


def unsupervised_wiener(y, case, _=None):
    from skimage.restoration import unsupervised_wiener as uw

    return _deconvolve(y, case, lambda ch, k: uw(ch, k, clip=True, rng=0)[0])


def _resample(y, case, resample):
    h, w = y.shape[:2]
    f = case.op.factor
    return _per_channel(y, lambda ch: np.asarray(
        Image.fromarray(ch.astype(np.float32), "F").resize((w * f, h * f), resample), dtype=np.float64))


def bicubic(y, case, _=None):
    return _resample(y, case, Image.BICUBIC)


def lanczos(y, case, _=None):
    return _resample(y, case, Image.LANCZOS)


def nl_means(y, case, h):
    from skimage.restoration import denoise_nl_means

    sigma = case.op.sigma
    return _per_channel(y, lambda ch: denoise_nl_means(ch, h=h * sigma, sigma=sigma, patch_size=5, patch_distance=6,
                                                       fast_mode=True))


def nearest(y: np.ndarray, case: Case) -> np.ndarray:
    """The input row: the observation at the clean size (upscaling: each pixel repeated)."""
    f = case.op.factor if isinstance(case.op, ops.Downsample) else 1
    out = y.repeat(f, 0).repeat(f, 1)
    return np.repeat(out, 3, axis=2) if isinstance(case.op, ops.Greyscale) else out


@dataclass
class Baseline:
    name: str
    fn: Callable
    grid: tuple = ()          # the parameter's values tried on val; () for none
    parameter: str = ""


BASELINES = {
    "deblur": [Baseline("richardson-lucy", richardson_lucy, RL_ITERATIONS, "iterations"),
               Baseline("wiener", wiener, WIENER_BALANCE, "balance"),
               Baseline("unsupervised wiener", unsupervised_wiener)],
    "upscale": [Baseline("bicubic", bicubic), Baseline("lanczos", lanczos)],
    "denoise": [Baseline("nl-means", nl_means, NLM_H, "h / sigma")],
    "colorize": [],
}


# --- images and scores ---------------------------------------------------------------------------------


def to_pil(image: torch.Tensor) -> Image.Image:
    """uint8 C x H x W -> PIL "L" or "RGB"."""
    arr = image.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


def as_floats(image: Image.Image) -> np.ndarray:
    """PIL -> H x W x C floats in [0, 1]."""
    arr = np.asarray(image, dtype=np.float64) / 255
    return arr[..., None] if arr.ndim == 2 else arr


def as_uint8(x: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> uint8, as the result would be saved."""
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def score(truth: np.ndarray, result: np.ndarray) -> dict:
    """PSNR (dB, capped at metrics.PSNR_CAP) and SSIM of a uint8 H x W x C result against the truth."""
    return {"psnr": psnr(truth, result), "ssim": ssim(truth, result)}


def degrade_all(images: torch.Tensor, case: Case) -> list[Image.Image]:
    """Each clean image (uint8 N x C x H x W) degraded by the case's op, seeded by its index."""
    return [case.op.degrade(to_pil(img), seed=i) for i, img in enumerate(images)]


def tune(images: torch.Tensor, case: Case) -> dict:
    """Each baseline's parameter with the best mean PSNR on `images` (val): {name: {"value", "psnr": {value: dB}}}."""
    degraded = degrade_all(images, case)
    truths = [img.permute(1, 2, 0).numpy() for img in images]
    chosen = {}
    for base in BASELINES[case.task]:
        if not base.grid:
            continue
        means = {}
        for value in base.grid:
            means[value] = float(np.mean([score(t, as_uint8(base.fn(as_floats(d), case, value)))["psnr"]
                                          for t, d in zip(truths, degraded)]))
        best = max(means, key=means.get)
        chosen[base.name] = {"parameter": base.parameter, "value": best, "psnr": {str(k): v for k, v in means.items()}}
    return chosen


def evaluate(model, images: torch.Tensor, labels: torch.Tensor | None = None, classifier: SmallCNN | None = None,
             case_list: list[Case] | None = None, tune_images: torch.Tensor | None = None, settings: Settings | None = None,
             figure_columns: int = 6, out: Path | None = None, progress: bool = True, previous: dict | None = None,
             **meta) -> dict:
    """The tables for clean images (uint8 N x C x R x R at the model's resolution).

    labels and classifier: for semantic accuracy (both or neither). tune_images: where the
    baselines' parameters are chosen (val; default: `images` themselves). settings: the
    engine's (default `Settings()`). Returns {"cases": {case name: {"task", "strength",
    "table": {method: means}, "chosen": ...}}, "clean_accuracy", ..., **meta} (meta: e.g. split,
    dataset, command, said in the report); with `out`, writes the report there. previous: a saved
    results.json ({"summary", "rows"}) of the same images whose other cases are kept (the cases run
    now replace theirs, in place)."""
    channels = images.shape[1]
    case_list = case_list if case_list is not None else cases(channels == 3)
    settings = settings or Settings()
    tune_images = images if tune_images is None else tune_images
    truths = [img.permute(1, 2, 0).numpy() for img in images]
    clean = None
    if classifier is not None and labels is not None:
        clean = float((predict(classifier, images)[1] == labels).float().mean())
    summary = {"cases": {}, "clean_accuracy": clean, "n": len(images), "tune_n": len(tune_images),
               "settings": asdict(settings), **meta}
    rows, figures = [], {}
    if previous is not None:
        if previous["summary"]["n"] != len(images):
            raise ValueError(f"the saved results are of {previous['summary']['n']} images, not {len(images)}")
        again = {c.name for c in case_list}
        summary["cases"] = dict(previous["summary"]["cases"])
        rows = [r for r in previous["rows"] if r["case"] not in again]
        summary["commands"] = [*previous["summary"].get("commands", [previous["summary"].get("command")]),
                               meta.get("command")]
    bar = tqdm(total=sum(len(images) * (2 + len(BASELINES[c.task])) for c in case_list), unit="img",
               desc="restoration", file=sys.stderr, disable=not progress)
    for case in case_list:
        chosen = tune(tune_images, case)
        methods = [INPUT, *(b.name for b in BASELINES[case.task]), PROJECT]
        outputs = {m: [] for m in methods}
        for i, (truth, degraded) in enumerate(zip(truths, degrade_all(images, case))):
            y = as_floats(degraded)
            for method in methods:
                t = time.perf_counter()
                if method == INPUT:
                    result = as_uint8(nearest(y, case))
                elif method == PROJECT:
                    done = restore(model, degraded, case.op, replace(settings, seed=i))
                    result = np.asarray(done.image).reshape(truth.shape)
                else:
                    base = next(b for b in BASELINES[case.task] if b.name == method)
                    result = as_uint8(base.fn(y, case, chosen.get(method, {}).get("value")))
                seconds = time.perf_counter() - t
                outputs[method].append(result)
                rows.append({"case": case.name, "method": method, "index": i, "seconds": seconds,
                             **score(truth, result)})
                bar.update()
        if clean is not None:
            for method in methods:
                preds = predict(classifier, torch.from_numpy(np.stack(outputs[method])).permute(0, 3, 1, 2))[1]
                for row in rows:
                    if row["case"] == case.name and row["method"] == method:
                        row["semantic"] = bool(preds[row["index"]] == labels[row["index"]])
        table = {}
        for method in methods:
            sel = [r for r in rows if r["case"] == case.name and r["method"] == method]
            table[method] = {k: float(np.mean([r[k] for r in sel])) for k in ("psnr", "ssim", "seconds")}
            if clean is not None:
                table[method]["semantic"] = float(np.mean([r["semantic"] for r in sel]))
        summary["cases"][case.name] = {"task": case.task, "strength": case.strength, "degradation": repr(case.op),
                                       "table": table, "chosen": chosen, "paired": paired(rows, case.name, table)}
        # a case added by --update goes beside its task's others
        summary["cases"] = dict(sorted(summary["cases"].items(), key=lambda kv: TASKS.index(kv[1]["task"])))
        figures[case.name] = figure(truths[:figure_columns], {m: outputs[m][:figure_columns] for m in methods})
        if out is not None:  # after each case: a long run that is cut short keeps the cases it finished
            write_report(Path(out), summary, rows, {case.name: figures[case.name]})
    bar.close()
    return summary


def paired(rows: list, case: str, table: dict) -> dict:
    """gan-prior against the best other row by mean PSNR (a classical answer, or the input where there
    is none), image by image: the mean PSNR difference and its standard error."""
    others = [m for m in table if m not in (INPUT, PROJECT)] or [INPUT]
    best = max(others, key=lambda m: table[m]["psnr"])
    ours = {r["index"]: r["psnr"] for r in rows if r["case"] == case and r["method"] == PROJECT}
    theirs = {r["index"]: r["psnr"] for r in rows if r["case"] == case and r["method"] == best}
    diff = np.array([ours[i] - theirs[i] for i in ours if i in theirs])
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else None
    return {"reference": best, "n": len(diff), "psnr_difference": float(diff.mean()) if len(diff) else None,
            "standard_error": se}


def figure(truths: list[np.ndarray], outputs: dict, scale: int = 3) -> Image.Image:
    """Columns: images; rows: each method's result (input first), then the truth; labelled on the left."""
    rows = {**outputs, TRUTH: truths}
    h, w = truths[0].shape[0] * scale, truths[0].shape[1] * scale
    pad, left = 4, 6 * max(len(m) for m in rows) + 8  # 6 px a letter
    canvas = Image.new("RGB", (left + len(truths) * (w + pad) + pad, len(rows) * (h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (method, tiles) in enumerate(rows.items()):
        y0 = pad + r * (h + pad)
        draw.text((4, y0 + h // 2 - 5), method, fill="black")
        for c, tile in enumerate(tiles):
            tile = np.repeat(tile, 3, axis=2) if tile.shape[2] == 1 else tile
            canvas.paste(Image.fromarray(tile).resize((w, h), Image.NEAREST), (left + c * (w + pad), y0))
    return canvas


def write_report(out: Path, summary: dict, rows: list, figures: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    for name, fig in figures.items():
        fig.save(out / f"figure-{name}.png", optimize=True)
    (out / "results.md").write_text(markdown(summary) + "\n")


def markdown(summary: dict) -> str:
    has_sem = summary.get("clean_accuracy") is not None
    lines = []
    if "split" in summary:
        lines += [f"On {summary['n']} images of the {summary['split']} split of {summary.get('dataset', '?')}; the "
                  f"classical answers' parameters chosen on {summary['tune_n']} val images (best mean PSNR). "
                  f"Seconds per image: wall clock on this machine's CPU, one image at a time.", ""]
    if summary.get("note"):
        lines += [summary["note"], ""]
    for command in summary.get("commands") or [summary.get("command")]:
        if command:
            lines += [f"`{command}`", ""]
    for name, c in summary["cases"].items():
        lines += [f"### {c['task']}, {c['strength']} (`{c['degradation']}`)", ""]
        head = "| method | PSNR (dB) | SSIM |" + (" semantic acc. |" if has_sem else "") + " s / image |"
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        for method, e in c["table"].items():
            sem = f" {e['semantic']:.2f} |" if has_sem else ""
            lines.append(f"| {method} | {e['psnr']:.2f} | {e['ssim']:.3f} |{sem} {e['seconds']:.3f} |")
        pair = c.get("paired")
        if pair and pair["psnr_difference"] is not None:
            se = f" ± {pair['standard_error']:.2f}" if pair["standard_error"] is not None else ""
            lines += ["", f"{PROJECT} − {pair['reference']} (the best other row by PSNR), image by image: "
                          f"{pair['psnr_difference']:+.2f}{se} dB (standard error, n = {pair['n']})."]
        if c["chosen"]:
            lines += ["", "Chosen on val: " + "; ".join(
                f"{k} {v['parameter']} {v['value']:g} (of " + ", ".join(
                    f"{p}: {db:.2f} dB" for p, db in v["psnr"].items()) + ")" for k, v in c["chosen"].items()) + "."]
        lines.append("")
    if has_sem:
        lines.append(f"Classifier accuracy on the clean images: {summary['clean_accuracy']:.3f}.")
    return "\n".join(lines).rstrip()


def main(argv=None) -> int:
    from inpaint.hub import load_model

    from .evaluate import heldout

    p = argparse.ArgumentParser(prog="python -m evaluation.restoration", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="checkpoint folder or Hub repo id (needed unless --rewrite)")
    p.add_argument("--split", choices=SPLITS, default="test",
                   help="val for a look at the choices; test (default) for the reported tables")
    p.add_argument("--n", type=int, default=50, help="images of the split")
    p.add_argument("--tune-n", type=int, default=20, help="val images on which the classical parameters are chosen")
    p.add_argument("--blur", default="1,2", help="Gaussian blur sigmas, comma-separated")
    p.add_argument("--factors", default="4,8", help="upscaling factors (2, 4, 8), comma-separated")
    p.add_argument("--noise", default="0.1,0.2", help="noise sigmas, comma-separated")
    p.add_argument("--tasks", default="deblur,upscale,denoise,colorize",
                   help="comma-separated (colorize only runs for colour models)")
    p.add_argument("--out", required=True)
    p.add_argument("--update", action="store_true",
                   help="keep the other cases saved in OUT/results.json (same --n and --split): re-run some cases only")
    p.add_argument("--note", help="a sentence for the report (e.g. on the machine's load during the timings)")
    p.add_argument("--rewrite", action="store_true",
                   help="no new runs: write OUT/results.md again from OUT/results.json (with --note)")
    args = p.parse_args(argv)
    if args.rewrite:
        return rewrite(Path(args.out), args.note)
    if not args.model:
        p.error("--model is required (unless --rewrite)")
    try:
        model = load_model(args.model)
    except InpaintError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    dataset = model.config["dataset"]

    def pick(split, n, seed):
        images, labels, folder = heldout(dataset, split)
        chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
        return images[chosen], (labels[chosen] if labels is not None else None), folder

    images, labels, folder = pick(args.split, args.n, 0)
    tune_images, _, _ = pick("val", args.tune_n, 1)  # another draw (a --split val run may share a few images)
    try:
        case_list = [c for c in cases(model.channels == 3, _numbers(args.blur), [int(v) for v in _numbers(args.factors)],
                                      _numbers(args.noise)) if c.task in args.tasks.split(",")]
    except (InpaintError, ValueError) as err:
        p.error(str(err))
    classifier = SmallCNN.load(folder) if folder is not None and labels is not None else None
    command = "python -m evaluation.restoration " + " ".join(sys.argv[1:] if argv is None else argv)
    saved = Path(args.out) / "results.json"
    previous = json.loads(saved.read_text()) if args.update and saved.exists() else None
    summary = evaluate(model, images, labels, classifier, case_list, tune_images, out=Path(args.out), previous=previous,
                       split=args.split, dataset=dataset, command=command, **({"note": args.note} if args.note else {}))
    print(markdown(summary))
    return 0


def rewrite(out: Path, note: str | None) -> int:
    """results.md again from the saved results.json (the paired comparisons recomputed from its rows; the
    note, when given, saved in both)."""
    saved = json.loads((out / "results.json").read_text())
    if note:
        saved["summary"]["note"] = note
    for name, case in saved["summary"]["cases"].items():
        case["paired"] = paired(saved["rows"], name, case["table"])
    write_report(out, saved["summary"], saved["rows"], {})
    print(markdown(saved["summary"]))
    return 0


def _numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


if __name__ == "__main__":
    sys.exit(main())
