"""One setting at several values on validation images, compared pair by pair.

    python -m evaluation.sweep --model checkpoints/fashion-mnist-32 --field lam --values 0,0.003,1 --n 40

Every value completes the same images under the same masks and seeds (the split's images in a
fixed shuffled order; `--offset` skips the first ones, so a choice made on one set can be
checked on a disjoint one). For each value it prints the mean hole PSNR, the semantic
accuracy (where the domain has a classifier), D's mean score of the best raw fills and the
seconds per image; then each value against the first, paired over the same image-mask pairs,
with the standard error of the mean difference. This is for choosing settings: it reads the
validation split unless told otherwise. It is `evaluation.compare` with one config per value.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from inpaint import methods as registry
from inpaint.complete import Settings
from inpaint.errors import InpaintError
from inpaint.hub import load_model

from .compare import Config, compare
from .compare import report as compare_report
from .evaluate import GAN_PRIOR


def sweep(model, field: str, values: list, n: int, masks: list[str], split: str = "val", offset: int = 0,
          settings: Settings | None = None, method: str = GAN_PRIOR, size: int | None = None) -> list[dict]:
    """`evaluation.compare`'s rows, one config per value of `field` on top of `settings` (default: the
    model's own, `Settings.for_model`), each row with its `value` too."""
    base = settings or Settings.for_model(model)
    configs = {f"{v:g}": v for v in values}
    rows = compare(model, [Config(name, dataclasses.replace(base, **{field: v})) for name, v in configs.items()],
                   n, masks, split, offset, method=method, size=size,
                   on_mask=lambda mask, _: print(f"  {mask}: done", file=sys.stderr, flush=True))
    for row in rows:
        row["value"] = configs[row["config"]]
    return rows


def report(rows: list[dict], field: str) -> str:
    """Each value's means, then each value against the first, paired (mean difference ± standard error)."""
    return compare_report(rows, field)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--field", required=True, help="a Settings field, e.g. lam, restarts, iterations")
    p.add_argument("--values", required=True, help="comma-separated; the first is the reference")
    p.add_argument("--n", type=int, default=20, help="images per mask")
    p.add_argument("--offset", type=int, default=0, help="skip the first N images of the split's fixed order")
    p.add_argument("--masks", default="center,left,top,strokes")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--method", choices=registry.names(), default=GAN_PRIOR, help="a registered completion method")
    p.add_argument("--size", type=int, help="complete the images scaled up to PX x PX (as compare's --size)")
    p.add_argument("--out", help="also save the rows as JSON here")
    args = p.parse_args(argv)
    kind = type(getattr(Settings(), args.field, None))
    if args.field not in {f.name for f in dataclasses.fields(Settings)} or kind not in (int, float):
        p.error(f"--field must be a numeric Settings field, got {args.field!r}")
    try:
        model = load_model(args.model)
    except InpaintError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    values = [kind(v) if kind is int else float(v) for v in args.values.split(",")]
    rows = sweep(model, args.field, values, args.n, args.masks.split(","), args.split, args.offset,
                 method=args.method, size=args.size)
    text = report(rows, args.field)
    command = f"python -m evaluation.sweep {' '.join(argv if argv is not None else sys.argv[1:])}"
    print(f"{command}  ({args.split} split)\n\n{text}")
    if args.out:
        Path(args.out).write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
