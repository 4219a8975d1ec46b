"""The DCGAN training loop (Radford et al. recipe), single process or under torchrun.

Each rank takes its own part of every step's shuffled images; gradients are averaged by DDP.
The data order and the noise of a step depend on (seed, rank, step) alone, so a run
resumed from its state.pt continues exactly as if it had not stopped. OUT itself is always a
loadable checkpoint folder (config.json, model.safetensors, README.md, samples.png); the
resumable state, the log, the sample grids and a loadable copy of every checkpoint
(releases/STEP/, the candidates a release is chosen from on validation, the last one too) go to a run folder
outside it (`run_dir`).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from inpaint.device import autocast, default_threads, hardware, pick_device, resolve_precision
from inpaint.errors import ModelLoadError
from inpaint.hub import load_model
from inpaint.imageio import grid
from inpaint.models import DCGAN, weights_init

from . import export
from .augment import augment, parse
from .data import cache_dir, random_indices

LOSSES = ("ns", "hinge")


@dataclass
class TrainConfig:
    dataset: str
    out: str
    resolution: int = 32
    channels: int = 1
    z_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    prior: str = "gaussian"
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    steps: int = 100_000
    max_minutes: float | None = None
    seed: int = 0
    flip: bool = True
    checkpoint_every: int = 500
    sample_every: int = 500
    device: str | None = None
    precision: str = "auto"
    threads: int | None = None
    command: str = ""
    extra: dict = field(default_factory=dict)
    run: str | None = None  # state.pt, log.jsonl, samples_*.png, releases/ (default: run_dir(out))
    # the small-data recipe (each off by default: plain DCGAN)
    loss: str = "ns"              # ns: the non-saturating BCE of DCGAN; hinge
    ema: float = 0.0              # decay of a moving average of G's weights, exported instead of G (0: off)
    augment: str = ""             # DiffAugment policy for D's inputs, e.g. "color,translation,cutout"
    r1: float = 0.0               # weight of the R1 gradient penalty on real images (0: off)
    spectral_norm: bool = False   # spectral normalisation of D's convolutions (exported as plain weights)
    init_from: str | None = None  # a released checkpoint (folder or Hub id) whose G and D the run starts from


def run_dir(out: str | Path) -> Path:
    """The default folder for a checkpoint's training state, outside the checkpoint (which is
    shipped): $GAN_INPAINT_RUNS (default ~/.cache/gan-inpaint/runs)/NAME-HASH of OUT's path."""
    path = Path(out).resolve()
    runs = Path(os.environ.get("GAN_INPAINT_RUNS", cache_dir() / "runs"))
    return runs / f"{path.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def step_seed(seed: int, rank: int, step: int) -> int:
    """A seed for one rank's step, unrelated to its neighbours' (seed + rank + step would repeat)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{rank}:{step}".encode()).digest()[:7], "big")


def d_loss(real: torch.Tensor, fake: torch.Tensor, kind: str = "ns") -> torch.Tensor:
    """D's loss from its logits on real and on generated images (N each)."""
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()  # BCE with targets 1 and 0


def g_loss(fake: torch.Tensor, kind: str = "ns") -> torch.Tensor:
    """G's loss from D's logits on its images: non-saturating -log D(G(z)), or hinge's -D(G(z))."""
    return -fake.mean() if kind == "hinge" else F.softplus(-fake).mean()


def train_step(G: nn.Module, D: nn.Module, opt_g, opt_d, real: torch.Tensor, z: torch.Tensor, cfg: TrainConfig,
               precision: str, noise: torch.Generator, ema: AveragedModel | None = None) -> dict:
    """One D step and one G step on a batch; the loop and the benchmark both call this.

    real: N x C x R x R in [-1, 1]; z: N x z_dim. `noise` draws the augmentations, so a step
    is reproducible from its seed. Returns the step's losses and D's mean score of G(z).
    """
    policy = parse(cfg.augment)
    device = real.device

    def seen_by_d(x):  # what D looks at: real and generated batches alike get random augmentations (fresh draws)
        return augment(x, policy, noise) if policy else x

    # --- D step: real images up, generated images down (+ R1 on the real ones) ---
    with autocast(device, precision):
        fake = G(z)  # N x C x R x R
    if cfg.r1:
        real = real.detach().requires_grad_(True)
    with autocast(device, precision):
        real_logits = D(seen_by_d(real)).float()
        fake_logits = D(seen_by_d(fake.detach())).float()
    loss_d = d_loss(real_logits, fake_logits, cfg.loss)
    if cfg.r1:
        (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        loss_d = loss_d + cfg.r1 / 2 * grad.pow(2).flatten(1).sum(1).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    # --- G step: make D score the generated images as real ---
    with autocast(device, precision):
        d_fake = D(seen_by_d(fake)).float()
    loss_g = g_loss(d_fake, cfg.loss)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    if ema is not None:
        ema.update_parameters(G.module if hasattr(G, "module") else G)
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_fake": torch.sigmoid(d_fake.detach()).mean()}


def recipe(cfg: TrainConfig) -> str:
    """The training recipe in a line, for the model card."""
    parts = [f"Adam lr {cfg.lr:g}, beta1 {cfg.beta1:g}, N(0, 0.02) init",
             "hinge loss" if cfg.loss == "hinge" else "non-saturating G loss"]
    if cfg.flip:
        parts.append("horizontal flips")
    if cfg.ema:
        parts.append(f"exported G = moving average of G's weights (decay {cfg.ema:g}, warmed up)")
    if cfg.augment:
        parts.append(f"DiffAugment of D's inputs ({cfg.augment})")
    if cfg.spectral_norm:
        parts.append("spectral norm on D's convolutions")
    if cfg.r1:
        parts.append(f"R1 penalty {cfg.r1:g}")
    return ", ".join(parts)


def ema_of(G: nn.Module, decay: float) -> AveragedModel:
    """A moving average of G's weights and buffers. The decay warms up as min(decay, (1 + n) /
    (10 + n)) after n updates: with a fixed 0.999, 13% of the average after 2000 steps would
    still be the first steps' random G (measured: a far worse Fréchet distance)."""
    def update(averaged: list, current: list, n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        keep = min(decay, (1 + n) / (10 + n))
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                a.lerp_(c, 1 - keep)
            else:  # BatchNorm's step counter
                a.copy_(c)

    return AveragedModel(G, multi_avg_fn=update, use_buffers=True)


def add_spectral_norm(D: nn.Module) -> nn.Module:
    for module in D.modules():
        if isinstance(module, nn.Conv2d):
            spectral_norm(module)
    return D


def release(model: DCGAN, ema: AveragedModel | None) -> DCGAN:
    """What a checkpoint ships: the averaged G where there is one, and D with any spectral
    norm baked into plain weights, so every checkpoint has the same layout; eval mode."""
    if ema is None and not any(parametrize.is_parametrized(m) for m in model.D.modules()):
        return model
    shipped = copy.deepcopy(model).eval()  # eval: reading a spectral-normed weight runs no power iteration
    if ema is not None:
        shipped.G.load_state_dict(ema.module.state_dict())
    for module in shipped.D.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight")
    return shipped


ARCHITECTURE = ("resolution", "channels", "z_dim", "ngf", "ndf", "prior")  # what must match to start from a release


def start_from(model: DCGAN, source: str) -> dict:
    """Copy a released checkpoint's G and D (a folder or Hub id, `inpaint.load_model`) into a new
    run's `model`: to continue a release whose training state is gone, or to fine-tune a prior on
    other data. Its Adam moments are not in a release: the optimizers start afresh. A release
    without D (a community generator) gives G only; D keeps its fresh initialisation.

    Returns what the model card says of the start: the source and its own card's training facts.
    Raises `ModelLoadError` when it cannot be loaded or its architecture differs from the run's.
    """
    released = load_model(source, device="cpu")
    theirs, ours = config_with_defaults(released, ARCHITECTURE), config_with_defaults(model, ARCHITECTURE)
    differ = [f"{key} {theirs[key]} (this run: {ours[key]})" for key in ARCHITECTURE if theirs[key] != ours[key]]
    if differ:
        raise ModelLoadError(f"cannot start from {source}: it has {', '.join(differ)}; "
                             "give the run the same image size, channels, z size, widths and prior", source=str(source))
    model.G.load_state_dict(released.G.state_dict())
    if released.D is not None:
        model.D.load_state_dict(released.D.state_dict())
    card = Path(released.checkpoint_dir) / export.CARD_INFO
    facts = json.loads(card.read_text()) if card.is_file() else {}
    return {"source": str(source), "discriminator": released.D is not None,
            **{k: facts[k] for k in ("commands", "steps", "batch_size", "seconds", "device") if k in facts}}


def config_with_defaults(module: nn.Module, keys) -> dict:
    """A Hub-mixin module's config for `keys`, its constructor's default where the config leaves one
    out (what must match before one network's weights start another)."""
    defaults = {k: v.default for k, v in inspect.signature(type(module)).parameters.items()}
    return {key: module._hub_mixin_config.get(key, defaults[key]) for key in keys}


def describe_start(started: dict) -> str:
    """The model card's line for a run started from a release (`start_from`)."""
    text = f"G{' and D' if started.get('discriminator', True) else ' (its D: a fresh one)'} from `{started['source']}`"
    if "steps" in started:
        text += (f", itself {started['steps']} steps at batch {started.get('batch_size', '?')}, "
                 f"{started.get('seconds', 0) / 60:.1f} minutes on {started.get('device', '?')}")
    if started.get("commands"):
        text += ", by " + "; then ".join(f"`{c}`" for c in started["commands"])
    return text + " (the steps line counts this run alone)"


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train(cfg: TrainConfig, images: torch.Tensor, resume: bool = False) -> Path:
    """Train on uint8 images N x C x R x R; returns the checkpoint folder."""
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank, world = _dist_info()
    device = pick_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads or default_threads())
    precision = resolve_precision(cfg.precision, device)
    out = Path(cfg.out)
    run = Path(cfg.run) if cfg.run else run_dir(out)
    state_path = run / "state.pt"

    if cfg.loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {cfg.loss!r}")
    parse(cfg.augment)
    if cfg.r1 and world > 1:
        raise ValueError("the R1 penalty is not supported under torchrun (DDP does not take its double backward)")
    torch.manual_seed(cfg.seed)
    model = DCGAN(resolution=cfg.resolution, channels=cfg.channels, z_dim=cfg.z_dim, ngf=cfg.ngf,
                  ndf=cfg.ndf, prior=cfg.prior, dataset=cfg.dataset)
    model.apply(weights_init)
    started_from = None
    if cfg.init_from and not (resume and state_path.exists()):  # a resumed run has its own weights
        started_from = start_from(model, cfg.init_from)
    if cfg.spectral_norm:
        add_spectral_norm(model.D)
    model.to(device)
    if device.type == "cuda":  # the data set is small (uint8, tens of MB): index it where the step runs
        images = images.to(device)
    ema = ema_of(model.G, cfg.ema) if cfg.ema else None
    opt_g = torch.optim.Adam(model.G.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(model.D.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))
    step, seconds = 0, 0.0
    commands = [cfg.command]
    if resume and state_path.exists():
        state = torch.load(state_path, map_location=device)
        model.load_state_dict(state["model"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        step, seconds = state["step"], state["seconds"]
        if ema is not None:
            ema.load_state_dict(state["ema"])
        started_from = state.get("started_from")
        commands = state.get("commands", [state.get("config", {}).get("command", "?")]) + [cfg.command]
    G, D = model.G, model.D
    if world > 1:
        # BatchNorm buffers stay per-rank: broadcasting them between D's real and fake
        # forward passes would modify tensors autograd still needs.
        G = torch.nn.parallel.DistributedDataParallel(G, forward_sync_buffers=False)
        D = torch.nn.parallel.DistributedDataParallel(D, forward_sync_buffers=False)

    fixed_z = model.sample_z(64, torch.Generator().manual_seed(1234), device)
    batches = random_indices(len(images), cfg.batch_size, cfg.seed, start=step, rank=rank, world=world)
    noise = torch.Generator()
    log = run / "log.jsonl"
    if rank == 0:
        log.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + cfg.max_minutes * 60 if cfg.max_minutes else None
    bar = tqdm(total=cfg.steps, initial=step, disable=rank != 0, unit="step", dynamic_ncols=True)
    started, last_save = time.monotonic(), step

    def save(final: bool = False):
        if rank != 0:
            return
        total = seconds + time.monotonic() - started
        torch.save({"model": model.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "step": step, "seconds": total, "config": asdict(cfg),
                    "commands": commands, "started_from": started_from}, state_path.with_suffix(".tmp"))
        state_path.with_suffix(".tmp").replace(state_path)
        shipped = release(model, ema)
        shipped.eval()
        with torch.no_grad():
            samples = shipped.G(fixed_z).float()
        model.train()
        grid(samples, 8).save(run / f"samples_{step:06d}.png")
        info = {"commands": commands, "steps": step, "seconds": total, "batch_size": cfg.batch_size * world,
                "world_size": world, "device": hardware(device), "precision": precision, "recipe": recipe(cfg),
                "images": len(images), **cfg.extra}
        if started_from:
            info["started_from"] = describe_start(started_from)
        export.export(shipped, out, samples=samples, info=info)
        if final or step % cfg.checkpoint_every == 0:  # each checkpoint and the end are candidate releases
            export.export(shipped, run / "releases" / f"{step:06d}", samples=samples, info=info)

    model.train()
    while step < cfg.steps:
        t0 = time.perf_counter()
        idx = next(batches)
        noise.manual_seed(step_seed(cfg.seed, rank, step))  # flips and z of this step, this rank
        real = images[idx].to(device, non_blocking=True).float().div_(127.5).sub_(1)
        if cfg.flip:
            flip = torch.rand(len(idx), generator=noise) < 0.5
            real[flip] = real[flip].flip(-1)
        z = model.sample_z(cfg.batch_size, noise, device)

        losses = train_step(G, D, opt_g, opt_d, real, z, cfg, precision, noise, ema)
        step += 1

        if rank == 0:
            dt = time.perf_counter() - t0
            record = {"step": step, "loss_d": round(losses["loss_d"].item(), 4),
                      "loss_g": round(losses["loss_g"].item(), 4), "d_fake": round(losses["d_fake"].item(), 4),
                      "images_per_s": round(cfg.batch_size * world / dt, 1)}
            bar.set_postfix(loss_d=record["loss_d"], loss_g=record["loss_g"], img_s=record["images_per_s"])
            bar.update()
            with log.open("a") as f:
                f.write(json.dumps(record) + "\n")
        out_of_time = deadline is not None and time.monotonic() > deadline
        if world > 1:  # every rank stops at the same step
            flag = torch.tensor([float(out_of_time)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        if step % cfg.checkpoint_every == 0 or step % cfg.sample_every == 0:
            save()
            last_save = step
        if out_of_time:
            break
    if step != last_save or not (out / "model.safetensors").exists():
        save(final=True)
    bar.close()
    if world > 1:
        dist.barrier()
    return out
