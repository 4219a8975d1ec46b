"""evaluation.restoration: end to end on a tiny model and a few fake images, and its numbers by hand."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from evaluation import restoration as rest
from evaluation.classifier import SmallCNN, predict
from evaluation.metrics import PSNR_CAP, psnr
from inpaint import operators as ops
from inpaint.complete import Settings

FAST = Settings(iterations=3, restarts=2, init_pool=1)


def fake_images(n=3, channels=1, size=16, seed=0) -> torch.Tensor:
    """Smooth random uint8 images N x C x size x size (a blur of a coarse pattern: something to restore)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 4, 4, generator=g)
    return (torch.nn.functional.interpolate(coarse, size=size, mode="bilinear") * 255).round().to(torch.uint8)


def test_the_truth_scores_the_cap_and_the_input_row_scores_the_degraded_image():
    truth = fake_images(1, 3)[0].permute(1, 2, 0).numpy()
    assert rest.score(truth, truth) == {"psnr": PSNR_CAP, "ssim": pytest.approx(1.0)}
    case = rest.Case("upscale", "x4", ops.Downsample(4))
    small = rest.as_floats(case.op.degrade(rest.to_pil(torch.from_numpy(truth).permute(2, 0, 1))))
    shown = rest.nearest(small, case)
    assert shown.shape == truth.shape and (shown[:4, :4] == small[0, 0]).all()  # each pixel repeated 4 x 4


def test_evaluation_end_to_end(grey, tmp_path, monkeypatch):
    """Files written; the input row's PSNR and semantic accuracy are the degraded images' own; the chosen
    parameters are the best of their grids; the project's row is restore's results."""
    rl, wiener, unsupervised = rest.BASELINES["deblur"]
    monkeypatch.setitem(rest.BASELINES, "deblur", [replace(rl, grid=(5, 20)), replace(wiener, grid=(0.01, 0.1)),
                                                   unsupervised])  # short grids: seconds
    images, tune = fake_images(3), fake_images(2, seed=1)
    labels = torch.tensor([0, 1, 2])
    torch.manual_seed(0)
    classifier = SmallCNN(1, 10).eval().requires_grad_(False)
    case_list = rest.cases(colour=False, blur=(1.0,), factors=(4,), noise=(0.1,))
    summary = rest.evaluate(grey, images, labels, classifier, case_list, tune, settings=FAST, figure_columns=2,
                            out=tmp_path, progress=False, split="val", dataset="fake")
    names = {c.name for c in case_list}
    assert names == {"deblur-sigma1", "upscale-x4", "denoise-sigma0.1"} == set(summary["cases"])
    assert {p.name for p in tmp_path.iterdir()} == {"results.json", "results.md", *(f"figure-{n}.png" for n in names)}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["summary"]["split"] == "val" and len(saved["rows"]) == 3 * (5 + 4 + 3)

    noise = next(c for c in case_list if c.task == "denoise")
    table = summary["cases"][noise.name]["table"]
    assert list(table) == ["input", "nl-means", "gan-prior"]
    degraded = rest.degrade_all(images, noise)
    by_hand = [psnr(img.permute(1, 2, 0).numpy(), np.asarray(d)[..., None]) for img, d in zip(images, degraded)]
    assert table["input"]["psnr"] == pytest.approx(np.mean(by_hand))
    preds = predict(classifier, torch.stack([torch.from_numpy(np.array(d))[None] for d in degraded]))[1]
    assert table["input"]["semantic"] == pytest.approx(float((preds == labels).float().mean()))

    chosen = summary["cases"]["deblur-sigma1"]["chosen"]
    assert set(chosen) == {"richardson-lucy", "wiener"}  # the unsupervised Wiener filter has no parameter
    for entry in chosen.values():
        assert entry["psnr"][str(entry["value"])] == max(entry["psnr"].values())

    from inpaint import restore
    again = restore(grey, degraded[1], noise.op, FAST, seed=1).image
    gan_rows = [r for r in saved["rows"] if r["case"] == noise.name and r["method"] == "gan-prior"]
    assert gan_rows[1]["psnr"] == pytest.approx(psnr(images[1].permute(1, 2, 0).numpy(), np.asarray(again)[..., None]))
    pair = summary["cases"][noise.name]["paired"]
    diffs = [g["psnr"] - nl["psnr"] for g, nl in zip(gan_rows, [r for r in saved["rows"] if r["case"] == noise.name
                                                                  and r["method"] == "nl-means"])]
    assert pair["reference"] == "nl-means" and pair["psnr_difference"] == pytest.approx(np.mean(diffs))
    md = (tmp_path / "results.md").read_text()
    assert "### denoise, sigma 0.1" in md and "| gan-prior |" in md and "semantic acc." in md


def test_colourising_only_for_colour_models_and_the_cli(tiny_checkpoints, rgb, tmp_path, monkeypatch):
    assert [c.task for c in rest.cases(colour=True)][-1] == "colorize"
    assert "colorize" not in [c.task for c in rest.cases(colour=False)]
    images = fake_images(2, 3)
    summary = rest.evaluate(rgb, images, case_list=[rest.Case("colorize", "grey", ops.Greyscale())], settings=FAST,
                            progress=False)
    table = summary["cases"]["colorize-grey"]["table"]
    assert list(table) == ["input", "gan-prior"] and "semantic" not in table["input"]

    import evaluation.evaluate

    monkeypatch.setattr(evaluation.evaluate, "heldout", lambda dataset, split: (fake_images(4, 3), None, None))
    out = tmp_path / "cli"
    assert rest.main(["--model", tiny_checkpoints["tiny-rgb"], "--split", "val", "--n", "2", "--tune-n", "2",
                      "--tasks", "denoise", "--noise", "0.2", "--out", str(out)]) == 0
    saved = json.loads((out / "results.json").read_text())["summary"]
    assert list(saved["cases"]) == ["denoise-sigma0.2"] and saved["n"] == 2 and saved["clean_accuracy"] is None
    assert (out / "figure-denoise-sigma0.2.png").exists()
    assert rest.main(["--model", tiny_checkpoints["tiny-rgb"], "--split", "val", "--n", "2", "--tune-n", "2",
                      "--tasks", "upscale", "--factors", "2", "--update", "--out", str(out)]) == 0
    saved = json.loads((out / "results.json").read_text())
    assert list(saved["summary"]["cases"]) == ["upscale-x2", "denoise-sigma0.2"]  # the denoising kept, in task order
    assert {r["case"] for r in saved["rows"]} == {"denoise-sigma0.2", "upscale-x2"} and len(saved["rows"]) == 2 * (3 + 4)
    assert len(saved["summary"]["commands"]) == 2 and "--update" in saved["summary"]["commands"][1]
    assert rest.main(["--rewrite", "--out", str(out), "--note", "Timed under load."]) == 0
    assert "Timed under load." in (out / "results.md").read_text()
    assert json.loads((out / "results.json").read_text())["summary"]["note"] == "Timed under load."


def test_the_consistency_sweep_scores_every_pair_on_one_search(grey):
    from evaluation.consistency import sweep

    images = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    scores = sweep(grey, images, ops.GaussianBlur(1), [(1.0, 0.0), (0.3, 3.0)])
    assert set(scores) == {(1.0, 0.0), (0.3, 3.0)}
    assert all(len(v) == 2 and all(np.isfinite(v)) for v in scores.values())
