"""The engine service without a web framework: named models, loading with a time cap and download
slots, stop signals, request limits, and the stream of progress reports."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

import inpaint
import inpaint.hub as hub
from inpaint import InpaintError, ModelLoadError, Progress, Settings, methods
from inpaint.service import Finished, Limits, Service, in_thread
from pictures import box, photo

REPO = "user/tiny"
FAST = Settings(iterations=10, restarts=2)


def finish(reports) -> tuple[list[Progress], Finished]:
    """Iterate a run to its end: (progress reports, the Finished)."""
    reports = list(reports)
    assert isinstance(reports[-1], Finished) and all(isinstance(r, Progress) for r in reports[:-1])
    return reports[:-1], reports[-1]


def wait_for_loads(service: Service, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while service.loading and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not service.loading


# --- models -----------------------------------------------------------------------------------

def test_named_models_and_the_first_as_default(tiny_checkpoints):
    service = Service(tiny_checkpoints)
    grey = service.load("tiny-grey")
    assert (grey.name, grey.model.channels, grey.folder.name) == ("tiny-grey", 1, "tiny-grey")
    assert service.load(None).name == service.load("no such name").name == "tiny-rgb"
    with pytest.raises(ModelLoadError, match="Hub repo id"):
        Service({}).load()


PATHS = ["/etc", "/etc/passwd", "/nonexistent/x", "../checkpoints"]


def test_a_source_from_the_caller_is_a_hub_repo_id_only(tiny_checkpoints):
    """A path given as hub_repo gets one refusal, whether it exists or not, is a file or a folder."""
    refusals = set()
    for path in [*PATHS, tiny_checkpoints["tiny-rgb"]]:
        with pytest.raises(ModelLoadError) as info:
            Service(tiny_checkpoints).load("tiny-rgb", path)
        assert path in str(info.value) and "Hub repo id" in str(info.value)
        refusals.add(str(info.value).replace(path, "PATH"))
    assert len(refusals) == 1, refusals
    # local development may allow folders
    assert Service({}, allow_local=True).load(None, tiny_checkpoints["tiny-rgb"]).model.resolution == 16


def test_models_load_on_the_gpu_when_there_is_one(tiny_checkpoints, monkeypatch):
    import torch

    asked = []
    real = hub._load

    def on_cpu(spec, device, token, cache_dir):  # note where it was asked to go; stay on the CPU
        asked.append(device)
        return real(spec, torch.device("cpu"), token, cache_dir)

    monkeypatch.setattr(hub, "_load", on_cpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    hub.clear_cache()
    try:
        Service(tiny_checkpoints).load("tiny-rgb")
    finally:
        hub.clear_cache()
    assert asked == [torch.device("cuda")]


def test_a_load_that_takes_too_long_gives_up_and_goes_on_in_the_background(tiny_checkpoints, fake_hub):
    """A Hub that does not answer must not hold the queue: the request gives up after load_wait,
    the bundled models still serve, and the download ends in the background."""
    fake_hub.add_repo(REPO, tiny_checkpoints["tiny-rgb"])
    fake_hub.fail(REPO, "timeout", delay=2)  # holds each answer 2 s, then hangs up
    service = Service(tiny_checkpoints, Limits(load_wait=0.5))
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="still downloading") as info:
        service.load(hub_repo=REPO)
    assert REPO in str(info.value)
    assert time.monotonic() - started < 1.5  # the request gave up (the download goes on in the background)
    bundled = service.load("tiny-rgb")  # the next user's bundled model is not held up
    _, done = finish(service.run(bundled.model, photo(40, 30), box((40, 30)), FAST))
    assert done.completion.image.size == (40, 30)
    fake_hub.heal(REPO)
    wait_for_loads(service)
    assert service.load(hub_repo=REPO).name == REPO  # now it loads (from the background download, or afresh)


def test_too_many_hub_downloads_at_once_are_refused(tiny_checkpoints, fake_hub, monkeypatch):
    blocked = threading.Event()
    real = hub.load_model

    def slow(source, **kwargs):
        if source.startswith("user/"):
            blocked.wait(10)
        return real(source, **kwargs)

    monkeypatch.setattr(hub, "load_model", slow)
    fake_hub.add_repo(REPO, tiny_checkpoints["tiny-rgb"])
    service = Service(tiny_checkpoints, Limits(downloads=1, load_wait=0.2))
    try:
        with pytest.raises(ModelLoadError, match="still downloading"):
            service.load_source(REPO)
        with pytest.raises(ModelLoadError, match="already under way"):
            service.load_source("user/other")
    finally:
        blocked.set()
    wait_for_loads(service, 10)
    assert service.load_source(REPO).resolution == 16


def test_bundled_and_cached_models_never_wait_for_a_hub_download_slot(tiny_checkpoints, fake_hub):
    service = Service(tiny_checkpoints)
    cached = "user/cached"
    fake_hub.add_repo(cached, tiny_checkpoints["tiny-rgb"])
    service.load_source(cached)  # now in the HF cache
    inpaint.hub.clear_cache()  # as after a restart
    slow = [f"user/slow-{i}" for i in range(service.limits.downloads)]
    try:
        for repo in slow:  # every download slot taken by a Hub that does not answer yet
            fake_hub.add_repo(repo, tiny_checkpoints["tiny-grey"])
            fake_hub.fail(repo, "slow")
            with pytest.raises(ModelLoadError, match="still downloading"):
                service.load_source(repo, wait=0.05)
        with pytest.raises(ModelLoadError, match="already under way"):
            service.load_source("user/one-more", wait=0.05)
        started = time.monotonic()
        assert service.load("tiny-grey").model.channels == 1
        assert service.load_source(cached, wait=5).resolution == 16
        assert time.monotonic() - started < 5
    finally:
        for repo in slow:
            fake_hub.heal(repo)
        wait_for_loads(service)
    assert service.load_source(slow[0]).channels == 1


# --- completions ---------------------------------------------------------------------------------

def test_a_run_streams_progress_and_ends_with_the_completion(rgb):
    image, hole = photo(40, 30), box((40, 30))
    progress, done = finish(Service().run(rgb, image, hole, Settings(iterations=20, restarts=2, patience=0)))
    assert progress and progress[-1].iteration <= 20
    assert done.completion.image.size == image.size and done.completion.iterations == 20
    assert done.stopped is None
    assert done.settings.time_limit == Limits().seconds  # every run has the service's time limit


def test_stop_ends_that_callers_run_with_the_best_so_far(rgb):
    service = Service()
    image = photo(40, 30)
    reports = service.run(rgb, image, box(image.size), Settings(iterations=2000, restarts=2), caller="session-1")
    assert isinstance(next(reports), Progress)
    assert service.running("session-1")
    service.stop("session-2")  # another caller's stop does nothing to this one
    service.stop(None)
    service.stop("session-1")
    _, done = finish(reports)
    assert done.stopped == "caller" and done.completion.iterations < 2000
    assert done.completion.image.size == image.size
    assert not service.running("session-1")  # the signal is forgotten afterwards


def test_a_reader_that_goes_away_stops_the_search(rgb):
    service = Service()
    reports = service.run(rgb, photo(40, 30), box((40, 30)), Settings(iterations=2000, restarts=2, patience=0),
                          caller="gone")
    next(reports)
    started = time.monotonic()
    reports.close()  # the worker is told to stop and waited for
    assert time.monotonic() - started < 10
    assert not service.running("gone")


def test_the_method_comes_from_the_registry(rgb, monkeypatch):
    seen = []
    default = methods.get()

    def spy(model, image, hole, settings, on_progress=None):
        seen.append(settings)
        return default.run(model, image, hole, settings, on_progress=on_progress)

    monkeypatch.setitem(methods.METHODS, "spy", dataclasses.replace(default, name="spy", run=spy))
    _, done = finish(Service().run(rgb, photo(40, 30), box((40, 30)), FAST, method="spy"))
    assert len(seen) == 1 and done.completion.image.size == (40, 30)
    with pytest.raises(InpaintError, match="unknown method 'nope'"):
        finish(Service().run(rgb, photo(40, 30), box((40, 30)), FAST, method="nope"))


def test_engine_errors_come_out_of_the_stream(rgb):
    with pytest.raises(InpaintError, match="mask is empty"):
        finish(Service().run(rgb, photo(40, 30), box((40, 30)) & False, FAST))


# --- limits --------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes,message", [
    (dict(iterations=2001), "iterations must be between 1 and 2000, got 2001"),
    (dict(restarts=129), "restarts must be between 1 and 128, got 129"),
])
def test_a_request_cannot_ask_for_more_than_the_limits(rgb, changes, message):
    with pytest.raises(InpaintError, match=message):
        finish(Service(limits=Limits()).run(rgb, photo(40, 30), box((40, 30)), dataclasses.replace(FAST, **changes)))


def test_the_time_limit_returns_the_best_so_far(rgb):
    service = Service(limits=Limits(seconds=0.001))
    image = photo(40, 30)
    _, done = finish(service.run(rgb, image, box(image.size), Settings(iterations=2000, restarts=2)))
    assert done.stopped == "time limit" and done.completion.iterations == 1
    assert done.completion.image.size == image.size
    # a request may ask for less time than the limit, never more
    assert Limits(seconds=5).check(Settings(time_limit=2)).time_limit == 2
    assert Limits(seconds=5).check(Settings(time_limit=60)).time_limit == 5


def test_the_limits_come_from_the_environment(monkeypatch):
    assert Limits() == Limits(iterations=2000, restarts=128, seconds=120, load_wait=20, downloads=4, max_batch=8)
    for name in ("INPAINT_TIME_LIMIT", "INPAINT_HUB_WAIT", "INPAINT_MAX_BATCH"):
        monkeypatch.delenv(name, raising=False)
    assert Limits.from_env() == Limits()
    monkeypatch.setenv("INPAINT_TIME_LIMIT", "7.5")
    monkeypatch.setenv("INPAINT_HUB_WAIT", "3")
    monkeypatch.setenv("INPAINT_MAX_BATCH", "1")
    limits = Limits.from_env()
    assert (limits.seconds, limits.load_wait, limits.max_batch) == (7.5, 3.0, 1)
    assert Service().limits == Limits.from_env()
    for wrong in (dict(seconds=0), dict(max_batch=0)):
        with pytest.raises(ValueError):
            Limits(**wrong)


def test_the_service_does_not_import_gradio():
    import subprocess
    import sys

    code = "import sys, inpaint.service; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- batches -------------------------------------------------------------------------------------

def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def behind_a_long_search(service: Service, model, requests: list[tuple]) -> list:
    """Start a long search (caller "first"), send `requests` (model, image, hole, settings, caller)
    while it runs, stop it once they all wait: each request's (progress, Finished), in order."""
    first = service.run(model, photo(40, 30), box((40, 30)), Settings(iterations=2000, restarts=2, patience=0),
                        caller="first")
    assert isinstance(next(first), Progress)  # the first batch is under way
    runs = [in_thread(lambda r=r: finish(service.run(*r[:4], caller=r[4]))) for r in requests]
    wait_until(lambda: service.waiting == len(requests))
    service.stop("first")
    assert finish(first)[1].stopped == "caller"
    return [run.result(timeout=60) for run in runs]


def test_requests_that_wait_for_one_model_are_searched_as_one_batch(rgb, grey):
    service = Service()
    sizes = [(40, 30), (24, 24), (33, 17)]
    requests = [(rgb, photo(*size, seed=i), box(size), dataclasses.replace(FAST, iterations=10 + 5 * i, seed=i),
                 f"user-{i}") for i, size in enumerate(sizes)]
    requests.append((grey, photo(20, 20, "L"), box((20, 20)), FAST, "grey-user"))  # another model: a batch of its own
    results = behind_a_long_search(service, rgb, requests)
    assert service.batch_sizes == {1: 2, 3: 1}  # the first search, the three rgb requests, the grey one
    for (model, image, hole, settings, _), (progress, done) in zip(requests, results):
        # each caller's own stream and result, as the engine gives that request alone
        assert progress and {p.total for p in progress} == {settings.iterations}
        assert progress[-1].iteration == done.completion.iterations == settings.iterations
        assert done.stopped is None and done.completion.image.size == image.size
        own = inpaint.complete(model, image, hole, done.settings)
        assert done.completion.losses == pytest.approx(own.losses, rel=1e-4)


def test_a_max_batch_of_one_searches_one_request_at_a_time(rgb):
    service = Service(limits=Limits(max_batch=1))
    requests = [(rgb, photo(40, 30, seed=i), box((40, 30)), FAST, f"user-{i}") for i in range(3)]
    for _, done in behind_a_long_search(service, rgb, requests):
        assert done.completion.iterations == FAST.iterations
    assert service.batch_sizes == {1: 4}


def test_a_callers_stop_ends_only_its_own_job_in_a_batch(rgb):
    service = Service()
    long = Settings(iterations=2000, restarts=2, patience=0)
    image, hole = photo(40, 30), box((40, 30))
    first = service.run(rgb, image, hole, long, caller="first")
    next(first)
    a = service.run(rgb, image, hole, dataclasses.replace(long, iterations=400), caller="a")
    b = service.run(rgb, image, hole, long, caller="b")
    runs = [in_thread(next, run) for run in (a, b)]  # their first reports come when their batch starts
    wait_until(lambda: service.waiting == 2)
    service.stop("first")
    finish(first)
    assert all(isinstance(run.result(timeout=60), Progress) for run in runs)
    service.stop("b")
    _, stopped = finish(b)
    _, other = finish(a)
    assert other.stopped is None and other.completion.iterations == 400  # went on to its own end
    assert stopped.stopped == "caller" and stopped.completion.iterations < 400
    assert service.batch_sizes == {1: 1, 2: 1}


# --- restorations ----------------------------------------------------------------------------------

def test_a_restoration_streams_progress_and_ends_with_the_clean_size(rgb):
    from inpaint import operators as ops

    small = photo(12, 10)
    progress, done = finish(Service().restore(rgb, small, ops.Downsample(2), Settings(iterations=20, restarts=2,
                                                                                      patience=0)))
    assert progress and progress[-1].iteration <= 20 and isinstance(progress[-1].preview(), type(small))
    assert done.completion.image.size == (24, 20)  # the input's size times the factor
    assert done.stopped is None and done.completion.iterations == 20
    assert done.settings.time_limit == Limits().seconds
    # as the engine gives it alone
    own = inpaint.restore(rgb, small, ops.Downsample(2), done.settings)
    assert done.completion.losses == pytest.approx(own.losses, rel=1e-4)


def test_run_with_a_degradation_is_restore_and_composes_the_hole(rgb):
    from inpaint import operators as ops

    image, hole = photo(24, 20), box((24, 20))
    _, done = finish(Service().run(rgb, image, hole, FAST, degradation=ops.GaussianBlur(1)))
    own = inpaint.restore(rgb, image, ops.compose(ops.GaussianBlur(1), ops.Mask(hole)), done.settings)
    assert done.completion.losses == pytest.approx(own.losses, rel=1e-4)
    _, plain = finish(Service().run(rgb, image, None, FAST, degradation=ops.GaussianBlur(1)))
    assert plain.completion.losses != pytest.approx(done.completion.losses, rel=1e-4)


def test_stop_ends_a_restoration_with_the_best_so_far(rgb):
    from inpaint import operators as ops

    service = Service()
    reports = service.restore(rgb, photo(24, 20), ops.Noise(0.1), Settings(iterations=2000, restarts=2, patience=0),
                              caller="session-1")
    assert isinstance(next(reports), Progress)
    service.stop("session-1")
    _, done = finish(reports)
    assert done.stopped == "caller" and done.completion.iterations < 2000
    assert done.completion.image.size == (24, 20)


@pytest.mark.parametrize("kwargs,message", [
    (dict(method="context-encoder"), "only fills holes"),
    (dict(degradation="blur"), "must be one of inpaint.operators'"),
])
def test_a_restoration_the_service_cannot_run_is_refused(rgb, grey, kwargs, message):
    from inpaint import operators as ops

    kwargs = {"degradation": ops.GaussianBlur(1), **kwargs}
    with pytest.raises(InpaintError, match=message):
        finish(Service().run(rgb, photo(24, 20), None, FAST, **kwargs))
    with pytest.raises(InpaintError, match="colour model"):  # the engine's own sentence
        finish(Service().restore(grey, photo(24, 20, "L"), ops.Greyscale(), FAST))


def test_restorations_and_completions_share_a_batch(rgb):
    from inpaint import operators as ops

    service = Service()
    requests = [(rgb, photo(24, 20, seed=1), box((24, 20)), FAST, "inpaint-user")]
    first = service.run(rgb, photo(40, 30), box((40, 30)), Settings(iterations=2000, restarts=2, patience=0),
                        caller="first")
    assert isinstance(next(first), Progress)
    runs = [in_thread(lambda r=r: finish(service.run(*r[:4], caller=r[4]))) for r in requests]
    runs.append(in_thread(lambda: finish(service.restore(rgb, photo(12, 10), ops.Downsample(2), FAST,
                                                         caller="restore-user"))))
    wait_until(lambda: service.waiting == 2)
    service.stop("first")
    finish(first)
    (_, inpainted), (_, restored) = [run.result(timeout=60) for run in runs]
    assert inpainted.completion.image.size == (24, 20) and restored.completion.image.size == (24, 20)
    assert service.batch_sizes == {1: 1, 2: 1}
