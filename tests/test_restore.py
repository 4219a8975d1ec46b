"""Restoration by latent search (`inpaint.restore`) and its degradations (`inpaint.operators`) on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import inpaint
from inpaint import InpaintError, Settings, operators as ops
from pictures import box, photo

FAST = Settings(iterations=12, restarts=4, init_pool=2, candidates=3, patience=0)


def as_tensor(image: Image.Image) -> torch.Tensor:
    arr = np.asarray(image, dtype=np.float32)
    return torch.from_numpy(arr.reshape(image.height, image.width, -1).copy()).permute(2, 0, 1)[None] / 255


# --- the operators ------------------------------------------------------------------------------------

@pytest.mark.parametrize("blur", [ops.GaussianBlur(1.5), ops.BoxBlur(3), ops.BoxBlur(2.5), ops.MotionBlur(5, 30),
                                  ops.MotionBlur(4, 90)])
def test_blur_kernels_are_normalised_and_keep_constants(blur):
    k = blur.kernel(1.0)
    assert k.min() >= 0 and abs(float(k.sum()) - 1) < 1e-5
    flat = torch.full((1, 3, 12, 12), 0.3)
    assert torch.allclose(blur.apply(flat), flat, atol=1e-6)


def test_kernels_shrink_with_the_scale_and_vanish_below_a_pixel():
    blur = ops.GaussianBlur(4)
    assert blur.kernel(0.5).shape[0] < blur.kernel(1.0).shape[0]
    assert blur.kernel(0.01).shape == (1, 1)
    assert ops.MotionBlur(3).kernel(0.2).shape == (1, 1)


def test_motion_blur_runs_along_its_angle():
    horizontal = ops.MotionBlur(7, 0).kernel(1.0)
    vertical = ops.MotionBlur(7, 90).kernel(1.0)
    centre = horizontal.shape[0] // 2
    assert float(horizontal[centre].sum()) > 0.99 and float(vertical[:, centre].sum()) > 0.99


@pytest.mark.parametrize("factor", ops.FACTORS)
def test_downsample_takes_block_means(factor):
    x = torch.rand(2, 3, 4 * factor, 2 * factor)
    y = ops.Downsample(factor).apply(x)
    assert y.shape == (2, 3, 4, 2)
    assert torch.allclose(y[0, 0, 1, 1], x[0, 0, factor: 2 * factor, factor: 2 * factor].mean(), atol=1e-6)
    assert ops.Downsample(factor).clean_size((5, 3)) == (5 * factor, 3 * factor)


def test_greyscale_is_pils_luma():
    image = photo(20, 10)
    grey = ops.Greyscale().degrade(image)
    assert grey.mode == "L" and grey.size == image.size
    assert np.abs(np.asarray(grey, dtype=int) - np.asarray(image.convert("L"), dtype=int)).max() <= 1


def test_noise_is_seeded_and_of_its_sigma():
    image = Image.new("L", (64, 64), 128)
    a, b = ops.Noise(0.1).degrade(image, seed=3), ops.Noise(0.1).degrade(image, seed=3)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != ops.Noise(0.1).degrade(image, seed=4).tobytes()
    assert abs(np.asarray(a, dtype=np.float32).std() / 255 - 0.1) < 0.01


def test_compose_orders_the_parts_and_refuses_two_of_a_kind():
    hole = np.zeros((8, 8), bool)
    chain = ops.compose(ops.Mask(hole), ops.Noise(0.1), ops.GaussianBlur(1))
    assert [type(op) for op in chain.parts] == [ops.GaussianBlur, ops.Noise, ops.Mask]
    assert chain.noise == 0.1 and chain.hole is hole
    assert ops.compose(chain, ops.Downsample(2)).find(ops.Downsample).factor == 2  # chains flatten
    with pytest.raises(InpaintError, match="at most one"):
        ops.compose(ops.GaussianBlur(1), ops.BoxBlur(3))


@pytest.mark.parametrize("make,message", [
    (lambda: ops.GaussianBlur(-1), "sigma"), (lambda: ops.GaussianBlur(float("nan")), "sigma"),
    (lambda: ops.BoxBlur(0.5), "size"), (lambda: ops.MotionBlur(3, float("inf")), "angle"),
    (lambda: ops.Downsample(3), "factor"), (lambda: ops.Noise(2), "sigma"), (lambda: ops.Mask("x"), "mask"),
])
def test_bad_strengths_are_refused_with_a_sentence(make, message):
    with pytest.raises(InpaintError, match=message):
        make()


def test_degrading_to_a_factor_needs_sides_that_divide():
    with pytest.raises(InpaintError, match="multiples of 4"):
        ops.Downsample(4).degrade(photo(10, 8))


# --- data consistency ---------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [ops.GaussianBlur(1.5), ops.Downsample(4), ops.MotionBlur(5, 45), ops.Greyscale()])
def test_consistency_makes_the_result_re_degrade_to_the_observation(op):
    torch.manual_seed(0)
    clean = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 32, 32), 3, 1, 1)
    chain = ops.compose(op)
    observed = chain.apply(clean)
    guesses = (clean + 0.1 * torch.randn(3, 3, 32, 32)).clamp(0, 1)
    before = (chain.apply(guesses) - observed).abs().mean()
    out = ops.consistent(chain, guesses, observed, torch.ones(1, 1, *observed.shape[2:]))
    after = (chain.apply(out) - observed).abs().mean()
    assert after < 0.005 < before  # within about a grey level, from ~10
    assert ((out - clean) ** 2).mean() < ((guesses - clean) ** 2).mean()  # and nearer the truth


def test_consistency_with_noise_lands_between_the_guess_and_the_observation():
    torch.manual_seed(0)
    clean = torch.full((1, 1, 32, 32), 0.5)
    observed = clean + 0.1 * torch.randn_like(clean)
    guess = clean + 0.02 * torch.randn(1, 1, 32, 32)
    out = ops.consistent(ops.compose(ops.Noise(0.1)), guess, observed, torch.ones(1, 1, 32, 32))
    assert ((out - clean) ** 2).mean() < ((observed - clean) ** 2).mean() / 4


def test_consistency_leaves_a_hole_to_the_guess():
    clean = torch.rand(1, 1, 16, 16)
    known = torch.ones(1, 1, 16, 16)
    known[..., 4:12, 4:12] = 0
    guess = torch.full((1, 1, 16, 16), 0.5)
    out = ops.consistent(ops.compose(ops.GaussianBlur(1), ops.Mask(known[0, 0].numpy() == 0)), guess,
                         ops.GaussianBlur(1).apply(clean), known)
    assert (out[..., 7:9, 7:9] - 0.5).abs().max() < 0.05  # deep in the hole: the guess


# --- restore ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [ops.GaussianBlur(1.5), ops.BoxBlur(3), ops.MotionBlur(5, 20), ops.Noise(0.1),
                                ops.Greyscale()])
def test_restore_returns_a_completion_of_the_input_size(rgb, op):
    observed = op.degrade(photo(40, 30))
    result = inpaint.restore(rgb, observed, op, FAST)
    assert result.image.size == (40, 30) and result.image.mode == "RGB"
    assert len(result.candidates) >= 1 and result.losses == sorted(result.losses)
    assert result.raw.size == (16, 16) and result.iterations == FAST.iterations and result.in_domain is None


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_upscaling_gives_the_input_size_times_the_factor_and_downsamples_back(grey, factor):
    small = photo(9, 6, "L")
    result = inpaint.restore(grey, small, ops.Downsample(factor), FAST)
    assert result.image.size == (9 * factor, 6 * factor) and result.image.mode == "L"
    back = ops.Downsample(factor).apply(as_tensor(result.image))
    assert (back - as_tensor(small)).abs().mean() < 2 / 255


def test_restored_blur_re_blurs_to_the_input(grey):
    blur = ops.GaussianBlur(2)
    observed = blur.degrade(photo(30, 30, "L"))
    result = inpaint.restore(grey, observed, blur, FAST)
    assert (blur.apply(as_tensor(result.image)) - as_tensor(observed)).abs().mean() < 2 / 255


def test_colourising_keeps_the_grey_image_as_the_luma(rgb, grey):
    observed = photo(20, 20, "L")
    result = inpaint.restore(rgb, observed, ops.Greyscale(), FAST)
    assert result.image.mode == "RGB"
    luma = np.asarray(result.image.convert("L"), dtype=int)
    assert np.abs(luma - np.asarray(observed, dtype=int)).mean() < 1.0
    with pytest.raises(InpaintError, match="colour model"):
        inpaint.restore(grey, observed, ops.Greyscale(), FAST)


def test_restore_with_a_mask_alone_is_complete(rgb):
    image, hole = photo(), box((40, 30))
    a = inpaint.restore(rgb, image, ops.Mask(hole), FAST)
    b = inpaint.complete(rgb, image, hole, FAST)
    assert a.image.tobytes() == b.image.tobytes() and a.losses == b.losses


def test_a_blurred_image_with_a_hole(rgb):
    image, hole = photo(), box((40, 30))
    blur = ops.GaussianBlur(1)
    observed = blur.degrade(image)
    result = inpaint.restore(rgb, observed, ops.compose(blur, ops.Mask(hole)), FAST)
    assert result.image.size == image.size
    outside = ~hole
    re_blurred = blur.apply(as_tensor(result.image))[0].permute(1, 2, 0).numpy()
    assert np.abs(re_blurred - np.asarray(observed, dtype=np.float32) / 255)[outside].mean() < 3 / 255


def test_restore_keeps_alpha_and_is_deterministic(rgb):
    image = photo(24, 24, "RGBA")
    blur = ops.GaussianBlur(1)
    first = inpaint.restore(rgb, image, blur, FAST, seed=5)
    again = inpaint.restore(rgb, image, blur, FAST, seed=5)
    assert first.image.mode == "RGBA" and first.image.tobytes() == again.image.tobytes()


def test_restore_reports_progress_and_stops_when_asked(grey):
    seen = []

    def on_progress(p):
        seen.append(p.iteration)
        assert p.preview().size == (16, 16)
        return p.iteration >= 4

    result = inpaint.restore(grey, photo(20, 20, "L"), ops.Noise(0.1), FAST, on_progress=on_progress,
                             progress_every=2)
    assert seen == [2, 4] and result.stopped_early and result.iterations == 4


def test_restore_runs_beside_completions_in_one_batch(grey):
    jobs = [inpaint.Job(photo(20, 20, "L"), box((20, 20)), FAST),
            inpaint.Job(photo(8, 8, "L"), None, FAST, degradation=ops.Downsample(2))]
    one, two = inpaint.complete_many(grey, jobs)
    assert one.image.size == (20, 20) and two.image.size == (16, 16)
    alone = inpaint.restore(grey, photo(8, 8, "L"), ops.Downsample(2), FAST)
    assert np.abs(np.asarray(alone.image, dtype=int) - np.asarray(two.image, dtype=int)).max() <= 1


@pytest.mark.parametrize("call,message", [
    (lambda m: inpaint.restore(m, photo(), "blur"), "degradation must be"),
    (lambda m: inpaint.restore(m, np.zeros((4, 4)), ops.GaussianBlur(1)), "PIL image"),
    (lambda m: inpaint.restore(m, photo(), ops.compose(ops.GaussianBlur(1), ops.Mask(np.ones((30, 40), bool)))),
     "whole image"),
    (lambda m: inpaint.restore(m, photo(), ops.compose(ops.GaussianBlur(1), ops.Mask(np.zeros((5, 5), bool)))),
     "same size"),
    (lambda m: inpaint.restore(m, photo(300, 200), ops.Downsample(8)), "max_side"),
])
def test_restore_refuses_what_a_user_got_wrong(rgb, call, message):
    with pytest.raises(InpaintError, match=message):
        call(rgb)


def test_large_images_blur_by_fft_as_by_convolution():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 200, 150)
    for blur in (ops.MotionBlur(9, 10), ops.GaussianBlur(2), ops.BoxBlur(4)):
        k = blur.kernel(1.0)
        direct = torch.nn.functional.conv2d(
            torch.nn.functional.pad(x, (k.shape[1] // 2,) * 2 + (k.shape[0] // 2,) * 2, mode="replicate"),
            k.expand(3, 1, *k.shape), groups=3)
        assert torch.allclose(blur.apply(x), direct, atol=1e-5)


def test_a_kernel_far_larger_than_the_image_is_cut_to_it():
    tiny = torch.rand(1, 3, 1, 1)
    assert torch.allclose(ops.GaussianBlur(8).apply(tiny, 64.0), tiny)  # a constant stays itself, fast
