"""The completion engine on tiny models: shapes, masks, invariants, determinism, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

import inpaint
import inpaint.hub
from inpaint import InpaintError, Settings, complete, preset
from inpaint.blend import blend
from inpaint.complete import DISTINCT
from inpaint.imageio import Fit, normalize, read_image
from inpaint.masks import from_image, importance_weights, known_from_hole
from inpaint.models import DCGAN, Discriminator, Generator, weights_init
from pictures import photo

FAST = Settings(iterations=15, restarts=4, init_pool=2, candidates=3, patience=0)


# --- models ------------------------------------------------------------------------------

@pytest.mark.parametrize("resolution,channels", [(8, 1), (16, 3), (32, 1), (64, 3)])
def test_generator_and_discriminator_shapes(resolution, channels):
    G, D = Generator(resolution, channels, z_dim=8, ngf=4), Discriminator(resolution, channels, ndf=4)
    x = G(torch.randn(5, 8))
    assert x.shape == (5, channels, resolution, resolution)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)


@pytest.mark.parametrize("resolution", [7, 12, 4, 48])
def test_resolution_must_be_a_power_of_two(resolution):
    with pytest.raises(ValueError, match="power of two"):
        Generator(resolution)


def test_checkpoint_round_trip_through_the_hub_mixin(tmp_path):
    torch.manual_seed(0)
    model = DCGAN(resolution=16, channels=3, z_dim=8, ngf=4, ndf=4, prior="uniform", dataset="x").apply(weights_init)
    model.save_pretrained(tmp_path)
    again = DCGAN.from_pretrained(tmp_path)
    assert again.config == model.config and again.config["prior"] == "uniform"
    z = model.sample_z(3, torch.Generator().manual_seed(1))
    model.eval(), again.eval()
    assert torch.equal(model.G(z), again.G(z))


def test_fused_model_matches_the_original():
    torch.manual_seed(0)
    model = DCGAN(resolution=32, channels=3, z_dim=8, ngf=8, ndf=8).apply(weights_init)
    model.train()
    for _ in range(3):  # give the BatchNorms non-trivial running statistics
        model.D(model.G(torch.randn(16, 8)))
    model.eval()
    fused = model.fused()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    z = torch.randn(5, 8)
    assert torch.allclose(fused.G(z), model.G(z), atol=1e-5)
    assert torch.allclose(fused.D(model.G(z)), model.D(model.G(z)), atol=1e-4)
    assert model.G.net[1].__class__ is torch.nn.BatchNorm2d  # the original is untouched


@pytest.mark.parametrize("prior", ["gaussian", "uniform"])
def test_project_z_keeps_z_in_the_prior(prior):
    model = DCGAN(resolution=8, z_dim=16, ngf=4, ndf=4, prior=prior)
    z = torch.randn(10, 16) * 10
    model.project_z(z)
    if prior == "uniform":
        assert z.abs().max() <= 1
    else:
        assert z.norm(dim=1).max() <= 4 + 1e-5  # sqrt(16)
    inside = model.sample_z(4, torch.Generator().manual_seed(0)) * 0.1
    assert torch.equal(model.project_z(inside.clone()), inside)


# --- masks -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", inpaint.PRESETS)
def test_presets_have_the_image_size_and_leave_something_known(name):
    hole = preset(name, (50, 30), seed=3)
    assert hole.shape == (30, 50) and hole.dtype == bool
    assert 0 < hole.mean() < 1


def test_preset_regions():
    c = preset("center", (8, 8))
    assert c[2:6, 2:6].all() and c.sum() == 16
    assert preset("left", (8, 4))[:, :4].all() and not preset("left", (8, 4))[:, 4:].any()
    assert preset("top", (4, 8))[:4].all() and not preset("top", (4, 8))[4:].any()
    assert abs(preset("random", (200, 200), fraction=0.3).mean() - 0.3) < 0.02


def test_strokes_are_seeded():
    a, b, c = (preset("strokes", (64, 64), seed=s) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.15 < a.mean() < 0.6


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(InpaintError, match="unknown mask preset"):
        preset("circle", (8, 8))


def test_mask_images_white_is_hole():
    arr = np.zeros((6, 6), np.uint8)
    arr[1:3, 2:5] = 255
    assert np.array_equal(from_image(Image.fromarray(arr)), arr > 0)
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[1:3, 2:5] = (255, 255, 255, 255)
    rgba[4, 4] = (255, 255, 255, 0)  # white but transparent: not painted
    assert np.array_equal(from_image(Image.fromarray(rgba)), arr > 0)


def test_importance_weights_follow_the_paper():
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., 6:10, 6:10] = 1
    known = known_from_hole(hole)
    w = importance_weights(known, window=3)
    assert (w[hole.bool()] == 0).all()                  # no weight on the hole
    assert w[0, 0, 0, 0] == 0                           # far from the hole: nothing in the window
    assert torch.isclose(w[0, 0, 5, 7], torch.tensor(3 / 9))  # next to the hole's edge: 3 of 9
    assert torch.isclose(w[0, 0, 5, 5], torch.tensor(1 / 9))  # diagonal corner: 1 of 9


# --- fitting and blending ----------------------------------------------------------------

def test_fit_letterboxes_and_keeps_holes_out_of_the_target():
    img = Image.new("L", (40, 20), 200)
    hole = np.zeros((20, 40), bool)
    hole[:, :20] = True
    fit = Fit(img.size, 16)
    y, known = fit.inputs(img, hole)
    assert y.shape == (1, 1, 16, 16) and fit.inner == (16, 8) and fit.offset == (0, 4)
    assert known[0, 0, :4].sum() == 0 and known[0, 0, 12:].sum() == 0   # padding: not known
    assert known[0, 0, 4:12, :8].sum() == 0 and (known[0, 0, 4:12, 8:] == 1).all()
    assert torch.allclose(y[0, 0, 4:12, 8:], torch.tensor(200 / 127.5 - 1))
    assert fit.undo(torch.zeros(1, 16, 16)).shape == (20, 40, 1)


def test_a_partly_known_cell_fits_the_mean_of_its_known_pixels():
    # a 64x64 upload fitted to 16x16: each cell is 4x4 pixels; the hole covers the left 3
    # columns of every cell, so every cell is 1/4 known and its known pixels are all 200
    arr = np.full((64, 64), 200, np.uint8)
    hole = np.zeros((64, 64), bool)
    for x in range(0, 64, 4):
        hole[:, x: x + 3] = True
        arr[:, x: x + 3] = 0  # the hole's pixels must not count
    y, known = Fit((64, 64), 16).inputs(Image.fromarray(arr), hole)
    assert torch.allclose(known, torch.full_like(known, 0.25))
    assert torch.allclose(y, torch.full_like(y, 200 / 127.5 - 1), atol=1e-4)  # not pulled toward grey


def test_upscaling_keeps_hole_pixels_out_of_known_targets():
    arr = np.zeros((8, 8), np.uint8)
    hole = np.zeros((8, 8), bool)
    hole[2:6, 2:6] = True
    arr[hole] = 255  # a white hole in a black image, scaled up 4x
    y, known = Fit((8, 8), 32).inputs(Image.fromarray(arr), hole)
    assert (known > 0).any() and (known < 1).any()
    assert torch.allclose(y[known > 0], torch.tensor(-1.0))  # every known target is black
    assert (known[0, 0, 10:22, 10:22] == 0).all()  # the hole's inside is unknown


def test_the_preview_shows_the_input_where_the_fill_agrees_with_it():
    from inpaint.complete import Progress

    img = Image.new("L", (64, 64), 200)
    hole = preset("random", img.size, fraction=0.6, seed=1)  # every cell partly known
    y, known = Fit(img.size, 16).inputs(img, hole)
    fill = torch.full((1, 16, 16), 200 / 127.5 - 1)
    preview = np.asarray(Progress(1, 1, 0.0, {}, fill, y[0], known[0]).preview(), dtype=float)
    assert np.abs(preview - 200).max() <= 1


def _contrasty_prior(seed: int = 0) -> DCGAN:
    """A tiny untrained DCGAN whose G draws high-contrast pictures (DCGAN init x8), in eval mode."""
    torch.manual_seed(seed)
    model = DCGAN(resolution=16, channels=1, z_dim=8, ngf=8, ndf=4, dataset="planted")
    model.apply(weights_init)
    with torch.no_grad():
        for m in model.G.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                m.weight.mul_(8)
    return model.eval()


@pytest.mark.parametrize("scale,mask", [(1, "center"), (4, "center"), (4, "random")])
def test_a_planted_z_is_recovered(scale, mask):
    """image = G(z0), possibly uploaded 4x larger: the search finds a z that redraws the hole."""
    from evaluation.metrics import psnr
    from inpaint.imageio import to_pil

    model = _contrasty_prior()
    gains = []
    for seed in range(3):
        with torch.no_grad():
            truth = to_pil(model.G(model.sample_z(1, torch.Generator().manual_seed(100 + seed))))
        img = truth.resize((16 * scale, 16 * scale), Image.BICUBIC)
        arr = np.asarray(img)
        hole = preset(mask, img.size, fraction=0.6, seed=seed)
        result = complete(model, img, hole, iterations=100, restarts=16, lam=0, patience=0, blend="none",
                          precision="fp32", seed=seed)
        mean_fill = arr.copy()
        mean_fill[hole] = arr[~hole].mean()
        gains.append(psnr(arr, np.asarray(result.image), hole) - psnr(arr, mean_fill, hole))
    assert min(gains) > 6, gains  # the search redraws the hole; a flat fill does not


@pytest.mark.parametrize("seed", [-1, 2**32, 2**64, 1.5, "7", True])
def test_seeds_out_of_range_are_clear_errors(rgb, seed):
    with pytest.raises(InpaintError, match="seed must be a whole number"):
        complete(rgb, photo(12, 10), preset("center", (12, 10)), FAST, seed=seed)


def test_the_largest_seed_works(rgb):
    from inpaint.complete import MAX_SEED

    assert complete(rgb, photo(12, 10), preset("center", (12, 10)), FAST, seed=MAX_SEED).image.size == (12, 10)


def test_poisson_keeps_the_boundary_and_the_fills_gradients():
    original = np.full((20, 20, 1), 100.0)
    fill = np.full((20, 20, 1), 40.0)
    fill[:, 10:] = 60.0  # a step inside the fill survives, its level follows the boundary
    hole = np.zeros((20, 20), bool)
    hole[5:15, 5:15] = True
    out = blend(original, fill, hole, "poisson").astype(float)
    assert (out[~hole] == 100).all()
    assert abs(out[10, 5] - 100) < 12 and out[10, 11] - out[10, 8] > 8


def test_coarse_poisson_for_large_holes(monkeypatch):
    import inpaint.blend as b

    original = np.tile(np.linspace(0, 255, 120)[None, :, None], (90, 1, 1))
    fill = np.zeros_like(original)
    hole = np.zeros((90, 120), bool)
    hole[20:70, 30:100] = True
    exact = b.blend(original, fill, hole, "poisson").astype(float)
    monkeypatch.setattr(b, "MAX_POISSON_UNKNOWNS", 300)
    coarse = b.blend(original, fill, hole, "poisson").astype(float)
    assert (coarse[~hole] == original[~hole].round()).all()
    error = np.abs(coarse - exact)[hole]  # in the hole only: outside it both are the original
    assert error.mean() < 1 and error.max() <= 3, (error.mean(), error.max())


def _figure_on_a_background(scale: int = 1):
    """A light background (left) meeting a dark figure (right) at the hole; the fill has the figure
    right but its background 50 grey levels too dark: the truth is the original everywhere."""
    h, w = 20 * scale, 30 * scale
    original = np.full((h, w, 1), 250.0)
    original[:, w // 2:] = 40
    hole = np.zeros((h, w), bool)
    hole[5 * scale: 15 * scale, 5 * scale: 25 * scale] = True
    fill = np.where(original == 250, 200.0, 40.0)
    return original, fill, hole


def _scaled_up(fill: np.ndarray, scale: int = 4) -> np.ndarray:
    """A fill scaled up as the engine scales G's output: each step spread over ~`scale` pixels."""
    h, w = fill.shape[:2]
    return np.asarray(Image.fromarray(fill[..., 0].astype(np.float32), "F").resize((w * scale, h * scale),
                                                                                   Image.BILINEAR))[..., None].astype(float)


def test_edge_aware_corrects_each_region_of_the_fill_from_its_own_seam():
    original, fill, hole = _figure_on_a_background()
    error = {mode: np.abs(blend(original, fill, hole, mode) - original)[hole] for mode in ("poisson", "edge-aware")}
    # Poisson spreads the background's +50 into the figure and the figure's 0 into the background
    assert error["poisson"].mean() > 5 and error["poisson"].max() > 20
    assert error["edge-aware"].max() <= 1


def test_edge_aware_reads_a_scaled_up_fills_edges_per_model_pixel():
    original, _, hole = _figure_on_a_background(4)
    fill = _scaled_up(_figure_on_a_background()[1])
    error = {s: np.abs(blend(original, fill, hole, "edge-aware", scale=s) - original)[hole].mean() for s in (1, 4)}
    assert error[4] < 2 and error[1] > 3 * error[4], error


def test_coarse_edge_aware_for_large_holes(monkeypatch):
    import inpaint.blend as b

    original, fill, hole = _figure_on_a_background(4)
    monkeypatch.setattr(b, "MAX_POISSON_UNKNOWNS", 300)  # 3,200 hole pixels: cells of 4 x 4
    error = {mode: np.abs(b.blend(original, fill, hole, mode) - original)[hole] for mode in ("poisson", "edge-aware")}
    assert (b.blend(original, fill, hole)[~hole] == original[~hole]).all()
    assert error["edge-aware"].mean() < 2 and error["poisson"].mean() > 3 * error["edge-aware"].mean(), error


def test_edge_aware_on_cells_above_its_limit_keeps_the_seam_and_most_of_the_gain(monkeypatch):
    import inpaint.blend as b

    original, _, hole = _figure_on_a_background(4)  # 3,200 hole pixels
    fill = _scaled_up(_figure_on_a_background()[1])
    exact = b.blend(original, fill, hole, scale=4).astype(float)
    monkeypatch.setattr(b, "MAX_EDGE_UNKNOWNS", 1000)  # cells of 2 x 2: the plain correction exact, the change on cells
    assert b._edge_cell(hole) == 2 and b._coarse_factor(hole) == 1
    cells = b.blend(original, fill, hole, scale=4).astype(float)
    plain = b.blend(original, fill, hole, "poisson").astype(float)
    assert (cells[~hole] == original[~hole]).all()
    error = {name: np.abs(out - original)[hole].mean() for name, out in (("cells", cells), ("plain", plain), ("exact", exact))}
    assert error["exact"] < error["cells"] < 0.4 * error["plain"], error
    seam = hole & ~ndimage.binary_erosion(hole)  # the hole's outer ring: the plain solve's, at full resolution
    assert np.abs(cells - exact)[seam].mean() < 1.5

    # a hole too large for the plain system too: its correction on cells of 4, edge-aware's change on cells of 6
    monkeypatch.setattr(b, "MAX_POISSON_UNKNOWNS", 300)
    monkeypatch.setattr(b, "MAX_EDGE_UNKNOWNS", 100)
    assert (b._coarse_factor(hole), b._edge_cell(hole)) == (4, 6)
    box = b.region(hole)
    coarse = b.blend_all(original, [fill[box]], hole, box=box, scale=4)[0].astype(float)
    assert (coarse[~hole] == original[~hole]).all()
    assert np.abs(coarse - original)[hole].mean() < 0.5 * np.abs(b.blend(original, fill, hole, "poisson") - original)[hole].mean()


@pytest.mark.parametrize("mode", ["edge-aware", "poisson", "alpha", "none"])
def test_blending_many_fills_at_once_matches_blending_each(mode):
    from inpaint.blend import blend_all, region

    rng = np.random.default_rng(1)
    original = rng.integers(0, 256, (50, 70, 3)).astype(np.uint8)
    fills = [rng.uniform(0, 255, (50, 70, 3)) for _ in range(3)]
    hole = np.zeros((50, 70), bool)
    hole[12:30, 20:41] = True
    hole[31, 45] = True
    box = region(hole, mode)
    together = blend_all(original, [f[box] for f in fills], hole, mode, box=box)
    for fill, out in zip(fills, together):
        assert np.array_equal(out, blend(original.astype(float), fill, hole, mode))
        outside = np.ones((50, 70), bool)
        outside[box] = False
        assert np.array_equal(out[outside], original[outside])


def test_undo_of_a_box_is_that_part_of_the_full_size_fill():
    fit = Fit((600, 173), 32)
    fill = torch.rand(3, 32, 32) * 2 - 1
    x, y = fit.offset
    crop = fill[None, :, y: y + fit.inner[1], x: x + fit.inner[0]]
    reference = torch.nn.functional.interpolate(crop, size=(173, 600), mode="bicubic", align_corners=False)
    reference = reference[0].add(1).mul(127.5).clamp(0, 255).permute(1, 2, 0).numpy()
    assert np.abs(fit.undo(fill) - reference).max() < 1e-3
    assert np.abs(fit.undo(fill, (slice(20, 90), slice(100, 420))) - reference[20:90, 100:420]).max() < 1e-3


def test_a_colour_model_fills_a_greyscale_image_with_its_luma(rgb):
    img = photo(24, 24, "L")
    hole = preset("center", (24, 24))
    res = complete(rgb, img, hole, FAST, blend="none")
    raw = np.asarray(res.raw.convert("RGB").resize((24, 24), Image.BICUBIC), dtype=float)
    luma = raw @ np.array([0.299, 0.587, 0.114])
    assert res.image.mode == "L"
    assert np.abs(np.asarray(res.image, dtype=float)[hole] - luma[hole]).mean() < 6


@pytest.mark.parametrize("mode", ["edge-aware", "poisson", "alpha", "none"])
def test_blends_leave_known_pixels_away_from_the_seam_alone(mode):
    from scipy import ndimage

    original = np.random.default_rng(0).uniform(0, 255, (30, 30, 3)).round()
    fill = np.zeros_like(original)
    hole = preset("strokes", (30, 30), seed=5)
    out = blend(original, fill, hole, mode)
    away = ndimage.distance_transform_edt(~hole) > 3
    assert (out[away] == original[away]).all()


# --- completion --------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(40, 30), (16, 16), (7, 33), (2, 1), (300, 8)])
def test_output_has_the_input_size_and_known_pixels(rgb, size):
    img = photo(*size)
    hole = np.zeros((size[1], size[0]), bool)
    hole[: max(1, size[1] // 2), : max(1, size[0] // 2)] = True
    for mode in ("none", "poisson", "edge-aware"):
        result = complete(rgb, img, hole, FAST, blend=mode)
        assert result.image.size == img.size and result.image.mode == "RGB"
        assert (np.asarray(result.image)[~hole] == np.asarray(img)[~hole]).all()


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "I;16", "CMYK", "1"])
def test_any_image_mode(rgb, grey, mode):
    img = photo(24, 20).convert("RGBA" if mode in ("LA", "RGBA") else "RGB")
    if mode == "I;16":
        img = Image.fromarray((np.asarray(img.convert("L")).astype(np.uint16) * 257))
    else:
        img = img.convert(mode)
    hole = preset("center", img.size)
    for model in (rgb, grey):
        result = complete(model, img, hole, FAST)
        expected = normalize(img)
        assert result.image.size == img.size and result.image.mode == expected.mode
        out, src = np.asarray(result.image), np.asarray(expected)
        assert (out[~hole] == src[~hole]).all()
        if expected.mode == "RGBA":
            assert (out[hole][:, 3] == 255).all()  # the filled hole is opaque


def test_loss_decreases_and_history_is_monotone(grey):
    img = photo(16, 16, "L")
    result = complete(grey, img, preset("center", img.size), FAST, iterations=40, lr=0.1)
    h = np.array(result.history)
    assert len(h) == result.iterations == 40
    assert (np.diff(h) <= 1e-6).all() and h[-1] < h[0]


def test_same_seed_same_result_and_different_seed_differs(rgb):
    img, hole = photo(20, 20), preset("strokes", (20, 20), seed=1)
    a, b = complete(rgb, img, hole, FAST, seed=3), complete(rgb, img, hole, FAST, seed=3)
    c = complete(rgb, img, hole, FAST, seed=4)
    assert a.image.tobytes() == b.image.tobytes() and a.losses == b.losses
    assert a.losses != c.losses


def test_candidates_are_ranked_and_distinct():
    img = photo(16, 16, "L")
    result = complete(_contrasty_prior(), img, preset("center", img.size), FAST, restarts=8, candidates=5)
    assert 1 <= len(result.candidates) <= 5
    assert result.losses[0] == min(result.losses)
    assert len(result.candidates) == len(result.losses) == len(result.raw_candidates)
    raws = [np.asarray(r, dtype=float) / 127.5 for r in result.raw_candidates]  # [-1, 1] scale, +1
    hole = preset("center", (16, 16))
    assert len(raws) >= 2
    for i in range(len(raws)):
        for j in range(i):  # distinct by the ranker's own threshold (less a uint8 rounding step)
            assert np.abs(raws[i] - raws[j])[hole].mean() >= DISTINCT - 1 / 127.5
    assert result.raw.size == (16, 16)


def test_progress_callback_previews_and_stops(grey):
    img = photo(16, 16, "L")
    seen = []

    def on_progress(p):
        seen.append((p.iteration, p.loss, p.preview().size))
        return p.iteration >= 10  # the Stop button

    result = complete(grey, img, preset("center", img.size), FAST, iterations=100, on_progress=on_progress,
                      progress_every=5)
    assert [s[0] for s in seen] == [5, 10]
    assert result.iterations == 10 and result.stopped_early
    assert seen[0][2] == (16, 16)


def test_one_pixel_image_is_all_hole_or_no_hole(rgb):
    with pytest.raises(InpaintError, match="whole image"):
        complete(rgb, photo(1, 1), np.ones((1, 1), bool), FAST)


def test_early_stopping(grey):
    img = photo(16, 16, "L")
    result = complete(grey, img, preset("center", img.size), FAST, iterations=2000, patience=5, lr=1e-6)
    assert result.stopped_early and result.iterations < 100


@pytest.mark.parametrize("hole,message", [
    (np.zeros((10, 12), bool), "empty"),
    (np.ones((10, 12), bool), "whole image"),
    (np.zeros((11, 12), bool), "same size"),
])
def test_bad_masks_are_clear_errors(rgb, hole, message):
    with pytest.raises(InpaintError, match=message):
        complete(rgb, photo(12, 10), hole, FAST)


BAD_SETTINGS = [("iterations", 0), ("restarts", 0), ("blend", "magic"), ("lam", -1), ("candidates", 0),
                ("time_limit", 0), ("max_side", 8), ("max_side", 100.5), ("edge_sigma", 0), ("edge_sigma", float("nan"))]


@pytest.mark.parametrize("field,value", BAD_SETTINGS)
def test_bad_settings_are_clear_errors(rgb, field, value):
    with pytest.raises(InpaintError):
        complete(rgb, photo(12, 10), preset("center", (12, 10)), FAST, **{field: value})


@pytest.mark.parametrize("field,value", BAD_SETTINGS)
def test_settings_are_checked_when_made(field, value):
    """Every front end builds Settings: they all get the engine's one check and its words."""
    with pytest.raises(InpaintError, match=field.replace("_", " ") if field != "max_side" else "max_side"):
        Settings(**{field: value})


def test_the_blend_reads_the_fills_edges_at_the_models_scale(rgb, monkeypatch):
    import inpaint.blend as b

    seen = []
    real = b.blend_all
    monkeypatch.setattr(b, "blend_all", lambda *args, **kw: seen.append((kw["scale"], kw["sigma"])) or real(*args, **kw))
    hole = np.zeros((48, 64), bool)
    hole[10:30, 20:40] = True
    complete(rgb, photo(64, 48), hole, FAST)  # a 16 px model: 4 image pixels per model pixel
    complete(rgb, photo(300, 200), np.pad(hole, ((0, 152), (0, 236))), FAST, max_side=100, edge_sigma=20)  # at 100 px
    assert seen == [(4.0, b.EDGE_SIGMA), (100 / 16, 20)]


def test_a_large_image_is_searched_small_and_keeps_its_size_and_its_own_pixels(rgb):
    img = photo(300, 200)
    hole = np.zeros((200, 300), bool)
    hole[60:140, 100:141] = True
    hole[10, 5:250] = True  # a one-pixel stroke: still hole after scaling down
    for mode in ("edge-aware", "poisson", "alpha", "none"):
        small = complete(rgb, img, hole, FAST, blend=mode, max_side=64)
        assert small.image.size == img.size and len(small.candidates) == len(small.losses)
        assert all(c.size == img.size for c in small.candidates)
        out, src = np.asarray(small.image).astype(int), np.asarray(img).astype(int)
        assert (out[hole] != src[hole]).any(axis=-1).mean() > 0.5  # the hole, stroke included, is filled
        assert (out[10, 5:250] != src[10, 5:250]).any(axis=-1).mean() > 0.5
        # the input's own pixels outside the hole; the alpha blend feathers a few scaled pixels (~4.7 px each)
        far = ndimage.distance_transform_edt(~hole) > (25 if mode == "alpha" else 0)
        assert (out[far] == src[far]).all()
        assert any("300×200" in note and "64×43" in note for note in small.notes)
    full = complete(rgb, img, hole, FAST, max_side=None)
    assert full.notes == [] and full.image.size == img.size


def test_paper_settings():
    s = Settings.paper()
    assert (s.iterations, s.restarts, s.blend, s.precision, s.init_pool, s.patience) == (1000, 64, "poisson", "fp32", 1, 0)


@pytest.mark.parametrize("content,message", [(b"", "not a readable image"), (b"hello", "not a readable image")])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(InpaintError, match=message):
        read_image(path)
    with pytest.raises(InpaintError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_exif_orientation_is_respected(tmp_path):
    img = photo(30, 10)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert read_image(tmp_path / "r.jpg").size == (10, 30)


@pytest.mark.parametrize("mask", ["mask.png", None, 3])
def test_a_mask_that_is_not_an_image_is_a_clear_error(rgb, mask):
    with pytest.raises(InpaintError, match="mask must be"):
        complete(rgb, photo(12, 10), mask, FAST)


def test_lam_zero_skips_the_discriminator_and_lam_above_zero_uses_it(monkeypatch):
    calls = []
    forward = Discriminator.forward
    monkeypatch.setattr(Discriminator, "forward", lambda self, x: calls.append(len(x)) or forward(self, x))
    model, img = _contrasty_prior(), photo(16, 16, "L")
    hole = preset("center", img.size)
    without = complete(model, img, hole, FAST, lam=0)
    assert calls == []
    with_d = complete(model, img, hole, FAST, lam=30)
    assert calls and with_d.raw.tobytes() != without.raw.tobytes()


# --- the method registry ---------------------------------------------------------------------

def test_the_registry_holds_the_gan_prior_and_refuses_unknown_names(rgb):
    from inpaint import methods

    assert methods.names()[0] == methods.DEFAULT == "gan-prior" and methods.get() is methods.get("gan-prior")
    img, hole = photo(12, 10), preset("center", (12, 10))
    via_registry = methods.get("gan-prior")(rgb, img, hole, FAST)
    direct = complete(rgb, img, hole, FAST)
    assert np.array_equal(np.asarray(via_registry.image), np.asarray(direct.image))
    with pytest.raises(InpaintError, match="unknown method 'magic'; choose one of gan-prior"):
        methods.get("magic")
    with pytest.raises(ValueError, match="registered already"):
        methods.register(methods.get("gan-prior"))


def test_the_domain_check_flags_fits_worse_than_the_calibrated_limit(tmp_path):
    """fit_error is the mean |G(z) - image| over the kept pixels (0..1); a model calibrated with a
    fit_limit says whether an image is within it, and a note says so when it is not."""
    torch.manual_seed(0)
    model = DCGAN(resolution=16, channels=3, z_dim=8, ngf=4, ndf=4, dataset="tiny")
    model.apply(weights_init)
    model.save_pretrained(tmp_path / "m")
    img, hole = photo(16, 16), preset("center", (16, 16))
    plain = complete(inpaint.load_model(tmp_path / "m"), img, hole, FAST)
    assert plain.in_domain is None and 0 < plain.fit_error < 1 and not plain.notes
    raw = np.asarray(plain.raw, dtype=float) / 255  # the best G(z), at the model's resolution = the image's
    kept = ~hole
    assert plain.fit_error == pytest.approx(np.abs(raw - np.asarray(img) / 255)[kept].mean(), abs=0.01)
    for limit, inside in ((plain.fit_error * 2, True), (plain.fit_error / 2, False)):
        config = json.loads((tmp_path / "m" / "config.json").read_text())
        (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "fit_limit": limit}))
        inpaint.hub.clear_cache()
        result = complete(inpaint.load_model(tmp_path / "m"), img, hole, FAST)
        assert result.in_domain is inside and result.fit_error == pytest.approx(plain.fit_error)
        assert any("looks unlike the tiny images" in n for n in result.notes) is not inside


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_loss_curves_for_the_plot(grey, lam):
    img = photo(16, 16, "L")
    seen = []
    result = complete(grey, img, preset("center", img.size), FAST, iterations=12, lam=lam,
                      on_progress=lambda p: seen.append(p.curves) and None, progress_every=5)
    terms = ("contextual", "perceptual") if lam else ("contextual",)
    assert set(result.curves) == {f"{t} {k}" for t in terms for k in ("best", "median", "worst")}
    for t in terms:
        best, median, worst = (np.array(result.curves[f"{t} {k}"]) for k in ("best", "median", "worst"))
        assert len(best) == result.iterations == 12 and (median <= worst + 1e-6).all()
    totals = np.array(result.curves["contextual best"]) + lam * np.array(result.curves.get("perceptual best", 0.0))
    assert totals[0] == pytest.approx(result.history[0], rel=1e-4)  # the first step's best is the record
    assert np.all(np.array(result.history) <= totals + 1e-4)       # never better than the record so far
    assert [len(c["contextual best"]) for c in seen] == [5, 10, 12]  # snapshots, not the growing lists


def test_a_caller_without_gradients_still_gets_a_search(rgb):
    img, hole = photo(12, 10), preset("center", (12, 10))
    expected = complete(rgb, img, hole, FAST)
    with torch.no_grad():
        inside = complete(rgb, img, hole, FAST)
    assert inside.losses == expected.losses
