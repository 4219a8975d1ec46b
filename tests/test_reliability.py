"""Reliability of the engine and the CLI: hostile image files, odd sizes and modes, wrong masks,
Pillow's pixel limit, caps and determinism, and a property-based test of `complete`'s promises.

The app's side of the same (and many users at once) is in test_load.py.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image, ImageOps
from scipy import ndimage

from inpaint import InpaintError, Settings, complete
from inpaint.__main__ import main
from inpaint.imageio import MAX_PIXELS, normalize, read_image
from inpaint.masks import grow
from pictures import box, photo, save_mask

ROOT = Path(__file__).resolve().parent.parent
FAST = Settings(iterations=8, restarts=2, init_pool=1, candidates=1, patience=0)
CLI_FAST = ["--iterations", "5", "--restarts", "2"]


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit black PNG of width x height, written row by row: a few kB on disk that would
    take width * height bytes of memory once decoded (Pillow keeps 1-bit images a byte per pixel)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def hostile(kind: str, folder: Path) -> Path:
    """A file a user (or an attacker) might hand over as an image."""
    if kind == "zero-byte":
        path = folder / "zero.png"
        path.write_bytes(b"")
    elif kind in ("truncated-png", "truncated-jpeg"):
        suffix = ".png" if kind == "truncated-png" else ".jpg"
        whole = folder / f"whole{suffix}"
        photo(64, 48).save(whole)
        data = whole.read_bytes()
        path = folder / f"truncated{suffix}"
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text-as-png":
        path = folder / "notes.png"
        path.write_text("white = hole, honestly\n")
    elif kind == "bomb-20000x20000":  # over twice the limit: Pillow itself refuses it
        path = bomb_png(folder / "bomb.png", 20000, 20000)
    elif kind == "bomb-10000x10000":  # between the limit and twice it: Pillow only warns
        path = bomb_png(folder / "big.png", 10000, 10000)
    else:
        raise ValueError(kind)
    return path


HOSTILE = {
    "zero-byte": "not a readable image",
    "truncated-png": "not a readable image",
    "truncated-jpeg": "not a readable image",
    "text-as-png": "not a readable image",
    "bomb-20000x20000": "over the limit of 64,000,000 pixels",
    "bomb-10000x10000": "over the limit of 64,000,000 pixels",
}


# --- hostile files: the reader ---------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_files_are_refused_by_the_reader(tmp_path, kind):
    path = hostile(kind, tmp_path)
    with pytest.raises(InpaintError) as info:
        read_image(path)
    message = str(info.value)
    assert HOSTILE[kind] in message and str(path) in message
    assert "\n" not in message


def test_the_pixel_limit_is_pillows(tmp_path):
    assert MAX_PIXELS == Image.MAX_IMAGE_PIXELS == 64_000_000
    path = bomb_png(tmp_path / "edge.png", 8000, 8000)  # exactly the limit: allowed
    assert read_image(path).size == (8000, 8000)


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    """The 10000 x 10000 bomb (100 MB once decoded, 12 kB on disk) must not raise the reader's peak memory."""
    bomb = bomb_png(tmp_path / "bomb.png", 10000, 10000)
    small = tmp_path / "small.png"
    photo(32, 32).save(small)
    script = (
        "import resource, sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from inpaint.imageio import read_image\n"
        "from inpaint.errors import InpaintError\n"
        f"read_image({str(small)!r})\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    read_image({str(bomb)!r})\n"
        "    print('decoded')\n"
        "except InpaintError as err:\n"
        "    print('refused', err)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print('peak-growth-kib', after - before)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("refused") and "over the limit" in lines[0], proc.stdout
    growth_mib = int(lines[1].split()[1]) / 1024
    assert growth_mib < 30, f"reading the bomb raised the peak memory by {growth_mib:.0f} MiB"


# --- sizes --------------------------------------------------------------------------------------

def test_too_large_in_memory_image_is_refused_by_complete(rgb):
    big = Image.new("L", (10000, 10000))  # 1e8 pixels, over the limit
    with pytest.raises(InpaintError, match="10000x10000 = 100,000,000 pixels, over the limit"):
        complete(rgb, big, np.zeros((2, 2), bool), FAST)


def test_large_but_allowed_image_keeps_its_size_and_pixels(rgb):
    img = photo(6000, 1000)
    hole = np.zeros((1000, 6000), bool)
    hole[300:800, 2500:3100] = True  # 300,000 pixels: Poisson-blended on a coarser grid
    result = complete(rgb, img, hole, FAST)
    assert result.image.size == (6000, 1000)
    out, src = np.asarray(result.image), np.asarray(img)
    assert (out[~hole] == src[~hole]).all()
    assert not (out[hole] == src[hole]).all()


@pytest.mark.parametrize("size,which", [((1, 400), "rgb"), ((4000, 1), "grey"), ((3000, 3), "rgb"),
                                        ((2, 2000), "grey"), ((2, 1), "rgb")])
def test_extreme_aspect_ratios(rgb, grey, size, which):
    img = photo(*size)
    hole = np.zeros((size[1], size[0]), bool)
    if size[0] >= size[1]:
        hole[:, size[0] // 3: max(size[0] // 2, size[0] // 3 + 1)] = True
    else:
        hole[size[1] // 3: max(size[1] // 2, size[1] // 3 + 1), :] = True
    result = complete(rgb if which == "rgb" else grey, img, hole, FAST)
    assert result.image.size == img.size
    assert (np.asarray(result.image)[~hole] == np.asarray(img)[~hole]).all()


def test_one_pixel_image(rgb):
    img = photo(1, 1)
    with pytest.raises(InpaintError, match="whole image"):
        complete(rgb, img, np.ones((1, 1), bool), FAST)
    with pytest.raises(InpaintError, match="empty"):
        complete(rgb, img, np.zeros((1, 1), bool), FAST)


# --- masks -----------------------------------------------------------------------------------

def test_grow_and_shrink_a_hole():
    hole = np.zeros((20, 30), bool)
    hole[8:12, 10:20] = True
    assert (grow(hole, 0) == hole).all() and grow(hole, 0) is not hole
    grown = grow(hole, 2)
    assert grown[hole].all() and grown[6, 15] and grown[10, 8] and not grown[5, 15] and not grown[10, 7]
    assert not grown[6, 8]  # a disc, not a square: (2, 2) away is farther than 2
    shrunk = grow(hole, -1)
    assert (shrunk == np.pad(np.ones((2, 8), bool), ((9, 9), (11, 11)))).all()
    assert not grow(hole, -2).any()  # shrunk to nothing
    # the image's border is not known: a hole along it shrinks away from the known pixels only
    left = np.zeros((10, 10), bool)
    left[:, :4] = True
    assert (grow(left, -1) == np.pad(np.ones((10, 3), bool), ((0, 0), (0, 7)))).all()
    assert grow(np.ones((3, 3), bool), -1).all()


# --- modes and orientation, through files and the CLI ----------------------------------------

def save_in_mode(path: Path, mode: str) -> None:
    base = photo(36, 28)
    if mode == "I;16":
        grey16 = np.asarray(base.convert("L")).astype("<u2") * 257
        img = Image.frombytes("I;16", base.size, grey16.tobytes())
    elif mode == "P-transparent":
        img = base.convert("P", palette=Image.ADAPTIVE, colors=16)
        img.info["transparency"] = 0
        img.save(path, transparency=0)
        return
    elif mode in ("RGBA", "LA"):
        rgba = base.convert("RGBA")
        alpha = np.full((28, 36), 255, np.uint8)
        alpha[:, :6] = 0  # real transparency on the left
        rgba.putalpha(Image.fromarray(alpha))
        img = rgba.convert(mode)
    else:
        img = base.convert(mode)
    img.save(path)


@pytest.mark.parametrize("mode,suffix", [
    ("RGBA", ".png"), ("LA", ".png"), ("P", ".png"), ("P-transparent", ".png"), ("P", ".gif"),
    ("I;16", ".png"), ("CMYK", ".jpg"), ("CMYK", ".tif"), ("1", ".bmp"), ("I", ".tif"), ("F", ".tif"),
])
def test_every_image_mode_through_the_cli(tiny_checkpoints, tmp_path, mode, suffix):
    src = tmp_path / f"in{suffix}"
    save_in_mode(src, mode)
    hole = box((36, 28))
    mask = save_mask(tmp_path / "mask.png", hole)
    out = tmp_path / "out.png"
    for model in ("tiny-rgb", "tiny-grey"):
        assert main(["--model", tiny_checkpoints[model], "--image", str(src), "--mask", str(mask),
                     "--out", str(out), *CLI_FAST]) == 0
        expected = read_image(src)
        result = Image.open(out)
        assert result.size == (36, 28) and result.mode == expected.mode
        assert (np.asarray(result)[~hole] == np.asarray(expected)[~hole]).all()


@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_rotated_jpeg_is_completed_upright(tiny_checkpoints, rgb, tmp_path, orientation):
    stored = photo(40, 24, seed=orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = tmp_path / "camera.jpg"
    stored.save(src, exif=exif, quality=95)
    with Image.open(src) as img:
        upright = ImageOps.exif_transpose(img)  # what a viewer shows
    hole = box(upright.size)  # drawn on the image as shown
    out = tmp_path / "out.png"
    assert main(["--model", tiny_checkpoints["tiny-rgb"], "--image", str(src),
                 "--mask", str(save_mask(tmp_path / "mask.png", hole)), "--out", str(out), *CLI_FAST]) == 0
    result = np.asarray(Image.open(out))
    assert result.shape[:2] == hole.shape
    assert (result[~hole] == np.asarray(upright)[~hole]).all()
    # the engine given the file's image directly does the same
    with Image.open(src) as img:
        assert complete(rgb, img, hole, FAST).image.size == upright.size
    if orientation >= 5:  # a quarter turn: a mask drawn on the stored (sideways) pixels does not fit
        with Image.open(src) as img, pytest.raises(InpaintError, match="same size"):
            complete(rgb, img, box(stored.size), FAST)


# --- hostile files and masks through the CLI ------------------------------------------------------

def cli_error(capsys, args) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return code, lines[0]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.parametrize("role", ["image", "mask"])
def test_hostile_files_through_the_cli(tiny_checkpoints, tmp_path, capsys, kind, role):
    good = tmp_path / "good.png"
    photo(24, 18).save(good)
    mask = save_mask(tmp_path / "mask.png", box((24, 18)))
    bad = hostile(kind, tmp_path)
    image, mask = (bad, mask) if role == "image" else (good, bad)
    out = tmp_path / "out.png"
    code, line = cli_error(capsys, ["--model", tiny_checkpoints["tiny-rgb"], "--image", str(image),
                                    "--mask", str(mask), "--out", str(out), *CLI_FAST])
    assert code != 0 and HOSTILE[kind] in line and str(bad) in line
    assert not out.exists()


@pytest.mark.parametrize("case,message", [
    ("all-white", "covers the whole image"),
    ("all-black", "mask is empty"),
    ("other-size", "same size"),
    ("one-pixel-image", "covers the whole image"),
    ("mask-folder-without-this-image", "no such file"),
])
def test_bad_masks_through_the_cli(tiny_checkpoints, tmp_path, capsys, case, message):
    size = (1, 1) if case == "one-pixel-image" else (24, 18)
    src = tmp_path / "in.png"
    photo(*size).save(src)
    hole = np.ones((size[1], size[0]), bool)
    if case == "all-black":
        hole[:] = False
    elif case == "other-size":
        hole = box((18, 24))
    mask = save_mask(tmp_path / "mask.png", hole)
    if case == "mask-folder-without-this-image":
        (tmp_path / "masks").mkdir()
        mask = tmp_path / "masks"  # a folder without in.png: the mask file for in.png is missing
    code, line = cli_error(capsys, ["--model", tiny_checkpoints["tiny-rgb"], "--image", str(src),
                                    "--mask", str(mask), "--out", str(tmp_path / "out.png"), *CLI_FAST])
    assert code != 0 and message in line, line


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_bad_file_in_a_batch_loses_none_of_the_others(tiny_checkpoints, tmp_path, capsys):
    images, out = tmp_path / "images", tmp_path / "out"
    images.mkdir()
    for i in range(3):
        photo(24, 18, seed=i).save(images / f"good{i}.png")
    for kind in HOSTILE:
        bad = hostile(kind, tmp_path)
        bad.rename(images / f"bad-{kind}{bad.suffix}")
    mask = save_mask(tmp_path / "mask.png", box((24, 18)))
    code = main(["--model", tiny_checkpoints["tiny-rgb"], "--image", str(images), "--mask", str(mask),
                 "--out", str(out), *CLI_FAST])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["good0.png", "good1.png", "good2.png"]
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == len(HOSTILE)
    assert f"3 of {3 + len(HOSTILE)} images completed" in err


# --- caps, determinism and temporary files ------------------------------------------------------

@pytest.mark.parametrize("field,value", [("iterations", 100_001), ("restarts", 4097), ("init_pool", 1025)])
def test_the_engine_caps_work_per_call(rgb, field, value):
    with pytest.raises(InpaintError, match="must be between"):
        complete(rgb, photo(12, 10), box((12, 10)), FAST, **{field: value})


def test_time_limit_returns_the_best_so_far(rgb):
    img = photo(20, 20)
    result = complete(rgb, img, box(img.size), FAST, iterations=100_000, time_limit=1e-9)
    assert result.stopped_early and result.iterations == 1
    assert result.image.size == img.size


def test_same_inputs_and_seed_give_the_same_file(tiny_checkpoints, tmp_path):
    src = tmp_path / "in.png"
    photo(30, 20).save(src)
    mask = save_mask(tmp_path / "mask.png", box((30, 20)))
    outputs = []
    for i, seed in enumerate((7, 7, 8)):
        out = tmp_path / f"out{i}.png"
        assert main(["--model", tiny_checkpoints["tiny-rgb"], "--image", str(src), "--mask", str(mask),
                     "--out", str(out), "--seed", str(seed), "--iterations", "10", "--restarts", "4",
                     "--blend", "none"]) == 0  # the fill as it is: the seed's effect is not smoothed away
        outputs.append(np.asarray(Image.open(out)))
    assert (outputs[0] == outputs[1]).all()
    assert not (outputs[0] == outputs[2]).all()


def test_the_cli_leaves_no_temporary_files(tiny_checkpoints, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    src = tmp_path / "in.png"
    photo(30, 20).save(src)
    out = tmp_path / "out"
    assert main(["--model", tiny_checkpoints["tiny-rgb"], "--image", str(src), "--preset", "center",
                 "--out", str(out / "in.png"), "--candidates", "2", *CLI_FAST]) == 0
    assert tempfile.gettempdir() == str(temp)
    assert list(temp.iterdir()) == []
    assert {p.name for p in out.iterdir()} <= {"in.png", "in-2.png"}


# --- the invariants, for any size, mode and mask ------------------------------------------------

MODES = ("RGB", "RGBA", "L", "LA", "P", "P-transparent", "1", "I;16", "I", "F", "CMYK")


def make_image(w: int, h: int, mode: str, seed: int) -> Image.Image:
    img = photo(w, h, seed=seed)
    if mode == "I;16":
        return Image.frombytes("I;16", (w, h), (np.asarray(img.convert("L")).astype("<u2") * 257).tobytes())
    if mode == "P-transparent":
        p = img.convert("P", palette=Image.ADAPTIVE, colors=8)
        p.info["transparency"] = 0
        return p
    if mode in ("RGBA", "LA"):
        rgba = img.convert("RGBA")
        alpha = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
        rgba.putalpha(Image.fromarray(alpha))
        return rgba.convert(mode)
    return img.convert(mode)


@st.composite
def cases(draw):
    long_side = draw(st.sampled_from([8, 40, 300]))
    w = draw(st.integers(1, long_side))
    h = draw(st.integers(1, 40 if long_side == 300 else long_side))
    if draw(st.booleans()):
        w, h = h, w
    mode = draw(st.sampled_from(MODES))
    seed = draw(st.integers(0, 2**16))
    kind = draw(st.sampled_from(["box"] * 4 + ["random"] * 2 + ["empty", "full", "other-size"]))
    rng = np.random.default_rng(seed)
    if kind == "box":
        x0 = draw(st.integers(0, w - 1))
        x1 = draw(st.integers(x0 + 1, w))
        y0 = draw(st.integers(0, h - 1))
        y1 = draw(st.integers(y0 + 1, h))
        hole = np.zeros((h, w), bool)
        hole[y0:y1, x0:x1] = True
    elif kind == "random":
        hole = rng.random((h, w)) < draw(st.floats(0.01, 0.99))
    elif kind == "empty":
        hole = np.zeros((h, w), bool)
    elif kind == "full":
        hole = np.ones((h, w), bool)
    else:
        hole = rng.random((h + draw(st.integers(1, 3)), w)) < 0.5
    form = draw(st.sampled_from(["bool", "L", "RGBA", "1"]))
    blend = draw(st.sampled_from(["poisson", "alpha", "none"]))
    model = draw(st.sampled_from(["rgb", "grey"]))
    return make_image(w, h, mode, seed), hole, form, blend, model


def as_mask(hole: np.ndarray, form: str):
    """The hole as the engine accepts it: a bool array or a mask image (white = hole)."""
    if form == "bool":
        return hole
    white = Image.fromarray(np.where(hole, 255, 0).astype(np.uint8), "L")
    if form == "RGBA":  # painted = opaque white; unpainted = transparent
        return Image.merge("RGBA", (white, white, white, white))
    return white.convert(form)


@hsettings(max_examples=30, deadline=None, database=None,
           suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_complete_keeps_its_promises_for_any_image_and_mask(rgb, grey, case):
    """Output size = input size, pixels outside the hole unchanged (beyond the feathered seam for
    alpha blending), and no exception but InpaintError."""
    img, hole, form, blend, which = case
    model = rgb if which == "rgb" else grey
    expected = normalize(img)
    fillable = hole.shape == (img.height, img.width) and hole.any() and not hole.all()
    try:
        result = complete(model, img, as_mask(hole, form), FAST, blend=blend, candidates=2)
    except InpaintError as err:
        # refused: the mask can't be used, or (letterboxed to the model) nothing known is left
        assert not fillable or "too little of the image" in str(err), err
        event(f"refused: {str(err).split(':')[0][:40]}")
        return
    event(f"filled ({blend})")
    assert fillable, "an unusable mask must be refused"
    assert result.image.size == img.size and result.image.mode == expected.mode
    assert all(c.size == img.size for c in result.candidates)
    keep = ~hole
    if blend == "alpha":  # the seam reaches `feather` pixels outside the hole
        feather = max(2, round(0.02 * min(hole.shape)))
        keep = ndimage.distance_transform_edt(~hole) > feather + 1
    out, src = np.asarray(result.image), np.asarray(expected)
    assert (out[keep] == src[keep]).all()
    if expected.mode == "RGBA":
        assert (out[hole][:, 3] == 255).all()  # the filled hole is opaque

