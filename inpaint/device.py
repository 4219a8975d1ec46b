"""Device and precision choices shared by training and completion."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

import torch


def pick_device(device: str | None = None) -> torch.device:
    """`device` if given ("cpu", "cuda", "cuda:1"); for None, "" or "auto" CUDA when present, else the CPU.

    The one place that default is decided: `load_model` (so the app and the CLI) and training come here."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_has_fast_bf16() -> bool:
    """True where oneDNN has bf16 kernels in hardware (AVX512-BF16 or AMX).

    On CPUs without them (AVX2-only, like the AMD EPYC these machines have) bf16 autocast
    was measured 15-25x *slower* than fp32 for DCGAN steps, so it is only used where it helps.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "bf16" on CPUs with bf16 hardware, else "fp32" (on GPUs: fp32 with TF32).

    Never fp16 by itself: its gradients underflow without a loss scaler, which neither the
    search nor training uses. On a GPU these small convolutions are bound by kernel launches,
    not arithmetic: on an H100 the default search took 2.0 ms per iteration in fp32 (TF32) and
    2.2 ms in bf16, a training step ran 14-20% faster in fp32, and bf16's search ended at a
    higher loss (README: GPU benchmark), so "auto" keeps fp32 there."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        use_cuda(device)
        return "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def use_cuda(device: torch.device) -> None:
    """TF32 for fp32 matrix products and convolutions on GPUs that have it (Ampere and newer):
    the fp32 work that stays fp32 under bf16 autocast (and all of it on older GPUs) runs on
    tensor cores, at a precision far above what a GAN's pixels need."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def autocast(device: torch.device, precision: str):
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def default_threads() -> int:
    """Threads for CPU work: OMP_NUM_THREADS if set, else the cores this process may use
    (not the host's count)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def hardware(device: torch.device) -> str:
    """The device in words, for benchmarks and model cards: the GPU's name, or the CPU's model and threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"CPU: {cpu}, {threads} thread{'s' if threads != 1 else ''}"
