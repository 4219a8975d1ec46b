"""Image conversions and grids: the one place images enter and leave the engine.

Engine tensors are N x C x H x W float in [-1, 1]; PIL images and uint8 arrays are what
users and files have.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from PIL import Image


def to_tensor(images) -> torch.Tensor:
    """uint8 tensor/array (N x C x H x W or H x W x C) or PIL image -> float N x C x H x W in [-1, 1]."""
    if isinstance(images, Image.Image):
        arr = np.asarray(images)
        images = torch.from_numpy(arr.copy()).reshape(arr.shape[0], arr.shape[1], -1).permute(2, 0, 1)[None]
    elif isinstance(images, np.ndarray):
        images = torch.from_numpy(images.copy())
    return images.float().div(127.5).sub(1)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 [0, 255], same shape."""
    return images.detach().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image C x H x W (or 1 x C x H x W) in [-1, 1] -> PIL "L" or "RGB"."""
    if image.dim() == 4:
        image = image[0]
    arr = to_uint8(image).permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


def grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, scale: int = 1) -> Image.Image:
    """N x C x H x W in [-1, 1] -> one PIL image, `nrow` per row (default: square), white gutters."""
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    canvas = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, nrow)
        canvas[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
    img = to_pil(canvas)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


# --- Reading user images -----------------------------------------------------------------

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
Image.MAX_IMAGE_PIXELS = 64_000_000  # a decompression bomb past this is refused, not decoded
MAX_PIXELS = Image.MAX_IMAGE_PIXELS


def normalize(img: Image.Image) -> Image.Image:
    """Any PIL image -> "RGB", "RGBA" or "L", 8 bits, upright (EXIF orientation applied).

    16-bit and 32-bit greyscale are scaled to 8 bits by their own range; palette images
    keep their transparency as alpha; CMYK and other modes become RGB. Raises InpaintError
    for an image over MAX_PIXELS.
    """
    from PIL import ImageOps

    check_size(img.size)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
        pass
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        return Image.fromarray((arr.clip(0, hi) / hi * 255).round().astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        return img.convert("RGBA")
    if img.mode in ("L", "1"):
        return img.convert("L")
    return img.convert("RGB")


def check_size(size: tuple[int, int], name: str | None = None) -> None:
    """InpaintError if an image of `size` = (width, height) has more than MAX_PIXELS pixels.

    Pillow itself only warns between MAX_IMAGE_PIXELS and twice that, and decodes the image;
    this is the hard limit the engine, the CLI and the app all apply (before decoding, where
    they read files).
    """
    from .errors import InpaintError

    w, h = size
    if w * h > MAX_PIXELS:
        where = f"{name}: " if name else ""
        raise InpaintError(f"{where}the image is {w}x{h} = {w * h:,} pixels, over the limit of {MAX_PIXELS:,} pixels "
                           f"(too large, or a decompression bomb); scale it down first")


def read_image(path) -> Image.Image:
    """Read an image file safely (see `normalize`); InpaintError with a plain message if it can't.

    The size is checked from the header, before anything is decoded.
    """
    from .errors import InpaintError

    try:
        with Image.open(path) as img:
            check_size(img.size, str(path))
            img.load()
            return normalize(img)
    except InpaintError:
        raise
    except FileNotFoundError as err:
        raise InpaintError(f"{path}: no such file") from err
    except IsADirectoryError as err:
        raise InpaintError(f"{path}: is a folder, not an image file") from err
    except Image.DecompressionBombError as err:
        raise InpaintError(f"{path}: the image is over the limit of {MAX_PIXELS:,} pixels (too large, or a "
                           f"decompression bomb); scale it down first") from err
    except MemoryError as err:
        raise InpaintError(f"{path}: not enough memory to decode this image") from err
    except Exception as err:  # noqa: BLE001 - Pillow's decoders fail on corrupt files in many ways
        # (OSError, SyntaxError, EOFError, struct.error, IndexError, ...): all mean the same to a user
        raise InpaintError(f"{path}: not a readable image ({err})") from err


def model_view(img: Image.Image, channels: int) -> Image.Image:
    """The image as the model sees it: "L" or "RGB", alpha composited onto white."""
    if img.mode == "RGBA":
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img).convert("RGB")
    return img.convert("L" if channels == 1 else "RGB")


class Fit:
    """Letterbox an image of any size into the model's R x R square, and undo it.

    The whole image is scaled to fit (aspect kept) and centred; the padding is neither
    known nor hole: it gets weight 0 in the loss.
    """

    def __init__(self, size: tuple[int, int], resolution: int):
        w, h = size
        self.size, self.resolution = size, resolution
        scale = resolution / max(w, h)
        self.inner = (max(1, round(w * scale)), max(1, round(h * scale)))
        self.offset = ((resolution - self.inner[0]) // 2, (resolution - self.inner[1]) // 2)

    @property
    def upscale(self) -> float:
        """The image's pixels per model pixel (below 1 for an image smaller than the model's square)."""
        return max(self.size) / self.resolution

    def inputs(self, img: Image.Image, hole: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(y 1 x C x R x R in [-1, 1], known 1 x 1 x R x R in [0, 1]) for the model.

        Each model pixel (cell) is a weighted average of image pixels: a box filter when the
        image is scaled down, bilinear when it is scaled up, both with non-negative weights.
        The same weights are applied to the known pixels only (normalised convolution):
        y is the weighted mean of the cell's *known* pixels, and `known` is the weight they
        carry, so hole pixels never enter a target and a cell that is 40% known fits its
        known pixels' mean with weight 0.4 (not a target pulled 60% toward mid-grey).
        A fine mask (random pixels) thus stays a partial mask at the model's size.
        Cells with nothing known, and the padding, have y = 0 and known = 0.
        """
        arr = np.asarray(img, dtype=np.float32).reshape(img.height, img.width, -1)
        keep = (~hole).astype(np.float32)
        w, h = self.inner
        # box weights average a downscaled cell's pixels; bilinear ones interpolate an upscaled
        # cell from its nearest pixels (bicubic's negative lobes would break the normalisation)
        method = Image.BOX if w <= img.width and h <= img.height else Image.BILINEAR

        def resize(a: np.ndarray) -> np.ndarray:
            return np.asarray(Image.fromarray(a, "F").resize((w, h), method))

        known = resize(keep).clip(0, 1)
        sums = np.stack([resize(arr[..., c] * keep) for c in range(arr.shape[2])], -1)
        small = sums / np.maximum(known, 1e-6)[..., None]  # cells with nothing known are zeroed below
        y = torch.zeros(1, arr.shape[2], self.resolution, self.resolution)
        m = torch.zeros(1, 1, self.resolution, self.resolution)
        x0, y0 = self.offset
        y[0, :, y0: y0 + h, x0: x0 + w] = torch.from_numpy(small.clip(0, 255)).permute(2, 0, 1) / 127.5 - 1
        m[0, 0, y0: y0 + h, x0: x0 + w] = torch.from_numpy(known.copy())
        return y * (m > 0), m

    def inside(self) -> torch.Tensor:
        """1 x 1 x R x R: 1 where the image is, 0 on the padding."""
        out = torch.zeros(1, 1, self.resolution, self.resolution)
        x, y = self.offset
        out[:, :, y: y + self.inner[1], x: x + self.inner[0]] = 1
        return out

    def undo(self, fill: torch.Tensor, box: tuple[slice, slice] | None = None) -> np.ndarray:
        """C x R x R in [-1, 1] -> float H x W x C in [0, 255] at the original size (bicubic).

        box: (rows, cols) slices of the original; only that part is made (a large photo's
        hole needs a small part of it, not a full-size float copy per candidate).
        """
        x, y = self.offset
        crop = fill[:, y: y + self.inner[1], x: x + self.inner[0]].float()
        rows, cols = box or (slice(None), slice(None))
        # bicubic resizing is separable: out = Ry @ crop @ Rx^T, with only the rows of Ry and Rx we need
        ry = _resize_matrix(crop.shape[1], self.size[1])[rows]
        rx = _resize_matrix(crop.shape[2], self.size[0])[cols]
        big = torch.einsum("hi,cij,wj->hwc", ry, crop, rx)
        return big.add(1).mul(127.5).clamp(0, 255).numpy()


@functools.lru_cache(maxsize=8)  # the same two matrices serve every candidate of a completion
def _resize_matrix(n: int, size: int) -> torch.Tensor:
    """size x n: row i holds the weights that torch's bicubic resize (align_corners=False)
    gives the n inputs for output i (found by resizing the identity along one axis)."""
    eye = torch.eye(n)[None, None]
    return torch.nn.functional.interpolate(eye, size=(size, n), mode="bicubic", align_corners=False)[0, 0]
