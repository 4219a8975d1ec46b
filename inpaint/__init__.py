"""GAN-prior image inpainting: fill a hole by searching a DCGAN's latent space (Yeh et al., 2017).

    import inpaint
    model = inpaint.load_model("checkpoints/fashion-mnist-32")   # or "user/repo@revision"
    result = inpaint.complete(model, image, mask)                  # mask: True / white = hole
    result.image.save("filled.png")

    from inpaint.operators import GaussianBlur
    sharp = inpaint.restore(model, blurred, GaussianBlur(2))        # also Downsample, Noise, Greyscale
"""

from . import operators
from .complete import Completion, Job, Progress, Settings, complete, complete_each, complete_many, restore
from .errors import InpaintError, ModelLoadError
from .masks import PRESETS, preset
from .models import DCGAN

__all__ = ["Completion", "DCGAN", "InpaintError", "Job", "ModelLoadError", "PRESETS", "Progress", "Settings",
           "complete", "complete_each", "complete_many", "load_model", "operators", "preset", "restore"]


def load_model(source, **kwargs) -> DCGAN:
    """A checkpoint from a local folder or a Hub repo id (`user/name[@revision]`); see `inpaint.hub`."""
    from .hub import load_model as _load

    return _load(source, **kwargs)
