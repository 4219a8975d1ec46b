"""Hugging Face ZeroGPU: the search of one request runs under `spaces.GPU`, everything else on the CPU.

On a ZeroGPU Space, `spaces.GPU` runs the decorated generator in a worker process that holds a GPU
for at most the duration it asked for; everything it takes and yields is pickled across. Elsewhere
(no `spaces` package, or SPACES_ZERO_GPU unset) `spaces.GPU` hands the function back unchanged,
and so does the fallback here. app.py imports `spaces` before anything imports torch.
"""

from __future__ import annotations

import os

try:
    import spaces
except ImportError:  # not on a Space: nothing to schedule
    spaces = None

ZERO_GPU = spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")
MIN_SECONDS = 10       # a GPU's start in the worker, moving the weights, the blend on the CPU
MAX_SECONDS = 180      # the request's search stops at the time limit (default 120 s) anyway
STEP_SECONDS = 2e-4    # one Adam step of one restart at 64x64: measured 1.1e-4 on an H100 (README: GPU benchmark), x2 for a slice


def gpu_seconds(iterations: int, restarts: int, resolution: int, time_limit: float | None = None) -> int:
    """The GPU time to ask ZeroGPU for: iterations x restarts steps at the model's resolution
    (cost grows with its pixels), between MIN_SECONDS and MAX_SECONDS (and the search's own
    time limit plus MIN_SECONDS). Shorter requests get a GPU sooner."""
    steps = int(iterations) * int(restarts) * (int(resolution) / 64) ** 2
    ceiling = MAX_SECONDS if time_limit is None else min(MAX_SECONDS, time_limit + MIN_SECONDS)
    return int(min(max(MIN_SECONDS + steps * STEP_SECONDS, MIN_SECONDS), ceiling))


def gpu(duration):
    """`spaces.GPU(duration=duration)`, or a decorator that changes nothing without `spaces`.
    duration: seconds, or a callable given the decorated function's arguments."""
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)
