"""The ImageEditor's value <-> (image, hole): the one place the app converts its editor's format.

A hole is a bool H x W array, True = hole (the engine's convention). The editor shows it as a
semi-transparent red layer over the image.
"""

from __future__ import annotations

import os
from io import BytesIO

import gradio as gr
import numpy as np
from PIL import Image

import inpaint
from inpaint.imageio import MAX_PIXELS, check_size, normalize
from inpaint.masks import from_image

HOLE_RGBA = (255, 40, 40, 150)   # how the app draws a hole into the editor: semi-transparent red
BRUSH = ("#ff2828", 0.6)
WIDE_GREY = ("I;16", "I;16B", "I;16L", "I", "F")  # 16/32-bit greyscale modes


def from_editor(value) -> tuple[Image.Image | None, np.ndarray | None]:
    """An ImageEditor value -> (image, hole bool H x W), or (None, None) when it holds no image.

    Read once: the background (else the composite) is normalized once (upright, 8 bits; an
    opaque RGBA image becomes RGB, as the editor hands everything over as RGBA), then every
    layer goes through `layer_hole` at the image's size. The value's images may be PIL images,
    numpy arrays (H x W x 3/4) or file paths. Raises InpaintError for an image over the pixel limit.
    """
    if not value:
        return None, None
    image = _as_pil(value.get("background"))
    if image is None:
        image = _as_pil(value.get("composite"))
    if image is None:
        return None, None
    image = normalize(image)  # the hole is drawn on the image as shown: upright
    if image.mode == "RGBA" and np.asarray(image.getchannel("A")).min() == 255:
        image = image.convert("RGB")
    hole = np.zeros((image.height, image.width), dtype=bool)
    for layer in value.get("layers") or []:
        layer = _as_pil(layer)
        if layer is not None:
            hole |= layer_hole(layer, image.size)
    return image, hole


def layer_hole(layer: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """One editor layer -> its hole (bool H x W) at `size` = (width, height).

    The editor's own layers are transparent where nothing is painted: the hole is wherever the
    brush left any alpha. A layer without transparency can only be a mask image an API client
    sent: white / nonzero = hole. A layer of another size (the editor's canvas) is scaled.
    """
    if "A" in layer.getbands() and np.asarray(layer.getchannel("A")).min() < 255:
        return _sized(np.asarray(layer.getchannel("A")) > 0, size)
    return mask_hole(layer.convert("RGB"), size)


def mask_hole(mask: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """A mask image (white / nonzero = hole; transparent = kept) -> its hole at `size` = (width, height)."""
    return _sized(from_image(mask), size)


def _sized(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if hole.shape != (size[1], size[0]):
        hole = np.asarray(Image.fromarray(hole).resize(size, Image.NEAREST))
    return hole


def _as_pil(x) -> Image.Image | None:
    if x is None:
        return None
    if isinstance(x, Image.Image):
        return x
    if isinstance(x, (str, bytes)) or hasattr(x, "__fspath__"):
        return Image.open(x)
    arr = np.asarray(x)
    return Image.fromarray(arr.astype(np.uint8) if arr.dtype != np.uint8 else arr)


def hole_layer(size: tuple[int, int], hole: np.ndarray) -> Image.Image:
    """An RGBA layer of `size` = (width, height): `hole` (bool H x W, True = hole) in red, clear elsewhere."""
    layer = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    layer[hole] = HOLE_RGBA
    return Image.fromarray(layer, "RGBA")


def editor_value(image: Image.Image, hole: np.ndarray) -> dict:
    """An ImageEditor value showing `hole` (bool H x W, True = hole) as a red layer over `image`.

    No composite: the editor (gradio 6.31) would show a composite sent to it under its own
    drawing, where it stays visible after the layer is replaced.
    """
    return {"background": image, "layers": [hole_layer(image.size, hole)], "composite": None}


def with_hole(image: Image.Image, hole: np.ndarray) -> Image.Image:
    """`image` with its hole shown in red (the examples' thumbnails)."""
    return Image.alpha_composite(image.convert("RGBA"), hole_layer(image.size, hole))


def guard_uploads(editor: gr.ImageEditor) -> None:
    """Make the editor refuse an unreadable or oversized upload with a message that says so.

    gradio decodes the editor's files before the callback runs and reports any failure there as
    a bare "Error"; and Pillow refuses only images over twice its pixel limit, decoding (and
    warning about) those in between. So the editor's decoder is wrapped: the size is checked
    from the file's header first, decoding errors become a gr.Error, and a 16/32-bit greyscale
    image is read the engine's way.
    """
    decode = editor.convert_and_format_image

    def checked(file, flatten_on_white: bool = False):
        if file is None:
            return decode(file, flatten_on_white)
        name = getattr(file, "orig_name", None)
        what = ("The image" if flatten_on_white else "A mask layer") + (f" '{name}'" if name else "")
        try:
            with Image.open(file.path if hasattr(file, "path") else BytesIO(file)) as img:
                check_size(img.size)
                if flatten_on_white and img.mode in WIDE_GREY and editor.type == "pil":
                    # gradio's conversion clips 16/32-bit greyscale to white; the engine scales it
                    img.load()
                    return normalize(img).convert(editor.image_mode)
            return decode(file, flatten_on_white)
        except (inpaint.InpaintError, Image.DecompressionBombError):
            raise gr.Error(f"{what} is too large: over {MAX_PIXELS:,} pixels (or a decompression bomb). "
                           f"Scale it down first.", title="Image too large", print_exception=False) from None
        except Exception as err:  # noqa: BLE001 - Pillow fails on bad files in many ways; all mean the same
            path = getattr(file, "path", None)
            if (path is not None and os.path.isfile(path) and os.path.getsize(path) == 0) or file == b"":
                why = "the file is empty"
            elif isinstance(err, Image.UnidentifiedImageError):
                why = "it is not an image file"
            else:
                why = "it is truncated or corrupt"
            raise gr.Error(f"{what} could not be read: {why}. Try a PNG or JPEG file.",
                           title="Unreadable image", print_exception=False) from None

    editor.convert_and_format_image = checked
