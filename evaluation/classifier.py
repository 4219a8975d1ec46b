"""A small CNN trained on a model's training split, for the evaluation's numbers.

Fashion-MNIST: the 10 garment classes (semantic accuracy of completions; Fréchet distance
in its 64-d penultimate features). Emoji: the emoji itself, skin tone removed (463
classes of the train split over three art styles and six skin tones), whose features see
faces, hands and figures; used for the Fréchet distance only (the val and test splits hold
other emoji, so there is no accuracy to measure). Only the train split is used for training.

    python -m evaluation.classifier --dataset fashion-mnist --out evaluation/classifiers/fashion-mnist
    python -m evaluation.classifier --dataset emoji --out evaluation/classifiers/emoji --epochs 10
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from train import data

CLASSIFIERS = Path(__file__).resolve().parent / "classifiers"  # one folder per data set, made by main()
SKIN_TONES = re.compile(r"-1F3F[B-F]")


class SmallCNN(nn.Module):
    """images N x C x R x R in [-1, 1] -> logits; `features` gives the 4*width-d embedding.

    Inputs larger than 32x32 are area-downsampled to 32x32 first (cheap on two cores)."""

    def __init__(self, channels: int = 1, classes: int = 10, width: int = 16):
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                                 nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                                 nn.MaxPool2d(2))

        self.body = nn.Sequential(block(channels, width), block(width, width * 2), block(width * 2, width * 4))
        self.head = nn.Linear(width * 4, classes)
        self.config = {"channels": channels, "classes": classes, "width": width}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 32:
            x = F.adaptive_avg_pool2d(x, 32)
        return self.body(x).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def save(self, folder: Path, **info) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps({**self.config, **info}, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "SmallCNN":
        config = json.loads((Path(folder) / "config.json").read_text())
        net = cls(config["channels"], config["classes"], config["width"])
        net.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
        net.info = config
        return net.eval().requires_grad_(False)


def labelled(dataset: str, split: str, resolution: int | None = None):
    """(uint8 images, int64 labels, class names) for a split ("train", "val", "test") of a named data set.

    Emoji classes are those of the split's own images (the splits share no base emoji)."""
    if dataset == "fashion-mnist":
        images, labels = data.fashion_mnist(split, resolution or 32)
        return images, labels, list(data.FASHION_MNIST_CLASSES)
    if dataset in data.EMOJI_DATASETS:
        images, names = data.emoji(split, resolution or 64, faces=dataset == "emoji-faces")
        base = [SKIN_TONES.sub("", n.split(":", 1)[1]) for n in names]
        classes = sorted(set(base))
        index = {c: i for i, c in enumerate(classes)}
        return images, torch.tensor([index[b] for b in base]), classes
    raise data.DataError(f"no labels for {dataset!r}: the classifier needs fashion-mnist or emoji")


def classifier_for(dataset: str) -> str:
    """The data set whose classifier gives a data set's features: emoji-faces, a subset of
    emoji, is measured with emoji's."""
    return "emoji" if dataset in data.EMOJI_DATASETS else dataset


def to_input(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1)


def train_classifier(images, labels, classes: int, epochs: int = 3, batch: int = 128, seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    net = SmallCNN(images.shape[1], classes)
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    steps = epochs * (len(images) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    with tqdm(total=steps, unit="step", desc="classifier") as bar:
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=gen)
            for i in range(0, len(order) - batch + 1, batch):
                idx = order[i: i + batch]
                x = to_input(images[idx])
                flip = torch.rand(len(idx), generator=gen) < 0.5
                x[flip] = x[flip].flip(-1)
                loss = F.cross_entropy(net(x), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}")
    return net.eval().requires_grad_(False)


@torch.no_grad()
def predict(net: SmallCNN, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(features N x 128, predicted class N) for uint8 images or float images in [-1, 1]."""
    x = to_input(images) if images.dtype == torch.uint8 else images
    feats, preds = [], []
    for chunk in x.split(batch):
        f = net.features(chunk)
        feats.append(f)
        preds.append(net.head(f).argmax(1))
    return torch.cat(feats), torch.cat(preds)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.classifier", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=("fashion-mnist", "emoji"))
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit", type=int, help="first N training images only (smoke runs)")
    args = p.parse_args(argv)
    started = time.time()
    images, labels, classes = labelled(args.dataset, "train")
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    net = train_classifier(images, labels, len(classes), args.epochs)
    info = {"dataset": args.dataset, "epochs": args.epochs, "seconds": round(time.time() - started, 1),
            "command": "python -m evaluation.classifier " + " ".join(sys.argv[1:] if argv is None else argv)}
    if args.dataset == "fashion-mnist":  # emoji's val classes are not its train classes: no accuracy
        val_images, val_labels, _ = labelled(args.dataset, "val")
        info["val_accuracy"] = round(float((predict(net, val_images)[1] == val_labels).float().mean()), 4)
    net.save(Path(args.out), **info)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
