"""Train the search's warm start, a latent encoder E (`inpaint.encoder`), for a trained prior.

    python -m train.encoder --prior checkpoints/fashion-mnist-32 --dataset fashion-mnist \\
        --out checkpoints/fashion-mnist-32/encoder --max-minutes 15 [--resume]

G is frozen (its BatchNorms folded, eval mode). Each batch is half training images and half
G's own samples, each under a random hole like the app's (presets, strokes, random rectangles
and pixels). E sees the known pixels and the mask and answers z; the loss is

    |M (G(z) - y)|_1 / |M|  +  b |G(z) - x|_1  +  c |z - z_true|^2 (G's samples)  +  d (|z| / sqrt(z_dim) - 1)^2

the known pixels' fit (what the search minimizes), the whole image (the hole's content), the true z
where it is known, and staying on the Gaussian prior's shell. The resumable state (E, Adam, step)
lives outside the checkpoint, in the run folder (`train.loop.run_dir`); OUT gets config.json,
model.safetensors (fp16) and README.md, the companion `inpaint.hub.load_companion` reads.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from inpaint.device import autocast, default_threads, hardware, pick_device, resolve_precision
from inpaint.encoder import LatentEncoder
from inpaint.errors import InpaintError, ModelLoadError
from inpaint.hub import load_model
from inpaint.masks import preset, strokes
from inpaint.models import DCGAN
from inpaint.weights import ENCODER_INT8, stored

from .data import DataError, load_images, random_indices, styles
from .export import CARD_INFO
from .loop import config_with_defaults, run_dir, step_seed

PRESET_HOLES = ("center", "left", "right", "top", "bottom", "grid")
STROKE_BANK = 512  # strokes are drawn with PIL: drawn once, then flipped and rotated per batch


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.encoder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prior", required=True, help="the trained DCGAN: a checkpoint folder or Hub repo id")
    p.add_argument("--dataset", required=True, help="its training data: fashion-mnist | emoji | folder:PATH")
    p.add_argument("--extra-styles", default="", metavar="STYLES",
                   help="emoji only: more art styles for the training split, e.g. fluent (as python -m train)")
    p.add_argument("--out", required=True, help="the encoder's folder, e.g. PRIOR/encoder (what is shipped)")
    p.add_argument("--run", help="folder for the resumable state and log (default: as python -m train)")
    p.add_argument("--width", type=int, default=32, help="E's first convolution's width (doubling at each level)")
    p.add_argument("--spread", type=float, default=0.5, help="propose's mix toward prior draws (config.json)")
    p.add_argument("--batch-size", type=int, default=32, help="images per step (half real, half G's samples)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--full-weight", type=float, default=1.0, help="b: the whole image's L1")
    p.add_argument("--latent-weight", type=float, default=0.1, help="c: |z - z_true|^2 on G's samples")
    p.add_argument("--prior-weight", type=float, default=0.1, help="d: staying on the prior's shell")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--max-minutes", type=float, help="stop cleanly (and export) after this many minutes")
    p.add_argument("--save-every", type=int, default=200, help="steps between saves of state and export")
    p.add_argument("--limit", type=int, help="only the first N training images (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads (default: the cores this process may use)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when present)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="auto: bf16 autocast on CPUs with bf16 hardware, else fp32 (as python -m train)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's state.pt")
    p.add_argument("--init-from", metavar="SOURCE",
                   help="start E from the encoder a prior checkpoint ships (folder or Hub id), e.g. the release a "
                        "fine-tuned --prior started from (python -m train --init-from)")
    return p.parse_args(argv)


def released_encoder(source: str, prior: DCGAN, width: int) -> LatentEncoder:
    """The encoder that the prior checkpoint `source` ships, checked to fit `prior` at E's `width`
    (to start a new E from it). Raises `ModelLoadError` when there is none or it does not fit."""
    E = load_model(source).encoder
    if E is None:
        raise ModelLoadError(f"{source} ships no latent encoder to start from", source=str(source))
    ours = {"resolution": prior.resolution, "channels": prior.channels, "z_dim": prior.z_dim, "width": width,
            "prior": prior.prior}
    theirs = config_with_defaults(E, ours)
    differ = [f"{k} {theirs[k]} (this one: {v})" for k, v in ours.items() if theirs[k] != v]
    if differ:
        raise ModelLoadError(f"the encoder of {source} does not fit: it has {', '.join(differ)}", source=str(source))
    return E


def random_holes(n: int, resolution: int, generator: torch.Generator, bank: torch.Tensor) -> torch.Tensor:
    """n holes, n x 1 x R x R float (1 = hole): a mix of the app's presets, random rectangles,
    random pixels (30-90%) and brush strokes (from `bank`, flipped and transposed at random)."""
    r = resolution
    kind = torch.randint(0, 4, (n,), generator=generator)  # preset, rectangle, pixels, strokes
    holes = torch.zeros(n, 1, r, r)
    ys, xs = torch.arange(r)[:, None], torch.arange(r)[None, :]
    presets = {name: torch.from_numpy(preset(name, (r, r))).float() for name in PRESET_HOLES}
    for i in range(n):
        k = int(kind[i])
        if k == 0:
            name = PRESET_HOLES[int(torch.randint(0, len(PRESET_HOLES), (1,), generator=generator))]
            holes[i, 0] = presets[name]
        elif k == 1:
            h, w = (torch.rand(2, generator=generator) * 0.5 + 0.25) * r
            y0, x0 = torch.rand(2, generator=generator) * torch.tensor([r - h, r - w])
            holes[i, 0] = ((ys >= y0) & (ys < y0 + h) & (xs >= x0) & (xs < x0 + w)).float()
        elif k == 2:
            fraction = float(torch.rand(1, generator=generator)) * 0.6 + 0.3
            holes[i, 0] = (torch.rand(r, r, generator=generator) < fraction).float()
        else:
            stroke = bank[int(torch.randint(0, len(bank), (1,), generator=generator))]
            flips = torch.rand(3, generator=generator) < 0.5
            stroke = stroke.flip(-1) if flips[0] else stroke
            stroke = stroke.flip(-2) if flips[1] else stroke
            holes[i, 0] = stroke.transpose(-1, -2) if flips[2] else stroke
    return holes


def stroke_bank(resolution: int, n: int = STROKE_BANK, seed: int = 10_000) -> torch.Tensor:
    """n brush-stroke holes, n x R x R float, seeded apart from the evaluation's (seeds 0, 1, ...)."""
    return torch.from_numpy(np.stack([strokes((resolution, resolution), seed=seed + i) for i in range(n)])).float()


def encoder_loss(E: LatentEncoder, G: torch.nn.Module, x: torch.Tensor, known: torch.Tensor,
                 z_true: torch.Tensor | None, args) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of E on images x (N x C x R x R, [-1, 1]) under `known` (N x 1 x R x R);
    z_true: the true z of the last len(z_true) rows (G's samples), or None."""
    z = E(x, known).float()  # the loss in fp32, whatever precision the networks ran in
    g = G(z).float()
    fit = ((g - x).abs() * known).sum((1, 2, 3)) / (known.sum((1, 2, 3)) * x.shape[1]).clamp_min(1)
    full = (g - x).abs().mean((1, 2, 3))
    prior = E.prior_penalty(z)
    loss = fit.mean() + args.full_weight * full.mean() + args.prior_weight * prior.mean()
    terms = {"fit": fit.mean().item(), "full": full.mean().item(), "prior": prior.mean().item()}
    if z_true is not None and args.latent_weight:
        latent = ((z[-len(z_true):] - z_true) ** 2).mean(1)
        loss = loss + args.latent_weight * latent.mean()
        terms["latent"] = latent.mean().item()
    return loss, terms


def export_encoder(E: LatentEncoder, out: Path, info: dict) -> Path:
    """OUT/{config.json, model.safetensors (fp16), README.md, card.json}; atomic per file. card.json
    keeps the card's facts, so that validation numbers added later (`update_card`) survive a resume."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(dict(E._hub_mixin_config), indent=2) + "\n")
    tmp = out / "model.safetensors.tmp"
    save_file(stored(E.state_dict(), int8=ENCODER_INT8), str(tmp), metadata={"format": "pt"})  # E only proposes
    tmp.replace(out / "model.safetensors")
    update_card(out, **info)
    return out


def update_card(out: Path, **facts) -> None:
    """Add facts (e.g. `validation`, Markdown) to the encoder's card.json and rewrite its README.md."""
    path = out / CARD_INFO
    info = json.loads(path.read_text()) if path.exists() else {}
    info.update(facts)
    path.write_text(json.dumps(info, indent=2) + "\n")
    config = json.loads((out / "config.json").read_text())
    (out / "README.md").write_text(card(LatentEncoder(**config), info))


def card(E: LatentEncoder, info: dict) -> str:
    commands = info.get("commands", [])
    lines = [
        "# Latent encoder (the search's warm start)",
        "",
        f"E maps a masked {E.resolution}x{E.resolution} image and its mask to a latent z of the prior "
        f"in the folder above (z_dim {E.z_dim}, {E.prior}). `inpaint.load_model` attaches it as "
        "`model.encoder`; `Settings.warm_start` is the share of the search's restarts started from "
        "its answers (`LatentEncoder.propose`: E's z, then mixes toward prior draws up to "
        f"spread {E.spread}).",
        "",
        "## Training",
        "",
        "- command" + ("s (a run, then resumed)" if len(commands) > 1 else "") + ": "
        + "; then ".join(f"`{c}`" for c in commands),
        f"- steps: {info.get('steps', '?')} at batch {info.get('batch_size', '?')} (half training images, half "
        f"G's samples), {info.get('seconds', 0) / 60:.1f} minutes on {info.get('device', '?')}"
        + (f", precision {info['precision']}" if "precision" in info else "")
        + (f", starting from the encoder of `{info['started_from']}`" if info.get("started_from") else ""),
        f"- data: {info.get('dataset', '?')} ({info.get('images', '?')} training images); holes: the app's "
        "presets, random rectangles, random pixels, brush strokes",
        "- loss: known pixels' L1 + " + f"{info.get('full_weight')} x whole image L1 + {info.get('latent_weight')}"
        f" x |z - z_true|^2 (G's samples) + {info.get('prior_weight')} x (|z|/sqrt(z_dim) - 1)^2; G frozen; "
        f"Adam lr {info.get('lr')}",
    ]
    if info.get("validation"):
        lines += ["", "## Validation (the choices)", "", info["validation"]]
    if info.get("evaluation"):
        lines += ["", "## Evaluation (test split)", "", info["evaluation"]]
    return "\n".join(lines) + "\n"


def train_encoder(args, prior: DCGAN, images: torch.Tensor, command: str,
                  start: LatentEncoder | None = None) -> Path:
    """Train E for `prior` on uint8 images N x C x R x R, from `start`'s weights if given (a new
    run; a resumed one has its own); returns the exported folder."""
    torch.set_num_threads(args.threads or default_threads())
    out = Path(args.out)
    run = Path(args.run) if args.run else run_dir(out)
    state_path, log_path = run / "state.pt", run / "log.jsonl"
    run.mkdir(parents=True, exist_ok=True)
    device = next(prior.parameters()).device
    precision = resolve_precision(args.precision, device)
    G = prior.fused().G  # frozen, eval, BatchNorms folded
    torch.manual_seed(args.seed)
    E = LatentEncoder(resolution=prior.resolution, channels=prior.channels, z_dim=prior.z_dim, width=args.width,
                      prior=prior.prior, spread=args.spread).to(device)
    opt = torch.optim.Adam(E.parameters(), args.lr)
    step, seconds, commands = 0, 0.0, [command]
    started_from = None
    if args.resume and state_path.exists():
        state = torch.load(state_path, weights_only=True, map_location=device)
        E.load_state_dict(state["encoder"])
        opt.load_state_dict(state["opt"])
        step, seconds, commands = state["step"], state["seconds"], state["commands"] + [command]
        started_from = state.get("started_from")
    elif start is not None:
        E.load_state_dict(start.state_dict())
        started_from = args.init_from
    bank = stroke_bank(prior.resolution)
    half = args.batch_size // 2
    batches = random_indices(len(images), args.batch_size - half, args.seed, start=step)
    noise = torch.Generator()
    started = time.monotonic()
    deadline = started + args.max_minutes * 60 if args.max_minutes else None
    info = {"dataset": args.dataset, "images": len(images), "batch_size": args.batch_size, "lr": args.lr,
            "full_weight": args.full_weight, "latent_weight": args.latent_weight,
            "prior_weight": args.prior_weight, "device": hardware(device), "precision": precision}

    def save() -> None:
        total = seconds + time.monotonic() - started
        torch.save({"encoder": E.state_dict(), "opt": opt.state_dict(), "step": step, "seconds": total,
                    "commands": commands, "started_from": started_from}, state_path.with_suffix(".tmp"))
        state_path.with_suffix(".tmp").replace(state_path)
        export_encoder(E, out, {**info, "commands": commands, "steps": step, "seconds": total,
                                **({"started_from": started_from} if started_from else {})})

    E.train()
    last_save = step
    while step < args.steps:
        idx = next(batches)
        noise.manual_seed(step_seed(args.seed, 0, step))
        real = images[idx].float().div_(127.5).sub_(1)
        flip = torch.rand(len(idx), generator=noise) < 0.5
        real[flip] = real[flip].flip(-1)
        z_true = prior.sample_z(half, noise).to(device)  # drawn on the CPU: the same z on any device
        with torch.no_grad():
            fake = G(z_true)
        x = torch.cat([real.to(device), fake])
        known = 1 - random_holes(len(x), prior.resolution, noise, bank).to(device)
        with autocast(device, precision):
            loss, terms = encoder_loss(E, G, x, known, z_true, args)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        with log_path.open("a") as f:
            f.write(json.dumps({"step": step, "loss": round(loss.item(), 4),
                                **{k: round(v, 4) for k, v in terms.items()}}) + "\n")
        out_of_time = deadline is not None and time.monotonic() > deadline
        if step % args.save_every == 0 or out_of_time:
            save()
            last_save = step
            print(f"step {step}: loss {loss.item():.4f} " + " ".join(f"{k} {v:.4f}" for k, v in terms.items()),
                  flush=True)
        if out_of_time:
            break
    if step != last_save or not (out / "model.safetensors").exists():
        save()
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python -m train.encoder " + shlex.join(argv if argv is not None else sys.argv[1:])
    try:
        prior = load_model(args.prior, device=pick_device(args.device))
        start = released_encoder(args.init_from, prior, args.width) if args.init_from else None
        images = load_images(args.dataset, "train", prior.resolution, styles(args.extra_styles))
    except (InpaintError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if images.shape[1] != prior.channels:
        print(f"error: {args.dataset} images have {images.shape[1]} channel(s) but the prior makes "
              f"{prior.channels}", file=sys.stderr)
        return 2
    if args.limit:
        images = images[: args.limit]
    out = train_encoder(args, prior, images, command, start)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
