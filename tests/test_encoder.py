"""The search's warm start: LatentEncoder, its training (train.encoder) and its use by the search."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from inpaint import complete
from inpaint.complete import Settings, _initial_z, _problem
from inpaint.encoder import LatentEncoder, attach
from inpaint.errors import ModelLoadError
from inpaint.hub import ENCODER_NAME, clear_cache, load_model
from inpaint.imageio import Fit, model_view
from inpaint.masks import preset
from inpaint.models import DCGAN, weights_init
from inpaint.weights import loaded, stored
from train import encoder as training
from train.export import export


def tiny_prior(prior: str = "gaussian", resolution: int = 8) -> DCGAN:
    torch.manual_seed(0)
    model = DCGAN(resolution=resolution, channels=1, z_dim=8, ngf=4, ndf=4, prior=prior, dataset="test")
    model.apply(weights_init)
    return model.eval().requires_grad_(False)


def tiny_encoder(prior: str = "gaussian", resolution: int = 8, spread: float = 0.5) -> LatentEncoder:
    torch.manual_seed(1)
    return LatentEncoder(resolution=resolution, channels=1, z_dim=8, width=4, prior=prior, spread=spread).eval()


def masked(resolution: int = 8, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.rand(1, channels, resolution, resolution, generator=torch.Generator().manual_seed(2)) * 2 - 1
    known = 1 - torch.from_numpy(preset("center", (resolution, resolution))).float()[None, None]
    return y * known, known


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.mark.parametrize("resolution", [8, 16])
def test_shapes(resolution):
    E = tiny_encoder(resolution=resolution)
    y, known = masked(resolution)
    assert E(y.repeat(3, 1, 1, 1), known.repeat(3, 1, 1, 1)).shape == (3, 8)
    assert E.propose(y, known, 5, torch.Generator().manual_seed(0)).shape == (5, 8)
    assert E.propose(y, known, 1, torch.Generator().manual_seed(0)).shape == (1, 8)


def test_propose_is_seeded_and_starts_at_the_answer():
    E = tiny_encoder()
    y, known = masked()
    first = E.propose(y, known, 6, torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, E.propose(y, known, 6, torch.Generator().manual_seed(0)), rtol=0, atol=0)
    assert not torch.allclose(first[1:], E.propose(y, known, 6, torch.Generator().manual_seed(1))[1:])
    torch.testing.assert_close(first[0], E(y, known)[0], rtol=0, atol=0)  # restart 0: E's own answer
    assert len({tuple(row.tolist()) for row in first}) == 6  # the others differ, more and more
    distance = (first - first[0]).norm(dim=1)
    assert (distance[1:] > 0).all() and distance[-1] > distance[1]
    same = E.propose(y, known, 6, torch.Generator().manual_seed(0), spread=0.0)
    assert torch.allclose(same, same[:1].expand(6, -1))
    assert not torch.allclose(E(y, known), E(-y, known))  # it reads the known pixels...
    hole = known == 0
    assert torch.allclose(E(y, known), E(torch.where(hole, torch.randn_like(y), y), known))  # ...not the hole's


def test_propose_inside_the_prior():
    y, known = masked()
    draws = tiny_encoder("uniform", spread=1.0).propose(y, known, 16, torch.Generator().manual_seed(0))
    assert draws.abs().max() <= 1
    E = tiny_encoder()
    with torch.no_grad():  # put E's answer on the Gaussian's shell: the mixes stay near it
        E.net[-1].bias.copy_(torch.full((8,), 10.0))
        E.net[-1].weight.zero_()
    norms = E.propose(y, known, 64, torch.Generator().manual_seed(0)).norm(dim=1) / math.sqrt(8)
    assert 0.5 < float(norms.min()) and float(norms.max()) < 10 * 1.5
    assert E.prior_penalty(torch.full((1, 8), 1.0)).item() == pytest.approx(0.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny prior's checkpoint and an encoder trained for it a few steps, exported into it."""
    root = tmp_path_factory.mktemp("warm")
    folder = export(tiny_prior(), root / "tiny")
    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8)
    args = training.parse_args(["--prior", str(folder), "--dataset", "test", "--out", str(folder / ENCODER_NAME),
                                "--run", str(root / "run"), "--steps", "3", "--batch-size", "8", "--width", "4",
                                "--threads", "1"])
    out = training.train_encoder(args, load_model(folder), images, "python -m train.encoder ...")
    return folder, out, root / "run"


def test_training_exports_a_companion_that_load_model_attaches(trained):
    folder, out, run = trained
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "README.md", "card.json"}
    assert "python -m train.encoder" in (out / "README.md").read_text()
    training.update_card(out, validation="| a table |")
    assert "## Validation (the choices)\n\n| a table |" in (out / "README.md").read_text()
    assert len((run / "log.jsonl").read_text().splitlines()) == 3 and (run / "state.pt").is_file()
    model = load_model(folder)
    assert isinstance(model.encoder, LatentEncoder) and model.encoder.z_dim == model.z_dim
    assert not model.encoder.training and not any(p.requires_grad for p in model.encoder.parameters())
    state = loaded(stored(torch.load(run / "state.pt", weights_only=True)["encoder"], int8=("",)))  # E: int8
    for k, v in model.encoder.state_dict().items():
        torch.testing.assert_close(v, state[k].to(v.dtype), rtol=0, atol=0)
    assert "encoder" not in "".join(model.state_dict())  # the prior's own weights only


def test_training_resumes(trained, tmp_path):
    folder, _, run = trained
    args = training.parse_args(["--prior", str(folder), "--dataset", "test", "--out", str(tmp_path / "enc"),
                                "--run", str(run), "--steps", "5", "--batch-size", "8", "--width", "4",
                                "--threads", "1", "--resume"])
    training.train_encoder(args, load_model(folder), torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8), "again")
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 5
    assert "; then `again`" in (tmp_path / "enc" / "README.md").read_text()


def test_training_can_start_from_a_released_encoder(trained, tmp_path):
    """--init-from: E starts from the encoder a prior checkpoint ships (as loaded), says so in its
    card, and one that does not fit or is missing is a sentence, not a traceback."""
    folder, _, _ = trained
    prior = load_model(folder)
    start = training.released_encoder(str(folder), prior, width=4)
    args = training.parse_args(["--prior", str(folder), "--dataset", "test", "--out", str(tmp_path / "enc"),
                                "--run", str(tmp_path / "run"), "--steps", "0", "--batch-size", "8", "--width", "4",
                                "--threads", "1", "--init-from", str(folder)])
    training.train_encoder(args, prior, torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8), "cmd", start)
    saved = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    for k, v in start.state_dict().items():  # no steps: exactly the released E
        assert torch.equal(saved["encoder"][k], v), k
    assert f"starting from the encoder of `{folder}`" in (tmp_path / "enc" / "README.md").read_text()
    with pytest.raises(ModelLoadError, match=r"width 4 \(this one: 8\)"):
        training.released_encoder(str(folder), prior, width=8)
    bare = export(tiny_prior(), tmp_path / "bare")
    with pytest.raises(ModelLoadError, match="ships no latent encoder"):
        training.released_encoder(str(bare), load_model(bare), width=4)
    assert training.main(["--prior", str(folder), "--dataset", "fashion-mnist", "--out", str(tmp_path / "x"),
                          "--init-from", str(bare)]) == 2


def test_random_holes():
    bank = training.stroke_bank(16, n=4)
    holes = training.random_holes(64, 16, torch.Generator().manual_seed(0), bank)
    assert holes.shape == (64, 1, 16, 16) and set(holes.unique().tolist()) <= {0.0, 1.0}
    share = holes.mean((1, 2, 3))
    assert share.min() > 0 and share.max() < 1 and share.std() > 0.05


def test_the_search_starts_from_the_encoder(trained, monkeypatch):
    model = load_model(trained[0])
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8), "L")
    hole = preset("center", (8, 8))
    calls = []
    propose = model.encoder.propose

    def spy(y, known, n, generator):
        calls.append((y.shape, known.shape, n))
        return propose(y, known, n, generator)

    monkeypatch.setattr(model.encoder, "propose", spy)
    result = complete(model, image, hole, Settings(restarts=4, init_pool=2, iterations=2, warm_start=0.5, blend="none"))
    assert result.iterations == 2 and calls == [((1, 1, 8, 8), (1, 1, 8, 8), 2)]
    calls.clear()
    complete(model, image, hole, Settings(restarts=4, iterations=2, blend="none"))  # warm_start 0: not asked
    assert calls == []

    # the first restarts start at E's answers (projected into the prior), the rest from the prior
    settings = Settings(restarts=4, init_pool=2, warm_start=0.5)
    fit = Fit(image.size, model.resolution)
    problem = _problem(model_view(image, model.channels), hole, fit, settings, torch.device("cpu"))
    starts = _initial_z(model, problem, settings, "fp32")
    want = model.project_z(propose(problem.y, problem.known * problem.inside, 2, torch.Generator().manual_seed(0)))
    torch.testing.assert_close(starts[:2].detach(), want, rtol=0, atol=0)
    no_encoder = attach(tiny_prior(), None)
    assert _initial_z(no_encoder, problem, settings, "fp32").shape == (4, 8)


def test_fused_keeps_the_encoder_out_of_the_state_dict():
    model = attach(tiny_prior(), tiny_encoder())
    fused = model.fused()  # loads the model's state_dict into a fresh DCGAN: E must not be in it
    assert fused.encoder is model.encoder
    assert set(model.state_dict()) == set(tiny_prior().state_dict())


def test_compare_configs():
    from evaluation.compare import parse_config, report

    warm = parse_config("warm=restarts:8,warm_start:0.75,iterations:30,n:3")
    assert (warm.name, warm.settings.restarts, warm.settings.warm_start, warm.limit) == ("warm", 8, 0.75, 3)
    assert parse_config("paper=paper").settings == Settings.paper() and parse_config("today=").settings == Settings()
    with pytest.raises(ValueError, match="colour"):
        parse_config("x=colour:1")
    rows = [{"config": c, "mask": "center", "index": i, "psnr_hole": p, "seconds": s, "iterations": 30}
            for c, s, ps in (("today", 4.0, (10.0, 12.0)), ("warm", 1.0, (11.0, 12.0))) for i, p in enumerate(ps)]
    text = report(rows)
    assert "warm vs today, paired over 2 image-mask pairs: psnr_hole +0.500 ± 0.500 dB" in text and "4.00x less" in text


def test_the_defaults_follow_the_model():
    from inpaint.complete import WARM

    warm, cold = attach(tiny_prior(), tiny_encoder()), attach(tiny_prior(), None)
    assert Settings.for_model(warm) == Settings(**WARM) and WARM["restarts"] < Settings().restarts
    assert Settings.for_model(cold) == Settings()
    assert Settings.for_model(warm, restoring=True) == Settings()  # E reads holes only
    assert Settings.for_model(warm, seed=3, restarts=16) == Settings(**{**WARM, "restarts": 16}, seed=3)


def test_complete_without_settings_starts_warm_and_restore_cold(trained, monkeypatch):
    from inpaint import operators as ops
    from inpaint import restore
    from inpaint.complete import WARM
    from inpaint.service import Finished, Service

    model = load_model(trained[0])
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8), "L")
    hole = preset("center", (8, 8))
    asked = []
    propose = model.encoder.propose
    monkeypatch.setattr(model.encoder, "propose", lambda y, known, n, generator: asked.append(n) or
                        propose(y, known, n, generator))
    result = complete(model, image, hole)
    warm = round(WARM["restarts"] * WARM["warm_start"])
    assert asked == [warm] and result.iterations <= WARM["iterations"]
    asked.clear()
    assert restore(model, image, ops.Mask(hole)).iterations <= WARM["iterations"] and asked == [warm]
    asked.clear()
    done = restore(model, image, ops.Noise(0.1), iterations=2)
    assert asked == [] and len(done.candidates) >= 1
    reports = list(Service().run(model, image, hole, None))
    assert isinstance(reports[-1], Finished) and reports[-1].settings.restarts == WARM["restarts"]
    assert asked == [warm]
    cold = list(Service().restore(model, image, ops.Noise(0.1)))[-1]
    assert cold.settings.restarts == Settings().restarts and asked == [warm]


def test_the_cli_takes_the_models_defaults_unless_told(trained, tmp_path, monkeypatch):
    import inpaint.__main__ as cli
    from inpaint import methods
    from inpaint.complete import WARM

    Image.fromarray(np.full((8, 8), 100, np.uint8), "L").save(tmp_path / "in.png")
    seen = []
    real = methods.get()
    monkeypatch.setattr(cli.methods, "get", lambda name=None: methods.Method(
        real.name, real.label, real.summary, run=lambda m, i, h, s, **kw: seen.append(s) or real.run(m, i, h, s, **kw)))
    base = ["--model", str(trained[0]), "--image", str(tmp_path / "in.png"), "--preset", "center",
            "--out", str(tmp_path / "out.png")]
    assert cli.main(base) == 0
    assert (seen[-1].restarts, seen[-1].iterations, seen[-1].warm_start) == (
        WARM["restarts"], WARM["iterations"], WARM["warm_start"])
    assert cli.main(base + ["--restarts", "5", "--warm-start", "0"]) == 0
    assert (seen[-1].restarts, seen[-1].iterations, seen[-1].warm_start) == (5, WARM["iterations"], 0.0)
