"""python -m train --dataset fashion-mnist --out checkpoints/fashion-mnist-32 [--max-minutes 60]

`--kind` picks what is trained: `dcgan` (the default: the GAN prior, this module), `context-encoder`
(`train.context_encoder`: python -m train --kind context-encoder --dataset fashion-mnist
--out checkpoints/fashion-mnist-32/context-encoder) or `encoder` (`train.encoder`: the prior's
latent encoder for the search's warm start). Each takes its own options.

Under torchrun (`torchrun --nproc-per-node N -m train ...`) each process trains on its own
batches and DDP averages the gradients; the effective batch is N x --batch-size.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from inpaint.errors import ModelLoadError

from . import export
from .data import DataError, EMOJI_DATASETS, EMOJI_LICENCES, EXTRA_LICENCES, load_images, styles
from .loop import TrainConfig, run_dir, train

DEFAULTS = {  # resolution, channels for the named data sets
    "fashion-mnist": (32, 1),
    "emoji": (64, 3),
    "emoji-faces": (64, 3),
}


KINDS = ("dcgan", "context-encoder", "encoder")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train", description="Train a DCGAN for GAN-prior inpainting.")
    p.add_argument("--kind", choices=KINDS, default="dcgan",
                   help="what to train: dcgan (this help), context-encoder or encoder (--kind K --help for theirs)")
    p.add_argument("--dataset", required=True, help="fashion-mnist | emoji | emoji-faces | folder:PATH | celeba")
    p.add_argument("--out", required=True, help="checkpoint folder to write (what is shipped)")
    p.add_argument("--run", help="folder for the resumable state, log and sample grids "
                   "(default: $GAN_INPAINT_RUNS or ~/.cache/gan-inpaint/runs, then OUT's name and a hash of its path)")
    p.add_argument("--extra-styles", default="", metavar="STYLES",
                   help="emoji only: more art styles for the training split, e.g. fluent (val and test stay the "
                        "three sets; see train.data)")
    p.add_argument("--resolution", type=int, help="image size (power of two; default 32 for fashion-mnist, else 64)")
    p.add_argument("--channels", type=int, choices=(1, 3), help="1 = greyscale, 3 = RGB")
    p.add_argument("--z-dim", type=int, default=100)
    p.add_argument("--ngf", type=int, default=64, help="generator width")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width")
    p.add_argument("--prior", choices=("gaussian", "uniform"), default="gaussian")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--steps", type=int, default=100_000, help="stop after this many steps")
    p.add_argument("--max-minutes", type=float, help="stop cleanly (and save) after this many minutes")
    p.add_argument("--limit", type=int, help="use only the first N training images (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--sample-every", type=int, default=500)
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when present)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="auto: bf16 on CUDA and on CPUs with bf16 hardware, else fp32")
    p.add_argument("--threads", type=int, help="CPU threads (default: the cores this process may use)")
    g = p.add_argument_group("the small-data recipe (all off by default: plain DCGAN)")
    g.add_argument("--loss", choices=("ns", "hinge"), default="ns", help="ns: DCGAN's non-saturating loss; hinge")
    g.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="export a moving average of G's weights with this decay, e.g. 0.999 (0: off)")
    g.add_argument("--augment", default="", metavar="POLICY",
                   help="DiffAugment of D's inputs, any of color,translation,cutout (comma-separated)")
    g.add_argument("--r1", type=float, default=0.0, metavar="GAMMA", help="R1 gradient penalty on real images (0: off)")
    g.add_argument("--spectral-norm", action="store_true", help="spectral normalisation of D's convolutions")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's state.pt")
    p.add_argument("--init-from", metavar="SOURCE",
                   help="start G and D from a released checkpoint (folder or Hub id; same sizes and widths): "
                        "continue a release whose training state is gone, or fine-tune a prior on other data")
    p.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the finished checkpoint to the Hub")
    return p.parse_args(argv)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    kind, argv = _kind(argv)
    if kind == "context-encoder":
        from . import context_encoder

        return context_encoder.main(argv)
    if kind == "encoder":
        from . import encoder

        return encoder.main(argv)
    args = parse_args(argv)
    run = Path(args.run) if args.run else run_dir(args.out)
    if args.resume and not (run / "state.pt").exists():
        older = Path(args.out) / "training"  # where runs kept their state before
        hint = f"; an older run's state is in {older}: pass --run {older}" if (older / "state.pt").exists() else ""
        print(f"error: no training state to resume in {run}{hint}", file=sys.stderr)
        return 2
    resolution, channels = DEFAULTS.get(args.dataset, (64, 3))
    resolution, channels = args.resolution or resolution, args.channels or channels
    try:
        images = load_images(args.dataset, "train", resolution, styles(args.extra_styles))
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.limit:
        images = images[: args.limit]
    if images.shape[1] != channels:  # e.g. a colour folder trained as greyscale
        images = images.float().mean(1, keepdim=True).round().byte() if channels == 1 else images.expand(-1, 3, -1, -1)
    if len(images) < args.batch_size:
        print(f"error: {len(images)} images is fewer than one batch of {args.batch_size}", file=sys.stderr)
        return 2
    extra = {}
    if args.dataset in EMOJI_DATASETS:
        licences = [*EMOJI_LICENCES.values(), *(EXTRA_LICENCES[name] for name in styles(args.extra_styles))]
        extra["attribution"] = "\n".join(f"- {text}" for text in licences)
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"resolution", "channels", "run"}
    cfg = TrainConfig(
        **{k: v for k, v in vars(args).items() if k in fields}, resolution=resolution, channels=channels,
        flip=not args.no_flip, run=str(run), extra=extra,
        command="python -m train " + shlex.join(argv),
    )
    try:
        out = train(cfg, images, resume=args.resume)
    except ModelLoadError as err:  # --init-from: not loadable, or not the run's architecture
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.push_to_hub:
        print(export.push_to_hub(out, args.push_to_hub))
    print(f"checkpoint written to {out}; training state in {run} (continue with --resume)")
    return 0


def _kind(argv: list[str]) -> tuple[str, list[str]]:
    """(--kind's value, the other arguments); the kind defaults to dcgan."""
    picker = argparse.ArgumentParser(add_help=False)
    picker.add_argument("--kind", choices=KINDS, default="dcgan")
    known, rest = picker.parse_known_args(argv)
    return known.kind, rest


if __name__ == "__main__":
    sys.exit(main())
