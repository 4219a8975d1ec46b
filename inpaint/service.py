"""The engine as a service a front end holds: named models, loading with a time cap, the
request limits, stop signals, and completions as a stream of progress reports.

    service = Service({"fashion-mnist-32": "checkpoints/fashion-mnist-32"})
    loaded = service.load("fashion-mnist-32")          # or service.load(hub_repo="user/name")
    for report in service.run(loaded.model, image, hole, Settings(), caller="session-1"):
        ...                                             # Progress reports, then one Finished
    service.stop("session-1")                           # from another thread: best so far
    service.restore(loaded.model, blurred, GaussianBlur(2), Settings())  # restoration: the same stream

Requests for the GAN prior wait for one worker that searches one batch at a time: the requests
that arrive while a batch runs are started together in the next one (up to `limits.max_batch`
of one model and precision, `inpaint.complete.batch_key`), each with its own progress, stop
signal, time limit and result (`inpaint.complete.complete_each`).

Restorations (`restore`, or `run` with a `degradation`, see `inpaint.operators`) are GAN-prior
searches too: they wait for the same worker and may share a batch with inpainting requests.

Images are PIL, holes bool H x W arrays (True = hole), settings `inpaint.Settings`. Errors a
user can cause are `InpaintError` (`ModelLoadError` for models) with a sentence to show as it
is. Nothing here knows about a web framework: the UI converts its own formats and errors.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
from collections import Counter
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from . import hub, methods
from . import operators as ops
from .complete import Completion, Job, Progress, Settings, batch_key, complete, complete_each, restoring
from .errors import InpaintError, ModelLoadError
from .models import DCGAN


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, so that one visitor can't hog a shared machine.

    iterations, restarts: the most a request's Settings may ask for. seconds: how long one
    completion may search (then the best so far is returned; its wait for a batch not counted).
    load_wait: how long a request waits for a model to load before it gives up (the load goes on
    in the background), so a Hub that does not answer does not hold the queue for the minutes
    huggingface_hub retries. downloads: Hub downloads under way at once; more are refused until
    one ends. max_batch: the most requests searched together as one batch (1: one at a time).
    """

    iterations: int = 2000
    restarts: int = 128
    seconds: float = 120.0
    load_wait: float = 20.0
    downloads: int = 4
    max_batch: int = 8

    def __post_init__(self):
        if not (self.iterations >= 1 and self.restarts >= 1 and self.seconds > 0 and self.load_wait >= 0
                and self.downloads >= 1 and self.max_batch >= 1):
            raise ValueError(f"limits out of range: {self}")

    @classmethod
    def from_env(cls, **overrides) -> "Limits":
        """The defaults, with INPAINT_TIME_LIMIT (seconds), INPAINT_HUB_WAIT (load_wait) and
        INPAINT_MAX_BATCH (max_batch) from the environment where set."""
        env = {"seconds": ("INPAINT_TIME_LIMIT", float), "load_wait": ("INPAINT_HUB_WAIT", float),
               "max_batch": ("INPAINT_MAX_BATCH", int)}
        values = {field: kind(os.environ[name]) for field, (name, kind) in env.items() if os.environ.get(name)}
        return cls(**{**values, **overrides})

    def check(self, settings: Settings) -> Settings:
        """`settings` with the time limit applied, or an InpaintError if it asks for more than allowed."""
        if not 1 <= settings.iterations <= self.iterations:
            raise InpaintError(f"iterations must be between 1 and {self.iterations}, got {settings.iterations}")
        if not 1 <= settings.restarts <= self.restarts:
            raise InpaintError(f"restarts must be between 1 and {self.restarts}, got {settings.restarts}")
        seconds = min(self.seconds, settings.time_limit or self.seconds)
        return dataclasses.replace(settings, time_limit=seconds)


@dataclass(frozen=True)
class Loaded:
    """A loaded model and what to call it."""

    model: DCGAN
    name: str                   # the name it is listed under, or the Hub repo id asked for
    folder: Path | None         # its checkpoint folder (config, weights, model card), when known


@dataclass
class Finished:
    """The last report of `Service.run`."""

    completion: Completion
    settings: Settings          # as run: with the service's time limit
    stopped: str | None         # why it ended before its last iteration: "caller" (a stop signal),
                                # "time limit", "converged" (the loss stopped improving); None: it ran all


def in_thread(fn: Callable, *args, name: str = "inpaint", **kwargs) -> Future:
    """Run fn(*args, **kwargs) in a daemon thread of its own; its result (or exception) in a Future."""
    future: Future = Future()

    def work():
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(err)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


class Service:
    """One engine for a front end: see the module's docstring.

    models: name -> checkpoint folder or Hub repo id, in the order a picker lists them.
    allow_local: whether a source given by the caller (`hub_repo`) may be a folder on this
    machine; off by default, so that visitors cannot probe the server's disk with paths.
    """

    def __init__(self, models: dict[str, str] | None = None, limits: Limits | None = None, *,
                 allow_local: bool = False):
        self.models = dict(models or {})
        self.limits = limits or Limits.from_env()
        self.allow_local = allow_local
        self._loads: dict[str, Future] = {}   # source -> the load under way
        self._downloads: set[str] = set()     # those of them that download (the rest are on this machine)
        self._stops: dict[str, threading.Event] = {}  # caller -> stop signal of its running completion
        self._lock = threading.RLock()  # reentrant: a load that is done at once cleans up under it
        self._waiting: list[_Request] = []    # GAN-prior requests waiting for the worker, oldest first
        self._working = False                 # whether the worker thread is running
        self.batch_sizes: Counter[int] = Counter()  # how many batches of each size the worker has searched

    # --- models ------------------------------------------------------------------------------

    def load(self, name: str | None = None, hub_repo: str | None = None, *, wait: float | None = None) -> Loaded:
        """The model listed as `name` (default: the first), or `hub_repo` when given (it wins).

        Waits at most `wait` seconds (default `limits.load_wait`); see `load_source`.
        """
        hub_repo = (hub_repo or "").strip()
        if hub_repo:
            model = self.load_source(hub_repo, wait=wait, allow_local=self.allow_local)
            return Loaded(model, hub_repo, _folder(model))
        if not self.models:
            raise ModelLoadError("No model is available: this server has no bundled checkpoint; name a Hub repo id "
                                 "like 'user/name' instead.")
        if name not in self.models:
            name = next(iter(self.models))
        model = self.load_source(self.models[name], wait=wait, allow_local=True)
        folder = _folder(model)
        if folder is None and Path(self.models[name]).is_dir():
            folder = Path(self.models[name])
        return Loaded(model, name, folder)

    def load_source(self, source: str, *, wait: float | None = None, allow_local: bool = True) -> DCGAN:
        """`inpaint.load_model(source)`, waiting at most `wait` seconds (default `limits.load_wait`).

        The load runs in a thread of its own: when the Hub does not answer, this request gives up
        with a ModelLoadError while the download goes on; once it is done the model is in
        inpaint.hub's cache and the next request gets it at once. Loads of one source share one
        thread. At most `limits.downloads` downloads run at once; a local folder, or a Hub model
        already loaded or in the HF cache, never waits for one of those slots.
        """
        wait = self.limits.load_wait if wait is None else wait
        # first, so that a source this caller may not load is refused even while someone else loads it
        downloads = not hub.is_downloaded(source, allow_local=allow_local)
        with self._lock:
            future = self._loads.get(source)
            if future is None:
                if downloads and len(self._downloads) >= self.limits.downloads:
                    raise ModelLoadError(f"cannot load Hub repo '{source}' now: {len(self._downloads)} downloads "
                                         f"are already under way (the Hub may be slow or unreachable); try again "
                                         f"in a minute, or use a bundled model", source=source)
                if downloads:
                    self._downloads.add(source)
                # cached in-process by inpaint.hub; on the GPU when there is one
                future = self._loads[source] = in_thread(hub.load_model, source, allow_local=allow_local,
                                                         name="inpaint-load")
                future.add_done_callback(lambda done, source=source: self._loaded(source, done))
        try:
            return future.result(timeout=wait)
        except FutureTimeout:
            raise ModelLoadError(
                f"Hub repo '{source}' is still downloading after {wait:g} s (the Hub is slow or not answering); "
                f"the download goes on in the background: try again in a minute, or use a bundled model",
                source=source) from None

    def _loaded(self, source: str, future: Future) -> None:
        with self._lock:
            if self._loads.get(source) is future:
                del self._loads[source]
                self._downloads.discard(source)

    @property
    def loading(self) -> tuple[str, ...]:
        """The sources being loaded now (in the background, for a caller that gave up waiting)."""
        with self._lock:
            return tuple(self._loads)

    # --- completions -------------------------------------------------------------------------

    def run(self, model: DCGAN, image: Image.Image, hole: np.ndarray | None, settings: Settings | None = None, *,
            method: str | None = None, caller: str | None = None,
            degradation: ops.Degradation | None = None) -> Iterator[Progress | Finished]:
        """Fill `hole` (bool H x W, True = hole) of `image` with `method` (default: the registry's),
        or, given a `degradation` (`inpaint.operators`), restore `image` from it (`inpaint.restore`;
        a `hole` then is composed with it as a `Mask`; the GAN prior only).

        Yields `Progress` reports while it searches (only the newest when the reader falls behind)
        and ends with a `Finished`. `caller` names who may stop it (`stop(caller)`); a caller
        has one completion at a time. Closing the generator early (the reader went away) stops
        the search at its next report. Raises InpaintError for what a user can get wrong.
        The GAN prior's search waits for the one under way and may share a batch with other
        requests (see the module's docstring); that changes neither its reports nor its result.
        """
        runner = methods.get(method)
        if degradation is not None:
            if not isinstance(degradation, ops.Degradation):
                raise InpaintError(f"the degradation must be one of inpaint.operators' (GaussianBlur, Downsample, "
                                   f"Noise, Greyscale, Mask, ...), got {type(degradation).__name__}")
            if runner.run is not complete:
                raise InpaintError(f"restoring an image is the GAN prior's search ('{methods.DEFAULT}'); "
                                   f"the method '{runner.name}' only fills holes")
            if hole is not None:
                degradation = ops.compose(degradation, ops.Mask(hole))
        settings = self.limits.check(settings or Settings.for_model(model, restoring=restoring(degradation)))
        signal = threading.Event()
        if caller is not None:
            with self._lock:
                self._stops[caller] = signal
        reports: queue.Queue = queue.Queue()

        def on_progress(p: Progress) -> bool:
            reports.put(p)
            return signal.is_set()

        if degradation is not None:  # a restoration: the GAN prior's search, batched like a completion
            future = self._submit(model, Job(image, None, settings, on_progress, degradation=degradation))
        elif runner.run is complete:  # the GAN prior's search batches; another method runs in a thread of its own
            future = self._submit(model, Job(image, hole, settings, on_progress))
        else:
            future = in_thread(runner.run, model, image, hole, settings, on_progress=on_progress, name="inpaint-run")
        future.add_done_callback(lambda _: reports.put(None))
        finished = False
        try:
            while (latest := reports.get()) is not None:
                while not reports.empty():  # skip the reports the reader is behind on
                    newer = reports.get()
                    if newer is None:
                        reports.put(None)
                        break
                    latest = newer
                yield latest
            finished = True
        finally:
            if not finished:  # the reader went away: let the search end at its next report
                signal.set()
            future.exception()  # waits for the worker
            if caller is not None:
                with self._lock:
                    if self._stops.get(caller) is signal:
                        del self._stops[caller]
        completion = future.result()  # raises what the method raised
        yield Finished(completion, settings, _why_stopped(completion, settings, signal.is_set()))

    def restore(self, model: DCGAN, image: Image.Image, degradation: ops.Degradation,
                settings: Settings | None = None, *, caller: str | None = None) -> Iterator[Progress | Finished]:
        """Undo a known `degradation` of `image` (`inpaint.restore`): `run` with that degradation and
        no hole, the same reports, stop, limits and Finished; the result has the clean image's size."""
        return self.run(model, image, None, settings, caller=caller, degradation=degradation)

    def _submit(self, model: DCGAN, job: Job) -> Future:
        """Queue a job for the worker (started if idle); its Completion (or error) in a Future."""
        request = _Request(model, job, batch_key(model, job.settings), Future())
        with self._lock:
            self._waiting.append(request)
            if not self._working:
                self._working = True
                threading.Thread(target=self._work, name="inpaint-batches", daemon=True).start()
        return request.future

    def _work(self) -> None:
        """The worker: one batch at a time, until no request waits. A batch is the oldest waiting
        request and the later ones that may share its batch, up to `limits.max_batch`."""
        while True:
            with self._lock:
                if not self._waiting:
                    self._working = False
                    return
                key = self._waiting[0].key
                batch = [r for r in self._waiting if r.key == key][: self.limits.max_batch]
                self._waiting = [r for r in self._waiting if r not in batch]
                self.batch_sizes[len(batch)] += 1
            _search(batch)

    @property
    def waiting(self) -> int:
        """How many requests wait for the search under way to end (theirs starts in the next batch)."""
        with self._lock:
            return len(self._waiting)

    def stop(self, caller: str | None) -> None:
        """Ask `caller`'s running completion to stop; it returns the best fill found so far."""
        with self._lock:
            signal = self._stops.get(caller)
        if signal is not None:
            signal.set()

    def running(self, caller: str) -> bool:
        """Whether `caller` has a completion under way."""
        with self._lock:
            return caller in self._stops


@dataclass(eq=False)
class _Request:
    """A job waiting for the worker, and where its result goes."""

    model: DCGAN
    job: Job
    key: tuple          # requests with equal keys share a batch
    future: Future


def _search(batch: list[_Request]) -> None:
    """Complete a batch of requests for one model, each result handed over as soon as it is done;
    an error that ends the whole search goes to every request not done yet."""
    try:
        for i, result in complete_each(batch[0].model, [r.job for r in batch]):
            if isinstance(result, BaseException):
                batch[i].future.set_exception(result)
            else:
                batch[i].future.set_result(result)
    except BaseException as err:  # noqa: BLE001 - handed to the callers waiting on the futures
        for request in batch:
            if not request.future.done():
                request.future.set_exception(err)


def _why_stopped(c: Completion, settings: Settings, signalled: bool) -> str | None:
    if not c.stopped_early:
        return None
    if signalled:
        return "caller"
    if settings.time_limit is not None and c.seconds > settings.time_limit:
        return "time limit"
    return "converged"


def _folder(model: DCGAN) -> Path | None:
    folder = getattr(model, "checkpoint_dir", None)
    return Path(folder) if folder is not None else None
