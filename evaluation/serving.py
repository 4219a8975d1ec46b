"""Completions per minute when several people ask at once: N requests sent together through
`inpaint.service.Service`, with its batcher on (waiting requests searched as one batch, up to
--max-batch) and off (max batch 1: one completion at a time), for each model.

    python -m evaluation.serving [--models checkpoints/fashion-mnist-32,checkpoints/emoji-64]
                                 [--requests 8] [--max-batch 8] [--repeats 1] [--device cpu|cuda]

The requests are the app's examples of that model (held-out test images with their holes),
each with its own seed, at the default settings. The first request of a round starts alone and
the rest wait for it, as in a busy app. One untimed completion per model goes first (one-time
set-up). Prints the machine and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from .benchmark import DEFAULT_MODELS, ROOT, machine


def requests(model, folder: Path, n: int) -> list[tuple]:
    """n (image, hole, Settings) of the app's examples for this model, round robin, seeds 0..n-1."""
    from inpaint import Settings, preset
    from inpaint.imageio import read_image

    examples = [e for e in json.loads((ROOT / "examples" / "examples.json").read_text()) if e["model"] == folder.name]
    if not examples:
        raise SystemExit(f"no examples for {folder.name} in examples/examples.json")
    out = []
    for i in range(n):
        example = examples[i % len(examples)]
        image = read_image(ROOT / "examples" / example["image"])
        out.append((image, preset(example["hole"], image.size, seed=i), Settings.for_model(model, seed=i)))
    return out


def serve_round(model, batch: int, asked: list[tuple]) -> dict:
    """Send every request at once to a fresh Service; (seconds until the last is done, its batch sizes)."""
    from inpaint.service import Finished, Limits, Service, in_thread

    service = Service(limits=Limits(max_batch=batch))

    def one(image, hole, settings):
        return [r for r in service.run(model, image, hole, settings) if isinstance(r, Finished)][0]

    started = time.perf_counter()
    runs = [in_thread(one, *request) for request in asked]
    done = [run.result() for run in runs]
    return {"seconds": time.perf_counter() - started, "batches": dict(sorted(service.batch_sizes.items())),
            "iterations": statistics.mean(d.completion.iterations for d in done)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.serving", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--requests", type=int, default=8, help="requests sent at once")
    p.add_argument("--max-batch", type=int, default=8, help="the batcher's cap (Limits.max_batch)")
    p.add_argument("--repeats", type=int, default=1, help="rounds per case (the median is reported)")
    p.add_argument("--device", default="auto", help="cpu, cuda (default: CUDA when present)")
    args = p.parse_args(argv)

    from inpaint.complete import complete
    from inpaint.hub import load_model

    rows = []
    for path in args.models.split(","):
        model = load_model(path, device=args.device)
        asked = requests(model, Path(path), args.requests)
        complete(model, *asked[0][:2], asked[0][2], iterations=2)  # one-time set-up, untimed
        for batch in (1, args.max_batch):
            rounds = sorted((serve_round(model, batch, asked) for _ in range(args.repeats)), key=lambda r: r["seconds"])
            row = dict(rounds[len(rounds) // 2], model=Path(path).name, max_batch=batch)  # the median round
            row["per_minute"] = args.requests / row["seconds"] * 60
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    lines = [f"Machine: {machine(args.device)}", "", f"{args.requests} requests at once, default settings:", "",
             "| model | max batch | batches (size: count) | mean iterations | seconds for all | completions / minute |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        batches = ", ".join(f"{size}: {count}" for size, count in r["batches"].items())
        lines.append(f"| {r['model']} | {r['max_batch']}{' (one at a time)' if r['max_batch'] == 1 else ''} | "
                     f"{batches} | {r['iterations']:.0f} | {r['seconds']:.1f} | {r['per_minute']:.1f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
