"""Choose a release among a training run's checkpoints, on validation images.

    python -m evaluation.releases RUN [RUN ...] [--samples 2000] [--split val] [--out FILE.json]
    python -m evaluation.releases RUN --samples 0 --completions 20 --against checkpoints/emoji-faces-64 \
        [--steps 8000,12000] [--masks center,left,top,strokes]

A run folder (`python -m train --run RUN`) keeps a loadable copy of every checkpoint in
RUN/releases/STEP/. This scores each and prints one table per call, best first within each run:

- `--samples N` (default 2000; 0 skips it): the Fréchet distance of N samples to the split's
  images in the evaluation classifier's features (lower is better). Cheap, but it ranks
  releases only roughly.
- `--completions N`: what a release is for. The first N images of the split under each of
  `--masks`, filled by the gan-prior method's *cold* search (`Settings()`: a fresh release has
  no warm-start encoder yet; it is fitted for the one chosen), hole PSNR (higher is better).
  With `--against CHECKPOINT` (the shipped model, say) that model is scored the same way, its
  encoder set aside, and each release is compared with it pair by pair (same image, same hole:
  mean difference ± standard error, as `python -m evaluation.versus` prints). Each evaluation
  is kept as a `python -m evaluation --out` folder (results and a figure per mask to look at)
  under `--eval-dir` (default RUN/evaluations/SPLIT-nN/), so two of them can be paired again
  later. The release is then confirmed at its defaults, encoder fitted, on the whole val split.

`--steps` picks releases by step (default: all). Choices are made on val; `--split test` is
for the report of a release already chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from inpaint.complete import Settings
from inpaint.hub import load_model
from inpaint.masks import PRESETS

from .evaluate import GAN_PRIOR, _difference, evaluate, sample_quality
from .versus import versus

MASKS = ("center", "left", "top", "strokes")  # the four, as the val comparisons in the README


def releases(run: Path, steps: set[int] | None = None) -> list[Path]:
    """RUN/releases/STEP folders, oldest first (only `steps`, when given)."""
    folder = run / "releases"
    found = sorted((p for p in folder.iterdir() if (p / "model.safetensors").is_file()), key=lambda p: int(p.name)) \
        if folder.is_dir() else []
    return [p for p in found if steps is None or int(p.name) in steps]


def completions(model, n: int, masks, split: str, out: Path) -> list[dict]:
    """The per-(mask, image) rows of the cold gan-prior search on the first n images of `split`,
    its `python -m evaluation` report written to `out`."""
    # Settings(): warm_start 0, so a model's encoder, where it has one, is not used: releases have none yet
    evaluate(model, n, list(masks), paper_n=0, methods=(GAN_PRIOR,), out=out, settings=Settings(), split=split)
    return [r for r in json.loads((out / "results.json").read_text())["rows"] if r["method"] == GAN_PRIOR]


def score(runs: list[Path], samples: int, split: str = "val", n_completions: int = 0, masks=MASKS,
          against: str | None = None, steps: set[int] | None = None, eval_dir: Path | None = None) -> list[dict]:
    """One row per release (and one for `against`, run "reference", when given)."""
    todo = [(run, rel) for run in runs for rel in releases(run, steps)]
    eval_dir = eval_dir or runs[0] / "evaluations" / f"{split}-n{n_completions}"

    def scored(model, folder: Path) -> tuple[list[dict], dict]:
        mine = completions(model, n_completions, masks, split, folder)
        return mine, {"n": len(mine), "masks": list(masks), "folder": str(folder),
                      "psnr_hole": sum(r["psnr_hole"] for r in mine) / len(mine)}

    ref_rows, rows = None, []
    if against is not None and n_completions:
        print(f"scoring {against} the same way (its encoder set aside)", file=sys.stderr)
        ref_rows, summary = scored(load_model(against, device="cpu"), eval_dir / "reference")
        rows.append({"run": "reference", "step": None, "release": str(against), "split": split, "completions": summary})
    for run, rel in tqdm(todo, desc="releases", unit="release", file=sys.stderr):
        model = load_model(rel, device="cpu")
        row = {"run": str(run), "step": int(rel.name), "release": str(rel), "split": split}
        if samples:
            quality = sample_quality(model, samples, split)
            if quality is None:
                raise SystemExit(f"error: no evaluation classifier for the dataset {model.config['dataset']!r}")
            row.update(frechet=quality["frechet"], frechet_train=quality["frechet_train"], samples=samples)
        if n_completions:
            mine, row["completions"] = scored(model, eval_dir / (rel.name if len(runs) == 1 else f"{run.name}-{rel.name}"))
            if ref_rows is not None:
                row["completions"]["versus_reference"] = versus(ref_rows, mine)
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown, best first within each run: by hole PSNR where completions were scored, else by
    the Fréchet distance."""
    fd = any("frechet" in r for r in rows)
    done = next((r["completions"] for r in rows if "completions" in r), None)
    reference = next((r for r in rows if r["run"] == "reference"), None)
    head = ["run", "step"] + (["Fréchet distance ↓"] if fd else [])
    if done:
        head.append(f"hole PSNR ↑ ({done['n']} pairs, cold)")
        if reference:
            head.append(f"vs {Path(reference['release']).name}, paired")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ranked = [r for r in rows if r["run"] != "reference"]

    def key(r):
        return -r["completions"]["psnr_hole"] if done else r["frechet"]
    for run in dict.fromkeys(r["run"] for r in ranked):
        mine = sorted((r for r in ranked if r["run"] == run), key=key)
        for i, r in enumerate(mine):
            cells = [f"{Path(run).parent.name}/{Path(run).name}", str(r["step"])]
            cells += [f"{r['frechet']:.3f}"] if fd else []
            if done:
                cells.append(f"{r['completions']['psnr_hole']:.2f}")
                if reference:
                    cells.append(_difference(r["completions"]["versus_reference"]))
            cells[-1] += " (best)" if i == 0 else ""
            lines.append("| " + " | ".join(cells) + " |")
    if reference:
        lines.append(f"| reference: {reference['release']} | | " + ("| " if fd else "")
                     + f"{reference['completions']['psnr_hole']:.2f} | |")
    notes = []
    first = next((r for r in ranked if "frechet" in r), None)
    if first:
        notes.append(f"{first['samples']} samples vs the {first['split']} split; {first['samples']} training images "
                     f"score {first['frechet_train']:.3f} (the floor).")
    if done:
        notes.append(f"Completions: the first {done['n'] // len(done['masks'])} {rows[0]['split']} images × "
                     f"{', '.join(done['masks'])}, the cold search (no encoder) for every model; the evaluations "
                     f"(figures, rows for `python -m evaluation.versus`) are kept in {Path(done['folder']).parent}/.")
    return "\n".join(lines) + ("\n\n" + " ".join(notes) if notes else "")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.releases", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run folders (with releases/STEP/ inside)")
    p.add_argument("--samples", type=int, default=2000, help="samples for the Fréchet distance (0: skip it)")
    p.add_argument("--completions", type=int, default=0, metavar="N",
                   help="also fill the first N images of the split under each mask (the cold search)")
    p.add_argument("--masks", default=",".join(MASKS), help="masks for --completions (default %(default)s)")
    p.add_argument("--against", metavar="CHECKPOINT", help="with --completions: a model every release is paired with")
    p.add_argument("--steps", help="only these releases, e.g. 8000,12000 (default: every one)")
    p.add_argument("--eval-dir", type=Path, help="where the completions' evaluations go (default RUN/evaluations/SPLIT-nN)")
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="val (default): releases are choices, so they are made on validation images")
    p.add_argument("--out", type=Path, help="also write the rows as JSON")
    args = p.parse_args(argv)
    if args.samples < 0 or args.completions < 0 or not (args.samples or args.completions):
        print("error: --samples and --completions must be >= 0, and one of them > 0", file=sys.stderr)
        return 2
    if args.against and not args.completions:
        print("error: --against compares completions: give --completions N too", file=sys.stderr)
        return 2
    try:
        steps = {int(s) for s in args.steps.split(",")} if args.steps else None
    except ValueError:
        print(f"error: --steps takes whole numbers separated by commas, got {args.steps!r}", file=sys.stderr)
        return 2
    masks = [m.strip() for m in args.masks.split(",") if m.strip()]
    unknown = [m for m in masks if m not in PRESETS]
    if unknown or not masks:
        print(f"error: --masks takes mask presets ({', '.join(PRESETS)}), got {args.masks!r}", file=sys.stderr)
        return 2
    missing = [str(r) for r in args.runs if not releases(r, steps)]
    if missing:
        which = f" at steps {args.steps}" if steps else ""
        print(f"error: no releases (RUN/releases/STEP/model.safetensors){which} in {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = score(args.runs, args.samples, args.split, args.completions, masks, args.against, steps, args.eval_dir)
    print(table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
