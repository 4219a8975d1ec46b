"""The Restore tab's conversions: its widgets' values -> a degradation (`inpaint.operators`), a
clean example -> a degraded copy to try, and images shown at one size so they can be compared.

The search itself is the service's (`Service.restore`, through `Callbacks.restore`).
"""

from __future__ import annotations

import math

import gradio as gr
from PIL import Image

from inpaint import InpaintError
from inpaint import operators as ops

# (what the picker says, the value the API takes)
TASKS = (("Deblur", "deblur"), ("Upscale", "upscale"), ("Denoise", "denoise"), ("Colourise", "colourise"))
COLOUR_ONLY = ("colourise",)  # offered for colour models only
BLURS = (("Gaussian", "gaussian"), ("Box", "box"), ("Motion", "motion"))
FACTORS = ops.FACTORS
MAX_STRENGTH = 16.0  # the page's slider (the engine takes up to ops.MAX_BLUR)
VIEW = 256           # the input, result and truth are shown enlarged (nearest neighbour) to at least this side
# {models}: the app's colour models, " (a or b)" (`callbacks.listed`)
NO_COLOUR = "Colourising needs a colour model: {name} is greyscale. Pick a colour model{models}, or another task."


def degradation(task: str, blur: str = "gaussian", strength: float = 2.0, angle: float = 0.0, factor: int = 4,
                noise: float = 0.1) -> ops.Degradation:
    """The degradation the widgets describe (only the task's own settings count), or a gr.Error.

    task: deblur | upscale | denoise | colourise. blur: gaussian | box | motion, of `strength`
    pixels of the image (the Gaussian's sigma, the box's side, the motion's length) at `angle`
    degrees (motion only). factor: 2, 4 or 8 (upscale). noise: the noise's sigma on the [0, 1] scale.
    """
    try:
        if task == "deblur":
            strength = _number(strength, "the blur's strength")
            if blur == "gaussian":
                return ops.GaussianBlur(strength)
            if blur == "box":
                return ops.BoxBlur(strength)
            if blur == "motion":
                return ops.MotionBlur(strength, _number(angle, "the motion's angle"))
            raise InpaintError(f"unknown blur {blur!r}; choose one of {', '.join(v for _, v in BLURS)}")
        if task == "upscale":
            return ops.Downsample(_whole(factor))
        if task == "denoise":
            return ops.Noise(_number(noise, "the noise's sigma"))
        if task == "colourise":
            return ops.Greyscale()
        raise InpaintError(f"unknown task {task!r}; choose one of {', '.join(v for _, v in TASKS)}")
    except InpaintError as err:
        raise gr.Error(str(err), title="Restore", print_exception=False) from None


def _number(x, what: str) -> float:
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise InpaintError(f"{what} must be a number, got {x!r}")
    return float(x)


def _whole(x):
    """2.0 (a number from a slider or JSON) as 2; anything else as it is, for the operator to judge."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def described(op: ops.Degradation) -> str:
    """What a degradation is, in words: "a Gaussian blur of sigma 2 px", "downsampling by 4", ..."""
    if isinstance(op, ops.GaussianBlur):
        return f"a Gaussian blur of sigma {op.sigma:g} px"
    if isinstance(op, ops.BoxBlur):
        return f"a {op.size:g}×{op.size:g} px box blur"
    if isinstance(op, ops.MotionBlur):
        return f"a motion blur {op.length:g} px long at {op.angle:g}°"
    if isinstance(op, ops.Downsample):
        return f"downsampling by {op.factor} (upscaled ×{op.factor})"
    if isinstance(op, ops.Noise):
        return f"Gaussian noise of sigma {op.sigma:g}"
    if isinstance(op, ops.Greyscale):
        return "greyscale (colourised)"
    return repr(op)


def tasks_for(channels: int | None) -> list[tuple[str, str]]:
    """The tasks offered for a model of `channels` (None: not known, all of them)."""
    return [t for t in TASKS if channels != 1 or t[1] not in COLOUR_ONLY]


def shown(size: tuple[int, int]) -> tuple[int, int]:
    """The size the page shows an image of `size` at: enlarged by a whole factor to about VIEW."""
    scale = max(1, VIEW // max(size))
    return size[0] * scale, size[1] * scale


def enlarged(image: Image.Image | None, size: tuple[int, int]) -> Image.Image | None:
    """`image` scaled to `size` with nearest neighbour (its pixels kept sharp), for comparing."""
    if image is None:
        return None
    return image if image.size == tuple(size) else image.resize(tuple(size), Image.NEAREST)


def clean_example(path: str, resolution: int) -> Image.Image:
    """An example's image at the model's resolution (area-averaged: the examples are their model's
    images enlarged for painting), in "L" or "RGB": the clean image to degrade."""
    with Image.open(path) as img:
        image = img.convert("L" if img.mode in ("L", "LA", "I", "I;16") else "RGB")
    if max(image.size) > resolution:
        scale = resolution / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BOX)
    return image


def controls(task: str, blur: str) -> tuple:
    """The Restore tab's settings shown for `task` (and the angle for a motion `blur`): updates of
    (the blur's row, the angle, the factor, the noise's sigma)."""
    return (gr.update(visible=task == "deblur"), gr.update(visible=task == "deblur" and blur == "motion"),
            gr.update(visible=task == "upscale"), gr.update(visible=task == "denoise"))
