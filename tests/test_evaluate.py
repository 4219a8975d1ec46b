"""Metrics on known inputs, and a tiny end-to-end evaluation run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from evaluation import evaluate as ev
from evaluation.metrics import PSNR_CAP, frechet_distance, psnr, ssim
from train import data


def test_psnr_known_values():
    a = np.zeros((8, 8), np.uint8)
    assert psnr(a, a) == PSNR_CAP
    b = a.copy()
    b[0, 0] = 255  # one wrong pixel of 64: MSE = 255^2 / 64
    assert psnr(a, b) == pytest.approx(10 * np.log10(64))
    region = np.zeros((8, 8), bool)
    region[0, :2] = True  # inside the region: MSE = 255^2 / 2
    assert psnr(a, b, region) == pytest.approx(10 * np.log10(2))
    region[:] = False
    region[5, 5] = True
    assert psnr(a, b, region) == PSNR_CAP


def test_ssim_bounds_and_hand_checked_case():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert -1 <= ssim(a, 255 - a) < 0.1
    # constant images: SSIM = (2 m1 m2 + c1) / (m1^2 + m2^2 + c1), the luminance term alone
    c1 = (0.01 * 255) ** 2
    x, y = np.full((12, 12), 100.0), np.full((12, 12), 120.0)
    assert ssim(x, y) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))


def test_frechet_distance():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2000, 4))
    assert frechet_distance(f, f) == pytest.approx(0, abs=1e-6)
    shifted = frechet_distance(f, f + np.array([3.0, 0, 0, 0]))
    assert shifted == pytest.approx(9, rel=0.01)  # the mean term alone


def test_frechet_distance_of_a_scaled_copy_even_with_singular_covariances():
    # g = 2 f: S2 = 4 S1, so Tr(S1 + S2 - 2 (S1 S2)^(1/2)) = Tr(S1 + 4 S1 - 4 S1) = Tr(S1), and the
    # mean term is |mu1|^2. 5 samples of 8 features: both covariances are singular (rank 4).
    f = np.random.default_rng(0).normal(size=(5, 8))
    expected = np.trace(np.cov(f, rowvar=False)) + (f.mean(0) ** 2).sum()
    assert frechet_distance(f, 2 * f) == pytest.approx(expected, rel=1e-6)


def test_classical_fills_touch_only_the_hole():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (20, 20, 3)).astype(np.uint8)
    hole = np.zeros((20, 20), bool)
    hole[5:10, 5:12] = True
    for method in ("telea", "navier-stokes", "mean"):
        out = ev.classical_fill(img, hole, method)
        assert out.shape == img.shape and (out[~hole] == img[~hole]).all()
    grey = img[..., 0]
    assert (ev.classical_fill(grey, hole, "mean")[hole] == round(grey[~hole].mean())).all()


@pytest.mark.skipif(not (data.FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_tiny_end_to_end_evaluation(tmp_path, monkeypatch):
    """The real `Settings.paper()`, made cheap by evaluate's own overrides, under the project's blend."""
    from dataclasses import asdict

    from evaluation.classifier import labelled, train_classifier
    from inpaint.models import DCGAN, weights_init

    images, labels, classes = labelled("fashion-mnist", "train")
    clf = train_classifier(images[:256], labels[:256], len(classes), epochs=1, batch=64)
    clf.save(tmp_path / "classifiers" / "fashion-mnist", dataset="fashion-mnist")
    monkeypatch.setattr(ev, "CLASSIFIERS", tmp_path / "classifiers")
    torch.manual_seed(0)
    model = DCGAN(resolution=32, channels=1, z_dim=8, ngf=4, ndf=4, dataset="fashion-mnist").apply(weights_init)
    model.eval().requires_grad_(False)
    out = tmp_path / "report"
    project = ev.Settings(iterations=10, restarts=2)
    summary = ev.evaluate(model, n=3, masks=["center", "left"], paper_n=1, out=out, settings=project, split="val",
                          paper_overrides={"iterations": 20, "restarts": 4})
    assert summary["split"] == "val" and summary["settings"]["gan-prior"] == asdict(project)
    paper = asdict(ev.Settings.paper(iterations=20, restarts=4))
    assert summary["settings"]["paper"] == {**paper, "blend": "edge-aware"}  # the paper's search, the project's blend
    table = summary["table"]
    assert set(table) == {"center", "left"}
    assert set(table["center"]) == {"gan-prior", "paper", "telea", "navier-stokes", "mean",
                                    "gan-prior, paper's images", "gan-prior, no blend", "gan-prior, poisson"}
    assert table["center"]["paper"]["n"] == 1 and table["center"]["telea"]["n"] == 3
    assert table["center"]["gan-prior, paper's images"]["n"] == 1 and table["center"][ev.NO_BLEND]["n"] == 3
    assert 0 <= summary["clean_accuracy"] <= 1 and "semantic" in table["left"]["gan-prior"]
    assert summary["paper_comparison"]["n"] == 2 and summary["blend_effect"]["n"] == 6
    assert summary["edge_effect"]["reference"] == ev.PLAIN_POISSON and summary["edge_effect"]["n"] == 6
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["rows"]) == 2 * (3 * 6 + 1)
    rows = {(r["mask"], r["method"], r["index"]): r for r in saved["rows"]}
    # the re-blended rows are gan-prior's own search, timed once
    assert all(rows[m, row, i]["seconds"] == rows[m, "gan-prior", i]["seconds"]
               for m in table for i in range(3) for row in ev.REBLENDS)
    md = (out / "results.md").read_text()
    assert md.startswith("On the val split of fashion-mnist.") and "| center | telea |" in md
    assert "The blend alone (gan-prior vs gan-prior, no blend, the same search) on 6 image-mask pairs" in md
    assert "The edge-aware blend vs plain Poisson (gan-prior vs gan-prior, poisson, the same search) on 6 image" in md
    plain = ev.evaluate(model, n=1, masks=["center"], paper_n=0, methods=("gan-prior",), split="val",
                        settings=ev.Settings(iterations=2, restarts=2, blend="poisson"))
    assert set(plain["table"]["center"]) == {"gan-prior", "gan-prior, no blend"}  # nothing to compare poisson with
    assert (out / "figure-center.png").exists()
    quality = ev.sample_quality(model, 100, split="val")
    assert quality["split"] == "val" and quality["reference"] == 5000
    assert quality["frechet"] > quality["frechet_train"] >= 0 and sum(quality["histogram"].values()) == 100
    with pytest.raises(ValueError, match="split"):
        ev.evaluate(model, n=1, masks=["center"], paper_n=0, split="train")


def test_every_registered_method_is_a_row_run_through_the_registry(monkeypatch, tmp_path):
    """A method registered in the engine is a valid --methods value and the default includes it;
    the evaluation runs it by `inpaint.methods.get(name).run`, with the evaluated settings."""
    from types import SimpleNamespace

    from PIL import Image

    from inpaint import methods as registry

    calls = []

    def flat_grey(model, image, hole, settings, on_progress=None):
        calls.append((image.size, hole.sum(), settings.seed, settings.iterations))
        filled = np.asarray(image).copy()
        filled[hole] = 128
        return SimpleNamespace(image=Image.fromarray(filled))

    monkeypatch.setitem(registry.METHODS, "flat-grey", registry.Method("flat-grey", "Grey", "Paints grey.", flat_grey))
    assert ev.method_names() == (*registry.names(), "paper", "telea", "navier-stokes", "mean", "projection")
    assert "flat-grey" in ev.method_names() and "gan-prior" in ev.method_names()
    images = torch.randint(0, 256, (3, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(ev, "heldout", lambda dataset, split: (images, None, None))
    model = SimpleNamespace(config={"dataset": "somewhere"})
    summary = ev.evaluate(model, n=2, masks=["center"], paper_n=0, methods=("flat-grey", "mean"),
                          settings=ev.Settings(iterations=7), out=tmp_path)
    table = summary["table"]["center"]
    assert set(table) == {"flat-grey", "mean"} and table["flat-grey"]["n"] == 2
    assert sorted(c[2:] for c in calls) == [(0, 7), (1, 7)] and all(c[0] == (16, 16) and c[1] > 0 for c in calls)
    with pytest.raises(ValueError, match="unknown method project"):
        ev.evaluate(model, n=1, masks=["center"], paper_n=0, methods=("project",))
    with pytest.raises(SystemExit):
        ev.main(["--model", "unused", "--out", str(tmp_path), "--methods", "gan-prior,project"])


@pytest.mark.parametrize("name", ["tiny-grey", "tiny-rgb"])
def test_reblended_is_that_blend_of_the_same_search(tiny_checkpoints, name):
    from PIL import Image

    from inpaint import complete, load_model, preset

    model = load_model(tiny_checkpoints[name])
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (16, 16, 3) if name == "tiny-rgb" else (16, 16), dtype=np.uint8)
    hole = preset("center", (16, 16))
    settings = ev.Settings(iterations=5, restarts=4)
    edges = complete(model, Image.fromarray(arr), hole, settings)
    assert settings.blend == "edge-aware"
    for mode in ("none", "poisson"):
        other = complete(model, Image.fromarray(arr), hole, settings, blend=mode)
        got = ev.reblended(edges, arr, hole, mode)
        assert got.shape == arr.shape and (got[~hole] == arr[~hole]).all()
        # the engine blends G's float output, the re-blend its 8-bit raw: a grey level apart at most
        assert np.abs(got.astype(int) - np.asarray(other.image)).max() <= (0 if mode == "none" else 1)
    assert not np.array_equal(ev.reblended(edges, arr, hole, "none"), np.asarray(edges.image))


def test_projection_is_the_prior_fitted_to_the_whole_image_once_for_every_mask(rgb, monkeypatch, tmp_path):
    """The "projection" row (asked for by name only) sees the hole's truth: on images the prior drew
    itself it comes back close to them, far closer than on noise, and one search per image serves
    every mask (the same fit, its time on each)."""
    own = ((rgb.generate(2, seed=3) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    noise = torch.randint(0, 256, own.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    arr = own[0].permute(1, 2, 0).numpy()
    assert psnr(arr, ev.projection(rgb, arr, seed=0)) > 30
    assert psnr(arr, ev.projection(rgb, arr, seed=0)) > psnr(noise[0].permute(1, 2, 0).numpy(),
                                                              ev.projection(rgb, noise[0].permute(1, 2, 0).numpy())) + 15
    monkeypatch.setattr(ev, "heldout", lambda dataset, split: (own, None, None))
    searched = []
    monkeypatch.setattr(ev, "projection", lambda model, image, seed=0: searched.append(seed) or image.copy())
    settings = ev.Settings(iterations=3, restarts=2)
    summary = ev.evaluate(rgb, n=2, masks=["center", "left"], paper_n=0, methods=("gan-prior", "projection"),
                          settings=settings, out=tmp_path)
    assert sorted(searched) == [0, 1]  # one projection per image, not per mask
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    fitted = [r for r in rows if r["method"] == "projection"]
    assert len(fitted) == 4 and all(r["psnr_hole"] > 40 for r in fitted)  # the truth itself, blended into the hole
    by = {(r["mask"], r["index"]): r["seconds"] for r in fitted}
    assert by["center", 0] == by["left", 0] and by["center", 1] == by["left", 1]
    assert summary["projection_gap"]["reference"] == "projection" and summary["projection_gap"]["n"] == 4
    assert summary["projection_gap"]["psnr_hole_difference"] < 0
    assert "The search against the prior's reach (gan-prior vs projection" in (tmp_path / "results.md").read_text()
    # never in the default list: it is not a method a user can run
    assert "projection" in ev.method_names() and "projection" not in ev.evaluate(
        rgb, n=1, masks=["center"], paper_n=0, settings=settings)["table"]["center"]


def test_paired_comparison_by_hand():
    rows = [{"mask": "center", "method": "gan-prior", "index": 0, "psnr_hole": 15.0, "seconds": 1.0},
            {"mask": "center", "method": "gan-prior", "index": 1, "psnr_hole": 12.0, "seconds": 1.0},
            {"mask": "center", "method": "paper", "index": 0, "psnr_hole": 14.0, "seconds": 30.0},
            {"mask": "left", "method": "gan-prior", "index": 0, "psnr_hole": 10.0, "seconds": 2.0},
            {"mask": "left", "method": "paper", "index": 0, "psnr_hole": 13.0, "seconds": 60.0}]
    c = ev.paired(rows)
    assert c["n"] == 2  # center/1 has no paper run
    assert c["psnr_hole_difference"] == pytest.approx(-1.0)  # (+1 - 3) / 2
    assert c["standard_error"] == pytest.approx(2.0)  # std of (+1, -3) is 2.83, / sqrt(2)
    assert c["per_mask"] == {"center": pytest.approx(1.0), "left": pytest.approx(-3.0)}
    assert c["times_faster"] == pytest.approx(30.0)
    assert ev.paired([r for r in rows if r["method"] == "gan-prior"]) is None
    assert "on the same 2 image-mask pairs: hole PSNR -1.00 dB ± 2.00" in ev.markdown({"table": {}, "paper_comparison": c})


def test_rewrite_summarizes_saved_rows_again(tmp_path, capsys):
    SAMPLES = {"n": 10, "reference": 20, "features": "a classifier", "frechet": 1.5, "frechet_train": 0.1}
    rows = [{"mask": "center", "method": m, "index": 0, "psnr_hole": v, "psnr": v, "ssim_hole": 0.5, "ssim": 0.5,
             "seconds": t} for m, v, t in (("gan-prior", 15.0, 1.0), ("paper", 14.0, 40.0), ("telea", 12.0, 0.01))]
    out = tmp_path / "report"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"summary": {"table": {"center": {}}, "clean_accuracy": None,
                                                              "samples": SAMPLES}, "rows": rows}))
    assert ev.main(["--model", "unused", "--out", str(out), "--rewrite"]) == 0
    saved = json.loads((out / "results.json").read_text())["summary"]
    assert saved["samples"] == SAMPLES and saved["paper_comparison"]["times_faster"] == pytest.approx(40.0)
    assert saved["table"]["center"]["telea"]["psnr_hole"] == 12.0
    assert "+1.00 dB" in capsys.readouterr().out and "| center | paper |" in (out / "results.md").read_text()


def test_benchmark_runs_and_prints_a_table(tiny_checkpoints, tmp_path, capsys):
    from evaluation import benchmark

    out = tmp_path / "bench.json"
    assert benchmark.main(["--models", tiny_checkpoints["tiny-grey"], "--cases", "default,paper", "--repeats", "1",
                           "--paper-iterations", "3", "--blend-sizes", "96", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Blend of 8 candidates into a 96 px image's centre hole" in text and "edge-aware" in text
    blend = json.loads(out.read_text())["blend"]
    assert [b["side"] for b in blend] == [96] and blend[0]["edge-aware"] > 0 and blend[0]["poisson"] > 0
    assert "| tiny-grey | default (early stop) | 32 |" in text and "paper (1000 it)" in text
    assert "Training step (tiny-grey, batch 64)" in text and "Encoder training step (tiny-grey, batch 32)" in text
    assert set(json.loads(out.read_text())["encoder_training"]["tiny-grey"]) == {"fp32", "bf16"}
    rows = json.loads(out.read_text())["rows"]
    paper = next(r for r in rows if r["case"] == "paper")
    assert paper["seconds_per_completion"] == pytest.approx(1000 * paper["seconds_per_iteration"])
    assert all(r["peak_rss_mib"] > 0 and r["first_call_2_iterations"] > 0 for r in rows)


@pytest.mark.skipif(not (data.FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_a_sweep_pairs_every_value_on_the_same_validation_images(tmp_path, monkeypatch):
    from evaluation import sweep as sw
    from inpaint.models import DCGAN, weights_init

    monkeypatch.setattr(ev, "CLASSIFIERS", tmp_path / "none")  # no classifier: PSNR and D only
    torch.manual_seed(0)
    model = DCGAN(resolution=32, channels=1, z_dim=8, ngf=4, ndf=4, dataset="fashion-mnist").apply(weights_init)
    model.eval().requires_grad_(False)
    base = ev.Settings(iterations=4, restarts=2, init_pool=1)
    rows = sw.sweep(model, "lam", [0.0, 5.0], n=2, masks=["center"], settings=base, offset=3)
    # the values take turns image by image, on the same images
    assert [(r["value"], r["index"]) for r in rows] == [(0.0, 0), (5.0, 0), (0.0, 1), (5.0, 1)]
    assert rows[0]["image"] == rows[1]["image"] and rows[2]["image"] == rows[3]["image"]
    val, _, _ = ev.heldout("fashion-mnist", "val")
    order = torch.randperm(len(val), generator=torch.Generator().manual_seed(0))
    assert [r["image"] for r in rows[::2]] == order[3:5].tolist()  # --offset skips into the fixed order
    assert all(0 <= r["d_score"] <= 1 for r in rows)
    text = sw.report(rows, "lam")
    assert "| lam | hole PSNR (dB) | D(G(z)) |" in text and "\n| 5 | " in text
    assert "lam 5 vs 0, paired over 2 image-mask pairs: psnr_hole" in text



@pytest.mark.skipif(not (data.FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_a_sweep_at_the_apps_size_completes_and_scores_scaled_up_images(tmp_path, monkeypatch):
    from evaluation import compare
    from evaluation import sweep as sw
    from inpaint import methods as registry
    from inpaint.models import DCGAN, weights_init

    monkeypatch.setattr(ev, "CLASSIFIERS", tmp_path / "none")
    torch.manual_seed(0)
    model = DCGAN(resolution=32, channels=1, z_dim=8, ngf=4, ndf=4, dataset="fashion-mnist").apply(weights_init)
    model.eval().requires_grad_(False)
    engine = registry.get("gan-prior")
    seen = []

    class Spy:  # the registered method, recording what it was given
        def run(self, model, image, hole, settings):
            seen.append((image.size, hole.shape, settings.edge_sigma))
            return engine.run(model, image, hole, settings)

    monkeypatch.setattr(compare.registry, "get", lambda name: Spy())
    rows = sw.sweep(model, "edge_sigma", [float("inf"), 40.0], n=1, masks=["left"],
                    settings=ev.Settings(iterations=2, restarts=2, init_pool=1), size=96)
    assert seen == [((96, 96), (96, 96), float("inf")), ((96, 96), (96, 96), 40.0)]
    assert [r["value"] for r in rows] == [float("inf"), 40.0] and all(np.isfinite(r["psnr_hole"]) for r in rows)


@pytest.mark.skipif(not (data.FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="Fashion-MNIST is not installed")
def test_releases_of_a_run_are_scored_on_validation(tmp_path, capsys):
    """A run's kept checkpoints (RUN/releases/STEP) get one table, best first; a folder without
    releases is a one-line error."""
    from evaluation import releases
    from inpaint.models import DCGAN, weights_init
    from train.export import export

    run = tmp_path / "run"
    for step, seed in ((1000, 0), (2000, 1)):
        torch.manual_seed(seed)
        model = DCGAN(resolution=32, channels=1, z_dim=8, ngf=4, ndf=4, dataset="fashion-mnist")
        model.apply(weights_init)
        export(model, run / "releases" / f"{step:06d}")
    out = tmp_path / "scores.json"
    assert releases.main([str(run), "--samples", "60", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["step"] for r in rows] == [1000, 2000] and all(r["split"] == "val" for r in rows)
    assert all(np.isfinite(r["frechet"]) and r["frechet"] > 0 for r in rows)
    best = min(rows, key=lambda r: r["frechet"])
    printed = capsys.readouterr().out
    assert f"| {best['step']} | {best['frechet']:.3f} (best) |" in printed
    assert releases.main([str(tmp_path / "empty")]) == 2
    assert "no releases" in capsys.readouterr().err


@pytest.mark.skipif(not (data.FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="Fashion-MNIST is not installed")
def test_releases_are_scored_by_their_completions_paired_with_a_reference(tmp_path, capsys, monkeypatch):
    """--completions fills the same val images under the same holes with every release and with
    --against's model (all by the cold search), keeps each evaluation, and pairs each release with
    the reference; --steps picks releases; bad options are one-line errors."""
    from evaluation import releases, versus
    from inpaint.models import DCGAN, weights_init
    from train.export import export

    monkeypatch.setattr(releases, "Settings", lambda: ev.Settings(iterations=3, restarts=2, init_pool=1))  # quick
    run = tmp_path / "run"
    for step, seed in ((1000, 0), (2000, 1), (3000, 2)):
        torch.manual_seed(seed)
        model = DCGAN(resolution=32, channels=1, z_dim=8, ngf=4, ndf=4, dataset="fashion-mnist")
        model.apply(weights_init)
        export(model, (run / "releases" / f"{step:06d}") if step < 3000 else tmp_path / "shipped")
    out = tmp_path / "scores.json"
    assert releases.main([str(run), "--samples", "0", "--completions", "2", "--masks", "center,left",
                          "--against", str(tmp_path / "shipped"), "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["step"] for r in rows] == [None, 1000, 2000] and rows[0]["run"] == "reference"
    assert all("frechet" not in r for r in rows)  # --samples 0 skips it
    folders = [Path(r["completions"]["folder"]) for r in rows]
    assert folders == [run / "evaluations" / "val-n2" / name for name in ("reference", "001000", "002000")]
    for folder in folders:  # every model by the cold search, on the same val images and holes
        saved = json.loads((folder / "results.json").read_text())
        assert saved["summary"]["split"] == "val" and saved["summary"]["settings"]["gan-prior"]["warm_start"] == 0
        assert {(r["mask"], r["index"]) for r in saved["rows"]} == {(m, i) for m in ("center", "left") for i in (0, 1)}
    ref = json.loads((folders[0] / "results.json").read_text())["rows"]
    for row, folder in zip(rows[1:], folders[1:]):
        mine = json.loads((folder / "results.json").read_text())["rows"]
        got = row["completions"]["versus_reference"]
        assert got["n"] == 4 and got == versus.versus(ref, mine)
        assert row["completions"]["psnr_hole"] == pytest.approx(
            np.mean([r["psnr_hole"] for r in mine if r["method"] == "gan-prior"]))
    best = max(rows[1:], key=lambda r: r["completions"]["psnr_hole"])
    printed = capsys.readouterr().out
    assert f"| {best['step']} | {best['completions']['psnr_hole']:.2f} |" in printed
    assert "(best)" in printed.split(f"| {best['step']} |")[1].splitlines()[0]
    assert f"| reference: {tmp_path / 'shipped'} |" in printed

    assert releases.main([str(run), "--samples", "0", "--completions", "1", "--masks", "center",
                          "--steps", "2000", "--out", str(out)]) == 0
    assert [r["step"] for r in json.loads(out.read_text())] == [2000]
    capsys.readouterr()
    assert releases.main([str(run), "--steps", "5000"]) == 2
    assert "at steps 5000" in capsys.readouterr().err
    assert releases.main([str(run), "--against", str(tmp_path / "shipped")]) == 2
    assert "--completions" in capsys.readouterr().err
    assert releases.main([str(run), "--completions", "1", "--masks", "centre"]) == 2
    assert "mask presets" in capsys.readouterr().err
    assert releases.main([str(run), "--samples", "0"]) == 2


@pytest.mark.skipif(not (data.FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="Fashion-MNIST is not installed")
def test_calibration_writes_the_fit_limit_the_engine_then_uses(tmp_path, capsys):
    from evaluation import calibrate
    from inpaint.hub import clear_cache, load_model
    from inpaint.models import DCGAN, weights_init
    from train.export import export

    torch.manual_seed(0)
    model = DCGAN(resolution=32, channels=1, z_dim=8, ngf=4, ndf=4, dataset="fashion-mnist")
    model.apply(weights_init)
    folder = export(model, tmp_path / "tiny")
    assert calibrate.main(["--model", str(folder), "--n", "3", "--write"]) == 0
    printed = capsys.readouterr().out
    limit = json.loads((folder / "config.json").read_text())["fit_limit"]
    assert 0 < limit < 1 and f"fit_limit = {limit:.4f}" in printed and "fashion-mnist (val, own)" in printed
    assert "## Domain check" in (folder / "README.md").read_text()
    clear_cache()
    assert load_model(folder).fit_limit == pytest.approx(limit)


def test_versus_pairs_two_evaluations_by_mask_and_image(tmp_path, capsys):
    """B − A over the (mask, index) pairs both have, per mask; mismatched splits are refused."""
    from evaluation import versus

    def saved(folder, split, psnrs):
        folder.mkdir()
        rows = [{"mask": m, "method": "gan-prior", "index": i, "seconds": 1.0, "psnr_hole": v}
                for (m, i), v in psnrs.items()]
        rows.append({"mask": "center", "method": "telea", "index": 0, "seconds": 0.0, "psnr_hole": 99.0})
        (folder / "results.json").write_text(json.dumps({"summary": {"split": split}, "rows": rows}))
        return folder

    a = saved(tmp_path / "a", "val", {("center", 0): 10.0, ("center", 1): 12.0, ("left", 0): 11.0})
    b = saved(tmp_path / "b", "val", {("center", 0): 11.0, ("center", 1): 12.0, ("left", 0): 14.0, ("left", 1): 9.0})
    assert versus.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "3 pairs" in out and "hole PSNR +1.33 dB ± 0.88 (per mask: center +0.50, left +3.00)" in out
    assert versus.main([str(a), str(saved(tmp_path / "c", "test", {}))]) == 2
    assert versus.main([str(a), str(tmp_path / "nowhere")]) == 2
