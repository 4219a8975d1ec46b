"""The registry of completion methods: the one list the app's picker, the CLI's `--method` and
the evaluation's tables take their methods from.

A method fills the hole of an image with a model: "gan-prior" (Yeh et al.'s latent search,
`inpaint.complete`) and "context-encoder" (Pathak et al.'s one forward pass,
`inpaint.context_encoder`, when the checkpoint ships one). Another plugs in with `register` and
needs no change in any front end:

    inpaint.methods.register(Method("context-encoder", "Context encoder (one forward pass)",
                                    "…", run=my_fill))
    inpaint.methods.get("context-encoder").run(model, image, hole, settings)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import context_encoder
from .complete import Completion, Progress, Settings, complete
from .errors import InpaintError
from .models import DCGAN

DEFAULT = "gan-prior"

# run(model, image, hole, settings, on_progress=None) -> Completion; the same contract as `complete`:
# a PIL image of any size and mode, a bool H x W array (True = hole) or mask image, Settings, and a
# progress callback that may return True to stop early with the best so far.
Runner = Callable[..., Completion]


@dataclass(frozen=True)
class Method:
    name: str        # the registry key: what --method, the API and results.json say
    label: str       # what a picker shows
    summary: str     # one sentence for help texts and the About tab
    run: Runner
    available: Callable[[DCGAN], bool] = lambda model: True  # can this model run it? (its checkpoint ships
    #                                                        what the method needs; lists of defaults skip it if not)

    def __call__(self, model, image, hole, settings: Settings | None = None,
                 on_progress: Callable[[Progress], bool | None] | None = None) -> Completion:
        return self.run(model, image, hole, settings, on_progress=on_progress)


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add a method (a name may be registered once)."""
    if method.name in METHODS:
        raise ValueError(f"a method named {method.name!r} is registered already")
    METHODS[method.name] = method
    return method


def get(name: str | None = None) -> Method:
    """The method called `name` (None: the default), or an InpaintError naming those there are."""
    name = DEFAULT if name is None else name
    try:
        return METHODS[name]
    except KeyError:
        raise InpaintError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None


def names() -> tuple[str, ...]:
    return tuple(METHODS)


register(Method(
    DEFAULT, "GAN prior (latent search)",
    "Searches the generator's latent space for the image that best matches the known pixels "
    "(Yeh et al., CVPR 2017) and blends its content into the hole.",
    run=complete,
))

register(Method(
    "context-encoder", "Context encoder (one forward pass)",
    "A network trained to fill holes (Pathak et al., CVPR 2016, as a U-Net) completes the image in one "
    "forward pass: milliseconds instead of a search, and blurrier; the checkpoint must ship one.",
    run=context_encoder.complete,
    available=context_encoder.has_context_encoder,
))
