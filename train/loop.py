"""The DCGAN training loop (Radford et al. recipe), single process or under torchrun.

Each rank takes its own part of every step's shuffled images; gradients are averaged by DDP.
The data order and the noise of a step depend on (seed, rank, step) alone, so a run
resumed from its state.pt continues exactly as if it had not stopped. OUT itself is always a
loadable checkpoint folder (config.json, model.safetensors, README.md, samples.png); the
resumable state, the log and the sample grids go to a run folder outside it (`run_dir`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from inpaint.device import autocast, default_threads, pick_device, resolve_precision
from inpaint.imageio import grid
from inpaint.models import DCGAN, weights_init

from . import export
from .data import cache_dir, random_indices


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
    run: str | None = None  # state.pt, log.jsonl, samples_*.png (default: run_dir(out))


def run_dir(out: str | Path) -> Path:
    """The default folder for a checkpoint's training state, outside the checkpoint (which is
    shipped): $GAN_INPAINT_RUNS (default ~/.cache/gan-inpaint/runs)/NAME-HASH of OUT's path."""
    path = Path(out).resolve()
    runs = Path(os.environ.get("GAN_INPAINT_RUNS", cache_dir() / "runs"))
    return runs / f"{path.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def step_seed(seed: int, rank: int, step: int) -> int:
    """A seed for one rank's step, unrelated to its neighbours' (seed + rank + step would repeat)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{rank}:{step}".encode()).digest()[:7], "big")


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

    torch.manual_seed(cfg.seed)
    model = DCGAN(resolution=cfg.resolution, channels=cfg.channels, z_dim=cfg.z_dim, ngf=cfg.ngf,
                  ndf=cfg.ndf, prior=cfg.prior, dataset=cfg.dataset)
    model.apply(weights_init)
    model.to(device)
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
    ones = torch.ones(cfg.batch_size, device=device)
    zeros = torch.zeros(cfg.batch_size, device=device)
    log = run / "log.jsonl"
    if rank == 0:
        log.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + cfg.max_minutes * 60 if cfg.max_minutes else None
    bar = tqdm(total=cfg.steps, initial=step, disable=rank != 0, unit="step", dynamic_ncols=True)
    started, last_save = time.monotonic(), step

    def save():
        if rank != 0:
            return
        total = seconds + time.monotonic() - started
        torch.save({"model": model.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                    "step": step, "seconds": total, "config": asdict(cfg),
                    "commands": commands}, state_path.with_suffix(".tmp"))
        state_path.with_suffix(".tmp").replace(state_path)
        model.eval()
        with torch.no_grad():
            samples = model.G(fixed_z).float()
        model.train()
        grid(samples, 8).save(run / f"samples_{step:06d}.png")
        export.export(model, out, samples=samples, info={
            "commands": commands, "steps": step, "seconds": total, "batch_size": cfg.batch_size * world,
            "world_size": world, "device": export.hardware(device), "precision": precision,
            "images": len(images), **cfg.extra})

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

        with autocast(device, precision):
            fake = G(z)
            loss_d = (F.binary_cross_entropy_with_logits(D(real).float(), ones)
                      + F.binary_cross_entropy_with_logits(D(fake.detach()).float(), zeros))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with autocast(device, precision):
            d_fake = D(fake).float()
            loss_g = F.binary_cross_entropy_with_logits(d_fake, ones)  # the non-saturating G loss
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        step += 1

        if rank == 0:
            dt = time.perf_counter() - t0
            record = {"step": step, "loss_d": round(loss_d.item(), 4), "loss_g": round(loss_g.item(), 4),
                      "d_fake": round(torch.sigmoid(d_fake).mean().item(), 4),
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
        save()
    bar.close()
    if world > 1:
        dist.barrier()
    return out
