"""The train module: data sources, a smoke run that writes a loadable checkpoint, resume, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inpaint
from train import data
from train.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
HAS_FASHION = (data.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists()


@pytest.fixture
def image_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_INPAINT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        arr = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)  # not square: centre-cropped
        Image.fromarray(arr).resize((27, 18), Image.BICUBIC).save(folder / f"{i:03d}.png")
    return folder


def test_folder_source_is_cached_uint8(image_folder):
    images = data.load_images(f"folder:{image_folder}", resolution=16)
    assert images.shape == (40, 3, 16, 16) and images.dtype == torch.uint8
    assert any((Path(os.environ["GAN_INPAINT_CACHE"])).glob("folder-*.pt"))
    assert torch.equal(data.load_images(f"folder:{image_folder}", resolution=16), images)


def test_unknown_sources_are_clear_errors(tmp_path):
    with pytest.raises(data.DataError, match="unknown dataset"):
        data.load_images("imagenet")
    with pytest.raises(data.DataError, match="no images"):
        data.load_images(f"folder:{tmp_path}")


def test_smoke_run_writes_a_loadable_checkpoint_and_resumes(image_folder, tmp_path):
    out = tmp_path / "ckpt"
    args = ["--dataset", f"folder:{image_folder}", "--out", str(out), "--resolution", "16", "--ngf", "4",
            "--ndf", "4", "--z-dim", "8", "--batch-size", "8", "--steps", "6", "--checkpoint-every", "4"]
    assert main(args) == 0
    for name in ("config.json", "model.safetensors", "README.md", "samples.png"):
        assert (out / name).exists(), name
    assert json.loads((out / "config.json").read_text())["resolution"] == 16
    card = (out / "README.md").read_text()
    assert "python -m train --dataset folder:" in card and "steps: 6" in card
    assert (out / "training" / "state.pt").exists()
    log = [json.loads(line) for line in (out / "training" / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in log)

    model = inpaint.load_model(out)
    assert model.generate(2).shape == (2, 3, 16, 16)

    assert main(args[:-4] + ["--steps", "10", "--resume"]) == 0
    assert torch.load(out / "training" / "state.pt")["step"] == 10


def test_training_is_deterministic_for_a_seed(image_folder, tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        main(["--dataset", f"folder:{image_folder}", "--out", str(out), "--resolution", "8", "--ngf", "4",
              "--ndf", "4", "--z-dim", "4", "--batch-size", "8", "--steps", "3", "--threads", "1"])
        outs.append((out / "model.safetensors").read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_source():
    images, labels = data.fashion_mnist("test")
    assert images.shape == (10_000, 1, 32, 32) and labels.shape == (10_000,)
    assert set(labels.tolist()) == set(range(10))
    assert images[:, :, :2].max() == 0  # the 2-pixel padding around the 28x28 photo


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
def test_cli_on_fashion_mnist_subset(tmp_path, monkeypatch):
    """The documented command, cut down to seconds: a few steps on a few hundred images."""
    monkeypatch.setenv("GAN_INPAINT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "fm"
    proc = subprocess.run([sys.executable, "-m", "train", "--dataset", "fashion-mnist", "--out", str(out),
                           "--limit", "256", "--steps", "4", "--ngf", "8", "--ndf", "8"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert inpaint.load_model(out).config["dataset"] == "fashion-mnist"


def test_emoji_holdout_is_fixed_and_about_ten_percent():
    seqs = data.emoji_sequences()
    held = [s for s in seqs if data.is_held_out(s)]
    assert 0.07 < len(held) / len(seqs) < 0.13
    assert held == [s for s in data.emoji_sequences() if data.is_held_out(s)]
    assert "1F600" in seqs  # grinning face: the faces group is there


def test_emoji_renderers_give_white_backed_rgb():
    seqs = ["1F600", "1F44B-1F3FB"]
    for name, source in data.EMOJI_SETS.items():
        got = list(source(seqs, 32))
        if name == "noto" and not data.NOTO_EMOJI_FONT.exists():
            assert got == []
            continue
        assert got, name
        for seq, img in got:
            arr = np.asarray(img)
            assert img.size == (32, 32) and img.mode == "RGB"
            assert (arr[0, 0] > 240).all()  # corner on white
            assert arr.std() > 20           # and a glyph on it


def test_torchrun_two_cpu_processes_gloo(image_folder, tmp_path):
    import socket

    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", port,
         "-m", "train", "--dataset", f"folder:{image_folder}", "--out", str(out), "--resolution", "8",
         "--ngf", "4", "--ndf", "4", "--z-dim", "4", "--batch-size", "4", "--steps", "3", "--threads", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    assert card["world_size"] == 2 and card["batch_size"] == 8 and card["steps"] == 3
    inpaint.load_model(out)
