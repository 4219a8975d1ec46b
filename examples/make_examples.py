"""Write the app's example images: held-out test images of each bundled model's domain.

    PYTHONPATH=. python examples/make_examples.py

Writes examples/<model>/<n>-<name>.png (upscaled so people can paint on them) and
examples/examples.json, which lists each image with the model that knows its domain and
the mask preset the app paints on it when the example is picked; a PNG in a model's folder
that is no longer listed is deleted. Only test splits are used (Fashion-MNIST t10k[5000:];
the emoji held out by base emoji, all their variants with them), so no example, nor a
skin-tone or gender variant of one, was seen in training. The emoji faces go to the
faces-only model (emoji-faces-64), the people to the broad one (emoji-64).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from train import data

HERE = Path(__file__).resolve().parent
SIDE = 256  # the size shown in the editor: big enough to paint on

# (index in the test split, hole preset): one garment of each of six classes, with different holes
FASHION = [(10, "center"), (17, "left"), (1, "top"), (45, "random"), (11, "strokes"), (7, "center")]
# model -> [(emoji set:code points, hole preset)]: test-split emoji in the three drawing styles, with
# every hole preset; faces (`data.emoji_faces`) for the faces model, people and hands for the broad one
EMOJI = {
    "emoji-faces-64": [("twemoji:1F612", "center"), ("openmoji:1F616", "bottom"), ("noto:1F643", "random"),
                       ("noto:1F9D0", "left"), ("twemoji:1F63D", "strokes"), ("openmoji:1FAE1", "top")],
    "emoji-64": [("twemoji:1F9DA", "strokes"), ("openmoji:1F470", "center"), ("noto:1F9D1-200D-1F527", "top"),
                 ("twemoji:1F9D1-200D-2696-FE0F", "left"), ("noto:1F9D1-200D-1F91D-200D-1F9D1", "bottom"),
                 ("openmoji:1F9D1-200D-1F9BD", "random")],
}
FACES = "emoji-faces-64"  # the model whose examples are faces; the others' never are
EMOJI_NAMES = {"1F612": "unamused", "1F616": "confounded", "1F643": "upside-down", "1F9D0": "monocle",
               "1F63D": "kissing-cat", "1FAE1": "saluting", "1F9DA": "fairy", "1F470": "veil",
               "1F9D1-200D-1F527": "mechanic", "1F9D1-200D-2696-FE0F": "judge",
               "1F9D1-200D-1F91D-200D-1F9D1": "holding-hands", "1F9D1-200D-1F9BD": "wheelchair"}


def fashion_mnist() -> list[dict]:
    images, labels = data.fashion_mnist("test")
    out = []
    for n, (i, hole) in enumerate(FASHION):
        # the 32x32 image the model was trained on (28x28 garment + 2 px black border), kept at
        # that framing so the garment has the size the model knows; NEAREST keeps the pixels honest
        img = Image.fromarray(images[i, 0].numpy(), "L").resize((SIDE, SIDE), Image.NEAREST)
        cls = data.FASHION_MNIST_CLASSES[int(labels[i])]
        name = cls.lower().replace("/", "-").replace(" ", "-")
        t10k = data.FASHION_MNIST_VAL + i
        out.append(_save(img, "fashion-mnist-32", f"{n}-{name}.png", hole, f"{cls} (Fashion-MNIST t10k image {t10k}, test split)"))
    return out


def emoji() -> list[dict]:
    images, names = data.emoji("test")
    index = {name: i for i, name in enumerate(names)}
    faces = data.emoji_faces()
    out = []
    for model, picks in EMOJI.items():
        for n, (key, hole) in enumerate(picks):
            style, seq = key.split(":")
            if data.emoji_split(seq) != "test":
                raise ValueError(f"{key} is not in the emoji test split: pick another")
            if (data.base_emoji(seq) in faces) != (model == FACES):
                raise ValueError(f"{key} is {'not ' if model == FACES else ''}a face: not an example for {model}")
            if key not in index:  # a set missing on this machine (e.g. no Noto font): skip it
                continue
            arr = images[index[key]].permute(1, 2, 0).numpy().astype(np.uint8)
            img = Image.fromarray(arr, "RGB").resize((SIDE, SIDE), Image.BICUBIC)
            name = EMOJI_NAMES.get(seq, seq.lower())
            out.append(_save(img, model, f"{n}-{style}-{name}.png", hole,
                             f"{name} ({style}, test-split emoji U+{seq})"))
    return out


def _save(img: Image.Image, model: str, filename: str, hole: str, caption: str) -> dict:
    folder = HERE / model
    folder.mkdir(parents=True, exist_ok=True)
    img.save(folder / filename, optimize=True)
    return {"model": model, "image": f"{model}/{filename}", "hole": hole, "caption": caption}


def _prune(entries: list[dict]) -> list[Path]:
    """Delete the PNGs in the models' folders that `entries` no longer list; the deleted paths."""
    listed = {HERE / e["image"] for e in entries}
    stale = [p for p in sorted(HERE.glob("*/*.png")) if p not in listed]
    for path in stale:
        path.unlink()
    return stale


def main() -> None:
    entries = fashion_mnist() + emoji()
    (HERE / "examples.json").write_text(json.dumps(entries, indent=2) + "\n")
    stale = _prune(entries)
    print(f"wrote {len(entries)} examples to {HERE}" + (f", deleted {len(stale)} no longer listed" if stale else ""))


if __name__ == "__main__":
    main()
