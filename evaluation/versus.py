"""Two evaluations of the same images against each other, pair by pair: is model B better than A?

    python -m evaluation.versus EVAL_A EVAL_B [--method gan-prior] [--method-b context-encoder]

EVAL_A and EVAL_B are `python -m evaluation --out` folders made with the same split, --n and
--masks (so that row (mask, index) is the same image under the same hole in both): two models,
or one model before and after a change. It prints B − A in hole PSNR, the mean over the pairs
with its standard error and per mask, the way `python -m evaluation` compares methods within one
run (`evaluate.paired`), and how many times less time B took.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .evaluate import GAN_PRIOR, _difference, paired


def versus(a: list[dict], b: list[dict], method: str = GAN_PRIOR, method_b: str | None = None) -> dict | None:
    """`evaluate.paired` of B's `method_b` rows (default `method`) against A's `method` rows."""
    rows = [{**r, "method": "A"} for r in a if r["method"] == method]
    rows += [{**r, "method": "B"} for r in b if r["method"] == (method_b or method)]
    return paired(rows, "B", "A")


def _rows(folder: Path) -> tuple[list[dict], dict]:
    saved = json.loads((folder / "results.json").read_text())
    return saved["rows"], saved["summary"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.versus", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path, help="the reference: a `python -m evaluation --out` folder")
    p.add_argument("b", type=Path, help="the one compared with it, on the same split, --n and --masks")
    p.add_argument("--method", default=GAN_PRIOR, help="the rows compared (default gan-prior)")
    p.add_argument("--method-b", help="B's rows, when they are another method's")
    args = p.parse_args(argv)
    try:
        (a, sa), (b, sb) = _rows(args.a), _rows(args.b)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: cannot read the results.json of both folders: {err}", file=sys.stderr)
        return 2
    if sa.get("split") != sb.get("split"):
        print(f"error: {args.a} is on the {sa.get('split')} split, {args.b} on the {sb.get('split')} split",
              file=sys.stderr)
        return 2
    result = versus(a, b, args.method, args.method_b)
    if result is None or result["n"] < 2:
        print(f"error: fewer than two (mask, image) pairs of {args.method} in both", file=sys.stderr)
        return 2
    print(f"{args.b} vs {args.a} ({sa.get('split')} split, {args.method_b or args.method} vs {args.method}, "
          f"{result['n']} pairs): {_difference(result)}; {result['times_faster']:.2f}x less time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
