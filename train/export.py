"""Write a checkpoint folder that `inpaint.load_model` reads, with its model card.

A folder holds config.json, model.safetensors (G in fp16, D in int8: `inpaint.weights`; loaded as fp32),
README.md (the model card) and samples.png. `--push-to-hub` uploads the same files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from inpaint.imageio import grid
from inpaint.models import DCGAN
from inpaint.weights import DCGAN_INT8, QUANT, stored

from .data import EMOJI_DATASETS, licence

CARD_INFO = "card.json"  # facts for the card, kept beside it so the evaluation can add numbers
PAPER = "https://arxiv.org/abs/1607.07539"  # Yeh et al., Semantic Image Inpainting with Deep Generative Models
HUB_DATASETS = {"fashion-mnist": "zalando-datasets/fashion_mnist"}  # the training data's Hub id, where there is one


def save_weights(model: DCGAN, path: Path) -> None:
    """G in fp16, D's weights in int8 (`inpaint.weights`: D is read only when lam > 0); fp32 on load."""
    save_file(stored(model.state_dict(), int8=DCGAN_INT8), str(path), metadata={"format": "pt"})


def export(model: DCGAN, out: Path, samples: torch.Tensor | None = None, info: dict | None = None) -> Path:
    """Write OUT/{config.json, model.safetensors, samples.png, README.md}; atomic per file."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(model.config, indent=2) + "\n")
    tmp = out / "model.safetensors.tmp"
    save_weights(model, tmp)
    tmp.replace(out / "model.safetensors")
    if samples is None:
        samples = model.generate(64)
    grid(samples, 8, scale=2 if model.resolution <= 32 else 1).save(out / "samples.png")
    card = _read_info(out)
    card.update(info or {})
    (out / CARD_INFO).write_text(json.dumps(card, indent=2) + "\n")
    write_card(out)
    return out


def _read_info(out: Path) -> dict:
    path = out / CARD_INFO
    return json.loads(path.read_text()) if path.exists() else {}


def update_card(out: Path, **facts) -> None:
    """Add facts (e.g. evaluation numbers) to a checkpoint's card and rewrite README.md."""
    card = _read_info(out)
    card.update(facts)
    (out / CARD_INFO).write_text(json.dumps(card, indent=2) + "\n")
    write_card(out)


def write_card(out: Path) -> None:
    config = json.loads((out / "config.json").read_text())
    info = _read_info(out)
    minutes = info.get("seconds", 0) / 60
    dataset = config.get("dataset", "unknown")
    lines = [
        "---",
        "library_name: gan-inpaint",
        "pipeline_tag: image-to-image",
        "tags: [dcgan, image-inpainting, gan]",
        f"license: {'cc-by-sa-4.0' if dataset in EMOJI_DATASETS else 'mit'}",
        *([f"datasets: [{HUB_DATASETS[dataset]}]"] if dataset in HUB_DATASETS else []),
        "---",
        f"# DCGAN {config['resolution']}x{config['resolution']}, {dataset}",
        "",
        "A DCGAN (Radford et al., 2016) generator G and discriminator D, trained by this project's "
        f"`train` module for semantic inpainting by latent optimization ([Yeh et al., CVPR 2017]({PAPER})). "
        "Load it with `inpaint.load_model(\"<this folder or repo id>\")`.",
        "",
        "![samples](samples.png)",
        "",
        "## Model",
        "",
        f"- images: {config['resolution']}x{config['resolution']}, {config['channels']} channel(s), values in [-1, 1]",
        f"- latent: z_dim {config['z_dim']}, prior {config['prior']}"
        + (" (z ~ N(0, I))" if config["prior"] == "gaussian" else " (z ~ U(-1, 1))"),
        f"- widths: ngf {config['ngf']}, ndf {config['ndf']}; {_storage(out / 'model.safetensors')}",
        "",
        "## Training",
        "",
        f"- data: {dataset} ({info.get('images', '?')} training images); {licence(dataset)}",
        "- command" + ("s (a run, then resumed)" if len(info.get("commands", [])) > 1 else "") + ": "
        + "; then ".join(f"`{c}`" for c in info.get("commands", [info.get("command", "?")])),
        *([f"- started from: {info['started_from']}"] if info.get("started_from") else []),
        f"- steps: {info.get('steps', '?')} at batch {info.get('batch_size', '?')}, "
        f"{minutes:.1f} minutes of training on {info.get('device', '?')}, precision {info.get('precision', '?')}",
        "- recipe: " + info.get("recipe", "Adam lr 2e-4, beta1 0.5, N(0, 0.02) init, non-saturating G loss, "
                                "horizontal flips"),
    ]
    if info.get("notes"):
        lines += [f"- note: {info['notes']}"]
    if info.get("attribution"):
        lines += ["", "## Attribution", "", info["attribution"]]
    if info.get("validation"):
        lines += ["", "## Validation (the choices)", "", info["validation"]]
    if info.get("evaluation"):
        lines += ["", "## Evaluation", "", info["evaluation"]]
    if info.get("domain_check"):
        lines += ["", "## Domain check", "", info["domain_check"]]
    if (out / "completions.png").exists():
        lines += ["", "## Example completions (held-out images)", "",
                  "Rows: original, masked input, completion.", "", "![completions](completions.png)"]
    lines += ["", "## Limits", "",
              "The generator only knows its training domain: holes in other kinds of images are filled "
              "with something from this domain. Images are fitted to the model's resolution."]
    (out / "README.md").write_text("\n".join(lines) + "\n")


def _storage(path: Path) -> str:
    """How the card's weights file stores them (`inpaint.weights`)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        int8 = any(k.endswith(QUANT) for k in f.keys())
    return ("G stored in fp16, D in int8 with a scale per channel (`inpaint.weights`), loaded as fp32" if int8
            else "weights stored in fp16, loaded as fp32")


def push_to_hub(out: Path, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload a checkpoint folder to the Hub (honours HF_ENDPOINT and HF_TOKEN)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True, private=private)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(out), ignore_patterns=["training/*"],
                             commit_message="Upload DCGAN checkpoint")
    return getattr(info, "commit_url", str(info))
