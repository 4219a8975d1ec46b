"""python -m inpaint --model SOURCE --image IMG|DIR (--mask MASK|DIR | --preset NAME) --out OUT|DIR [--method NAME]
python -m inpaint --task deblur|upscale|denoise|colorize [strength] --image IMG|DIR --out OUT|DIR [--degrade]

Mask files: white (nonzero) = hole to fill. With --image a folder, every image in it is
completed (the model is loaded once); --mask is then a folder of masks with the same file
names, or one mask for all; --out is a folder and each result keeps its input's file name.

Restoration (--task other than inpaint) undoes a known degradation of the image by the same
latent search: --task deblur --blur-sigma 2 (or --blur box --blur-size 5, --blur motion
--motion-length 9 --motion-angle 30), --task upscale --factor 4 (the result is the input's size
times the factor), --task denoise --noise-sigma 0.1 (on the [0, 1] scale), --task colorize
(colour models). No mask is needed; a --mask or --preset with a restoration task is a hole in
the degraded image, filled too. --degrade writes the degraded copy of a clean image instead
(blurred, downsampled, noisy or greyscale, exactly as the task models it): test inputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from tqdm import tqdm

from . import methods
from . import operators as ops
from .blend import BLENDS
from .complete import WARM, Settings, restore
from .errors import InpaintError
from .imageio import IMAGE_SUFFIXES, read_image
from .masks import PRESETS, from_image, preset

DEFAULT_MODEL = str(Path(__file__).resolve().parent.parent / "checkpoints" / "fashion-mnist-32")
TASKS = ("inpaint", "deblur", "upscale", "denoise", "colorize")
BLURS = ("gaussian", "box", "motion")


def parse_args(argv=None) -> argparse.Namespace:
    d = Settings()
    p = argparse.ArgumentParser(prog="python -m inpaint", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint folder or Hub repo id user/name[@revision]")
    p.add_argument("--image", required=True, help="an image file, or a folder of images")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--mask", help="mask image (white = hole), or a folder of same-named masks (needed to inpaint)")
    g.add_argument("--preset", choices=PRESETS, help="a preset mask instead of --mask")
    p.add_argument("--out", required=True, help="output file, or a folder in batch mode")
    p.add_argument("--task", choices=TASKS, default="inpaint", help="what to undo (default: inpaint a hole)")
    p.add_argument("--blur", choices=BLURS, default="gaussian", help="the blur to undo with --task deblur")
    p.add_argument("--blur-sigma", type=float, default=2.0, help="the Gaussian blur's sigma in pixels")
    p.add_argument("--blur-size", type=float, default=5.0, help="the box blur's side in pixels")
    p.add_argument("--motion-length", type=float, default=9.0, help="the motion blur's length in pixels")
    p.add_argument("--motion-angle", type=float, default=0.0,
                   help="the motion's direction in degrees (0 = horizontal, counter-clockwise)")
    p.add_argument("--factor", type=int, choices=ops.FACTORS, default=4, help="the upscaling factor")
    p.add_argument("--noise-sigma", type=float, default=0.1, help="the noise's sigma on the [0, 1] scale")
    p.add_argument("--degrade", action="store_true",
                   help="write the degraded copy of each (clean) image instead of restoring it; no model is loaded")
    p.add_argument("--method", choices=methods.names(), default=methods.DEFAULT,
                   help="how to fill: " + "; ".join(f"{m.name}: {m.label}" for m in methods.METHODS.values()))
    # None: the model's defaults (Settings.for_model), which depend on whether its checkpoint ships an encoder
    p.add_argument("--iterations", type=int, help=f"Adam steps at most (default: {WARM['iterations']} for a model "
                   f"with a warm-start encoder, filling a hole; else {d.iterations})")
    p.add_argument("--restarts", type=int, help=f"random starts searched side by side (default: {WARM['restarts']} "
                   f"with a warm-start encoder, filling a hole; else {d.restarts})")
    p.add_argument("--warm-start", type=float, metavar="SHARE",
                   help="share of the restarts started from the checkpoint's encoder, when it has one (inpainting "
                   f"only; default: {WARM['warm_start']:g} with one, else 0: all from the prior)")
    p.add_argument("--lam", type=float, default=d.lam, help="weight of the perceptual loss")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default: CUDA when present, "
                                                    "else the CPU)")
    p.add_argument("--blend", choices=BLENDS, default=d.blend,
                   help="how the fill goes into the hole (default %(default)s: Poisson whose correction stops at the "
                        "fill's edges; poisson: the paper's; alpha: feathered; none: pasted)")
    p.add_argument("--candidates", type=int, default=1,
                   help="save the N best distinct completions: the best as OUT.png, "
                   "the others as OUT-2.png ... OUT-N.png")
    p.add_argument("--max-side", type=int, default=d.max_side,
                   help="search and blend images larger than this at this size (the output keeps the input's "
                   "size and its pixels outside the hole; 0: never scale)")
    p.add_argument("--paper", action="store_true", help="Yeh et al.'s algorithm (1000 iterations, 64 restarts, lam 0.003)")
    args = p.parse_args(argv)
    if args.task == "inpaint" and args.mask is None and args.preset is None:
        p.error("one of the arguments --mask --preset is required to inpaint (or choose a restoration --task)")
    if args.degrade and args.task == "inpaint":
        p.error("--degrade needs a restoration --task (deblur, upscale, denoise or colorize)")
    return args


def degradation(args) -> ops.Degradation | None:
    """The task's degradation from the command line (None for inpainting); InpaintError for a bad strength."""
    if args.task == "deblur":
        if args.blur == "box":
            return ops.BoxBlur(args.blur_size)
        if args.blur == "motion":
            return ops.MotionBlur(args.motion_length, args.motion_angle)
        return ops.GaussianBlur(args.blur_sigma)
    if args.task == "upscale":
        return ops.Downsample(args.factor)
    if args.task == "denoise":
        return ops.Noise(args.noise_sigma)
    if args.task == "colorize":
        return ops.Greyscale()
    return None


def _jobs(args) -> list[tuple[Path, Path | None, Path]]:
    """(image, mask or None for a preset, output) triples."""
    image, out = Path(args.image), Path(args.out)
    mask = Path(args.mask) if args.mask else None
    if not image.exists():
        raise InpaintError(f"{image}: no such file or folder")
    if mask is not None and not mask.exists():
        raise InpaintError(f"{mask}: no such file or folder")
    if image.is_file():
        if mask is not None and mask.is_dir():
            mask = mask / image.name
        if out.is_dir():
            out = out / image.name
        return [(image, mask, out)]
    files = sorted(p for p in image.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InpaintError(f"{image}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    if out.exists() and not out.is_dir():
        raise InpaintError(f"{out}: must be a folder when --image is a folder")
    return [(f, (mask / f.name if mask is not None and mask.is_dir() else mask), out / f.name) for f in files]


def _output_path(path: Path) -> Path:
    # the image's format follows the output's suffix; keep it lossless where it has none
    return path if path.suffix else path.with_suffix(".png")


def main(argv=None) -> int:
    args = parse_args(argv)
    from .hub import load_model

    try:
        jobs = _jobs(args)
        op = degradation(args)
        if args.degrade:
            return _degrade(jobs, op, args)
        if op is not None and args.method != methods.DEFAULT:
            raise InpaintError(f"--method {args.method} only inpaints; restoring (--task {args.task}) takes the "
                               f"{methods.DEFAULT} method")
        model = load_model(args.model, device=args.device)
    except InpaintError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        base = Settings.paper() if args.paper else Settings.for_model(model, restoring=op is not None)
        given = dict(iterations=args.iterations, restarts=args.restarts, warm_start=args.warm_start)
        search = {} if args.paper else {"lam": args.lam, **{k: v for k, v in given.items() if v is not None}}
        settings = dataclasses.replace(base, **search, seed=args.seed, blend=args.blend,
                                       candidates=max(1, args.candidates), max_side=args.max_side or None)
    except InpaintError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    method = methods.get(args.method)
    failed = 0
    for image_path, mask_path, out_path in jobs:
        bar = tqdm(total=settings.iterations, desc=image_path.name, unit="it", leave=len(jobs) == 1,
                   file=sys.stderr, dynamic_ncols=True)

        def on_progress(p, bar=bar):
            bar.total = p.total  # the method's own count (the context encoder: one pass)
            bar.update(p.iteration - bar.n)
            bar.set_postfix(loss=f"{p.loss:.3f}")

        try:
            image = read_image(image_path)
            if mask_path is not None:
                hole = from_image(read_image(mask_path))
            elif args.preset is not None:
                hole = preset(args.preset, image.size, seed=args.seed)
            else:
                hole = None
            if op is None:
                result = method.run(model, image, hole, settings, on_progress=on_progress)
            else:
                restoring = op if hole is None else ops.compose(op, ops.Mask(hole))
                result = restore(model, image, restoring, settings, on_progress=on_progress)
            out_path = _output_path(out_path)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            result.image.save(out_path)
            for i, cand in enumerate(result.candidates[1: args.candidates] if args.candidates > 1 else [], 2):
                cand.save(out_path.with_name(f"{out_path.stem}-{i}{out_path.suffix}"))
            bar.set_postfix(loss=f"{result.losses[0]:.3f}", s=f"{result.seconds:.1f}")
            for note in result.notes:
                bar.write(f"{image_path.name}: {note}", file=sys.stderr)
        except InpaintError as err:
            failed += 1
            bar.close()
            print(f"error: {err}", file=sys.stderr)
            continue
        except OSError as err:  # e.g. an output folder we may not write
            failed += 1
            bar.close()
            print(f"error: {out_path}: cannot write ({err.strerror or err})", file=sys.stderr)
            continue
        bar.close()
    if len(jobs) > 1:
        done = "completed" if op is None else "restored"
        print(f"{len(jobs) - failed} of {len(jobs)} images {done} into {args.out}", file=sys.stderr)
    return 1 if failed else 0


def _degrade(jobs, op: ops.Degradation, args) -> int:
    """--degrade: each image's degraded copy (seeded by --seed), as the task models it."""
    failed = 0
    for image_path, _, out_path in jobs:
        try:
            out_path = _output_path(out_path)
            degraded = op.degrade(read_image(image_path), seed=args.seed)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            degraded.save(out_path)
        except InpaintError as err:
            failed += 1
            print(f"error: {image_path.name}: {err}", file=sys.stderr)
        except OSError as err:
            failed += 1
            print(f"error: {out_path}: cannot write ({err.strerror or err})", file=sys.stderr)
    if len(jobs) > 1:
        print(f"{len(jobs) - failed} of {len(jobs)} images degraded into {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
