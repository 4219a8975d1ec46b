"""Speed and memory of completion (and of a training step, the prior's and its encoder's) on this machine.

    python -m evaluation.benchmark [--models checkpoints/fashion-mnist-32,checkpoints/emoji-64] [--repeats 3]

For each model: the default settings (`Settings.for_model`: the warm start where the model
ships an encoder; a whole completion, timed end to end, median of --repeats, after one untimed
warm-up call whose time is reported as "first call"), the search from the prior alone
(`Settings()`, "cold"), the default settings' optimization loop in fp32 and bf16, and the paper's settings (1000
iterations x 64 restarts, fp32; the per-iteration time is measured over --paper-iterations
steps and a completion is 1000 of them, since the paper's algorithm has no early stop).
The blend is timed apart, at the sizes the app meets (`--blend-sizes`): a centre hole, the
default number of candidates, each seamless blend (edge-aware factorizes once per fill,
Poisson once per hole).
Peak memory is the resident set of a fresh process running that case, and on a GPU also
the most GPU memory PyTorch held (`torch.cuda.max_memory_allocated`). On a machine with a GPU
the completions and the training step run there (`--device cpu` measures the CPU instead).
Prints a Markdown table and writes it to --out as JSON too.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = [str(ROOT / "checkpoints" / "fashion-mnist-32"), str(ROOT / "checkpoints" / "emoji-64")]


def machine(device: str = "auto") -> str:
    import torch

    from inpaint.device import pick_device

    if pick_device(device).type == "cuda":
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    from inpaint.device import cpu_has_fast_bf16, hardware

    bf16 = "bf16 hardware (auto precision: bf16)" if cpu_has_fast_bf16() else "no bf16 hardware (auto precision: fp32)"
    return f"{hardware(torch.device('cpu'))}, {bf16}, torch {torch.__version__}, " \
           f"{platform.python_implementation()} {platform.python_version()}"


def _case(model_path: str, case: str, repeats: int, paper_iterations: int, loop_iterations: int, device: str,
          queue) -> None:
    """One case in a fresh process, so its peak RSS is its own."""
    import numpy as np
    from PIL import Image

    from inpaint.complete import Settings, complete
    from inpaint.hub import load_model
    from inpaint.masks import preset

    import torch

    model = load_model(model_path, device=device)
    r = model.resolution
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (r // 4, r // 4, model.channels), dtype=np.uint8)
    img = Image.fromarray(arr.squeeze(-1) if model.channels == 1 else arr).resize((r, r), Image.BICUBIC)
    hole = preset("center", (r, r))
    if case == "default":
        settings = Settings.for_model(model)
    elif case == "cold":
        settings = Settings()
    elif case in ("fp32", "bf16"):  # the default loop, no early stop, fixed precision
        settings = Settings.for_model(model, iterations=loop_iterations, patience=0, precision=case)
    else:
        settings = Settings.paper(iterations=paper_iterations)
    # the first call of a process pays for one-time set-up (oneDNN kernels, folding BatchNorm);
    # a running app pays it once, so it is reported apart and the timed runs come after it
    cold = complete(model, img, hole, settings, iterations=2, seed=repeats).seconds
    times, its = [], []
    for i in range(repeats):
        res = complete(model, img, hole, settings, seed=i)
        times.append(res.seconds)
        its.append(res.iterations)
    completion = statistics.median(times)
    per_it = sum(times) / sum(its)
    if case == "paper":
        completion = per_it * 1000
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu = torch.cuda.max_memory_allocated() / 2**20 if res.device.startswith("cuda") else None
    queue.put({"model": Path(model_path).name, "case": case, "seconds_per_completion": completion,
               "seconds_per_iteration": per_it, "iterations": 1000 if case == "paper" else statistics.median(its), "restarts": settings.restarts,
               "precision": res.precision, "device": res.device, "peak_rss_mib": rss, "peak_gpu_mib": gpu,
               "first_call_2_iterations": cold})


def training_step(model_path: str, steps: int = 3, device: str = "auto", **recipe) -> dict:
    """Images per second of the training loop's own step (`train.loop.train_step`) at the
    checkpoint's size, batch 64, fp32 and bf16, on `device`. `recipe`: TrainConfig fields (ema, augment, ...)."""
    import torch

    from inpaint.device import pick_device, use_cuda

    from inpaint.hub import load_model
    from inpaint.models import DCGAN
    from train.loop import TrainConfig, add_spectral_norm, ema_of, train_step

    ref = load_model(model_path, device="cpu")
    cfg = TrainConfig(dataset=ref.config["dataset"], out="", **recipe)
    where = pick_device(device)
    if where.type == "cuda":
        use_cuda(where)
        steps = max(steps, 20)  # a GPU step is milliseconds: time enough of them
    sync = torch.cuda.synchronize if where.type == "cuda" else (lambda: None)
    out = {}
    for precision in ("fp32", "bf16"):
        m = DCGAN(**ref.config).to(where).train()
        if cfg.spectral_norm:
            add_spectral_norm(m.D)
        ema = ema_of(m.G, cfg.ema) if cfg.ema else None
        og, od = torch.optim.Adam(m.G.parameters(), 2e-4), torch.optim.Adam(m.D.parameters(), 2e-4)
        noise = torch.Generator().manual_seed(0)
        real = (torch.rand(64, m.channels, m.resolution, m.resolution, generator=noise) * 2 - 1).to(where)

        def step(m=m, og=og, od=od, real=real, noise=noise, ema=ema, precision=precision):  # this round's
            train_step(m.G, m.D, og, od, real, m.sample_z(64, noise, where), cfg, precision, noise, ema)

        out[precision] = _images_per_second(step, 64, steps, sync)
    return out


def encoder_step(model_path: str, steps: int = 3, device: str = "auto") -> dict:
    """Images per second of the warm-start encoder's training step (`train.encoder.encoder_loss`,
    its holes drawn as in training, G frozen) for the checkpoint's prior, batch 32, fp32 and bf16."""
    import torch

    from inpaint.device import autocast, pick_device, use_cuda
    from inpaint.encoder import LatentEncoder
    from inpaint.hub import load_model
    from train import encoder as training

    where = pick_device(device)
    if where.type == "cuda":
        use_cuda(where)
        steps = max(steps, 20)
    sync = torch.cuda.synchronize if where.type == "cuda" else (lambda: None)
    prior = load_model(model_path, device=where)
    G, args = prior.fused().G, training.parse_args(["--prior", model_path, "--dataset", "-", "--out", "-"])
    bank, noise = training.stroke_bank(prior.resolution), torch.Generator().manual_seed(0)
    x = (torch.rand(32, prior.channels, prior.resolution, prior.resolution, generator=noise) * 2 - 1).to(where)
    out = {}
    for precision in ("fp32", "bf16"):
        E = LatentEncoder(resolution=prior.resolution, channels=prior.channels, z_dim=prior.z_dim,
                          prior=prior.prior).to(where)
        opt = torch.optim.Adam(E.parameters(), 1e-3)

        def step(E=E, opt=opt, precision=precision):  # this round's, bound now
            known = 1 - training.random_holes(32, prior.resolution, noise, bank).to(where)
            with autocast(where, precision):
                loss, _ = training.encoder_loss(E, G, x, known, prior.sample_z(16, noise).to(where), args)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        out[precision] = _images_per_second(step, 32, steps, sync)
    return out


def blend_time(side: int, repeats: int = 3) -> dict:
    """Seconds (median of `repeats`) to blend `Settings().candidates` fills into a side x side RGB
    image's centre hole (a quarter of it) with each seamless blend, a 64 px model's fill scaled up."""
    import numpy as np
    from PIL import Image

    from inpaint import blend as blending
    from inpaint.complete import Settings
    from inpaint.masks import preset

    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    fills = [np.asarray(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).resize(
        (side, side), Image.BICUBIC), dtype=np.float64) for _ in range(Settings().candidates)]
    hole = preset("center", (side, side))
    out = {"side": side, "candidates": len(fills), "hole_pixels": int(hole.sum())}
    for mode in blending.SEAMLESS:
        box = blending.region(hole, mode)
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            blending.blend_all(original, [f[box] for f in fills], hole, mode, box, scale=side / 64)
            ts.append(time.perf_counter() - t)
        out[mode] = statistics.median(ts)
    return out


def _images_per_second(step, batch: int, steps: int, sync) -> float:
    """`batch` over the median time of `steps` calls of `step`, after one untimed warm-up call."""
    ts = []
    for _ in range(steps + 1):
        sync()
        t = time.perf_counter()
        step()
        sync()
        ts.append(time.perf_counter() - t)
    return batch / statistics.median(ts[1:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.benchmark", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--cases", default="default,cold,fp32,bf16,paper")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--paper-iterations", type=int, default=50)
    p.add_argument("--loop-iterations", type=int, default=100, help="steps for the fp32 vs bf16 cases")
    p.add_argument("--no-train", action="store_true", help="skip the training-step measurements")
    p.add_argument("--blend-sizes", default="256,1024", help="image sides (px) to time the blend at ('' skips it)")
    p.add_argument("--device", default="auto", help="cpu, cuda (default: CUDA when present)")
    p.add_argument("--out", help="also write the results as JSON here")
    args = p.parse_args(argv)
    ctx = mp.get_context("spawn")
    rows = []
    for model_path in args.models.split(","):
        for case in args.cases.split(","):
            q = ctx.Queue()
            proc = ctx.Process(target=_case, args=(model_path, case, args.repeats, args.paper_iterations,
                                                          args.loop_iterations, args.device, q))
            proc.start()
            row = q.get()
            proc.join()
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    train = {} if args.no_train else {Path(m).name: training_step(m, device=args.device) for m in args.models.split(",")}
    encoder = {} if args.no_train else {Path(m).name: encoder_step(m, device=args.device) for m in args.models.split(",")}
    blends = [blend_time(int(side), args.repeats) for side in args.blend_sizes.split(",") if side]
    gpu = any(r["peak_gpu_mib"] is not None for r in rows)
    header = f"Machine: {machine(args.device)}"
    lines = [header, "", "| model | settings | restarts | precision | iterations | s / iteration | s / completion | "
             "first call, 2 it (s) | peak RSS (MiB) |" + (" peak GPU memory (MiB) |" if gpu else ""),
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if gpu else "")]
    names = {"default": "default (early stop)", "cold": "Settings(): no warm start", "fp32": "default loop, fixed steps", "bf16": "default loop, fixed steps",
             "paper": "paper (1000 it)"}
    for r in rows:
        lines.append(f"| {r['model']} | {names[r['case']]} | {r['restarts']} | {r['precision']} | {r['iterations']:.0f} | "
                     f"{r['seconds_per_iteration'] * 1000:.1f} ms | {r['seconds_per_completion']:.2f} | "
                     f"{r['first_call_2_iterations']:.2f} | {r['peak_rss_mib']:.0f} |"
                     + (f" {r['peak_gpu_mib']:.0f} |" if gpu else ""))
    for model_name in dict.fromkeys(r["model"] for r in rows):
        per = {r["case"]: r["seconds_per_completion"] for r in rows if r["model"] == model_name}
        if "default" in per and per.keys() & {"cold", "paper"}:
            lines.append("")
            lines.append(f"{model_name}: the default completion takes " + ", ".join(
                f"{per[case] / per['default']:.1f}x less time than {names[case]}" for case in ("cold", "paper")
                if case in per))
    for model_name, speeds in train.items():
        lines.append("")
        lines.append(f"Training step ({model_name}, batch 64): " + ", ".join(f"{k} {v:.0f} images/s" for k, v in speeds.items()))
    for model_name, speeds in encoder.items():
        lines.append("")
        lines.append(f"Encoder training step ({model_name}, batch 32): "
                     + ", ".join(f"{k} {v:.0f} images/s" for k, v in speeds.items()))
    for b in blends:
        lines.append("")
        lines.append(f"Blend of {b['candidates']} candidates into a {b['side']} px image's centre hole "
                     f"({b['hole_pixels']:,} pixels), on the CPU: "
                     + ", ".join(f"{mode} {b[mode]:.2f} s" for mode in b if mode not in ("side", "candidates", "hole_pixels")))
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"machine": machine(args.device), "rows": rows, "training": train,
                                              "encoder_training": encoder, "blend": blends}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
