"""python -m inpaint: single images, batch folders, and a clear one-line error for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import inpaint
from inpaint.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--iterations", "5", "--restarts", "2"]


def save_photo(path: Path, size=(24, 18), mode="RGB", seed=0) -> Path:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    img.convert(mode).save(path)
    return path


def save_mask(path: Path, size=(24, 18), box=(4, 4, 12, 10)) -> Path:
    arr = np.zeros((size[1], size[0]), np.uint8)
    arr[box[1]: box[3], box[0]: box[2]] = 255
    Image.fromarray(arr).save(path)
    return path


def test_single_image_with_a_preset(tiny_checkpoints, tmp_path):
    src = save_photo(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["--model", tiny_checkpoints["tiny-rgb"], "--image", str(src), "--preset", "center",
                 "--out", str(out), *FAST]) == 0
    a, b = np.asarray(Image.open(src)), np.asarray(Image.open(out))
    assert a.shape == b.shape
    hole = np.zeros(a.shape[:2], bool)
    hole[18 // 4: 18 - 18 // 4, 24 // 4: 24 - 24 // 4] = True
    assert (a[~hole] == b[~hole]).all()


def test_mask_file_and_candidates(tiny_checkpoints, tmp_path, capsys):
    src, mask = save_photo(tmp_path / "in.png", mode="L"), save_mask(tmp_path / "mask.png")
    out = tmp_path / "res" / "out.png"
    assert main(["--model", tiny_checkpoints["tiny-grey"], "--image", str(src), "--mask", str(mask),
                 "--out", str(out), "--candidates", "3", "--blend", "none", "--restarts", "6",
                 "--iterations", "5"]) == 0
    # as many files as there are distinct candidates (an untrained model repeats itself)
    expected = inpaint.complete(inpaint.load_model(tiny_checkpoints["tiny-grey"]), Image.open(src),
                                Image.open(mask), iterations=5, restarts=6, candidates=3, blend="none")
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["out.png"] + [f"out-{i}.png" for i in range(2, len(expected.candidates) + 1)]
    with pytest.raises(SystemExit):
        main(["--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert "OUT.png" in helptext and "OUT-2.png" in helptext and "OUT-1.png" not in helptext  # the help says so
    a, b = np.asarray(Image.open(src)), np.asarray(Image.open(out))
    m = np.asarray(Image.open(mask)) > 0
    assert (a[~m] == b[~m]).all()


def test_batch_mode_with_a_folder_of_masks_and_with_one_mask(tiny_checkpoints, tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for i in range(3):
        save_photo(images / f"p{i}.png", seed=i)
        save_mask(masks / f"p{i}.png", box=(i, i, 10 + i, 8 + i))
    (images / "notes.txt").write_text("not an image; ignored")
    for mask_arg, out in ((masks, tmp_path / "out1"), (masks / "p1.png", tmp_path / "out2")):
        assert main(["--model", tiny_checkpoints["tiny-rgb"], "--image", str(images), "--mask", str(mask_arg),
                     "--out", str(out), *FAST]) == 0
        assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "p2.png"]
        for i in range(3):
            m = np.asarray(Image.open(mask_arg if mask_arg.is_file() else masks / f"p{i}.png")) > 0
            a, b = np.asarray(Image.open(images / f"p{i}.png")), np.asarray(Image.open(out / f"p{i}.png"))
            assert (a[~m] == b[~m]).all()


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inpaint", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("case,message", [
    ("unreadable", "not a readable image"),
    ("missing", "no such file"),
    ("mask-size", "same size"),
    ("empty-mask", "mask is empty"),
    ("mask-not-image", "not a readable image"),
    ("bad-model", "does not exist"),
    ("bad-setting", "restarts must be between"),
    ("bad-warm-start", "warm_start must be a share"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(tiny_checkpoints, tmp_path, case, message):
    src = save_photo(tmp_path / "in.png")
    mask = save_mask(tmp_path / "mask.png")
    model = tiny_checkpoints["tiny-rgb"]
    if case == "unreadable":
        src.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    elif case == "missing":
        src = tmp_path / "nope.png"
    elif case == "mask-size":
        mask = save_mask(tmp_path / "mask.png", size=(10, 10), box=(1, 1, 4, 4))
    elif case == "empty-mask":
        mask = save_mask(tmp_path / "mask.png", box=(0, 0, 0, 0))
    elif case == "mask-not-image":
        mask.write_text("white = hole")
    elif case == "bad-model":
        model = str(tmp_path / "no-such-checkpoint")
    proc = run_cli("--model", model, "--image", str(src), "--mask", str(mask), "--out", str(tmp_path / "o.png"),
                   *FAST, *(["--restarts", "0"] if case == "bad-setting" else []),
                   *(["--warm-start", "2"] if case == "bad-warm-start" else []))
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_method_and_max_side(tiny_checkpoints, tmp_path, capsys):
    """--method takes the registry's names (an unknown one is refused by argparse); --max-side
    scales the search of a large image, says so, and the output keeps the input's size and pixels."""
    src, mask = save_photo(tmp_path / "in.png", size=(120, 90)), save_mask(tmp_path / "m.png", (120, 90), (30, 20, 70, 60))
    out = tmp_path / "out.png"
    assert main(["--model", tiny_checkpoints["tiny-rgb"], "--image", str(src), "--mask", str(mask), "--out", str(out),
                 "--method", "gan-prior", "--max-side", "32", *FAST]) == 0
    assert "120×90" in capsys.readouterr().err
    a, b = np.asarray(Image.open(src)), np.asarray(Image.open(out))
    hole = np.asarray(Image.open(mask)) > 0
    assert a.shape == b.shape and (b[hole] != a[hole]).any() and (a[~hole][:100] == b[~hole][:100]).all()
    with pytest.raises(SystemExit):
        main(["--model", tiny_checkpoints["tiny-rgb"], "--image", str(src), "--preset", "center", "--out", str(out),
              "--method", "magic"])
    assert "invalid choice: 'magic'" in capsys.readouterr().err


# --- restoration: --task deblur | upscale | denoise | colorize ------------------------------------------


def test_restoration_tasks_and_their_output_sizes(tiny_checkpoints, tmp_path):
    """Each task restores a degraded image; upscaling multiplies the size by the factor; --degrade
    writes exactly the engine's degraded copy (no model needed)."""
    clean = save_photo(tmp_path / "clean.png", size=(24, 16))
    for task, extra, op in (("deblur", ["--blur-sigma", "1.5"], inpaint.operators.GaussianBlur(1.5)),
                            ("deblur", ["--blur", "box", "--blur-size", "3"], inpaint.operators.BoxBlur(3)),
                            ("deblur", ["--blur", "motion", "--motion-length", "5", "--motion-angle", "45"],
                             inpaint.operators.MotionBlur(5, 45)),
                            ("upscale", ["--factor", "4"], inpaint.operators.Downsample(4)),
                            ("denoise", ["--noise-sigma", "0.2"], inpaint.operators.Noise(0.2)),
                            ("colorize", [], inpaint.operators.Greyscale())):
        degraded, out = tmp_path / f"{task}-in.png", tmp_path / f"{task}-out.png"
        assert main(["--task", task, *extra, "--image", str(clean), "--out", str(degraded), "--degrade",
                     "--seed", "3", "--model", str(tmp_path / "no-model-needed")]) == 0
        expected = op.degrade(Image.open(clean), seed=3)
        assert (np.asarray(Image.open(degraded)) == np.asarray(expected)).all()
        assert main(["--model", tiny_checkpoints["tiny-rgb"], "--task", task, *extra, "--image", str(degraded),
                     "--out", str(out), *FAST]) == 0
        result = Image.open(out)
        assert result.size == (24, 16) and result.mode == "RGB"
    assert Image.open(tmp_path / "upscale-in.png").size == (6, 4)


def test_restoration_in_batch_with_a_hole_and_candidates(tiny_checkpoints, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        save_photo(images / f"p{i}.png", size=(16, 16), mode="L", seed=i)
    out = tmp_path / "out"
    assert main(["--model", tiny_checkpoints["tiny-grey"], "--task", "upscale", "--factor", "2", "--image",
                 str(images), "--out", str(out), "--preset", "center", "--candidates", "2", "--restarts", "4",
                 "--iterations", "5"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert {"p0.png", "p1.png"} <= set(names) <= {"p0.png", "p0-2.png", "p1.png", "p1-2.png"}
    assert all(Image.open(out / f"p{i}.png").size == (32, 32) for i in range(2))


@pytest.mark.parametrize("args,message", [
    (["--task", "deblur", "--blur-sigma", "100"], "the blur's sigma must be a number from 0 to 64"),
    (["--task", "denoise", "--noise-sigma", "-1"], "the noise's sigma must be a number from 0 to 1"),
    (["--task", "deblur", "--method", "context-encoder"], "only inpaints"),
    (["--task", "upscale", "--degrade", "--factor", "8"], "multiples of 8"),
    (["--task", "colorize", "--grey-model"], "colour"),
])
def test_restoration_errors_are_one_line(tiny_checkpoints, tmp_path, args, message):
    src = save_photo(tmp_path / "in.png", size=(24, 18))
    model = tiny_checkpoints["tiny-grey" if "--grey-model" in args else "tiny-rgb"]
    args = [a for a in args if a != "--grey-model"]
    proc = run_cli("--model", model, "--image", str(src), "--out", str(tmp_path / "o.png"), *FAST, *args)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_inpainting_still_needs_a_mask_and_degrade_a_task(tmp_path, capsys):
    src = save_photo(tmp_path / "in.png")
    for extra, message in (([], "--mask --preset is required"), (["--preset", "center", "--degrade"], "--degrade needs")):
        with pytest.raises(SystemExit) as exit_:
            main(["--image", str(src), "--out", str(tmp_path / "o.png"), *extra])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
