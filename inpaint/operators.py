"""Known degradations A for restoration by latent search (`inpaint.restore`).

The search that fills a hole finds z whose G(z), degraded the same way as the user's image,
matches what the user has: min_z ‖W ⊙ (A(G(z)) − y)‖₁. Inpainting is the case A = a mask; the
others here are a blur (Gaussian, box, linear motion), downsampling by 2, 4 or 8 (the input is
the small image, the result the large one), additive Gaussian noise of a known sigma and
greyscale (colourisation, for colour models). They compose: `compose(GaussianBlur(2), Mask(hole))`
is a blurred image with a hole.

Each operator is defined on tensors N x C x H x W in clean-image geometry at any scale (`apply`,
with `scale` = pixels per pixel of the clean image: 1 at full resolution, R / W inside the
search), so one definition serves the search at the model's resolution and the data-consistency
step at the image's own (`consistent`). `degrade` makes a degraded copy of a clean PIL image,
exactly as `apply` at full resolution (plus the noise): what the app's "degrade an example"
button and the evaluation use.

Strengths are in the clean image's pixels: a blur of sigma 2 on a 28 x 28 image is a blur of
sigma 2 * 32 / 28 at the model's 32 x 32. Values are in [0, 1] for `consistent` and `degrade`,
any affine range for `apply` (every operator but the noise is linear and keeps constants).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import InpaintError
from .masks import from_image

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's convert("L")
FACTORS = (2, 4, 8)
MAX_BLUR = 64.0               # pixels: sigma, box size or motion length
FFT_PIXELS = 128 * 128       # larger images are blurred by FFT
QUANTUM = 0.5 / 255          # the error of an 8-bit observation without noise (the data term's sigma then)


class Degradation:
    """One known degradation. Subclasses define `apply` (linear, on tensors) and may change the
    image's size (`clean_size`) or channels (`observed_channels`)."""

    name = "identity"

    def apply(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """N x C x H x W (clean geometry, `scale` pixels per clean pixel) -> the observation."""
        return x

    def clean_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The clean image's (width, height) for an observation of `size`."""
        return size

    @property
    def ops(self) -> tuple["Degradation", ...]:
        return (self,)

    def degrade(self, image: Image.Image, seed: int = 0) -> Image.Image:
        """A degraded copy of a clean image (any mode; the result is "L" or "RGB", or the hole-free
        image itself for a mask)."""
        return compose(self).degrade(image, seed)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


# --- blurs ------------------------------------------------------------------------------------------


class Blur(Degradation):
    """A known blur: convolution with `kernel(scale)`, the image's edges extended (replicated)."""

    name = "blur"

    def kernel(self, scale: float) -> torch.Tensor:
        raise NotImplementedError

    def _kernel_for(self, scale: float, limit: int, device, dtype) -> torch.Tensor:
        """`kernel(scale)` cut to `limit` pixels (past twice the image's size a kernel only sees the
        replicated edge), on the device: made once per scale and size, not at every search step."""
        cache = self.__dict__.setdefault("_kernels", {})
        key = (scale, limit, str(device), dtype)
        if key not in cache:
            k = self.kernel(scale)
            if k.shape[0] > limit:
                cut = (k.shape[0] - limit) // 2
                k = k[cut: cut + limit, cut: cut + limit]
                k = k / k.sum()
            cache[key] = k.to(device, dtype)
        return cache[key]

    def apply(self, x, scale=1.0):
        k = self._kernel_for(scale, 2 * max(x.shape[-2:]) + 1, x.device, x.dtype)
        if k.numel() == 1:
            return x
        padded = _replicate(x, k.shape[0] // 2, k.shape[1] // 2)
        if k.numel() > 9 and x.shape[-2] * x.shape[-1] > FFT_PIXELS:
            return _fft_correlate(padded, k)
        weight = k.expand(x.shape[1], 1, *k.shape)
        return F.conv2d(padded, weight, groups=x.shape[1])


def _replicate(x: torch.Tensor, ry: int, rx: int) -> torch.Tensor:
    """x padded by its edge pixels (ry rows, rx columns each side). F.pad's "replicate" does the
    same, but its backward pass (the adjoint that `consistent` needs) is slow on a CPU."""
    h, w = x.shape[-2:]
    rows = torch.arange(-ry, h + ry, device=x.device).clamp(0, h - 1)
    cols = torch.arange(-rx, w + rx, device=x.device).clamp(0, w - 1)
    return x.index_select(-2, rows).index_select(-1, cols)


def _fft_correlate(padded: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """`F.conv2d(padded, k)` per channel ('valid', as a correlation) by FFT: on a large image, far
    faster than a depthwise convolution (whose CPU kernels are slow), whatever the kernel's size."""
    h, w = padded.shape[-2:]
    spectrum = torch.fft.rfft2(padded.float()) * torch.fft.rfft2(torch.flip(k.float(), (0, 1)), s=(h, w))
    out = torch.fft.irfft2(spectrum, s=(h, w))  # circular convolution with the flipped kernel
    return out[..., k.shape[0] - 1:, k.shape[1] - 1:].to(padded.dtype)


@dataclass(repr=False)
class GaussianBlur(Blur):
    """A Gaussian blur of standard deviation `sigma` (pixels)."""

    sigma: float

    def __post_init__(self):
        _check_strength("the blur's sigma", self.sigma, 0.0, MAX_BLUR)

    def kernel(self, scale):
        s = self.sigma * scale
        if s < 0.2:
            return torch.ones(1, 1)
        r = math.ceil(3 * s)
        t = torch.arange(-r, r + 1, dtype=torch.float64)
        g = torch.exp(-t ** 2 / (2 * s * s))
        g = g / g.sum()
        return (g[:, None] * g[None, :]).float()


@dataclass(repr=False)
class BoxBlur(Blur):
    """The mean over a `size` x `size` square (pixels; fractional sizes weight the edge pixels)."""

    size: float

    def __post_init__(self):
        _check_strength("the box's size", self.size, 1.0, MAX_BLUR)

    def kernel(self, scale):
        s = self.size * scale
        if s <= 1.0:
            return torch.ones(1, 1)
        r = math.ceil((s - 1) / 2)
        centres = torch.arange(-r, r + 1, dtype=torch.float64)
        # each pixel's overlap with [-s/2, s/2]
        w = (torch.minimum(centres + 0.5, torch.tensor(s / 2)) - torch.maximum(centres - 0.5, torch.tensor(-s / 2))).clamp_min(0)
        w = w / w.sum()
        return (w[:, None] * w[None, :]).float()


@dataclass(repr=False)
class MotionBlur(Blur):
    """A linear motion blur: the mean along a segment of `length` pixels at `angle` degrees
    (0 = horizontal, counter-clockwise), centred on the pixel."""

    length: float
    angle: float = 0.0

    def __post_init__(self):
        _check_strength("the motion's length", self.length, 1.0, MAX_BLUR)
        if not math.isfinite(self.angle):
            raise InpaintError(f"the motion's angle must be a number of degrees, got {self.angle}")

    def kernel(self, scale):
        length = self.length * scale
        if length <= 1.0:
            return torch.ones(1, 1)
        r = math.ceil(length / 2) + 1
        n = 8 * math.ceil(length) + 1  # points along the segment, splatted bilinearly
        t = torch.linspace(-length / 2, length / 2, n, dtype=torch.float64)
        a = math.radians(self.angle)
        xs, ys = r + t * math.cos(a), r - t * math.sin(a)  # image rows grow downwards
        k = torch.zeros(2 * r + 1, 2 * r + 1, dtype=torch.float64)
        x0, y0 = xs.floor(), ys.floor()
        for dx in (0, 1):
            for dy in (0, 1):
                wx = 1 - (xs - (x0 + dx)).abs()
                wy = 1 - (ys - (y0 + dy)).abs()
                k.index_put_(((y0 + dy).long(), (x0 + dx).long()), wx * wy, accumulate=True)
        return (k / k.sum()).float()


# --- the others ---------------------------------------------------------------------------------------


@dataclass(repr=False)
class Downsample(Degradation):
    """The mean of each `factor` x `factor` block (area downsampling): the observation is the
    small image, the clean one `factor` times larger."""

    factor: int
    name = "downsample"

    def __post_init__(self):
        if self.factor not in FACTORS or isinstance(self.factor, bool):
            raise InpaintError(f"the upscaling factor must be one of {', '.join(map(str, FACTORS))}, got {self.factor!r}")

    def clean_size(self, size):
        return size[0] * self.factor, size[1] * self.factor

    def apply(self, x, scale=1.0, size: tuple[int, int] | None = None):
        """Block means; `size` (height, width) of the observation when the geometry is not an exact
        multiple (inside the search: the observation's own fitted size)."""
        size = size or (max(1, round(x.shape[2] / self.factor)), max(1, round(x.shape[3] / self.factor)))
        return F.adaptive_avg_pool2d(x, size)


@dataclass(repr=False)
class Noise(Degradation):
    """Additive Gaussian noise of standard deviation `sigma` on the [0, 1] scale (the search sees
    it as A = identity; the data-consistency step weighs the observation by it)."""

    sigma: float
    name = "noise"

    def __post_init__(self):
        _check_strength("the noise's sigma", self.sigma, 0.0, 1.0)


@dataclass(repr=False)
class Greyscale(Degradation):
    """Colour -> luma (BT.601): colourisation, for colour models."""

    name = "greyscale"

    def apply(self, x, scale=1.0):
        if x.shape[1] == 1:
            return x
        w = torch.tensor(LUMA, device=x.device, dtype=x.dtype).reshape(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)


@dataclass(repr=False)
class Mask(Degradation):
    """A hole: `hole` is a bool H x W array (True = hole) or a mask image (white = hole) of the
    observation's size. Its pixels are unknown; the search weighs the known ones by
    Yeh et al.'s importance weights."""

    hole: np.ndarray
    name = "mask"

    def __post_init__(self):
        if not isinstance(self.hole, (Image.Image, np.ndarray)):
            raise InpaintError(f"the mask must be a PIL image or a bool array (True = hole), got {type(self.hole).__name__}")
        self.hole = from_image(self.hole) if not isinstance(self.hole, np.ndarray) or self.hole.dtype != bool else self.hole

    def __repr__(self):
        return f"Mask({self.hole.shape[1]}x{self.hole.shape[0]}, {int(self.hole.sum())} hole pixels)"


# --- composition --------------------------------------------------------------------------------------

_ORDER = (Blur, Downsample, Greyscale, Noise, Mask)  # how a camera would do it: optics, sensor, noise, then the hole


@dataclass(repr=False)
class Chain(Degradation):
    """Several degradations, applied in the canonical order blur → downsample → greyscale →
    noise → mask (whatever order they were given in), at most one of each kind."""

    parts: tuple[Degradation, ...] = field(default_factory=tuple)
    name = "chain"

    def __post_init__(self):
        flat = [op for part in self.parts for op in part.ops]
        for op in flat:
            if not isinstance(op, _ORDER):
                raise InpaintError(f"not a degradation: {op!r}")
        kinds = [next(i for i, kind in enumerate(_ORDER) if isinstance(op, kind)) for op in flat]
        if len(set(kinds)) < len(kinds):
            raise InpaintError("a degradation may hold at most one blur, one downsampling, one greyscale, "
                               "one noise and one mask")
        self.parts = tuple(op for _, op in sorted(zip(kinds, flat), key=lambda pair: pair[0]))

    @property
    def ops(self):
        return self.parts

    def find(self, kind: type) -> Degradation | None:
        return next((op for op in self.parts if isinstance(op, kind)), None)

    @property
    def hole(self) -> np.ndarray | None:
        mask = self.find(Mask)
        return None if mask is None else mask.hole

    @property
    def noise(self) -> float:
        noise = self.find(Noise)
        return 0.0 if noise is None else noise.sigma

    def clean_size(self, size):
        for op in self.parts:
            size = op.clean_size(size)
        return size

    def apply(self, x, scale=1.0, size: tuple[int, int] | None = None):
        for op in self.parts:
            x = op.apply(x, scale, size) if isinstance(op, Downsample) else op.apply(x, scale)
        return x

    def degrade(self, image: Image.Image, seed: int = 0) -> Image.Image:
        from .imageio import model_view

        view = model_view(image, 1 if image.mode == "L" else 3)
        arr = np.asarray(view, dtype=np.float32).reshape(view.height, view.width, -1) / 255
        x = torch.from_numpy(arr).permute(2, 0, 1)[None]
        down = self.find(Downsample)
        if down is not None and (view.width % down.factor or view.height % down.factor):
            raise InpaintError(f"to downsample by {down.factor} the image's sides must be multiples of {down.factor}; "
                               f"it is {view.width}x{view.height}")
        y = self.apply(x)
        if self.noise:
            y = y + self.noise * torch.randn(y.shape, generator=torch.Generator().manual_seed(int(seed)))
        out = (y[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return Image.fromarray(out[..., 0] if out.shape[2] == 1 else out)

    def __repr__(self):
        return " → ".join(map(repr, self.parts)) or "Chain()"


def compose(*parts: Degradation) -> Chain:
    """One degradation of several (see `Chain` for the order they are applied in)."""
    return Chain(tuple(parts))


def _check_strength(what: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not low <= value <= high:
        raise InpaintError(f"{what} must be a number from {low:g} to {high:g}, got {value!r}")


# --- data consistency at full resolution ---------------------------------------------------------------


def consistent(chain: Chain, estimates: torch.Tensor, observed: torch.Tensor, known: torch.Tensor,
               iterations: int = 100, smooth: float | None = None, trust: float = 1.0) -> torch.Tensor:
    """The images nearest the estimates that the observation determines.

    estimates: N x C x H x W in [0, 1], clean geometry at full resolution (G(z) scaled up);
    observed: 1 x C' x h x w in [0, 1]; known: 1 x 1 x h x w, 1 where the observation holds
    (0 in a hole). Solves, for each estimate x0,

        min_x  ‖√known ⊙ (A x − y)‖² / σ²  +  ‖x − x0‖² / τ²  +  smooth · ‖∇(x − x0)‖² / τ²

    by conjugate gradients: σ is the noise's sigma (half a grey level without noise), τ² the
    estimate's own error, judged from its mismatch with the observation beyond the noise and the
    share of an error's power that A lets through (`trust` scales 1/τ²). `smooth` (default: 30
    when upscaling, else 0) makes the correction smooth: when upscaling, it is spread between
    the small image's pixels instead of added block by block; elsewhere it cost PSNR (chosen on
    Fashion-MNIST's val split, 16 images per task, and emoji's for x8; see the README).

    With a noise-free observation the data term dominates: the result re-degraded matches the
    input (re-blurred for a blur, downsampled back for upscaling), and what A cannot see (the
    blur's lost detail, the detail between the small image's pixels, the hole) comes from x0.
    With noise, the result leans toward x0 as much as the noise warrants (a Wiener-like
    shrinkage). Greyscale alone keeps x0's colour and takes the observation's luma exactly.
    Returns N x C x H x W in [0, 1].
    """
    x0 = estimates.float()
    y, m = observed.float(), known.float()
    if smooth is None:
        smooth = 30.0 if chain.find(Downsample) is not None else 0.0
    if all(isinstance(op, (Greyscale, Mask)) for op in chain.parts):  # per pixel: add the luma difference to every channel
        luma = chain.apply(x0)
        return (x0 + m * (y - luma)).clamp(0, 1)

    def A(x):
        return chain.apply(x, 1.0, size=tuple(y.shape[2:]))

    sigma2 = max(chain.noise, QUANTUM) ** 2
    residual = m * (y - A(x0))  # N x C' x h x w
    # τ from the pixels the noise could not be clipped at (0 and 1 hold less than σ² of it)
    counted = m * ((y > QUANTUM) & (y < 1 - QUANTUM)) if chain.noise else m.expand_as(y)
    mismatch = ((residual * counted) ** 2).flatten(1).sum(1) / counted.sum().clamp_min(1)
    # A hides most of x0's error from the residual (a sigma-2 blur keeps ~2% of white noise's power):
    # divide by the share it keeps, measured on a white probe
    probe = torch.randn(x0.shape[1:], generator=torch.Generator().manual_seed(0))[None]
    gain = float((A(probe) ** 2).mean() / (probe ** 2).mean())
    tau2 = ((mismatch - chain.noise ** 2) / gain).clamp_min(QUANTUM ** 2)  # N
    mu = (trust * sigma2 / tau2).reshape(-1, 1, 1, 1)  # ‖x − x0‖² weight relative to the data term

    _, At = torch.func.vjp(A, torch.zeros_like(x0))

    def normal(d):  # (AᵀMA + μ(I + smooth·L)) d, L = -Laplacian with edges extended
        return At(m * A(d))[0] + mu * (d + smooth * _neg_laplacian(d))

    b = At(residual)[0]
    d = torch.zeros_like(x0)
    r = b.clone()
    p = r.clone()
    rr = (r * r).flatten(1).sum(1)
    start = rr.clone()
    for _ in range(iterations):
        q = normal(p)
        alpha = (rr / (p * q).flatten(1).sum(1).clamp_min(1e-30)).reshape(-1, 1, 1, 1)
        d = d + alpha * p
        r = r - alpha * q
        new = (r * r).flatten(1).sum(1)
        if bool((new <= 1e-8 * start.clamp_min(1e-30)).all()):
            break
        p = r + (new / rr.clamp_min(1e-30)).reshape(-1, 1, 1, 1) * p
        rr = new
    return (x0 + d).clamp(0, 1)


def _neg_laplacian(x: torch.Tensor) -> torch.Tensor:
    """−Δx with the edges extended (symmetric positive semi-definite): 4x − its four neighbours."""
    p = _replicate(x, 1, 1)
    return 4 * x - p[..., :-2, 1:-1] - p[..., 2:, 1:-1] - p[..., 1:-1, :-2] - p[..., 1:-1, 2:]
