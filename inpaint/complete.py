"""Semantic inpainting by latent optimization (Yeh et al., CVPR 2017), and restoration by the same search.

    z* = argmin_z  || W * M * (A(G(z)) - y) ||_1  +  lam * -log D(G(z))

A is the known degradation (`inpaint.operators`): for inpainting (`complete`) the identity, the
hole being M; for restoration (`restore`) a blur, downsampling, noise or greyscale as well.

K restarts are optimized side by side as one batch with Adam on z, z kept inside the
prior after each step; G and D are frozen. The fill G(z*) is then blended into the hole
of the original image at its full resolution; a restoration is made consistent with the
observation there (`operators.consistent`). Several completions with one model can share
that batch, each with its own image, settings and result (`complete_many`, `complete_each`).
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from . import blend as blending
from . import operators as ops
from .device import autocast, default_threads, resolve_precision
from .errors import InpaintError
from .imageio import Fit, check_size, model_view, normalize, to_pil
from .losses import contextual_loss, perceptual_loss
from .masks import from_image, importance_weights, known_from_hole
from .models import DCGAN

MAX_SEED = 2**32 - 1  # seeds are 0..2^32-1: what every front end can pass exactly (JSON numbers, sliders)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DISTINCT = 0.02       # candidates closer than this (mean |difference| in the hole, [-1, 1] scale) are one fill
# the search's defaults for a model whose checkpoint ships a warm-start encoder (`model.encoder`), filling a hole:
# 6 of 8 restarts from E, 30 steps. Chosen on val (fashion 160 pairs, emoji 32) against Settings(); on test
# 3.4x / 4.5x less time with hole PSNR +0.03 / +0.32 dB (300 / 150 pairs; README: "A learned warm start")
WARM = dict(restarts=8, warm_start=0.75, iterations=30)


@dataclass(frozen=True)
class Settings:
    """How a completion is searched for. `Settings()` is the search from the prior alone (any model,
    any task); `Settings.for_model(model)` is what `complete` and every front end use when not
    told otherwise: the faster warm start where the model has an encoder. `Settings.paper()`
    gives the seed algorithm as published."""

    iterations: int = 40        # Adam steps at most (early stopping may end sooner)
    restarts: int = 32          # K starts, optimized as one batch
    init_pool: int = 16         # draw K * init_pool z's, start from the K whose G(z) best fits (1: plain)
    warm_start: float = 0.0     # share of the K restarts started from the model's encoder (when it has one)
    lam: float = 0.0            # weight of the perceptual loss -log D(G(z)); 0 skips D (see README: λ sweep)
    lr: float = 0.1             # Adam step size on z
    window: int = 7             # importance-weight window (pixels at model resolution)
    weighted: bool = True       # Yeh et al.'s importance weights (False: plain masked L1)
    context_floor: float = 0.1  # weight every known pixel gets on top of W, so far context counts
    patience: int = 20          # stop when the best loss has not improved by 0.1% for this many steps
    blend: str = "edge-aware"   # edge-aware | poisson | alpha | none (inpaint.blend; README: "Blending the fill")
    edge_sigma: float = blending.EDGE_SIGMA  # edge-aware: fill steps (grey levels per model pixel) well above it stop the correction
    candidates: int = 8         # distinct candidates to return
    seed: int = 0
    device: str | None = None   # None: CUDA when present, else CPU
    precision: str = "auto"     # auto: bf16 on CUDA / CPUs with bf16 hardware, else fp32
    time_limit: float | None = None  # seconds; the best so far is returned when it runs out
    max_side: int | None = 1024  # larger images are searched and blended at this size (None: never scaled)

    def __post_init__(self):
        _check(self)

    @classmethod
    def for_model(cls, model: DCGAN, restoring: bool = False, **overrides) -> "Settings":
        """The defaults for `model`: `WARM` (fewer restarts, most of them started from the model's
        encoder, fewer steps) when its checkpoint ships a warm-start encoder and the task is a
        hole to fill; otherwise `Settings()` (E reads masked images only, so restoring starts
        from the prior). `overrides` replace single fields."""
        base = WARM if not restoring and getattr(model, "encoder", None) is not None else {}
        return cls(**{**base, **overrides})

    @classmethod
    def paper(cls, **overrides) -> "Settings":
        """Yeh et al.'s algorithm: 1000 iterations, 64 restarts, lam 0.003, W, no early stop,
        fp32, and Poisson blending of the final fill (as the paper blends its results)."""
        base = dict(iterations=1000, restarts=64, init_pool=1, lam=0.003, lr=0.01, weighted=True, context_floor=0.0,
                    patience=0, blend="poisson", precision="fp32")
        base.update(overrides)
        return cls(**base)


@dataclass
class Progress:
    """What `on_progress` receives every few iterations."""

    iteration: int
    total: int
    loss: float                      # best loss so far
    curves: dict[str, list[float]]   # the loss terms so far, per iteration (see Completion.curves)
    _fill: torch.Tensor = field(repr=False)
    _image: torch.Tensor = field(repr=False)
    _known: torch.Tensor = field(repr=False)

    def preview(self) -> Image.Image:
        """The best fill so far pasted into the input, at the model's resolution."""
        return to_pil(self._known * self._image + (1 - self._known) * self._fill)


@dataclass
class Completion:
    """The result of `complete`. Images are PIL, at the input's size unless said otherwise."""

    image: Image.Image                  # the best completion, blended
    candidates: list[Image.Image]       # distinct completions, best first, diverse ones early
    losses: list[float]                 # the candidates' losses
    raw: Image.Image                    # G(z) of the best, at the model's resolution
    raw_candidates: list[Image.Image]   # G(z) of each candidate, model resolution
    masked: Image.Image                 # what the model was asked to complete (model resolution)
    iterations: int
    seconds: float
    history: list[float]                # best loss after each iteration
    # per iteration, the loss terms of the restarts' current z: "contextual" and, when lam > 0,
    # "perceptual" (-log D(G(z))), each as "... best" (the restart lowest in total loss), "... median"
    # and "... worst" (over the restarts): the plot of how the search went
    curves: dict[str, list[float]]
    stopped_early: bool
    device: str
    precision: str
    notes: list[str] = field(default_factory=list)  # what a front end should tell the user (e.g. scaling)
    fit_error: float = 0.0              # mean |G(z) - image| over the known pixels, 0..1, of the best
    in_domain: bool | None = None       # fit_error within the model's calibrated fit_limit (None: uncalibrated)


@dataclass
class Job:
    """One completion of a batch (`complete_many`): `complete`'s arguments, or `restore`'s (a
    `degradation` instead of the mask)."""

    image: Image.Image
    mask: Image.Image | np.ndarray | None  # True / white = hole (None with a degradation)
    settings: Settings | None = None       # None: Settings.for_model(model), or Settings() for a restoration
    on_progress: Callable[[Progress], bool | None] | None = None
    progress_every: int = 10
    degradation: ops.Degradation | None = None  # restore: what happened to the image (its hole included)


def complete(
    model: DCGAN,
    image: Image.Image,
    mask: Image.Image | np.ndarray,
    settings: Settings | None = None,
    on_progress: Callable[[Progress], bool | None] | None = None,
    progress_every: int = 10,
    **overrides,
) -> Completion:
    """Fill the hole of `image` with the model's best guess.

    image: a PIL image of any size and mode. mask: a mask image or bool array of the
    image's size, True / white = hole to fill (the one mask convention outside the engine).
    settings: `Settings` (keyword `overrides` replace single fields). on_progress: called
    every `progress_every` iterations with a `Progress`; return True from it to stop early
    and get the best so far. Raises InpaintError for inputs a user can get wrong.
    Without `settings`: `Settings.for_model(model)`, the warm start when the model has an encoder.
    """
    settings = settings or Settings.for_model(model)
    if overrides:
        settings = dataclasses.replace(settings, **overrides)  # validated again, as Settings always are
    return complete_many(model, [Job(image, mask, settings, on_progress, progress_every)])[0]


def restore(
    model: DCGAN,
    image: Image.Image,
    degradation: ops.Degradation,
    settings: Settings | None = None,
    on_progress: Callable[[Progress], bool | None] | None = None,
    progress_every: int = 10,
    **overrides,
) -> Completion:
    """Undo a known degradation of `image` with the model's prior: the search finds z whose G(z),
    degraded the same way, best matches the image; the result is then made consistent with the
    image at full resolution (re-degraded, it matches the input; see `operators.consistent`).

    image: the degraded image as the user has it (PIL, any mode): blurred, noisy, greyscale, or
    the small image to upscale. degradation: an `inpaint.operators` degradation, e.g.
    `GaussianBlur(2)`, `Downsample(4)`, `Noise(0.1)`, `Greyscale()`, or several composed
    (`operators.compose(GaussianBlur(2), Mask(hole))`). The result is the clean image's size
    (the input's times the factor when upscaling); `complete(model, image, mask)` is
    `restore(model, image, Mask(mask))`. Settings, progress, stopping, candidates and the
    result type are `complete`'s; without `settings`, `Settings()` (the warm start reads holes only:
    a mask alone gets `complete`'s defaults).
    """
    if not isinstance(degradation, ops.Degradation):
        raise InpaintError(f"the degradation must be one of inpaint.operators' (GaussianBlur, Downsample, Noise, "
                           f"Greyscale, Mask, ...), got {type(degradation).__name__}")
    settings = settings or Settings.for_model(model, restoring=restoring(degradation))
    if overrides:
        settings = dataclasses.replace(settings, **overrides)
    return complete_many(model, [Job(image, None, settings, on_progress, progress_every, degradation)])[0]


def restoring(degradation: ops.Degradation | None) -> bool:
    """Whether `degradation` asks for more than a hole to be filled (a blur, downsampling, ...)."""
    return degradation is not None and not all(isinstance(op, ops.Mask) for op in ops.compose(degradation).parts)


def complete_many(model: DCGAN, jobs: Sequence[Job]) -> list[Completion]:
    """Each job's Completion, in order, the jobs' restarts searched side by side (`complete_each`).
    Raises the first InpaintError of a job's input before any search starts."""
    results: list[Completion | None] = [None] * len(jobs)
    for i, result in complete_each(model, jobs):
        if isinstance(result, InpaintError):
            raise result
        results[i] = result
    return results


def batch_key(model: DCGAN, settings: Settings) -> tuple:
    """Jobs with equal keys share one batch: the same model object on the same device and the same
    precision (one autocast covers the batch). Everything else is each job's own: image, mask,
    seed, restarts, iterations, lr, λ (D runs on the rows of the jobs with λ > 0), weights, early
    stopping, time limit, blend."""
    device = next(model.parameters()).device
    return id(model), str(device), resolve_precision(settings.precision, device)


def complete_each(model: DCGAN, jobs: Sequence[Job]) -> Iterator[tuple[int, Completion | InpaintError]]:
    """Complete several jobs with one model, their restarts searched as one batch: each step runs G
    (and D) once on all the jobs' z's, and each job's own Adam steps its own z by its own loss, so a
    job's result is that of `complete` of it alone (to float rounding). A job whose search ends (its
    iterations, its early stop, its time limit, or its on_progress asking to stop) leaves the batch
    and is blended and yielded at once; the others go on.

    Yields (index in jobs, Completion) as each finishes; a job whose input is wrong yields
    (index, InpaintError) first and takes no part. Jobs of different `batch_key`s are searched one
    group after another.
    """
    tasks: dict[int, _Task] = {}
    for i, job in enumerate(jobs):
        try:
            tasks[i] = _task(model, job)
        except InpaintError as err:
            yield i, err
    fused = _fused(model)
    for key in dict.fromkeys(batch_key(model, task.settings) for task in tasks.values()):
        group = {i: task for i, task in tasks.items() if batch_key(model, task.settings) == key}
        for i, search in _optimize(fused, group):
            yield i, _finish(model, fused, group[i], search)


@dataclass
class _Task:
    """A job past the engine's door: what its search and its blend need."""

    settings: Settings
    image: Image.Image          # as searched and blended (scaled down when larger than max_side)
    hole: np.ndarray | None
    full_image: Image.Image     # as given
    full_hole: np.ndarray | None
    fit: Fit                    # the clean image into the model's square
    problem: "_Problem"
    precision: str
    notes: list[str]
    started: float
    on_progress: Callable[[Progress], bool | None] | None
    progress_every: int
    chain: ops.Chain | None = None  # a restoration's degradation (None: inpainting)


def _task(model: DCGAN, job: Job) -> _Task:
    """Check and normalize one job's inputs (an InpaintError for what a user got wrong)."""
    started = time.perf_counter()
    if job.degradation is not None:
        chain = ops.compose(job.degradation)
        if restoring(chain):
            settings = job.settings or Settings.for_model(model, restoring=True)
            return _restoration_task(model, job, chain, settings, started)
        job = dataclasses.replace(job, mask=chain.hole, degradation=None)  # a mask alone: inpainting
    settings = job.settings or Settings.for_model(model)
    image, hole = _inputs(job.image, job.mask)
    full_image, full_hole, notes = image, hole, []
    if settings.max_side is not None and max(image.size) > settings.max_side:
        image, hole = _scaled(image, hole, settings.max_side)
        notes.append(f"The image is {full_image.width}×{full_image.height}: the search and the blend ran at "
                     f"{image.width}×{image.height} and the fill was scaled up into the hole; the pixels "
                     "outside the hole are the input's own.")

    device, precision, settings = _placement(model, settings, notes)
    fit = Fit(image.size, model.resolution)
    problem = _problem(model_view(image, model.channels), hole, fit, settings, device)
    return _Task(settings, image, hole, full_image, full_hole, fit, problem, precision, notes, started,
                 job.on_progress, job.progress_every)


def _placement(model: DCGAN, settings: Settings, notes: list[str]) -> tuple[torch.device, str, Settings]:
    """The model's device and the search's precision (checked against the settings), and the
    settings as the model can follow them (λ needs a discriminator)."""
    device = next(model.parameters()).device
    if settings.device is not None and torch.device(settings.device) != device:
        raise InpaintError(f"the model is on {device} but settings ask for {settings.device}; "
                           "load it with load_model(..., device=...)")
    precision = resolve_precision(settings.precision, device)
    if device.type == "cpu" and torch.get_num_threads() > default_threads():
        # PyTorch counts the host's cores; in a container (a Space) that oversubscribes the few we get
        torch.set_num_threads(default_threads())
    if settings.lam and model.D is None:
        settings = dataclasses.replace(settings, lam=0.0)
        notes.append("This model has no discriminator (a generator-only checkpoint), so λ was ignored: the search "
                     "used the contextual loss alone.")
    return device, precision, settings


def _restoration_task(model: DCGAN, job: Job, chain: ops.Chain, settings: Settings, started: float) -> _Task:
    """A restoration's inputs: the observation as the search sees it at the model's scale, and A there.

    The clean image (the observation's size, times the factor when upscaling) is fitted into the
    model's square as for inpainting; the observation is fitted into a square of R / factor; A
    maps G(z)'s image part (its letterbox cut off) onto the observation's cells."""
    if not isinstance(job.image, Image.Image):
        raise InpaintError(f"the image must be a PIL image, got {type(job.image).__name__}; "
                           "read files with inpaint.imageio.read_image")
    image = normalize(job.image)
    hole = chain.hole
    if hole is not None and hole.shape != (image.height, image.width):
        raise InpaintError(f"the mask is {hole.shape[1]}x{hole.shape[0]} but the image is "
                           f"{image.width}x{image.height}; they must be the same size")
    if hole is not None and hole.all():
        raise InpaintError("the mask covers the whole image: leave some of it for the model to match")
    greyscale = chain.find(ops.Greyscale) is not None
    if greyscale and model.channels != 3:
        raise InpaintError(f"colourising needs a colour model; this one ({model.dataset}) is greyscale")
    clean = chain.clean_size(image.size)
    check_size(clean)
    if settings.max_side is not None and max(clean) > settings.max_side:
        raise InpaintError(f"the result would be {clean[0]}x{clean[1]}, over the limit of {settings.max_side} pixels "
                           f"on the long side (max_side); scale the image down first")
    notes: list[str] = []
    device, precision, settings = _placement(model, settings, notes)

    fit = Fit(clean, model.resolution)
    down = chain.find(ops.Downsample)
    seen = Fit(image.size, model.resolution // down.factor if down else model.resolution)
    view = image.convert("L") if greyscale else model_view(image, model.channels)
    y, known = seen.inputs(view, hole if hole is not None else np.zeros((image.height, image.width), bool))
    (ox, oy), (ow, oh) = seen.offset, seen.inner
    y, known = y[..., oy: oy + oh, ox: ox + ow].to(device), known[..., oy: oy + oh, ox: ox + ow].to(device)
    weights = known
    if hole is not None and hole.any():
        weights = importance_weights(known, settings.window, hole=1 - known) + settings.context_floor * known
    if not (known > 0).any():
        raise InpaintError("too little of the image is left outside the hole for the model to match")
    (cx, cy), (cw, ch) = fit.offset, fit.inner
    scale, size = cw / clean[0], (oh, ow)

    def observe(generated: torch.Tensor) -> torch.Tensor:  # K x C x R x R -> K x C' x oh x ow
        return chain.apply(generated[..., cy: cy + ch, cx: cx + cw], scale, size=size)

    inside = fit.inside().to(device)
    problem = _Problem(y, known, inside, weights, observe=observe, free=inside)
    return _Task(settings, image, hole, image, hole, fit, problem, precision, notes, started,
                 job.on_progress, job.progress_every, chain)


def _finish(model: DCGAN, fused: DCGAN, task: _Task, search: "_Search") -> Completion:
    """The Completion of a task whose search has ended: its candidates ranked, checked against the
    model's domain, and blended into the image at its full size."""
    if task.chain is not None:
        return _finish_restoration(fused, task, search)
    settings, problem = task.settings, task.problem
    device = problem.y.device
    with torch.no_grad(), autocast(device, task.precision):
        fills = fused.G(search.best_z).float().cpu()
    order = _rank(search.best_loss.cpu(), fills, problem.free.cpu(), settings.candidates)

    notes = list(task.notes)
    fit_error = problem.fit_error(fills[order[0]])
    limit = getattr(model, "fit_limit", 0.0)
    in_domain = None if not limit else fit_error <= limit
    if in_domain is False:
        notes.append(f"This image looks unlike the {model.dataset} images the model knows: the closest it gets to "
                     f"the pixels you kept is off by {fit_error:.3f} on average, where {limit:.3f} covers 99% of "
                     f"its own kind. The fill is {model.dataset} content all the same.")

    blended = paste_back(task, [fills[i] for i in order])
    return Completion(
        image=blended[0], candidates=blended, losses=[float(search.best_loss[i]) for i in order],
        raw=to_pil(fills[order[0]]), raw_candidates=[to_pil(fills[i]) for i in order],
        masked=to_pil(problem.y[0].cpu()),  # the hole shows as mid-grey
        iterations=search.iterations, seconds=time.perf_counter() - task.started, history=search.history,
        curves=search.curves,
        stopped_early=search.stopped_early, device=str(device), precision=task.precision, notes=notes,
        fit_error=fit_error, in_domain=in_domain,
    )


def paste_back(task: _Task, fills: list[torch.Tensor]) -> list[Image.Image]:
    """Fills (each C x R x R, [-1, 1], at the model's resolution) scaled into the task's hole and
    blended there (settings.blend), at the input's full size and in its mode: what every
    inpainting method returns (the search's candidates, the context encoder's one fill)."""
    settings, image, hole = task.settings, task.image, task.hole
    original = np.asarray(image.convert("RGB") if image.mode == "RGBA" else image)
    original = original.reshape(image.height, image.width, -1)
    box = blending.region(hole, settings.blend)  # only the hole's surroundings are resized and blended
    chosen = []
    for fill in fills:
        fill = task.fit.undo(fill, box)
        if fill.shape[2] < original.shape[2]:  # a greyscale model filling a colour image
            fill = np.repeat(fill, original.shape[2], axis=2)
        elif fill.shape[2] > original.shape[2]:  # a colour model filling a greyscale image: its luma
            fill = fill @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
        chosen.append(fill)
    blended = [_restore_mode(out, image, hole)
               for out in blending.blend_all(original, chosen, hole, settings.blend, box, scale=task.fit.upscale,
                                                  sigma=settings.edge_sigma)]
    if task.full_image is not image:
        blended = [_unscaled(out, image, task.full_image, task.full_hole, settings.blend) for out in blended]
    return blended


def _finish_restoration(fused: DCGAN, task: _Task, search: "_Search") -> Completion:
    """A restoration's Completion: its candidates ranked, scaled up to the clean image's size and
    made consistent with the observation there."""
    settings, problem, image, chain = task.settings, task.problem, task.image, task.chain
    with torch.no_grad(), autocast(problem.y.device, task.precision):
        fills = fused.G(search.best_z).float().cpu()
    order = _rank(search.best_loss.cpu(), fills, problem.free.cpu(), settings.candidates)

    greyscale = chain.find(ops.Greyscale) is not None
    observed_view = image.convert("L") if image.mode == "L" or greyscale else model_view(image, 3)
    observed = torch.from_numpy(np.asarray(observed_view, dtype=np.float32).reshape(
        image.height, image.width, -1).copy()).permute(2, 0, 1)[None] / 255
    channels = 3 if greyscale else observed.shape[1]  # the clean image's
    estimates = torch.stack([torch.from_numpy(task.fit.undo(fills[i])).permute(2, 0, 1) for i in order]) / 255
    if estimates.shape[1] < channels:    # a greyscale model restoring a colour image
        estimates = estimates.expand(-1, channels, -1, -1)
    elif estimates.shape[1] > channels:  # a colour model restoring a greyscale image: its luma
        estimates = ops.Greyscale().apply(estimates)
    known = torch.ones(1, 1, image.height, image.width) if task.hole is None else \
        torch.from_numpy(~task.hole).float()[None, None]
    with torch.no_grad():
        restored = ops.consistent(chain, estimates, observed, known)
    arrays = (restored * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    results = []
    for arr in arrays:
        out = Image.fromarray(arr[..., 0] if channels == 1 else arr)
        if image.mode == "RGBA":  # the alpha channel kept (scaled with the image), the restored hole opaque
            alpha = image.getchannel("A").resize(out.size, Image.LANCZOS)
            if task.hole is not None:
                alpha.paste(255, mask=Image.fromarray(task.hole).resize(out.size, Image.NEAREST))
            out = out.convert("RGB")
            out.putalpha(alpha)
        results.append(out)
    return Completion(
        image=results[0], candidates=results, losses=[float(search.best_loss[i]) for i in order],
        raw=to_pil(fills[order[0]]), raw_candidates=[to_pil(fills[i]) for i in order],
        masked=to_pil(problem.y[0].cpu()),  # the observation as the search saw it
        iterations=search.iterations, seconds=time.perf_counter() - task.started, history=search.history,
        curves=search.curves, stopped_early=search.stopped_early, device=str(problem.y.device),
        precision=task.precision, notes=list(task.notes), fit_error=problem.fit_error(fills[order[0]]),
        in_domain=None,  # the domain check is calibrated on holes, not on blurs or noise
    )


def _inputs(image, mask) -> tuple[Image.Image, np.ndarray]:
    """The engine's door: (normalized image, hole bool H x W), or an InpaintError saying what is wrong."""
    if not isinstance(image, Image.Image):
        raise InpaintError(f"the image must be a PIL image, got {type(image).__name__}; read files with inpaint.imageio.read_image")
    if not isinstance(mask, (Image.Image, np.ndarray)):
        raise InpaintError(f"the mask must be a PIL image or a bool array (True = hole), got {type(mask).__name__}")
    image = normalize(image)
    hole = from_image(mask) if not isinstance(mask, np.ndarray) or mask.dtype != bool else mask
    if hole.shape != (image.height, image.width):
        raise InpaintError(f"the mask is {hole.shape[1]}x{hole.shape[0]} but the image is "
                           f"{image.width}x{image.height}; they must be the same size")
    if not hole.any():
        raise InpaintError("the mask is empty: paint (or mark in white) the part of the image to fill")
    if hole.all():
        raise InpaintError("the mask covers the whole image: leave some of it for the model to match")
    return image, hole


def _scaled(image: Image.Image, hole: np.ndarray, max_side: int) -> tuple[Image.Image, np.ndarray]:
    """The image scaled so that its long side is max_side, and its hole: a cell with any hole
    pixel is hole, so thin strokes survive and the scaled hole covers the whole original one."""
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = np.asarray(Image.fromarray(hole.astype(np.uint8) * 255).resize(size, Image.BOX)) > 0
    return image.resize(size, Image.LANCZOS), small


def _unscaled(out: Image.Image, small: Image.Image, image: Image.Image, hole: np.ndarray, blend: str) -> Image.Image:
    """A completion of the scaled-down `small` brought back to `image`'s size: scaled up, and
    pasted over the input's own pixels in the hole only (the scaled hole is coarser than the
    real one); with the alpha blend, also where it feathered the fill past the hole's edge."""
    region = hole
    if blend == "alpha":
        changed = np.asarray(out, dtype=np.int16) != np.asarray(small, dtype=np.int16)
        changed = changed.any(-1) if changed.ndim == 3 else changed
        region = hole | (np.asarray(Image.fromarray(changed.astype(np.uint8) * 255).resize(image.size,
                                                                                             Image.NEAREST)) > 0)
    return Image.composite(out.resize(image.size, Image.LANCZOS), image, Image.fromarray(region))


@dataclass
class _Problem:
    """The search's inputs at the model's resolution (batch of 1). For a restoration, y, known and
    weights are the observation's (its own cells: fewer when upscaling) and `observe` is A."""

    y: torch.Tensor        # the known pixels' targets, [-1, 1]
    known: torch.Tensor    # M: each model pixel's known share (1 = known)
    inside: torch.Tensor   # 1 where the image lies (not its letterbox), R x R
    weights: torch.Tensor  # W ⊙ M of the contextual loss
    observe: Callable[[torch.Tensor], torch.Tensor] | None = None  # A at the model's scale (None: identity)
    free: torch.Tensor | None = None  # R x R: where the fills are the model's own (the hole; all of a restoration)

    def __post_init__(self):
        if self.free is None:
            self.free = (1 - self.known) * self.inside

    def contextual(self, generated: torch.Tensor) -> torch.Tensor:
        """The contextual loss per restart of G's output (K x C x R x R)."""
        seen = generated if self.observe is None else self.observe(generated)
        return contextual_loss(seen, self.y, self.weights)

    def fit_error(self, fill: torch.Tensor) -> float:
        """Mean absolute difference of a fill (C x H x W, [-1, 1]) from the known pixels, on a 0..1
        scale: the domain check's measure (each model pixel counted by its known share)."""
        known = self.known[0].cpu()
        seen = fill.float() if self.observe is None else self.observe(fill.float()[None].to(self.y.device))[0].cpu()
        diff = (seen - self.y[0].cpu()).abs().mean(0) * known
        return float(diff.sum() / known.sum().clamp_min(1e-8) / 2)

    def preview(self, fill: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Progress's (fill, image, known) for a fill C x R x R: the fill in the known image for
        inpainting, the fill alone for a restoration."""
        if self.observe is None:
            return fill, self.y[0].cpu(), self.known[0].cpu()
        return fill, fill, torch.zeros_like(fill[:1])


def _problem(view: Image.Image, hole: np.ndarray, fit: Fit, s: Settings, device: torch.device) -> _Problem:
    y, known = fit.inputs(view, hole)
    inside = fit.inside()
    y, known, inside = y.to(device), known.to(device), inside.to(device)
    weights = known_from_hole(1 - known)  # M: 1 = known (soft where a model pixel is partly hole)
    if s.weighted:
        weights = importance_weights(known, s.window, hole=inside - known) + s.context_floor * known
    if not (known > 0).any():
        raise InpaintError("too little of the image is left outside the hole for the model to match")
    return _Problem(y, known, inside, weights)


_FUSED: "weakref.WeakKeyDictionary[DCGAN, DCGAN]" = weakref.WeakKeyDictionary()


def _fused(model: DCGAN) -> DCGAN:
    """A frozen eval-mode copy with the BatchNorms folded into the convolutions (~15% faster
    steps on a CPU). Cached per model object for models in eval mode (as `load_model` gives
    them); a model in training mode may still change, so it is copied afresh each call."""
    if model.training:
        return model.fused()
    fused = _FUSED.get(model)
    if fused is None or next(fused.parameters()).device != next(model.parameters()).device:
        fused = _FUSED[model] = model.fused()
    return fused


def _check(s: Settings) -> None:
    """Settings' own validation (every front end gets the same messages)."""
    if not 1 <= s.iterations <= 100_000:
        raise InpaintError(f"iterations must be between 1 and 100000, got {s.iterations}")
    if not 1 <= s.restarts <= 4096:
        raise InpaintError(f"restarts must be between 1 and 4096, got {s.restarts}")
    if not 1 <= s.init_pool <= 1024:
        raise InpaintError(f"init_pool must be between 1 and 1024, got {s.init_pool}")
    if s.precision not in PRECISIONS:
        raise InpaintError(f"precision must be one of {', '.join(PRECISIONS)}, got {s.precision!r}")
    if s.lam < 0 or s.lr <= 0 or s.window < 1:
        raise InpaintError("lam must be >= 0, lr > 0 and window >= 1")
    if isinstance(s.seed, bool) or not isinstance(s.seed, (int, np.integer)) or not 0 <= s.seed <= MAX_SEED:
        raise InpaintError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {s.seed!r}")
    if not s.edge_sigma > 0:
        raise InpaintError(f"the edge sigma (edge_sigma) must be > 0 grey levels, got {s.edge_sigma}")
    if s.blend not in blending.BLENDS:
        raise InpaintError(f"unknown blend mode {s.blend!r}; choose one of {', '.join(blending.BLENDS)}")
    if s.candidates < 1:
        raise InpaintError(f"candidates must be 1 or more, got {s.candidates}")
    if not 0.0 <= s.warm_start <= 1.0:
        raise InpaintError(f"warm_start must be a share of the restarts from 0 to 1, got {s.warm_start}")
    if s.time_limit is not None and not s.time_limit > 0:
        raise InpaintError(f"the time limit must be a positive number of seconds (or None), got {s.time_limit}")
    if s.max_side is not None and not (isinstance(s.max_side, (int, np.integer)) and s.max_side >= 16):
        raise InpaintError(f"max_side must be a whole number of pixels, at least 16 (or None), got {s.max_side!r}")


class _Search:
    """One task's latent search: its K restarts' z, its own Adam, and how it has gone so far."""

    def __init__(self, model: DCGAN, task: _Task):
        self.task, self.settings = task, task.settings
        self.z = _initial_z(model, task.problem, task.settings, task.precision)  # K x z_dim
        self.opt = torch.optim.Adam([self.z], lr=self.settings.lr)
        self.best_loss = torch.full((self.settings.restarts,), float("inf"), device=self.z.device)  # K
        self.best_z = self.z.detach().clone()  # K x z_dim: each restart's best z
        self.history: list[float] = []         # the best loss after each iteration
        self.curves: dict[str, list[float]] = {}
        self.stale, self.record, self.stopped_early, self.iterations = 0, float("inf"), False, 0
        self.current = float("inf")            # the best loss so far (after `loss`)

    def loss(self, generated: torch.Tensor, logits: torch.Tensor | None) -> torch.Tensor:
        """This search's loss per restart (K) from its rows of G(z) and D's logits, noting the best z's."""
        problem = self.task.problem
        context = problem.contextual(generated.float())
        perceptual = perceptual_loss(logits.float()) if logits is not None else None
        loss = context if perceptual is None else context + self.settings.lam * perceptual
        with torch.no_grad():  # the loss belongs to the z before this step
            better = loss < self.best_loss
            self.best_loss = torch.where(better, loss, self.best_loss)
            self.best_z = torch.where(better[:, None], self.z, self.best_z)  # no mask indexing: no sync
            self.current = _record(self.curves, loss, {"contextual": context, "perceptual": perceptual},
                                   self.best_loss)
        return loss

    def ended(self, model: DCGAN) -> bool:
        """After a step: note the best loss, report progress, and say whether this search is over."""
        s, task = self.settings, self.task
        self.iterations = it = self.iterations + 1
        current = self.current  # the best loss so far, read with the curves (`loss`)
        self.history.append(current)
        if current < self.record * (1 - 1e-3):
            self.record, self.stale = current, 0
        else:
            self.stale += 1
        stop = False
        if task.on_progress is not None and (it % task.progress_every == 0 or it == s.iterations):
            i = int(self.best_loss.argmin())
            device = self.z.device
            with torch.no_grad(), autocast(device, task.precision):
                fill = model.G(self.best_z[i: i + 1]).float()
            snapshot = {name: list(values) for name, values in self.curves.items()}  # the search goes on appending
            stop = bool(task.on_progress(Progress(it, s.iterations, current, snapshot,
                                                  *task.problem.preview(fill[0].cpu()))))
        if (s.patience and self.stale >= s.patience) or stop or (
                s.time_limit is not None and time.perf_counter() - task.started > s.time_limit):
            self.stopped_early = True
        return self.stopped_early or it == s.iterations


def _optimize(model: DCGAN, tasks: dict[int, _Task]) -> Iterator[tuple[int, _Search]]:
    """Search the tasks (of one `batch_key`) side by side; yield each (index, search) as it ends."""
    searches = {i: _Search(model, task) for i, task in tasks.items()}
    while searches:
        _step(model, list(searches.values()))
        for i in [i for i, search in searches.items() if search.ended(model)]:
            yield i, searches.pop(i)


@torch.enable_grad()  # the search needs gradients even when the caller turned them off
def _step(model: DCGAN, searches: list[_Search]) -> None:
    """One Adam step of every search: all their z's through G as one batch, and through D the rows of
    the searches with λ > 0 (λ 0: D's forward and backward are skipped)."""
    device, precision = searches[0].z.device, searches[0].task.precision
    with autocast(device, precision):
        generated = model.G(torch.cat([s.z for s in searches]))  # (K_1 + K_2 + ...) x C x R x R
        parts = generated.split([s.settings.restarts for s in searches])
        judged = [part for part, s in zip(parts, searches) if s.settings.lam]
        logits = iter(model.D(torch.cat(judged)).split([len(p) for p in judged]) if judged else ())
    total = sum(s.loss(part, next(logits) if s.settings.lam else None).sum() for s, part in zip(searches, parts))
    for s in searches:
        s.opt.zero_grad(set_to_none=True)
    total.backward()
    for s in searches:
        s.opt.step()
        model.project_z(s.z.data)


def _record(curves: dict[str, list[float]], total: torch.Tensor, terms: dict[str, torch.Tensor | None],
            best_loss: torch.Tensor) -> float:
    """Append this iteration's loss terms: of the restart lowest in total, the median and the worst;
    returns the lowest of `best_loss` (one transfer from the device for all of them)."""
    best = total.argmin()
    present = {name: values for name, values in terms.items() if values is not None}
    stats = torch.cat([torch.stack([v[best], v.median(), v.max()]) for v in present.values()]
                      + [best_loss.min().reshape(1).to(total.dtype)]).tolist()
    for i, name in enumerate(present):
        for kind, value in zip(("best", "median", "worst"), stats[3 * i: 3 * i + 3]):
            curves.setdefault(f"{name} {kind}", []).append(value)
    return stats[-1]


def _initial_z(model, problem: _Problem, s: Settings, precision) -> torch.Tensor:
    """K starting points: round(K * warm_start) from the model's encoder (when it has one: its
    guess of z from the masked image), the rest the best-fitting of init_pool draws from the prior
    per restart, so that the answers stay diverse.

    Scoring a draw costs one forward pass of G (no D, no gradients), about a sixth of an
    optimization step per z, and starting near the data saves many more steps than that.
    """
    device = problem.y.device
    generator = torch.Generator().manual_seed(int(s.seed))
    encoder = getattr(model, "encoder", None) if problem.observe is None else None  # E reads holes only
    warm = min(s.restarts, round(s.restarts * s.warm_start)) if encoder is not None else 0
    drawn = s.restarts - warm
    starts = []
    if warm:
        with torch.no_grad():  # n x z_dim, inside the prior
            starts.append(model.project_z(encoder.propose(problem.y, problem.known * problem.inside, warm,
                                                          generator).float()))
    if drawn:
        pool = model.sample_z(drawn * max(1, s.init_pool), generator, device)
        if s.init_pool > 1:
            with torch.no_grad(), autocast(device, precision):
                fits = torch.cat([problem.contextual(model.G(chunk).float()) for chunk in pool.split(256)])
            pool = pool[torch.argsort(fits)[:drawn]]
        starts.append(pool)
    return torch.cat(starts).to(device).clone().requires_grad_(True)


def _rank(losses: torch.Tensor, fills: torch.Tensor, hole: torch.Tensor, n: int,
          near: float = 0.15, same: float = DISTINCT) -> list[int]:
    """Indices of up to n distinct candidates: the best first; among those whose loss is within
    `near` (relative) of the best, the most different fills next (farthest-point order on the
    hole's pixels); then the rest by loss. Fills that differ by less than `same` (mean absolute
    difference in the hole, [-1, 1] scale) from one already chosen are dropped as duplicates."""
    order = torch.argsort(losses).tolist()
    flat = (fills * hole).flatten(1)
    area = hole.sum().clamp_min(1) * fills.shape[1]
    dist = torch.cdist(flat, flat, p=1) / area
    best = float(losses[order[0]])
    pool = [i for i in order if float(losses[i]) <= best + abs(best) * near]
    chosen = [order[0]]
    while len(chosen) < n:
        rest = [i for i in pool if i not in chosen and float(dist[i, chosen].min()) >= same]
        if not rest:
            break
        chosen.append(max(rest, key=lambda i: float(dist[i, chosen].min())))
    for i in order:
        if len(chosen) >= n:
            break
        if i not in chosen and float(dist[i, chosen].min()) >= same:
            chosen.append(i)
    return chosen


def _restore_mode(out: np.ndarray, image: Image.Image, hole: np.ndarray) -> Image.Image:
    """uint8 H x W x C -> PIL in the (normalized) input's mode; RGBA keeps its alpha, and
    the filled hole becomes opaque."""
    if image.mode == "L":
        return Image.fromarray(out[..., 0] if out.ndim == 3 else out, "L")
    rgb = Image.fromarray(out[..., :3] if out.shape[2] >= 3 else np.repeat(out, 3, axis=2), "RGB")
    if image.mode == "RGBA":
        rgb.putalpha(Image.fromarray(np.where(hole, 255, np.asarray(image.getchannel("A"))).astype(np.uint8)))
    return rgb
