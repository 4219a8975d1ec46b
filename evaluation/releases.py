"""Choose a release among a training run's checkpoints, on validation images.

    python -m evaluation.releases RUN [RUN ...] --samples 2000 [--split val] [--out FILE.json]

A run folder (`python -m train --run RUN`) keeps a loadable copy of every checkpoint in
RUN/releases/STEP/. This scores each by the Fréchet distance of its samples to the split's
images in the evaluation classifier's features (lower is better) and prints one table, best
first within each run. It is the cheap first cut; the release is then confirmed by completion
quality (`python -m evaluation --split val`) on the best few.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from inpaint.hub import load_model

from .evaluate import sample_quality


def releases(run: Path) -> list[Path]:
    """RUN/releases/STEP folders, oldest first."""
    folder = run / "releases"
    return sorted((p for p in folder.iterdir() if (p / "model.safetensors").is_file()), key=lambda p: int(p.name)) \
        if folder.is_dir() else []


def score(runs: list[Path], samples: int, split: str = "val") -> list[dict]:
    rows = []
    todo = [(run, rel) for run in runs for rel in releases(run)]
    for run, rel in tqdm(todo, desc="releases", unit="release", file=sys.stderr):
        model = load_model(rel, device="cpu")
        quality = sample_quality(model, samples, split)
        if quality is None:
            raise SystemExit(f"error: no evaluation classifier for the dataset {model.config['dataset']!r}")
        rows.append({"run": str(run), "step": int(rel.name), "release": str(rel), "frechet": quality["frechet"],
                     "frechet_train": quality["frechet_train"], "samples": samples, "split": split})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| run | step | Fréchet distance ↓ |", "|---|---|---|"]
    for run in dict.fromkeys(r["run"] for r in rows):
        mine = sorted((r for r in rows if r["run"] == run), key=lambda r: r["frechet"])
        lines += [f"| {Path(run).parent.name}/{Path(run).name} | {r['step']} | {r['frechet']:.3f}"
                  f"{' (best)' if i == 0 else ''} |" for i, r in enumerate(mine)]
    if rows:
        r = rows[0]
        lines.append(f"\n{r['samples']} samples vs the {r['split']} split; {r['samples']} training images score "
                     f"{r['frechet_train']:.3f} (the floor).")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.releases", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run folders (with releases/STEP/ inside)")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="val (default): releases are choices, so they are made on validation images")
    p.add_argument("--out", type=Path, help="also write the rows as JSON")
    args = p.parse_args(argv)
    missing = [str(r) for r in args.runs if not releases(r)]
    if missing:
        print(f"error: no releases (RUN/releases/STEP/model.safetensors) in {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = score(args.runs, args.samples, args.split)
    print(table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
