"""python -m train --kind context-encoder --dataset fashion-mnist --out checkpoints/fashion-mnist-32/context-encoder

Trains a context encoder (`inpaint.context_encoder`, Pathak et al. 2016) to fill holes like the
app's: boxes of random size and place (the centre preset among them), halves and other
bands from an edge (left/top/...), random pixels, and brush strokes. The loss is the L1 (or
MSE) reconstruction of the hole, plus a little of the known pixels, optionally plus an
adversarial term (`--adversarial W`: a DCGAN discriminator judges the completed image).

Every `--val-every` steps the hole's mean absolute error on a fixed set of validation images
and the evaluation's five masks is measured; the checkpoint folder always holds the best so
far (the release is chosen on val), the resumable state and the log go to a run folder
outside it (`train.loop.run_dir`), and `--resume` continues exactly where a run stopped.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from inpaint.context_encoder import ContextEncoder
from inpaint.device import default_threads, hardware
from inpaint.imageio import grid
from inpaint.masks import preset, strokes
from inpaint.models import Discriminator, weights_init
from inpaint.weights import stored

from .data import DataError, EMOJI_DATASETS, licence, load_images, random_indices
from .export import HUB_DATASETS
from .loop import d_loss, g_loss, run_dir, step_seed

DEFAULTS = {"fashion-mnist": (32, 1), "emoji": (64, 3), "emoji-faces": (64, 3)}  # resolution, channels
VAL_MASKS = ("center", "left", "top", "random", "strokes")  # the evaluation's masks
# the known pixels' share of the loss: they are pasted back, but an output that keeps them helps the blend
KNOWN_WEIGHT = 0.1


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train --kind context-encoder",
                                description="Train a context encoder (one-pass inpainting) for a data set.")
    p.add_argument("--dataset", required=True, help="fashion-mnist | emoji | folder:PATH | celeba")
    p.add_argument("--out", required=True, help="folder to write, e.g. checkpoints/fashion-mnist-32/context-encoder")
    p.add_argument("--run", help="folder for the resumable state and log (default: as python -m train)")
    p.add_argument("--resolution", type=int, help="image size (power of two; default 32 for fashion-mnist, else 64)")
    p.add_argument("--channels", type=int, choices=(1, 3))
    p.add_argument("--width", type=int, default=32, help="channels of the first level (doubling to 4x this)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--loss", choices=("l1", "mse"), default="l1", help="the reconstruction loss")
    p.add_argument("--adversarial", type=float, default=0.0, metavar="W",
                   help="weight of an adversarial term (a DCGAN discriminator on the completion; 0: off)")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--max-minutes", type=float, help="stop cleanly (and export) after this many minutes")
    p.add_argument("--limit", type=int, help="use only the first N training images (smoke runs)")
    p.add_argument("--val-n", type=int, default=200, help="validation images (each under the five masks)")
    p.add_argument("--val-every", type=int, default=250, help="steps between validations and exports")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads (default: the cores this process may use)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's state.pt")
    return p.parse_args(argv)


def training_holes(n: int, resolution: int, rng: np.random.Generator) -> torch.Tensor:
    """n random holes, bool N x 1 x R x R (True = hole), a quarter each of: boxes (sides 20-65%
    of R, anywhere), bands from an edge (30-65% deep), random pixels (50-90%) and brush strokes."""
    r = resolution
    holes = np.zeros((n, r, r), dtype=bool)
    for i in range(n):
        kind = rng.integers(4)
        if kind == 0:
            h, w = (rng.uniform(0.2, 0.65, 2) * r).round().astype(int).clip(1, r - 1)
            y, x = rng.integers(0, r - h + 1), rng.integers(0, r - w + 1)
            holes[i, y: y + h, x: x + w] = True
        elif kind == 1:
            depth = int(round(rng.uniform(0.3, 0.65) * r))
            side = rng.integers(4)  # top, bottom, left, right
            rows = slice(None, depth) if side == 0 else slice(r - depth, None) if side == 1 else slice(None)
            cols = slice(None, depth) if side == 2 else slice(r - depth, None) if side == 3 else slice(None)
            holes[i, rows, cols] = True
        elif kind == 2:
            holes[i] = rng.random((r, r)) < rng.uniform(0.5, 0.9)
        else:
            holes[i] = strokes((r, r), seed=int(rng.integers(2**32)), coverage=rng.uniform(0.15, 0.45))
    return torch.from_numpy(holes)[:, None]


def reconstruction(out: torch.Tensor, real: torch.Tensor, hole: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """The hole's mean error plus KNOWN_WEIGHT x the known pixels' (out, real: N x C x R x R; hole: N x 1 x R x R)."""
    err = (out - real).abs() if kind == "l1" else (out - real).pow(2)
    hole = hole.float().expand_as(err)
    in_hole = (err * hole).sum() / hole.sum().clamp_min(1)
    known = (err * (1 - hole)).sum() / (1 - hole).sum().clamp_min(1)
    return in_hole + KNOWN_WEIGHT * known


def validation_set(images: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [-1, 1], holes) for n images under each of the evaluation's masks (seeded)."""
    real = images[:n].float().div(127.5).sub(1)
    r = real.shape[-1]
    holes = [torch.from_numpy(preset(name, (r, r), seed=i))[None] for name in VAL_MASKS for i in range(len(real))]
    return real.repeat(len(VAL_MASKS), 1, 1, 1), torch.stack(holes)


@torch.no_grad()
def validate(model: ContextEncoder, real: torch.Tensor, holes: torch.Tensor) -> dict:
    """Mean absolute error in the hole ([-1, 1] scale) and the hole's PSNR (dB, [0, 1] scale), over all
    masks and per mask."""
    model.eval()
    out = torch.cat([model(x, 1 - h.float()) for x, h in zip(real.split(256), holes.split(256))])
    model.train()
    hole = holes.float().expand_as(real)
    err = ((out - real).abs() * hole).flatten(1).sum(1) / hole.flatten(1).sum(1)
    mse = ((out - real).div(2).pow(2) * hole).flatten(1).sum(1) / hole.flatten(1).sum(1)
    psnr = -10 * torch.log10(mse.clamp_min(1e-10))
    per_mask = err.reshape(len(VAL_MASKS), -1).mean(1)
    return {"hole_l1": round(float(err.mean()), 5), "hole_psnr": round(float(psnr.mean()), 3),
            **{f"hole_l1 {name}": round(float(v), 5) for name, v in zip(VAL_MASKS, per_mask)}}


def save_weights(model: ContextEncoder, path: Path) -> None:
    """The state dict in fp16 (half the size; loaded as fp32): its output is the fill, so no int8."""
    save_file(stored(model.state_dict()), str(path), metadata={"format": "pt"})


def export(model: ContextEncoder, out: Path, info: dict, figure: torch.Tensor | None = None) -> Path:
    """Write OUT/{config.json, model.safetensors, README.md[, completions.png]}; atomic per file."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(model.config, indent=2) + "\n")
    tmp = out / "model.safetensors.tmp"
    save_weights(model, tmp)
    tmp.replace(out / "model.safetensors")
    if figure is not None:
        grid(figure, 8, scale=2 if model.resolution <= 32 else 1).save(out / "completions.png")
    (out / "README.md").write_text(card(model.config, info, (out / "completions.png").exists()))
    return out


def card(config: dict, info: dict, figure: bool) -> str:
    """The model card (README.md) of a context encoder folder."""
    dataset, r = config.get("dataset", "unknown"), config["resolution"]
    val = info.get("val", {})
    lines = [
        "---",
        "library_name: gan-inpaint",
        "pipeline_tag: image-to-image",
        "tags: [context-encoder, image-inpainting, u-net]",
        f"license: {'cc-by-sa-4.0' if dataset in EMOJI_DATASETS else 'mit'}",
        *([f"datasets: [{HUB_DATASETS[dataset]}]"] if dataset in HUB_DATASETS else []),
        "---",
        f"# Context encoder {r}x{r}, {dataset}",
        "",
        "A context encoder (Pathak et al., CVPR 2016) in U-Net form: the masked image and its mask in, the "
        "completed image out, in one forward pass. It is the `context-encoder` method of this project "
        "(`python -m inpaint --method context-encoder`), loaded from the `context-encoder/` folder of the "
        "GAN prior's checkpoint.",
        "",
        "## Model",
        "",
        f"- images: {r}x{r}, {config['channels']} channel(s), values in [-1, 1]; input: the image with the hole "
        "zeroed and the mask (1 = known) as one more channel",
        f"- width {config['width']} (doubling to {4 * config['width']}), down to 4x4; weights stored in fp16, "
        "loaded as fp32",
        "",
        "## Training",
        "",
        f"- data: {dataset} ({info.get('images', '?')} training images); {licence(dataset)}",
        "- command" + ("s (a run, then resumed)" if len(info.get("commands", [])) > 1 else "") + ": "
        + "; then ".join(f"`{c}`" for c in info.get("commands", ["?"])),
        f"- steps: {info.get('steps', '?')} at batch {info.get('batch_size', '?')}, "
        f"{info.get('seconds', 0) / 60:.1f} minutes (wall clock) on {info.get('device', '?')}; "
        f"this release is step {info.get('best_step', '?')}, the best on validation",
        f"- recipe: {info.get('recipe', '?')}",
        f"- validation ({info.get('val_n', '?')} val images x center, left, top, random, strokes): "
        f"hole mean absolute error {val.get('hole_l1', '?')} ([-1, 1] scale), hole PSNR {val.get('hole_psnr', '?')} dB",
    ]
    if figure:
        lines += ["", "## Example completions (validation images)", "",
                  "Rows in threes: original, masked input, completion (the hole pasted into the input).",
                  "", "![completions](completions.png)"]
    lines += ["", "## Limits", "",
              "It fills a hole with the average of what it has seen there: fills are blurrier than the GAN "
              "prior's and it knows only its training domain. Images are fitted to its resolution."]
    return "\n".join(lines) + "\n"


def add_evaluation(out: Path, text: str) -> None:
    """Write (or replace) the card's evaluation section, before its limits."""
    card_path = Path(out) / "README.md"
    body = card_path.read_text()
    head, limits = body.split("\n## Limits\n", 1)
    head = head.split("\n## Evaluation\n", 1)[0].rstrip("\n")
    card_path.write_text(f"{head}\n\n## Evaluation\n\n{text.strip()}\n\n## Limits\n{limits}")


@torch.no_grad()
def completions_figure(model: ContextEncoder, real: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """8 validation images per mask kind as rows of (original, masked, completion): 3 x 8 per kind."""
    rows = []
    per_mask = len(real) // len(VAL_MASKS)
    model.eval()
    spread = torch.linspace(0, per_mask - 1, min(8, per_mask)).round().long()  # the val split is ordered by kind
    for k in range(len(VAL_MASKS)):
        x, h = real[k * per_mask + spread], holes[k * per_mask + spread].float()
        out = model(x, 1 - h)
        rows += [x, x * (1 - h), x * (1 - h) + out * h]
    model.train()
    return torch.cat(rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads or default_threads())
    out = Path(args.out)
    run = Path(args.run) if args.run else run_dir(out)
    state_path = run / "state.pt"
    if args.resume and not state_path.exists():
        print(f"error: no training state to resume in {run}", file=sys.stderr)
        return 2
    resolution, channels = DEFAULTS.get(args.dataset, (64, 3))
    resolution, channels = args.resolution or resolution, args.channels or channels
    try:
        images = load_images(args.dataset, "train", resolution)
        val_images = load_images(args.dataset, "val", resolution)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.limit:
        images = images[: args.limit]

    def as_channels(x):  # e.g. a colour folder trained as greyscale
        if x.shape[1] == channels:
            return x
        return x.float().mean(1, keepdim=True).round().byte() if channels == 1 else x.expand(-1, 3, -1, -1)

    images, val_images = as_channels(images), as_channels(val_images)
    if len(images) < args.batch_size:
        print(f"error: {len(images)} images is fewer than one batch of {args.batch_size}", file=sys.stderr)
        return 2
    command = "python -m train --kind context-encoder " + shlex.join(sys.argv[1:] if argv is None else argv)

    torch.manual_seed(args.seed)
    model = ContextEncoder(resolution=resolution, channels=channels, width=args.width, dataset=args.dataset)
    model.apply(weights_init)
    opt = torch.optim.Adam(model.parameters(), args.lr, betas=(0.5, 0.999))
    D = opt_d = None
    if args.adversarial:
        D = Discriminator(resolution, channels, 64)
        D.apply(weights_init)
        opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    step, seconds, commands, best = 0, 0.0, [command], {"hole_l1": math.inf}
    best_state, best_step = None, 0
    if args.resume:
        state = torch.load(state_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        if D is not None and state.get("D") is not None:
            D.load_state_dict(state["D"])
            opt_d.load_state_dict(state["opt_d"])
        step, seconds, commands = state["step"], state["seconds"], state["commands"] + [command]
        best, best_state, best_step = state["best"], state["best_state"], state["best_step"]

    val_real, val_holes = validation_set(val_images, args.val_n)
    recipe = (f"Adam lr {args.lr:g}, beta1 0.5, batch {args.batch_size}; {args.loss.upper()} loss on the hole + "
              f"{KNOWN_WEIGHT:g} x on the known pixels"
              + (f" + {args.adversarial:g} x adversarial (non-saturating, a DCGAN discriminator)" if args.adversarial
                 else "") + "; holes: boxes, bands from an edge, random pixels, brush strokes; horizontal flips")
    batches = random_indices(len(images), args.batch_size, args.seed, start=step)
    run.mkdir(parents=True, exist_ok=True)
    log = run / "log.jsonl"
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else None
    started = time.monotonic()

    def checkpoint():
        nonlocal best, best_state, best_step
        score = validate(model, val_real, val_holes)
        total = seconds + time.monotonic() - started
        if score["hole_l1"] < best["hole_l1"]:
            best, best_state, best_step = score, copy.deepcopy(model.state_dict()), step
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                    "D": D.state_dict() if D is not None else None, "opt_d": opt_d.state_dict() if D else None,
                    "step": step, "seconds": total, "commands": commands, "best": best,
                    "best_state": best_state, "best_step": best_step}, state_path.with_suffix(".tmp"))
        state_path.with_suffix(".tmp").replace(state_path)
        shipped = copy.deepcopy(model)
        shipped.load_state_dict(best_state)
        info = {"commands": commands, "steps": step, "seconds": total, "batch_size": args.batch_size,
                "device": hardware(torch.device("cpu")), "recipe": recipe, "images": len(images),
                "val": best, "val_n": args.val_n, "best_step": best_step}
        export(shipped.eval(), out, info, completions_figure(shipped, val_real, val_holes))
        with log.open("a") as f:
            f.write(json.dumps({"step": step, "seconds": round(total, 1), "val": score}) + "\n")
        print(f"step {step}: val hole L1 {score['hole_l1']:.4f}, PSNR {score['hole_psnr']:.2f} dB "
              f"(best {best['hole_l1']:.4f} at step {best_step})", flush=True)

    model.train()
    last = step
    while step < args.steps:
        idx = next(batches)
        seed = step_seed(args.seed, 0, step)  # holes and flips of this step: a resumed run sees the same
        rng = np.random.default_rng(seed)
        real = images[idx].float().div_(127.5).sub_(1)  # N x C x R x R
        flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
        real[flip] = real[flip].flip(-1)
        hole = training_holes(len(idx), resolution, rng)  # N x 1 x R x R, True = hole
        known = 1 - hole.float()

        # --- D step (with --adversarial): real images up, completions down ---
        filled = model(real * known, known)  # N x C x R x R
        completed = real * known + filled * (1 - known)
        if D is not None:
            loss_d = d_loss(D(real), D(completed.detach()))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

        # --- the encoder's step: reconstruct the hole (and fool D) ---
        loss = reconstruction(filled, real, hole, args.loss)
        if D is not None:
            loss = loss + args.adversarial * g_loss(D(completed))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % args.val_every == 0:
            checkpoint()
            last = step
        if deadline is not None and time.monotonic() > deadline:
            break
    if step != last or not (out / "model.safetensors").exists():
        checkpoint()
    print(f"context encoder written to {out}; training state in {run} (continue with --resume)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
