"""How checkpoints store weights (`model.safetensors`), and how they are read back.

Floats are stored in fp16 and loaded as fp32. The networks whose weights never make a pixel of
a fill, the discriminator D (read only when `Settings.lam` > 0) and the latent encoder E (its
answers are where the search *starts*), may store each weight tensor of two or more dimensions
in int8 instead: `NAME.q8` (int8) and `NAME.q8scale` (fp32, one scale per output channel:
NAME = q8 x q8scale, rounded to nearest, |q8| <= 127). That is half of fp16 and keeps three
models under the checkpoints' 40 MB. G and the context encoder, whose outputs are the fill,
stay in fp16.

    save_file(stored(model.state_dict(), int8=("D.",)), path)    # G fp16, D int8
    state = loaded(load_file(path))                              # plain names, float tensors

A checkpoint saved before D and E went int8 is read as it is; `python -m inpaint.weights FOLDER`
rewrites its model.safetensors (and its encoder's) in this format, G's fp16 weights unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

QUANT, SCALE = ".q8", ".q8scale"
DCGAN_INT8 = ("D.",)  # a checkpoint's own weights: D in int8, G in fp16
ENCODER_INT8 = ("",)  # the latent encoder: all of it


def stored(state: dict[str, torch.Tensor], int8: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The tensors to save for a state dict: floats in fp16, weights whose name starts with one
    of `int8` (a prefix, "" for all) as int8 with per-output-channel scales."""
    out = {}
    for name, value in state.items():
        value = value.detach().cpu()
        if value.is_floating_point() and value.dim() >= 2 and name.startswith(int8):
            dims = tuple(range(1, value.dim()))
            scale = value.float().abs().amax(dim=dims, keepdim=True).clamp_min(1e-12) / 127
            out[name + QUANT] = (value.float() / scale).round().clamp(-127, 127).to(torch.int8).contiguous()
            out[name + SCALE] = scale.contiguous()
        else:
            out[name] = (value.half() if value.is_floating_point() else value).contiguous()
    return out


def loaded(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict from saved tensors (`stored`'s, or plain ones): int8 pairs become float
    tensors under their own names. A `.q8` without its scale (or the other way) is a ValueError."""
    out = {}
    for name, value in tensors.items():
        if name.endswith(SCALE):
            if name[: -len(SCALE)] + QUANT not in tensors:
                raise ValueError(f"{name} has no {name[: -len(SCALE)] + QUANT}")
            continue
        if name.endswith(QUANT):
            base = name[: -len(QUANT)]
            scale = tensors.get(base + SCALE)
            if scale is None:
                raise ValueError(f"{name} has no {base + SCALE}")
            out[base] = value.float() * scale.float()
        else:
            out[name] = value
    return out


INT8 = {".": DCGAN_INT8, "encoder": ENCODER_INT8}  # the checkpoint's own weights, and its latent encoder's


def restore(folder: Path) -> list[Path]:
    """Rewrite FOLDER/model.safetensors and FOLDER/encoder/model.safetensors in this format;
    the files it rewrote."""
    from safetensors.torch import load_file, save_file

    done = []
    for sub, prefixes in INT8.items():
        path = folder / sub / "model.safetensors"
        if path.is_file():
            tmp = path.with_suffix(".tmp")
            save_file(stored(loaded(load_file(str(path))), int8=prefixes), str(tmp), metadata={"format": "pt"})
            tmp.replace(path)
            done.append(path)
    return done


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m inpaint.weights CHECKPOINT_FOLDER [...]")
    for arg in sys.argv[1:]:
        for path in restore(Path(arg)):
            print(f"rewrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
