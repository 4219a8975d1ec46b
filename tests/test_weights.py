"""How checkpoints store weights: G in fp16, D and E in int8 with per-channel scales (inpaint.weights)."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from inpaint.errors import ModelLoadError
from inpaint.hub import clear_cache, load_model
from inpaint.models import DCGAN, weights_init
from inpaint.weights import QUANT, SCALE, loaded, restore, stored
from train.export import export


def test_int8_round_trip_is_within_half_a_step_per_channel():
    torch.manual_seed(0)
    w = torch.randn(6, 4, 3, 3) * torch.logspace(-3, 1, 6)[:, None, None, None]  # channels of very different size
    saved = stored({"a.weight": w, "a.bias": torch.randn(6), "n": torch.tensor(3)}, int8=("a.",))
    assert saved["a.weight" + QUANT].dtype == torch.int8 and saved["a.weight" + SCALE].shape == (6, 1, 1, 1)
    assert saved["a.bias"].dtype == torch.float16  # 1-d: fp16, never int8
    assert saved["n"].dtype == torch.int64
    back = loaded(saved)
    assert set(back) == {"a.weight", "a.bias", "n"}
    step = w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127
    assert ((back["a.weight"] - w).abs() <= step / 2 + 1e-7).all()  # each channel at its own scale
    assert not torch.equal(back["a.weight"], w)  # it is a lossy format, and the test can tell


def test_no_prefix_means_fp16_only():
    w = torch.randn(3, 3)
    assert set(stored({"w": w})) == {"w"} and stored({"w": w})["w"].dtype == torch.float16
    assert set(stored({"w": w}, int8=("",))) == {"w" + QUANT, "w" + SCALE}


@pytest.mark.parametrize("drop", [QUANT, SCALE])
def test_a_half_pair_is_refused(drop):
    saved = stored({"w": torch.randn(3, 3)}, int8=("",))
    del saved["w" + drop]
    with pytest.raises(ValueError, match="has no"):
        loaded(saved)


def test_an_exported_checkpoint_keeps_g_in_fp16_and_d_in_int8(tmp_path):
    torch.manual_seed(1)
    model = DCGAN(resolution=16, channels=3, z_dim=8, ngf=8, ndf=8, dataset="t")
    model.apply(weights_init)
    folder = export(model, tmp_path / "m")
    raw = load_file(str(folder / "model.safetensors"))
    assert all(raw[k].dtype == torch.float16 for k in raw if k.startswith("G.") and raw[k].is_floating_point())
    assert any(k.startswith("D.") and k.endswith(QUANT) for k in raw)
    assert not any(k.startswith("G.") and k.endswith(QUANT) for k in raw)
    clear_cache()
    back = load_model(folder, device="cpu")
    for k, v in model.state_dict().items():
        got = back.state_dict()[k]
        if k.startswith("G.") and v.is_floating_point():
            torch.testing.assert_close(got, v.half().float(), rtol=0, atol=0)
        elif v.is_floating_point():
            torch.testing.assert_close(got, v, rtol=0, atol=float(v.abs().max()) / 127)
    model.eval()
    x = model.G(torch.randn(4, 8)).detach()
    with torch.no_grad():
        assert (back.D(x) - model.D(x)).abs().max() < 0.05 * model.D(x).abs().max()  # D scores as it did


def test_a_checkpoint_with_a_broken_pair_is_a_clear_error(tmp_path):
    model = DCGAN(resolution=16, channels=3, z_dim=8, ngf=8, ndf=8, dataset="t")
    folder = export(model, tmp_path / "m")
    raw = load_file(str(folder / "model.safetensors"))
    del raw[next(k for k in raw if k.endswith(SCALE))]
    save_file(raw, str(folder / "model.safetensors"))
    clear_cache()
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_model(folder, device="cpu")


def test_restore_rewrites_an_old_fp16_checkpoint(tmp_path):
    model = DCGAN(resolution=16, channels=3, z_dim=8, ngf=8, ndf=8, dataset="t")
    folder = export(model, tmp_path / "m")
    old = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    save_file(old, str(folder / "model.safetensors"))  # as checkpoints were saved before
    (folder / "encoder").mkdir()
    save_file({"net.0.weight": torch.randn(4, 2, 3, 3).half()}, str(folder / "encoder" / "model.safetensors"))
    assert restore(folder) == [folder / "model.safetensors", folder / "encoder" / "model.safetensors"]
    raw = load_file(str(folder / "model.safetensors"))
    assert all(torch.equal(raw[k], v) for k, v in old.items() if k.startswith("G."))  # G: the same bytes
    assert any(k.startswith("D.") and k.endswith(QUANT) for k in raw)
    assert set(load_file(str(folder / "encoder" / "model.safetensors"))) == {"net.0.weight" + QUANT, "net.0.weight" + SCALE}
    shutil.rmtree(folder / "encoder")  # a stand-in with no config.json: load the prior alone
    clear_cache()
    assert isinstance(load_model(folder, device="cpu"), DCGAN)
