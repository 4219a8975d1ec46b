"""Several completions searched as one batch (`complete_many` / `complete_each`): each job gets what
it gets alone, ends by its own rules, and leaves the batch without disturbing the others."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from inpaint import InpaintError, Settings, complete, preset
from inpaint.complete import Job, _fused, batch_key, complete_each, complete_many
from pictures import box, photo

FAST = Settings(iterations=30, restarts=3, init_pool=2, candidates=3, patience=0, precision="fp32")


def same(a, b) -> None:
    """Two completions of one job agree (to float rounding)."""
    assert (a.iterations, a.stopped_early, a.notes) == (b.iterations, b.stopped_early, b.notes)
    assert np.allclose(a.history, b.history, rtol=1e-4) and np.allclose(a.losses, b.losses, rtol=1e-4)
    assert [c.size for c in a.candidates] == [c.size for c in b.candidates]
    for x, y in zip([a.image, a.raw], [b.image, b.raw]):
        assert x.size == y.size and x.mode == y.mode
        assert np.abs(np.asarray(x, float) - np.asarray(y, float)).max() <= 1  # one uint8 step


def alone(model, job: Job):
    return complete(model, job.image, job.mask, job.settings)


@pytest.fixture
def rows(rgb):
    """The batch sizes of the search steps (G with gradients, on the fused copy the search uses)."""
    seen = []

    def note(module, args, out):
        if torch.is_grad_enabled():  # not the start's scoring, a preview or the final fills
            seen.append(len(args[0]))

    hook = _fused(rgb).G.register_forward_hook(note)
    yield seen
    hook.remove()


def mixed() -> list[Job]:
    """Three jobs that differ in everything a job may have of its own."""
    return [
        Job(photo(20, 20, seed=1), preset("center", (20, 20)), replace(FAST, lam=0.1, seed=1)),
        Job(photo(30, 24, "L", seed=2), box((30, 24)),
            replace(FAST, iterations=45, restarts=5, lr=0.05, seed=2, blend="alpha", patience=8)),
        Job(photo(48, 40, "RGBA", seed=3), preset("strokes", (48, 40), seed=3),
            replace(FAST, iterations=20, weighted=False, seed=3, max_side=32, candidates=1, init_pool=1)),
    ]


def test_each_job_of_a_batch_gets_what_it_gets_alone(rgb, rows):
    jobs = mixed()
    together = complete_many(rgb, jobs)
    searched = list(rows)
    for job, result in zip(jobs, together):
        same(result, alone(rgb, job))
    # each step ran the restarts of every job still searching through G at once (3 + 5 + 3 rows at first)
    its = [r.iterations for r in together]
    assert searched == [sum(j.settings.restarts for j, n in zip(jobs, its) if n >= t) for t in range(1, max(its) + 1)]
    assert searched[0] == 11 and its[0] == 30 and its[2] == 20 and together[1].stopped_early  # (its patience)
    assert [c.size for c in together[2].candidates] == [(48, 40)]


def test_jobs_leave_the_batch_as_they_end_and_are_yielded_at_once(rgb, rows):
    short, long = (Job(photo(20, 20, seed=s), box((20, 20)), replace(FAST, iterations=n, seed=s))
                   for s, n in ((1, 10), (2, 25)))
    order = [(i, result.iterations, len(rows)) for i, result in complete_each(rgb, [long, short])]
    assert order == [(1, 10, 10), (0, 25, 25)]  # the short one handed over right after its last step
    assert rows == [6] * 10 + [3] * 15  # the short job's rows left after its 10 steps


def test_one_jobs_stop_leaves_the_others_running_to_their_own_end(grey):
    stopped_at = []

    def stop_at_10(p):
        stopped_at.append(p.iteration)
        return p.iteration >= 10  # this job's Stop button

    img = photo(16, 16, "L")
    jobs = [Job(img, preset("center", img.size), replace(FAST, iterations=40, seed=1), stop_at_10, progress_every=5),
            Job(img, preset("left", img.size), replace(FAST, iterations=40, seed=2))]
    stopped, other = complete_many(grey, jobs)
    assert stopped_at == [5, 10] and stopped.iterations == 10 and stopped.stopped_early
    assert other.iterations == 40 and not other.stopped_early
    same(other, alone(grey, jobs[1]))


def test_one_jobs_time_limit_ends_only_its_search(grey):
    img = photo(16, 16, "L")
    jobs = [Job(img, preset("center", img.size), replace(FAST, iterations=2000, time_limit=0.001)),
            Job(img, preset("center", img.size), replace(FAST, iterations=40))]
    hurried, other = complete_many(grey, jobs)
    assert hurried.iterations == 1 and hurried.stopped_early
    assert other.iterations == 40 and not other.stopped_early


def test_a_wrong_input_fails_its_own_job_only(rgb):
    good = Job(photo(20, 20), box((20, 20)), FAST)
    empty = Job(photo(20, 20), np.zeros((20, 20), bool), FAST)
    results = dict(complete_each(rgb, [good, empty]))
    assert isinstance(results[1], InpaintError) and "mask is empty" in str(results[1])
    same(results[0], alone(rgb, good))
    with pytest.raises(InpaintError, match="mask is empty"):
        complete_many(rgb, [good, empty])


def test_what_a_batch_needs_in_common(rgb, grey):
    fp32, bf16 = FAST, replace(FAST, precision="bf16")
    assert batch_key(rgb, fp32) == batch_key(rgb, replace(fp32, seed=5, lam=1, restarts=9, iterations=3))
    assert batch_key(rgb, fp32) != batch_key(rgb, bf16)  # one autocast covers a batch
    assert batch_key(rgb, fp32) != batch_key(grey, fp32)
    # jobs of two precisions in one call: searched one group after the other, each still its own
    jobs = [Job(photo(16, 16), box((16, 16)), replace(s, iterations=5)) for s in (fp32, bf16)]
    results = complete_many(rgb, jobs)
    assert [r.precision for r in results] == ["fp32", "bf16"]
    same(results[0], alone(rgb, jobs[0]))


def test_the_same_job_twice_in_a_batch_gives_the_same_result_twice(rgb):
    job = Job(photo(20, 20), box((20, 20)), FAST)
    a, b = complete_many(rgb, [job, job])
    assert a.losses == b.losses and np.array_equal(np.asarray(a.image), np.asarray(b.image))
