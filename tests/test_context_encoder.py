"""The context encoder: the network, the "context-encoder" method, its training command and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import inpaint
from inpaint import methods
from inpaint.__main__ import main as inpaint_main
from inpaint.context_encoder import FOLDER, ContextEncoder
from inpaint.models import DCGAN, weights_init
from train.__main__ import main as train_main
from train.context_encoder import add_evaluation, training_holes
from train.context_encoder import export as export_encoder
from train.export import export as export_prior


def checkpoint(tmp_path, channels: int = 3, encoder: bool = True):
    """A tiny 16x16 prior's folder, with a tiny context encoder in its subfolder (or none)."""
    torch.manual_seed(0)
    prior = DCGAN(resolution=16, channels=channels, z_dim=8, ngf=4, ndf=4, dataset="tiny")
    prior.apply(weights_init)
    folder = export_prior(prior, tmp_path / f"tiny-{channels}-{encoder}")
    if encoder:
        ce = ContextEncoder(resolution=16, channels=channels, width=4, dataset="tiny")
        ce.apply(weights_init)
        export_encoder(ce.eval(), folder / FOLDER, {"commands": ["test"]})
    return folder


def photo(size=(24, 18), mode="RGB", seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize(size, Image.BICUBIC).convert(mode)


@pytest.mark.parametrize("resolution, channels", [(8, 1), (16, 3)])
def test_shapes_and_range(resolution, channels):
    model = ContextEncoder(resolution=resolution, channels=channels, width=4).eval()
    masked = torch.rand(2, channels, resolution, resolution) * 2 - 1
    known = torch.ones(2, 1, resolution, resolution)
    known[:, :, 2:5, 2:5] = 0
    out = model.fill(masked, known)
    assert out.shape == (2, channels, resolution, resolution)
    assert out.abs().max() <= 1
    assert model.training is False
    # the hole's pixels never reach the network: what is under the hole does not matter
    assert torch.allclose(model.fill(masked * known, known), out)
    with pytest.raises(ValueError):
        ContextEncoder(resolution=12)


def test_training_holes_are_partial():
    holes = training_holes(32, 16, np.random.default_rng(0))
    assert holes.shape == (32, 1, 16, 16) and holes.dtype == torch.bool
    share = holes.float().mean((1, 2, 3))
    assert (share > 0).all() and (share < 1).all()


@pytest.mark.parametrize("channels, mode", [(3, "RGB"), (1, "RGB"), (3, "L"), (3, "RGBA")])
def test_method_returns_a_completion_of_the_inputs_size(tmp_path, channels, mode):
    model = inpaint.load_model(checkpoint(tmp_path, channels))
    image = photo(mode=mode)
    hole = np.zeros((18, 24), bool)
    hole[4:12, 6:16] = True
    seen = []
    result = methods.get("context-encoder").run(model, image, hole, inpaint.Settings(blend="none"),
                                                on_progress=seen.append)
    assert isinstance(result, inpaint.Completion)
    assert result.image.size == image.size and result.image.mode == image.mode
    assert len(result.candidates) == 1 and result.iterations == 1
    assert result.raw.size == (16, 16)
    before, after = np.asarray(image), np.asarray(result.image)
    if mode == "RGBA":  # the filled hole becomes opaque; elsewhere nothing changes
        before, after = before[..., :3], after[..., :3]
    assert (before[~hole] == after[~hole]).all()
    assert len(seen) == 1 and seen[0].preview().size == (16, 16)


def test_poisson_blend_and_a_large_image(tmp_path):
    model = inpaint.load_model(checkpoint(tmp_path))
    image = photo(size=(300, 200))
    hole = inpaint.preset("center", image.size)
    result = methods.get("context-encoder")(model, image, hole, inpaint.Settings(max_side=100))
    assert result.image.size == image.size
    assert (np.asarray(result.image)[~hole] == np.asarray(image)[~hole]).all()
    assert result.notes  # scaled to max_side, said so


def test_a_checkpoint_without_a_context_encoder_says_how_to_train_one(tmp_path):
    model = inpaint.load_model(checkpoint(tmp_path, encoder=False))
    method = methods.get("context-encoder")
    assert not method.available(model) and method.available(inpaint.load_model(checkpoint(tmp_path)))
    assert methods.get("gan-prior").available(model)
    hole = inpaint.preset("center", (24, 18))
    with pytest.raises(inpaint.InpaintError, match="ships no context encoder; train one with python -m train "
                                                   "--kind context-encoder --dataset tiny"):
        methods.get("context-encoder").run(model, photo(), hole, None)


def test_wrong_inputs_are_the_engines_errors(tmp_path):
    model = inpaint.load_model(checkpoint(tmp_path))
    with pytest.raises(inpaint.InpaintError, match="mask is empty"):
        methods.get("context-encoder").run(model, photo(), np.zeros((18, 24), bool), None)


def test_cli_method_context_encoder(tmp_path, capsys):
    folder = checkpoint(tmp_path)
    photo().save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert inpaint_main(["--model", str(folder), "--method", "context-encoder", "--image", str(tmp_path / "in.png"),
                         "--preset", "center", "--out", str(out)]) == 0
    assert Image.open(out).size == (24, 18)
    assert inpaint_main(["--model", str(checkpoint(tmp_path, encoder=False)), "--method", "context-encoder",
                         "--image", str(tmp_path / "in.png"), "--preset", "center", "--out", str(out)]) != 0
    assert "ships no context encoder" in capsys.readouterr().err


def test_training_runs_exports_a_loadable_folder_and_resumes(image_folder, tmp_path):
    prior = checkpoint(tmp_path, encoder=False)
    out, run = prior / FOLDER, tmp_path / "run"
    args = ["--kind", "context-encoder", "--dataset", f"folder:{image_folder}", "--out", str(out), "--run", str(run),
            "--resolution", "16", "--width", "4", "--batch-size", "8", "--val-n", "4", "--val-every", "2",
            "--threads", "1", "--adversarial", "0.01"]
    assert train_main([*args, "--steps", "3"]) == 0
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "README.md", "completions.png"}
    assert json.loads((out / "config.json").read_text())["width"] == 4
    card = (out / "README.md").read_text()
    assert "python -m train --kind context-encoder --dataset folder:" in card
    loaded = ContextEncoder.from_pretrained(str(out))
    assert loaded.resolution == 16 and loaded.channels == 3

    add_evaluation(out, "| a | table |")
    add_evaluation(out, "| the | numbers |")  # replaced, not added twice
    card = (out / "README.md").read_text()
    assert card.count("## Evaluation") == 1 and "| the | numbers |\n\n## Limits" in card

    assert train_main([*args, "--steps", "5", "--resume"]) == 0
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [2, 3, 4, 5]
    assert "a run, then resumed" in (out / "README.md").read_text()

    model = inpaint.load_model(prior)  # the method finds what training wrote
    result = methods.get("context-encoder").run(model, photo(), inpaint.preset("strokes", (24, 18)), None)
    assert result.image.size == (24, 18)


def test_resume_without_state_is_an_error(image_folder, tmp_path, capsys):
    assert train_main(["--kind", "context-encoder", "--dataset", f"folder:{image_folder}", "--out",
                       str(tmp_path / "ce"), "--run", str(tmp_path / "none"), "--resume"]) == 2
    assert "no training state" in capsys.readouterr().err
