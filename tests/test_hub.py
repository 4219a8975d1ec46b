"""inpaint.hub.load_model: local folders, the Hub (through tests/fake_hub.py) and every way it fails."""

from __future__ import annotations

import copy
import json
import shutil
import time

import pytest
import torch
from safetensors.torch import save_file

from inpaint.errors import InpaintError, ModelLoadError
from inpaint.hub import clear_cache, load_model
from inpaint.models import DCGAN
from inpaint.weights import loaded, stored
from train.export import export

try:
    from tests.fake_hub import closed_port_url
except ImportError:
    from fake_hub import closed_port_url

REPO = "user/tiny"


def with_batchnorm_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """The model in eval mode with BatchNorm running statistics that matter (not 0 and 1)."""
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    return model.eval()


def tiny(seed: int = 0) -> DCGAN:
    torch.manual_seed(seed)
    return with_batchnorm_statistics(DCGAN(resolution=8, channels=1, z_dim=8, ngf=4, ndf=4, dataset="test"))


def outputs(model: DCGAN) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.randn(4, model.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        images = model.G(z)
        return images, model.D(images)


def fp16_rounded(model: DCGAN) -> DCGAN:
    """The model as export() stores it: G in fp16, D in int8 (inpaint.weights)."""
    ref = copy.deepcopy(model)
    ref.load_state_dict({k: v.float() if v.is_floating_point() else v
                         for k, v in loaded(stored(model.state_dict(), int8=("D.",))).items()})
    return ref


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny model and the checkpoint folder export() wrote for it."""
    model = tiny(0)
    return model, export(model, tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture
def ckpt(saved, tmp_path):
    """A copy of the checkpoint folder that a test may spoil."""
    return shutil.copytree(saved[1], tmp_path / "tiny")


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def load_error(*args, **kwargs) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as info:
        load_model(*args, **kwargs)
    assert isinstance(info.value, InpaintError)
    return info.value


# --- local folders ---------------------------------------------------------------------------


def test_local_folder_loads_like_the_saved_model(saved):
    model, folder = saved
    loaded = load_model(folder)
    assert isinstance(loaded, DCGAN) and not loaded.training
    assert loaded.config == model.config
    tensors = list(loaded.parameters()) + list(loaded.buffers())
    assert all(t.device.type == "cpu" and not t.requires_grad for t in tensors)
    assert all(t.dtype == torch.float32 for t in tensors if t.is_floating_point())
    assert loaded.checkpoint_dir == folder and loaded.source == str(folder)
    # exactly the saved weights after rounding (G fp16, D int8); close to the fp32 original
    for got, want in zip(outputs(loaded), outputs(fp16_rounded(model))):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    for got, want in zip(outputs(loaded), outputs(model)):
        torch.testing.assert_close(got, want, rtol=0, atol=2e-2)


def test_models_are_loaded_once_per_process(ckpt):
    first = load_model(str(ckpt))
    assert load_model(ckpt) is first  # str or Path, the same folder
    clear_cache()
    second = load_model(ckpt)
    assert second is not first
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tiny(1).state_dict().items()},
              str(ckpt / "model.safetensors"))
    third = load_model(ckpt)  # the folder was written again: load it again
    assert third is not second
    assert not torch.allclose(outputs(third)[0], outputs(second)[0])


def test_missing_local_folder(tmp_path):
    err = load_error(str(tmp_path / "nope"))
    assert "does not exist" in str(err) and "nope" in str(err)
    assert err.source == str(tmp_path / "nope")
    assert "does not exist" in str(load_error(tmp_path / "nope"))


def test_folder_without_the_checkpoint_files(ckpt, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "lacks config.json and model.safetensors" in str(load_error(empty))
    (ckpt / "model.safetensors").unlink()
    err = load_error(str(ckpt))
    assert "lacks model.safetensors" in str(err) and str(ckpt) in str(err)
    assert "is a file" in str(load_error(ckpt / "config.json"))


@pytest.mark.parametrize("text, expected", [
    ("{not json", "not valid JSON"),
    ("[8, 1]", "JSON object"),
    ('{"resolution": 8, "channels": 1, "z_dim": 8, "ngf": 4, "ndf": 4, "colour": "red"}', "unknown key(s) 'colour'"),
    ('{"resolution": 12, "channels": 1, "z_dim": 8, "ngf": 4, "ndf": 4}', "power of two"),
    ('{"resolution": 8, "channels": 1, "z_dim": 8, "ngf": "4", "ndf": 4}', "'ngf' must be a positive whole number"),
    ('{"resolution": 8, "channels": 1, "z_dim": 8, "ngf": 4, "ndf": 4, "prior": "cauchy"}', "prior must be one of"),
])
def test_bad_config(ckpt, text, expected):
    (ckpt / "config.json").write_text(text)
    err = load_error(ckpt)
    assert "config.json" in str(err) and expected in str(err) and str(ckpt) in str(err)


def test_config_that_does_not_match_the_weights(ckpt):
    config = json.loads((ckpt / "config.json").read_text())
    config["ngf"] = 8
    (ckpt / "config.json").write_text(json.dumps(config))
    err = str(load_error(ckpt))
    assert "do not match" in err and "ngf=8" in err and str(ckpt) in err
    assert "shape mismatch: G.net.0.weight is 8x4x4x4 in the file but 8x8x4x4 for the config" in err


def test_weights_with_missing_and_unexpected_keys(ckpt, saved):
    state = {k: v.half() if v.is_floating_point() else v for k, v in saved[0].state_dict().items()
             if not k.startswith("D.")}
    state["E.weight"] = torch.zeros(3)
    save_file(state, str(ckpt / "model.safetensors"))
    err = str(load_error(ckpt))
    assert "missing keys 'D.net.0.weight', 'D.net.2.weight'" in err
    assert "unexpected keys 'E.weight'" in err


@pytest.mark.parametrize("spoil", ["truncate", "garbage", "empty"])
def test_corrupt_safetensors(ckpt, spoil):
    path = ckpt / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x89PNG" * 100, "empty": b""}[spoil])
    err = load_error(ckpt)
    assert "model.safetensors" in str(err) and "corrupt" in str(err)
    assert err.__cause__ is not None


def test_bad_device(saved):
    assert "unknown device 'tpu9'" in str(load_error(saved[1], device="tpu9"))
    if not torch.cuda.is_available():
        assert "no CUDA" in str(load_error(saved[1], device="cuda"))
        assert next(load_model(saved[1], device="auto").parameters()).device.type == "cpu"


# --- the Hub -----------------------------------------------------------------------------------


def test_hub_repo_download(fake_hub, saved):
    model, folder = saved
    sha = fake_hub.add_repo(REPO, folder)
    loaded = load_model(REPO)
    snapshot = fake_hub.env.cache / "models--user--tiny" / "snapshots" / sha
    assert loaded.checkpoint_dir == snapshot and loaded.source == REPO
    assert {p.name for p in snapshot.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    assert (fake_hub.env.cache / "models--user--tiny" / "refs" / "main").read_text() == sha
    assert loaded.config == model.config and not loaded.training
    for got, want in zip(outputs(loaded), outputs(load_model(folder))):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    seen = len(fake_hub.requests)
    assert load_model(REPO) is loaded and len(fake_hub.requests) == seen  # once per process


def test_hub_repo_without_model_card(fake_hub, saved):
    folder = saved[1]
    fake_hub.add_repo(REPO, {n: (folder / n).read_bytes() for n in ("config.json", "model.safetensors")})
    assert load_model(REPO).config == saved[0].config


def test_hub_revision(fake_hub, saved, tmp_path):
    fake_hub.add_repo(REPO, saved[1])
    other = tiny(1)
    sha = fake_hub.add_repo(REPO, export(other, tmp_path / "v1"), revision="v1")
    main, v1 = load_model(REPO), load_model(f"{REPO}@v1")
    assert v1.source == f"{REPO}@v1"
    torch.testing.assert_close(outputs(v1)[0], outputs(other)[0], rtol=0, atol=2e-2)
    assert not torch.allclose(outputs(v1)[0], outputs(main)[0])
    assert load_model(REPO, revision="v1") is v1
    by_sha = load_model(f"{REPO}@{sha}")
    torch.testing.assert_close(outputs(by_sha)[0], outputs(v1)[0], rtol=0, atol=0)
    assert "also given" in str(load_error(f"{REPO}@v1", revision="main"))


def test_unknown_revision(fake_hub, saved):
    fake_hub.add_repo(REPO, saved[1])
    err = load_error(f"{REPO}@nope")
    assert "revision 'nope' not found" in str(err) and REPO in str(err)
    assert err.source == f"{REPO}@nope" and type(err.__cause__).__name__ == "RevisionNotFoundError"


def test_cached_then_offline(fake_hub, saved):
    fake_hub.add_repo(REPO, saved[1])
    fake_hub.add_repo(REPO, saved[1], revision="v1")
    online = load_model(REPO)
    load_model(f"{REPO}@v1")
    clear_cache()
    fake_hub.env.offline()
    seen = len(fake_hub.requests)
    offline = load_model(REPO)
    assert offline is not online
    torch.testing.assert_close(outputs(offline)[0], outputs(online)[0], rtol=0, atol=0)
    load_model(f"{REPO}@v1")
    assert len(fake_hub.requests) == seen  # from the cache alone


def test_offline_without_cache(fake_hub, saved):
    fake_hub.add_repo(REPO, saved[1])
    fake_hub.env.offline()
    err = str(load_error(REPO))
    assert "HF_HUB_OFFLINE is set" in err and "not in the cache" in err and REPO in err
    assert fake_hub.requests == []


def test_repo_not_found(fake_hub, saved):
    err = load_error("user/nope")
    assert "'user/nope' not found" in str(err) and err.source == "user/nope"
    assert type(err.__cause__).__name__ == "RepositoryNotFoundError"
    fake_hub.add_repo(REPO, saved[1])
    fake_hub.fail(REPO, 404)
    assert f"'{REPO}' not found" in str(load_error(REPO))


@pytest.mark.parametrize("status, code", [(401, "GatedRepo"), (403, "GatedRepo"), (401, ""), (403, "")])
def test_gated_or_unauthorised(fake_hub, saved, status, code):
    fake_hub.add_repo(REPO, saved[1])
    fake_hub.fail(REPO, status, error_code=code)
    err = str(load_error(REPO))
    assert "needs a token: set HF_TOKEN" in err and REPO in err and str(status) in err


def test_gated_repo_with_token(fake_hub, saved, monkeypatch):
    fake_hub.add_repo(REPO, saved[1])
    fake_hub.gate(REPO, "hf_right")
    assert "needs a token: set HF_TOKEN" in str(load_error(REPO))
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    assert "refused the token" in str(load_error(REPO))
    monkeypatch.setenv("HF_TOKEN", "hf_right")
    assert load_model(REPO).config == saved[0].config
    clear_cache()
    monkeypatch.delenv("HF_TOKEN")
    assert load_model(REPO, token="hf_right").config == saved[0].config
    assert fake_hub.requests[-1].authorization == "Bearer hf_right"


def test_server_error(fake_hub, saved):
    fake_hub.add_repo(REPO, saved[1])
    fake_hub.fail(REPO, 500)
    err = str(load_error(REPO))
    assert "server error (HTTP 500)" in err and REPO in err


def test_connection_refused(fake_hub, saved):
    url = closed_port_url()
    fake_hub.env.point_at(url)
    err = str(load_error(REPO))
    assert "cannot reach the Hub" in err and url in err and REPO in err


def test_timeout(fake_hub, saved):
    fake_hub.add_repo(REPO, saved[1])
    fake_hub.fail(REPO, "timeout")
    fake_hub.env.timeouts(0.2)
    start = time.monotonic()
    err = str(load_error(REPO))
    assert "timed out" in err and REPO in err
    assert time.monotonic() - start < 5


def test_truncated_download(fake_hub, saved):
    fake_hub.add_repo(REPO, saved[1])
    fake_hub.fail(REPO, "truncated", files=["model.safetensors"])
    err = str(load_error(REPO))
    assert "model.safetensors" in err and "cut off" in err and REPO in err
    fake_hub.heal(REPO)  # nothing half-written stays in the cache
    assert load_model(REPO).config == saved[0].config


def test_corrupt_safetensors_from_the_hub(fake_hub, saved):
    folder = saved[1]
    weights = (folder / "model.safetensors").read_bytes()
    fake_hub.add_repo(REPO, {"config.json": (folder / "config.json").read_bytes(),
                             "model.safetensors": weights[: len(weights) - 100]})
    err = str(load_error(REPO))
    assert "corrupt" in err and "model.safetensors" in err and REPO in err


def test_repo_without_weights(fake_hub, saved):
    fake_hub.add_repo(REPO, {"config.json": (saved[1] / "config.json").read_bytes()})
    err = str(load_error(REPO))
    assert "has no model.safetensors" in err and REPO in err


def test_not_a_repo_id_or_folder(fake_hub):
    err = str(load_error("no/such/folder"))
    assert "does not exist" in err and "no/such/folder" in err
    assert fake_hub.requests == []


# --- the default device, and what a Hub repo may cost before it is refused ----------------------


def test_the_default_device_is_cuda_when_present(saved, monkeypatch):
    """With no device given, the model goes where `inpaint.device.pick_device` says: CUDA when present."""
    import inpaint.hub as hub

    asked = []

    def on_cpu(spec, device, token, cache_dir):  # note where it was asked to go; stay on the CPU
        asked.append(device)
        return real(spec, torch.device("cpu"), token, cache_dir)

    real = hub._load
    monkeypatch.setattr(hub, "_load", on_cpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    load_model(saved[1])
    load_model(saved[1], device="auto")
    assert asked == [torch.device("cuda")]  # both ask for the same model: loaded once
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    load_model(saved[1])
    assert asked == [torch.device("cuda"), torch.device("cpu")]


def weights_requested(fake_hub) -> list[str]:
    return [r.method for r in fake_hub.requests if r.path.endswith("/model.safetensors")]


@pytest.mark.parametrize("config, expected", [
    (b"{not json", "not valid JSON"),
    (b'{"resolution": 12, "channels": 1}', "power of two"),
    (b'{"layers": 9}', "unknown key(s) 'layers'"),
])
def test_a_bad_config_on_the_hub_is_refused_before_the_weights_are_requested(fake_hub, saved, config, expected):
    fake_hub.add_repo(REPO, {"config.json": config,
                             "model.safetensors": (saved[1] / "model.safetensors").read_bytes()})
    err = str(load_error(REPO))
    assert expected in err and REPO in err
    assert weights_requested(fake_hub) == []


def test_oversized_weights_are_refused_before_their_bytes_are_requested(fake_hub, saved, monkeypatch):
    monkeypatch.setenv("INPAINT_MAX_WEIGHTS_MB", "1")
    fake_hub.add_repo(REPO, {"config.json": (saved[1] / "config.json").read_bytes(),
                             "model.safetensors": bytes(1_500_000)})
    err = str(load_error(REPO))
    assert "model.safetensors" in err and "1.5 MB" in err and "limit of 1 MB" in err and REPO in err
    assert "GET" not in weights_requested(fake_hub)  # only asked for its size
    assert not list(fake_hub.env.cache.glob("models--user--tiny/blobs/*.incomplete"))
    monkeypatch.setenv("INPAINT_MAX_WEIGHTS_MB", "2")  # the same file under a higher limit
    assert "corrupt" in str(load_error(REPO))  # (it is not a real safetensors file)
    assert "GET" in weights_requested(fake_hub)


# --- the Hub's community DCGANs (huggan layout) -----------------------------------------------------

def community_generator(channels: int = 3, z_dim: int = 16, width: int = 4) -> torch.nn.Module:
    """A generator as the community GAN sprint publishes them: a module whose `model` is the DCGAN
    stack for 64x64 images (input z as N x z_dim x 1 x 1), with BatchNorm statistics that matter."""
    from torch import nn

    widths = [z_dim, width * 8, width * 4, width * 2, width]
    layers = []
    for i, (cin, cout) in enumerate(zip(widths, widths[1:])):
        layers += [nn.ConvTranspose2d(cin, cout, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
    torch.manual_seed(3)
    holder = nn.Module()
    holder.model = nn.Sequential(*layers)
    return with_batchnorm_statistics(holder)


@pytest.mark.parametrize("weights", ["model.safetensors", "pytorch_model.bin"])
def test_a_community_generator_loads_from_the_hub_and_completes(fake_hub, tmp_path, weights):
    import io

    import numpy as np
    from PIL import Image

    import inpaint

    g = community_generator()
    state = {k: v.contiguous() for k, v in g.state_dict().items()}
    if weights == "pytorch_model.bin":
        buffer = io.BytesIO()
        torch.save(state, buffer)
        blob = buffer.getvalue()
    else:
        save_file(state, str(tmp_path / "w.safetensors"))
        blob = (tmp_path / "w.safetensors").read_bytes()
    config = json.dumps({"num_channels": 3, "latent_dim": 16, "hidden_size": 4}).encode()
    fake_hub.add_repo("huggan/tiny-dcgan", {"config.json": config, weights: blob})

    model = load_model("huggan/tiny-dcgan")
    assert model.D is None and (model.resolution, model.channels, model.z_dim) == (64, 3, 16)
    assert model.config["dataset"] == "huggan/tiny-dcgan" and not model.config["discriminator"]
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.G(z), g.model(z[:, :, None, None]))  # the same generator

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    hole = inpaint.preset("center", image.size)
    result = inpaint.complete(model, image, hole, iterations=5, restarts=2, lam=0.5)
    assert result.image.size == image.size and "perceptual best" not in result.curves
    assert any("no discriminator" in note and "λ was ignored" in note for note in result.notes)


def test_community_checkpoints_that_are_not_generators_are_clear_errors(fake_hub, tmp_path):
    config = json.dumps({"num_channels": 3, "latent_dim": 16, "hidden_size": 4}).encode()
    save_file({"encoder.weight": torch.zeros(2, 2)}, str(tmp_path / "w.safetensors"))
    fake_hub.add_repo("huggan/not-a-gan", {"config.json": config, "model.safetensors":
                                           (tmp_path / "w.safetensors").read_bytes()})
    assert "not a community DCGAN generator: unexpected keys 'encoder.weight'" in str(load_error("huggan/not-a-gan"))
    fake_hub.add_repo("huggan/no-weights", {"config.json": config})
    assert "has no pytorch_model.bin" in str(load_error("huggan/no-weights"))
    fake_hub.add_repo("huggan/bad-config", {"config.json": json.dumps({"latent_dim": -3}).encode()})
    assert "'latent_dim' must be a positive whole number" in str(load_error("huggan/bad-config"))
