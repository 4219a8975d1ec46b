"""inpaint.hub.load_companion: a model's companion networks from its folder or its Hub repo."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from inpaint.encoder import LatentEncoder
from inpaint.errors import ModelLoadError
from inpaint.hub import ENCODER_NAME, clear_cache, load_companion, load_model
from inpaint.models import DCGAN
from train.export import export

REPO = "user/tiny"


class Companion(torch.nn.Module):
    """A stand-in companion: one linear layer, its config the keyword arguments."""

    def __init__(self, size: int = 4):
        super().__init__()
        self.linear = torch.nn.Linear(size, size)


def save_companion(module: torch.nn.Module, folder, config: dict, half: bool = True):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_file({k: (v.half() if half else v).contiguous() for k, v in module.state_dict().items()},
              str(folder / "model.safetensors"))
    (folder / "README.md").write_text("# a companion\n")
    return folder


@pytest.fixture(scope="module")
def prior(tmp_path_factory):
    torch.manual_seed(0)
    model = DCGAN(resolution=8, channels=1, z_dim=8, ngf=4, ndf=4, dataset="test")
    return export(model, tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture
def ckpt(prior, tmp_path):
    torch.manual_seed(1)
    folder = shutil.copytree(prior, tmp_path / "tiny")
    companion = Companion(4)
    save_companion(companion, folder / "context-encoder", {"size": 4})
    return folder, companion


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def same(got: torch.nn.Module, want: torch.nn.Module, half: bool = True) -> None:
    """The same weights (`want`'s rounded to fp16, as they were saved, when `half`)."""
    assert got.state_dict().keys() == want.state_dict().keys()
    for (k, a), b in zip(got.state_dict().items(), want.state_dict().values()):
        torch.testing.assert_close(a, b.half().float() if half else b, rtol=0, atol=0, msg=k)


def test_local_companion(ckpt):
    folder, want = ckpt
    model = load_model(folder)
    got = load_companion(model, "context-encoder", Companion)
    assert isinstance(got, Companion) and not got.training
    assert all(not p.requires_grad and p.dtype == torch.float32 and p.device.type == "cpu" for p in got.parameters())
    same(got, want)
    assert load_companion(model, "context-encoder", Companion) is got  # once per model
    assert load_companion(model, "nothing-here", Companion) is None
    assert model.encoder is None  # no encoder/ subfolder: no warm start
    assert set(model.state_dict()) == set(DCGAN(resolution=8, channels=1, z_dim=8, ngf=4, ndf=4).state_dict())


def test_local_companion_broken(ckpt):
    folder, _ = ckpt
    (folder / "context-encoder" / "model.safetensors").unlink()
    err = str(pytest.raises(ModelLoadError, load_companion, load_model(folder), "context-encoder", Companion).value)
    assert "'context-encoder' companion" in err and "lacks model.safetensors" in err
    clear_cache()
    (folder / "context-encoder" / "config.json").write_text('{"size": 5}')
    save_file({"linear.weight": torch.zeros(4, 4)}, str(folder / "context-encoder" / "model.safetensors"))
    err = str(pytest.raises(ModelLoadError, load_companion, load_model(folder), "context-encoder", Companion).value)
    assert "do not match" in err and "linear.bias" in err
    clear_cache()
    (folder / "context-encoder" / "config.json").write_text('{"colour": 5}')
    err = str(pytest.raises(ModelLoadError, load_companion, load_model(folder), "context-encoder", Companion).value)
    assert "config.json of the 'context-encoder' companion" in err and "invalid" in err
    clear_cache()
    (folder / "context-encoder" / "config.json").write_text('{"size": ')
    err = str(pytest.raises(ModelLoadError, load_companion, load_model(folder), "context-encoder", Companion).value)
    assert "not valid JSON" in err


def test_a_model_built_in_memory_has_no_companions():
    assert load_companion(DCGAN(resolution=8, z_dim=8, ngf=4, ndf=4), "context-encoder", Companion) is None
    with pytest.raises(ValueError):
        load_companion(DCGAN(resolution=8, z_dim=8, ngf=4, ndf=4), "../x", Companion)


def test_the_encoder_is_attached(prior, tmp_path):
    folder = shutil.copytree(prior, tmp_path / "tiny")
    encoder = LatentEncoder(resolution=8, channels=1, z_dim=8, width=4)
    encoder.save_pretrained(folder / ENCODER_NAME)
    model = load_model(folder)
    assert isinstance(model.encoder, LatentEncoder) and not model.encoder.training
    same(model.encoder, encoder, half=False)  # save_pretrained: fp32
    assert model.fused().encoder is model.encoder  # the search's copy has it too


def hub_files(folder, subfolders=("context-encoder",)) -> dict[str, bytes]:
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    return {k: v for k, v in files.items() if "/" not in k or k.split("/")[0] in subfolders}


def test_hub_companion(fake_hub, ckpt, tmp_path):
    folder, want = ckpt
    sha = fake_hub.add_repo(REPO, hub_files(folder))
    model = load_model(REPO)
    got = load_companion(model, "context-encoder", Companion)
    same(got, want)
    snapshot = fake_hub.env.cache / "models--user--tiny" / "snapshots" / sha / "context-encoder"
    assert got.checkpoint_dir == snapshot and (snapshot / "README.md").is_file()
    seen = len(fake_hub.requests)
    assert load_companion(model, "nothing-here", Companion) is None  # a 404 is no error
    assert len(fake_hub.requests) > seen
    clear_cache()
    model = load_model(REPO)
    seen = len(fake_hub.requests)
    assert load_companion(model, "nothing-here", Companion) is None
    assert len(fake_hub.requests) == seen  # the cache remembers the 404 at this commit


def test_hub_companion_from_the_priors_commit(fake_hub, ckpt):
    folder, want = ckpt
    fake_hub.add_repo(REPO, hub_files(folder))
    model = load_model(REPO)
    other = Companion(4)
    fake_hub.add_repo(REPO, hub_files(save_companion(other, folder / "context-encoder", {"size": 4}).parent))
    same(load_companion(model, "context-encoder", Companion), want)  # not main's newer one


def test_hub_companion_broken(fake_hub, ckpt):
    folder, _ = ckpt
    files = hub_files(folder)
    del files["context-encoder/model.safetensors"]
    fake_hub.add_repo(REPO, files)
    err = str(pytest.raises(ModelLoadError, load_companion, load_model(REPO), "context-encoder", Companion).value)
    assert "has no context-encoder/model.safetensors" in err and REPO in err


def test_hub_companion_over_the_size_limit(fake_hub, ckpt, monkeypatch):
    folder, _ = ckpt
    fake_hub.add_repo(REPO, hub_files(folder))
    model = load_model(REPO)
    monkeypatch.setenv("INPAINT_MAX_WEIGHTS_MB", "0.00001")
    err = str(pytest.raises(ModelLoadError, load_companion, model, "context-encoder", Companion).value)
    assert "over the limit" in err and "was not downloaded" in err


def test_hub_companion_server_error(fake_hub, ckpt):
    folder, _ = ckpt
    fake_hub.add_repo(REPO, hub_files(folder))
    model = load_model(REPO)
    fake_hub.fail(REPO, 500)
    err = str(pytest.raises(ModelLoadError, load_companion, model, "context-encoder", Companion).value)
    assert "server error (HTTP 500)" in err


def test_hub_encoder_attached_and_offline(fake_hub, prior, tmp_path):
    folder = shutil.copytree(prior, tmp_path / "tiny")
    LatentEncoder(resolution=8, channels=1, z_dim=8, width=4).save_pretrained(folder / ENCODER_NAME)
    fake_hub.add_repo(REPO, hub_files(folder, (ENCODER_NAME,)))
    fake_hub.add_repo("user/plain", hub_files(prior))
    assert isinstance(load_model(REPO).encoder, LatentEncoder)
    assert load_model("user/plain").encoder is None
    clear_cache()
    fake_hub.env.offline()
    seen = len(fake_hub.requests)
    assert isinstance(load_model(REPO).encoder, LatentEncoder)
    assert load_model("user/plain").encoder is None
    assert len(fake_hub.requests) == seen


def test_is_downloaded_counts_the_encoder_load_model_fetches(fake_hub, prior, tmp_path):
    """A Hub model is 'downloaded' only when its encoder is cached too, or known to be absent:
    otherwise loading it still fetches files (and the service must count it as a download)."""
    from inpaint.hub import is_downloaded

    folder = shutil.copytree(prior, tmp_path / "tiny")
    LatentEncoder(resolution=8, channels=1, z_dim=8, width=4).save_pretrained(folder / ENCODER_NAME)
    fake_hub.add_repo(REPO, hub_files(folder, (ENCODER_NAME,)))
    fake_hub.add_repo("user/plain", hub_files(prior))
    assert not is_downloaded(REPO) and not is_downloaded("user/plain")
    load_model(REPO), load_model("user/plain")
    clear_cache()  # from here on only the HF disk cache knows them
    assert is_downloaded(REPO) and is_downloaded("user/plain")  # the plain one: its 404 remembered
    snapshots = fake_hub.env.cache / "models--user--tiny" / "snapshots"
    for weights in snapshots.glob(f"*/{ENCODER_NAME}/model.safetensors"):
        weights.unlink()  # the prior cached, its encoder's weights not
    assert not is_downloaded(REPO)
