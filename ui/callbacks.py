"""The app's callbacks: widget values in, what the page shows out. The work is the service's
(`inpaint.service.Service`); these only convert formats and turn the engine's errors into gr.Error.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import html
import itertools
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

import inpaint
from inpaint import methods
from inpaint import operators as ops
from inpaint.complete import Completion, Progress
from inpaint.imageio import grid, normalize
from inpaint.masks import grow as grow_hole
from inpaint.service import Finished, Loaded, Service

from . import restore as restoring
from .editor import editor_value, from_editor, mask_hole, with_hole
from .gpu import gpu, gpu_seconds

# the search from the prior alone: the Restore tab's defaults; the Inpaint tab's are the chosen model's
# (`Settings.for_model`: the warm start where the model ships an encoder, else these)
DEFAULTS = inpaint.Settings()
PAPER = inpaint.Settings.paper()  # the side by side's B can run the paper's settings
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
VIEW = 256               # small model-resolution images are shown upscaled to this size
STOPPED = {"caller": " (stopped by you; the best so far)",
           "converged": " (stopped early: the loss had stopped improving)"}
CURVE_POINTS = 200       # points per loss curve sent to the page: a long search is thinned, the plot stays light
CURVES = ("best", "median", "worst")  # over the restarts; "best" is the restart lowest in total loss
# what the side-by-side run B can use
SECOND = {"same": "A's settings", "paper": "the paper's settings", "context-encoder": "the context encoder"}
# the page's searches a Stop button ends: the Inpaint tab's (its run and its examples'), the side by side's B
# and the Restore tab's
INPAINT, SIDE_BY_SIDE, RESTORE = "inpaint", "side by side", "restore"
# the Method picker's third choice: the GAN prior (A) and the context encoder (B) on the same image and hole
BOTH, CONTEXT_ENCODER = "both", "context-encoder"
BOTH_LABEL = "Both side by side"
BOTH_NOTE = ("Both side by side: this is the GAN prior's fill; the Side by side tab shows it next to the context "
             "encoder's.")
STORED = (" This is the example's stored result: it was filled once with the default settings, the first time "
          "someone picked it, and is shown again at once.")
TOKENS = itertools.count(1)  # fresh values for the page's gr.State triggers: a State's change event needs a new value
WARM_START_INFO = "Share of the restarts started from the guess of the model's encoder (0: all from the prior)."
NO_ENCODER_INFO = ("Share of the restarts started from the guess of the model's encoder: this model ships none, so "
                   "all start from the prior.")
METHOD_INFO = "Both side by side: the GAN prior here, then both on the Side by side tab."
NO_CONTEXT_ENCODER_INFO = "{name} ships no context encoder: it fills with the GAN prior only."
NO_CONTEXT_ENCODER = ("{name} ships no context encoder, so it fills holes with the GAN prior only. Pick the GAN prior, "
                      "or a model that ships one{models}.")
# what each training set is, in a visitor's words (a data set not listed here is only named)
DOMAINS = {"fashion-mnist": "Fashion-MNIST's greyscale garments: tops, trousers, dresses, shoes, bags",
           "emoji": "emoji faces and people in three art styles; the emoji model for people",
           "emoji-faces": "only the faces of emoji: smileys, cat and monkey faces in three art styles; the emoji "
                          "model for a face"}


def user_error(message: str, title: str = "Error") -> gr.Error:
    """A gr.Error for something the user can fix (no traceback in the server log)."""
    return gr.Error(message, title=title, print_exception=False)


def read_editor(value, missing: str = "Upload an image first (or pick one of the examples below the editor).",
                grow: int | float | None = 0) -> tuple[Image.Image, np.ndarray]:
    """The editor's (image, hole), the hole grown by `grow` pixels (shrunk when negative), or a
    gr.Error when there is no image (saying `missing`) or it can't be read. Whether the hole is
    usable (painted, not everything) is the engine's to say."""
    try:
        image, hole = from_editor(value)
    except inpaint.InpaintError as err:  # e.g. an image over the pixel limit
        raise user_error(str(err), title="Image not usable") from None
    except (OSError, ValueError) as err:  # a file the editor could not decode
        raise user_error(f"The image could not be read ({err}). Try a PNG or JPEG file.") from None
    if image is None:
        raise user_error(missing, title="No image")
    return image, grow_hole(hole, int(grow or 0))


def _grown(pixels) -> str:
    pixels = int(pixels or 0)
    if pixels == 0:
        return ""
    return f" (grown by {pixels} px)" if pixels > 0 else f" (shrunk by {-pixels} px)"


def settings(iterations, restarts, lam, seed, blend, method: str | None = None, warm_start=None,
             defaults: inpaint.Settings = DEFAULTS) -> inpaint.Settings:
    """Settings from the page's widgets or an API call: a value left out (None: an emptied number
    box, an API caller's omission) is `defaults`' (on the Inpaint tab the model's,
    `Settings.for_model`). The engine's own validation speaks for values out of range."""
    given = dict(iterations=_whole(iterations), restarts=_whole(restarts), lam=lam, seed=_whole(seed), blend=blend,
                 warm_start=warm_start)
    try:
        if method != BOTH:
            methods.get(method)
        return dataclasses.replace(defaults, **{k: v for k, v in given.items() if v is not None})
    except inpaint.InpaintError as err:
        raise user_error(str(err)) from None


def _whole(x):
    """A whole number that arrived as a float (sliders, JSON) as an int; anything else as it is."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def _view(img: Image.Image) -> Image.Image:
    """A model-resolution image upscaled (pixels kept sharp) so it can be seen."""
    scale = max(1, VIEW // max(img.size))
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def method_choices(model=None) -> list[tuple[str, str]]:
    """The Method picker's (label, value)s: the registry's methods `model` can run (its checkpoint
    ships what they need; `model` None: all of them), and both side by side when the context
    encoder is among them."""
    names = [n for n in methods.names() if model is None or methods.get(n).available(model)]
    choices = [(methods.get(n).label, n) for n in names]
    if CONTEXT_ENCODER in names and methods.DEFAULT in names:
        choices.append((BOTH_LABEL, BOTH))
    return choices


def method_picker(loaded: Loaded | None, method: str | None = methods.DEFAULT) -> dict:
    """The Method picker for the chosen model (`loaded` None: not known, every method): its choices,
    its value (`method` where offered, else the default) and its info, which says when the model
    ships no context encoder."""
    model = None if loaded is None else loaded.model
    choices = method_choices(model)
    offered = [v for _, v in choices]
    lacks = CONTEXT_ENCODER in methods.names() and CONTEXT_ENCODER not in offered
    return dict(choices=choices, value=method if method in offered else methods.DEFAULT,
                info=NO_CONTEXT_ENCODER_INFO.format(name=loaded.name) if lacks else METHOD_INFO)


def second_picker(loaded: Loaded | None, which: str | None = "paper") -> dict:
    """The side by side's choice of B's settings for B's model (`loaded` None: not known): the paper's,
    A's, and the context encoder where the model ships one; its value (`which` where offered, else
    the paper's) and its info, which says when the model ships no context encoder."""
    choices = [(f"The paper's: λ {PAPER.lam:g}, lr {PAPER.lr:g}, {PAPER.restarts} restarts, no early stop", "paper"),
               ("A's settings (another model)", "same")]
    registered = CONTEXT_ENCODER in methods.names()
    if registered and (loaded is None or methods.get(CONTEXT_ENCODER).available(loaded.model)):
        choices.append(("The context encoder (A's settings, B's model)", CONTEXT_ENCODER))
    offered = [v for _, v in choices]
    lacks = registered and CONTEXT_ENCODER not in offered
    return dict(choices=choices, value=which if which in offered else "paper",
                info=NO_CONTEXT_ENCODER_INFO.format(name=loaded.name) if lacks else None)


def listed(names: list[str]) -> str:
    """Models to pick from, after a sentence's noun: " (a)", " (a or b)", " (a, b or c)"; "" for none."""
    if not names:
        return ""
    return f" ({names[0]})" if len(names) == 1 else f" ({', '.join(names[:-1])} or {names[-1]})"


def warm_start_slider(model) -> dict:
    """The warm-start slider's value (`model`'s default), whether it can be moved (only when the model
    ships an encoder: without one the engine ignores it) and its info; `model` None: not known."""
    encoder = model is None or getattr(model, "encoder", None) is not None
    value = (DEFAULTS if model is None else inpaint.Settings.for_model(model)).warm_start
    return dict(value=value, interactive=encoder, info=WARM_START_INFO if encoder else NO_ENCODER_INFO)


def describe(loaded: Loaded) -> str:
    """The chosen model in two or three sentences: its images, its training set (in words where
    `DOMAINS` knows it), and that it has no context encoder when it ships none."""
    net = loaded.model
    kind = "greyscale" if net.channels == 1 else "colour"
    words = f" ({DOMAINS[net.dataset]})" if net.dataset in DOMAINS else ""
    text = (f"**{loaded.name}**: {net.resolution}×{net.resolution} {kind} images, trained on **{net.dataset}**"
            f"{words}. It can only fill holes with {net.dataset} content.")
    if CONTEXT_ENCODER in methods.names() and not methods.get(CONTEXT_ENCODER).available(net):
        text += " " + NO_CONTEXT_ENCODER_INFO.format(name="It")
    return text


LOCAL_IMAGE = re.compile(r"!\[([^\]]*)\]\((?!\w+:)([^)\s]+)\)")  # ![alt](file beside the card), no URL


def card(folder: Path | None) -> str:
    """The model card as it reads on the Hub: without its YAML header, its headings under the
    page's own, and its local images (samples, completions) inlined; one that is not there is left out."""
    path = folder / "README.md" if folder is not None else None
    if path is None or not path.is_file():
        return "*This model has no model card.*"
    text = path.read_text(encoding="utf-8", errors="replace")
    if text.startswith("---"):
        end = text.find("\n---", 3)
        text = text[end + 4:] if end != -1 else text

    def inline(match: re.Match) -> str:
        image = (folder / match.group(2)).resolve()
        if image.parent != folder.resolve() or image.suffix.lower() not in IMAGE_TYPES or not image.is_file():
            return ""
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"![{match.group(1)}](data:{IMAGE_TYPES[image.suffix.lower()]};base64,{data})"

    lines = ["##" + line if line.startswith("#") else line for line in text.splitlines()]
    return LOCAL_IMAGE.sub(inline, "\n".join(lines)).strip()


def curve_frame(curves: dict[str, list[float]], term: str) -> pd.DataFrame | None:
    """The loss term `term` ("contextual" or "perceptual") per iteration as rows (iteration, loss, curve),
    curve one of CURVES, at most CURVE_POINTS per curve (the last iteration always kept); None without it."""
    rows = []
    for curve in CURVES:
        values = curves.get(f"{term} {curve}") or []
        step = max(1, math.ceil(len(values) / CURVE_POINTS))
        kept = sorted({*range(0, len(values), step), len(values) - 1}) if values else []
        rows += [(i + 1, float(values[i]), curve) for i in kept]
    return pd.DataFrame(rows, columns=["iteration", "loss", "curve"]) if rows else None


def loss_plots(curves: dict[str, list[float]]) -> tuple:
    """(the contextual plot's data, the perceptual plot: shown only when the search had that term)."""
    perceptual = curve_frame(curves, "perceptual")
    return curve_frame(curves, "contextual"), gr.LinePlot(value=perceptual, visible=perceptual is not None)


def out_of_domain(loaded: Loaded, completion: Completion) -> str | None:
    """A warning when the engine's domain check says the image looks unlike the model's domain, else None
    (in the domain, or a model that is not calibrated)."""
    if completion.in_domain is not False:
        return None
    dataset = loaded.model.dataset
    return (f"This image looks unlike the {dataset} images that {loaded.name} was trained on (fit error "
            f"{completion.fit_error:.3f}, over its limit {loaded.model.fit_limit:.3f}): it can only fill the hole "
            f"with {dataset} content.")


OUT_OF_DOMAIN = "Out of the model's domain"
BADGE_STYLE = ("background:#fef3c7; color:#78350f; border:2px solid #f59e0b; border-radius:8px; "
               "padding:8px 12px; font-size:15px;")


def domain_badge(warning: str | None):
    """The badge above the result: the domain warning in amber, or hidden when there is none."""
    if warning is None:
        return gr.HTML(value="", visible=False)
    return gr.HTML(value=f'<div style="{BADGE_STYLE}">⚠️ <b>{OUT_OF_DOMAIN}.</b> {html.escape(warning)}</div>',
                   visible=True)


def _how_it_ended(done: Finished) -> str:
    if done.stopped == "time limit":
        return f" (stopped at the time limit of {done.settings.time_limit:g} s; the best so far)"
    return STOPPED.get(done.stopped, "")


def status_line(done: Finished, loaded: Loaded, hole: np.ndarray, grow=0, method: str | None = None) -> str:
    """What a finished completion says: time, iterations, restarts, loss (or the context encoder's one
    pass), model, device, blend, hole, notes."""
    c, s = done.completion, done.settings
    how = _how_it_ended(done)
    net = loaded.model
    work = ("one forward pass of the context encoder" if method == CONTEXT_ENCODER else
            f"{c.iterations} iterations{how}, {s.restarts} restarts, best loss {c.losses[0]:.4f}")
    status = (f"Done in {c.seconds:.1f} s: {work}. Model {loaded.name} ({net.resolution}×{net.resolution}) on "
              f"{c.device}, blend {s.blend}. The hole covered {hole.mean():.0%} of the image"
              f"{_grown(grow)}.")
    return " ".join([status, *c.notes])


def restore_status(done: Finished, loaded: Loaded, op, size: tuple[int, int]) -> str:
    """What a finished restoration says: time, iterations, restarts, loss, model, device, what it
    undid, the input's size (`size`) and the result's, notes."""
    c, s, net = done.completion, done.settings, loaded.model
    status = (f"Done in {c.seconds:.1f} s: {c.iterations} iterations{_how_it_ended(done)}, {s.restarts} restarts, "
              f"best loss {c.losses[0]:.4f}. Model {loaded.name} ({net.resolution}×{net.resolution}) on {c.device}. "
              f"Undid {restoring.described(op)}: the input is {size[0]}×{size[1]}, the result "
              f"{c.image.width}×{c.image.height}.")
    return " ".join([status, *c.notes])


@dataclass
class Preview:
    """A `Progress` report as plain values (its preview drawn): what the GPU search hands back, as
    under ZeroGPU it crosses from the GPU worker's process to the page's, and tensors must not."""

    iteration: int
    total: int
    loss: float
    curves: dict[str, list[float]]
    image: Image.Image  # the best fill so far in the input, at the model's resolution

    @classmethod
    def of(cls, report: Progress) -> "Preview":
        return cls(report.iteration, report.total, report.loss, report.curves, report.preview())

    def preview(self) -> Image.Image:
        return self.image


def searching(report: Preview) -> str:
    return (f"Searching… iteration {report.iteration} of at most {report.total}, "
            f"best loss {report.loss:.4f}")


class Callbacks:
    """The page's callbacks over one service."""

    def __init__(self, service: Service):
        self.service = service
        # the search of one request: on ZeroGPU, in a GPU worker for the time its settings need
        self.search = gpu(duration=self._gpu_seconds)(self._search)
        self._lock = threading.Lock()
        self._under_way: Counter[tuple[str | None, str]] = Counter()  # (session, INPAINT | SIDE_BY_SIDE) -> running
        self._stored: dict[tuple, tuple] = {}  # example_key(example) -> the page's outputs for its finished fill

    @contextlib.contextmanager
    def _running(self, request: gr.Request | None, task: str):
        """Mark the session's `task` as under way (its callback has started) for `stop`."""
        key = (_session(request), task)
        with self._lock:
            self._under_way[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._under_way[key] -= 1
                if not self._under_way[key]:
                    del self._under_way[key]

    def load(self, model: str | None, hub_repo: str | None) -> Loaded:
        try:
            return self.service.load(model, hub_repo)
        except inpaint.ModelLoadError as err:
            raise user_error(str(err), title="Model not available") from None

    def search_defaults(self, model: str | None, hub_repo: str = "") -> tuple:
        """The Inpaint tab's search sliders (iterations, restarts, warm start) at the chosen model's
        defaults (`Settings.for_model`); gr.skip()s for a model that does not load (`about` says why)."""
        try:
            net = self.load(model, hub_repo).model
        except gr.Error:
            return gr.skip(), gr.skip(), gr.skip()
        defaults = inpaint.Settings.for_model(net)
        return defaults.iterations, defaults.restarts, gr.Slider(**warm_start_slider(net))

    def methods_for(self, model: str | None, hub_repo: str = "", method: str | None = methods.DEFAULT):
        """The Method picker for the chosen model (`method_picker`): the context encoder and both side
        by side offered only where the model ships a context encoder; gr.skip() for a model that does
        not load (`about` says why)."""
        try:
            loaded = self.load(model, hub_repo)
        except gr.Error:
            return gr.skip()
        return gr.Dropdown(**method_picker(loaded, method))

    def second_settings(self, model: str | None, which: str | None = "paper"):
        """The side by side's choice of B's settings for B's `model` (`second_picker`): the context
        encoder offered only where the model ships one; gr.skip() for a model that does not load."""
        try:
            loaded = self.load(model, "")
        except gr.Error:
            return gr.skip()
        return gr.Radio(**second_picker(loaded, which))

    def models_that(self, test) -> list[str]:
        """The names of the served models for which `test(model)` is true (those that load)."""
        found = []
        for name in self.service.models:
            try:
                if test(self.service.load(name).model):
                    found.append(name)
            except inpaint.InpaintError:
                continue
        return found

    def _can_run(self, method: str, loaded: Loaded) -> None:
        """A gr.Error when `loaded`'s checkpoint lacks what `method` needs (before its search waits in
        line), naming the served models that have it."""
        if method == BOTH or method not in methods.names() or methods.get(method).available(loaded.model):
            return  # an unknown method: `settings` says so
        able = self.models_that(methods.get(method).available)
        if method == CONTEXT_ENCODER:
            raise user_error(NO_CONTEXT_ENCODER.format(name=loaded.name, models=listed(able)),
                             title="No context encoder")
        raise user_error(f"{loaded.name} can't fill with {methods.get(method).label}: its checkpoint lacks what the "
                         f"method needs. Pick another method, or a model that has it{listed(able)}.")

    def _can_colourise(self, op: ops.Degradation, loaded: Loaded) -> None:
        """A gr.Error for colourising with a greyscale model (before its search waits in line), naming
        the served colour models."""
        if isinstance(op, ops.Greyscale) and loaded.model.channels != 3:
            colour = self.models_that(lambda net: net.channels == 3)
            raise user_error(restoring.NO_COLOUR.format(name=loaded.name, models=listed(colour)), title="Colourise")

    def inpaint(self, editor, model: str | None = None, hub_repo: str = "", iterations: int | None = None,
                restarts: int | None = None, lam: float = DEFAULTS.lam, seed: int = DEFAULTS.seed,
                blend: str = DEFAULTS.blend, grow: int = 0, method: str = methods.DEFAULT,
                warm_start: float | None = None, request: gr.Request = None, progress=gr.Progress()):
        """Fill the painted hole of the editor's image, grown by `grow` pixels first (shrunk when
        negative): the API's `/inpaint`. iterations, restarts and warm_start (the share of the
        restarts started from the model's encoder) left None are the model's defaults
        (`Settings.for_model`: fewer restarts and iterations, most restarts warm, when the model ships
        an encoder; else `Settings()`'s).

        Returns (result image at the input's size, ranked candidates, raw G(z) of the best
        (upscaled), status text). While it runs it yields previews at the model's resolution.
        """
        # closing: a client that goes away closes this generator, and so the search (see Service.run)
        with contextlib.closing(self.fill(editor, model, hub_repo, iterations, restarts, lam, seed, blend, grow,
                                          method, warm_start, request=request, progress=progress)) as page:
            for outputs in page:
                yield outputs[:4]

    def fill(self, editor, model: str | None = None, hub_repo: str = "", iterations: int | None = None,
             restarts: int | None = None, lam: float = DEFAULTS.lam, seed: int = DEFAULTS.seed,
             blend: str = DEFAULTS.blend, grow: int = 0, method: str = methods.DEFAULT,
             warm_start: float | None = None, request: gr.Request = None, progress=gr.Progress()):
        """`inpaint` as the page shows it: its four outputs, then the contextual and the perceptual
        loss plots (updated with each preview) and the domain warning (shown, with a toast, when
        the image looks unlike the model's domain)."""
        with self._running(request, INPAINT):
            image, hole = read_editor(editor, grow=grow)
            loaded = self.load(model, hub_repo)
            wanted = settings(iterations, restarts, lam, seed, blend, method, warm_start,
                              defaults=inpaint.Settings.for_model(loaded.model))
            self._can_run(method, loaded)
            note = BOTH_NOTE if method == BOTH else ""
            method = methods.DEFAULT if method == BOTH else method  # the context encoder's run is `both`'s
            with contextlib.closing(self._reports((model, hub_repo), image, hole, wanted, method, request,
                                                  progress)) as reports:
                yield from self._page(reports, loaded, hole, grow, note, method)

    def stored_example(self, example: dict) -> tuple | None:
        """`fill_example`'s last outputs for `example` when it was filled before (its status saying
        so), else None."""
        outputs = self._stored.get(example_key(example))
        return None if outputs is None else (*outputs[:3], outputs[3] + STORED, *outputs[4:])

    def fill_example(self, example: dict, request: gr.Request = None, progress=gr.Progress()):
        """`fill` of an example ({"model", "image" (path), "hole" (preset name)}, as the page shows it
        picked) with its model's default settings (`Settings.for_model`, as `search_defaults` shows
        them); a fill that ran to its end (not stopped by the caller or the time limit) is stored for
        `stored_example`: the search is deterministic for its seed."""
        with self._running(request, INPAINT):
            image, hole = read_editor(example_value(example))  # as the editor hands it over
            loaded = self.load(example["model"], "")
            finished = []

            def kept(reports):
                for report in reports:
                    if not isinstance(report, Preview):
                        finished.append(report)
                    yield report

            outputs = None
            wanted = inpaint.Settings.for_model(loaded.model)
            with contextlib.closing(self._reports((example["model"], ""), image, hole, wanted, methods.DEFAULT,
                                                  request, progress)) as reports:
                for outputs in self._page(kept(reports), loaded, hole, 0):
                    yield outputs
            if finished and finished[-1].stopped in (None, "converged"):
                self._stored[example_key(example)] = outputs

    @staticmethod
    def _page(reports, loaded: Loaded, hole: np.ndarray, grow, note: str = "", method: str | None = None):
        """`fill`'s outputs for each report (`note` added to the final status; `method` for `status_line`)."""
        for report in reports:
            if isinstance(report, Preview):
                # None, not gr.skip(), for the candidates and G(z): gradio 6.31 answers a skip with a
                # per-session copy of the component, and the files that copy writes later are never
                # deleted by delete_cache (the old ones are hidden by the progress overlay anyway)
                yield (_view(report.preview()), None, None, searching(report), *loss_plots(report.curves),
                       domain_badge(None))
                continue
            c = report.completion
            gallery = [(img, f"#{i + 1} · loss {loss:.4f}")
                       for i, (img, loss) in enumerate(zip(c.candidates, c.losses))]
            warning = out_of_domain(loaded, c)
            if warning:
                gr.Warning(f"{OUT_OF_DOMAIN}. {warning}", title=OUT_OF_DOMAIN)
            status = " ".join(filter(None, [status_line(report, loaded, hole, grow, method), note]))
            yield (c.image, gallery, _view(c.raw), status, *loss_plots(c.curves), domain_badge(warning))

    def second(self, first: dict | None, model: str | None, which: str = "paper",
               paper_iterations: int = 1000, request: gr.Request = None, progress=gr.Progress()):
        """Run B of the side by side: the image and hole of the last result (A, `first` as
        `remember` kept it) again with `model` and `which` settings ("same": A's; "paper":
        `Settings.paper()` with A's seed and blend, at most `paper_iterations`; "context-encoder":
        A's settings with the context encoder).

        Yields (B's heading, B's image, B's status): previews while it searches, then the result.
        """
        with self._running(request, SIDE_BY_SIDE):
            yield from self._second(first, model, which, paper_iterations, request, progress)

    def both(self, first: dict | None, request: gr.Request = None, progress=gr.Progress()):
        """After A's result with the method "both": B, the context encoder on the same model, image and
        hole, and the Side by side tab selected. Yields (B's heading, image, status, the tabs'
        selection); nothing changes when A's method was another. A model without a context encoder
        says so in B's status (and a toast), A's result standing."""
        if not first or first.get("method") != BOTH:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        tab = gr.Tabs(selected="side-by-side")
        with self._running(request, SIDE_BY_SIDE):
            try:
                for heading, image, status in self._second(first, first.get("model"), CONTEXT_ENCODER, 0, request,
                                                           progress, hub_repo=first.get("hub") or ""):
                    yield heading, image, status, tab
            except gr.Error as err:
                gr.Warning(err.message, title="No context encoder")
                yield "### B · the context encoder", None, f"⚠️ {err.message}", tab

    def _second(self, first: dict | None, model: str | None, which: str, paper_iterations: int,
                request: gr.Request | None, progress, hub_repo: str = ""):
        if not first:
            raise user_error("Fill a hole on the Inpaint tab first: B runs the same image and hole again.",
                             title="No result yet")
        image, hole = read_editor(first["editor"], grow=first["grow"])
        wanted = settings(**first["settings"], method=first["method"])
        method = methods.DEFAULT if first["method"] == BOTH else first["method"]
        if which == "paper":
            wanted = inpaint.Settings.paper(seed=wanted.seed, blend=wanted.blend,
                                            iterations=min(_whole(paper_iterations), self.service.limits.iterations))
            method = methods.DEFAULT
        elif which == CONTEXT_ENCODER:
            method = CONTEXT_ENCODER
        loaded = self.load(model, hub_repo)
        self._can_run(method, loaded)
        heading = f"### B · {loaded.name} · {SECOND.get(which, which)}"
        with contextlib.closing(self._reports((model, hub_repo), image, hole, wanted, method, request,
                                              progress)) as reports:
            for report in reports:
                if isinstance(report, Preview):
                    yield heading, _view(report.preview()), searching(report)
                    continue
                warning = out_of_domain(loaded, report.completion)
                status = status_line(report, loaded, hole, first["grow"], method)
                if warning:
                    gr.Warning(f"{OUT_OF_DOMAIN} (B). {warning}", title=OUT_OF_DOMAIN)
                    status = f"⚠️ **{OUT_OF_DOMAIN}.** {warning}\n\n{status}"
                yield heading, report.completion.image, status

    def _reports(self, source: tuple[str | None, str], image: Image.Image, hole: np.ndarray | None,
                 wanted: inpaint.Settings, method: str, request: gr.Request | None, progress,
                 degradation: ops.Degradation | None = None):
        """The reports of one completion (Preview..., Finished) from `search`, the progress bar
        kept up to date. source: (model name, Hub repo id) as `load` takes them. With a
        `degradation`, a restoration of `image` (hole None)."""
        progress(0, desc="Searching the latent space")
        with contextlib.closing(self.search(*source, image, hole, wanted, method, _session(request),
                                            degradation)) as reports:
            for report in reports:
                if isinstance(report, Preview):
                    progress((report.iteration, report.total), desc="Searching the latent space")
                yield report

    def _search(self, model: str | None, hub_repo: str, image: Image.Image, hole: np.ndarray | None,
                wanted: inpaint.Settings, method: str, caller: str | None,
                degradation: ops.Degradation | None = None):
        """The service's completion of `image`'s `hole` (or restoration from `degradation`) with the
        model `load(model, hub_repo)` gives: Preview reports, then the Finished one; the engine's
        errors as gr.Error. `search` is this
        under `spaces.GPU`: on ZeroGPU it runs in the GPU worker's process, which loads the model
        itself (from the disk or the HF cache the page's process filled), and what it takes and
        yields is pickled across, so it takes and yields plain values only."""
        loaded = self.load(model, hub_repo)
        try:
            with contextlib.closing(self.service.run(loaded.model, image, hole, wanted, method=method,
                                                     caller=caller, degradation=degradation)) as reports:
                for report in reports:
                    yield Preview.of(report) if isinstance(report, Progress) else report
        except inpaint.InpaintError as err:
            raise user_error(str(err)) from None

    def _gpu_seconds(self, model: str | None, hub_repo: str, image, hole, wanted: inpaint.Settings, *_rest) -> int:
        """`search`'s duration for ZeroGPU, from its arguments: see `gpu.gpu_seconds`."""
        resolution = self.load(model, hub_repo).model.resolution  # loaded already: the page's process caches it
        return gpu_seconds(wanted.iterations, wanted.restarts, resolution,
                           min(self.service.limits.seconds, wanted.time_limit or self.service.limits.seconds))

    def stop(self, request: gr.Request = None, task: str = INPAINT):
        """The Stop button of `task` (INPAINT, SIDE_BY_SIDE or RESTORE): a search of this session's under
        way is asked to stop (it returns the best fill found so far) and this returns gr.skip();
        with none under way, this returns a fresh token, for the page to cancel the session's
        request of `task` that still waits in the queue (see `layout.build_demo`)."""
        session = _session(request)
        with self._lock:
            under_way = self._under_way[(session, task)] > 0
        if under_way:
            self.service.stop(session)
            return gr.skip()
        return next(TOKENS)

    # --- the Restore tab -----------------------------------------------------------------------------

    def restore(self, image: Image.Image | None, model: str | None = None, hub_repo: str = "", task: str = "deblur",
                blur: str = "gaussian", strength: float = 2.0, angle: float = 0.0, factor: int = 4,
                noise: float = 0.1, iterations: int = DEFAULTS.iterations, restarts: int = DEFAULTS.restarts,
                seed: int = DEFAULTS.seed, request: gr.Request = None, progress=gr.Progress()):
        """Restore a degraded image: the API's `/restore`. task: deblur (a `blur` of `strength` px:
        gaussian's sigma, box's side, motion's length at `angle` degrees), upscale (by `factor`: 2, 4
        or 8; `image` is the small image), denoise (Gaussian noise of sigma `noise`, [0, 1] scale) or
        colourise (colour models only); see `restore.degradation`.

        Returns (the result at the clean image's size: the input's, times the factor when upscaling,
        ranked candidates, raw G(z) of the best (upscaled), status text); while it searches it
        yields G(z) previews at the model's resolution.
        """
        with contextlib.closing(self._restorations(image, model, hub_repo, task, blur, strength, angle, factor, noise,
                                                   iterations, restarts, seed, request, progress)) as reports:
            for outcome, _, _, _ in reports:
                if isinstance(outcome, Preview):
                    yield _view(outcome.preview()), None, None, searching(outcome)
                else:
                    yield outcome  # a finished restoration's outputs: `_restored`

    def restore_page(self, image: Image.Image | None, model: str | None = None, hub_repo: str = "",
                     task: str = "deblur", blur: str = "gaussian", strength: float = 2.0, angle: float = 0.0,
                     factor: int = 4, noise: float = 0.1, iterations: int = DEFAULTS.iterations,
                     restarts: int = DEFAULTS.restarts, seed: int = DEFAULTS.seed, request: gr.Request = None,
                     progress=gr.Progress()):
        """`restore` as the page shows it: (the input enlarged to the result's size, the result
        enlarged alike (both nearest neighbour, to about `restore.VIEW` px), candidates, G(z), status)."""
        with contextlib.closing(self._restorations(image, model, hub_repo, task, blur, strength, angle, factor, noise,
                                                   iterations, restarts, seed, request, progress)) as reports:
            for outcome, op, given, _ in reports:
                if isinstance(outcome, Preview):
                    size = restoring.shown(ops.compose(op).clean_size(given.size))
                    yield restoring.enlarged(given, size), _view(outcome.preview()), None, None, searching(outcome)
                    continue
                result, gallery, raw, status = outcome
                size = restoring.shown(result.size)
                if size != result.size:
                    status += f" Shown enlarged ×{size[0] // result.width} (nearest neighbour), the input alike."
                yield restoring.enlarged(given, size), restoring.enlarged(result, size), gallery, raw, status

    def _restorations(self, image, model, hub_repo, task, blur, strength, angle, factor, noise, iterations, restarts,
                      seed, request, progress):
        """The reports of one restoration: (Preview | the finished outputs of `_restored`, its degradation,
        the input (upright, 8 bits), the model)."""
        with self._running(request, RESTORE):
            if image is None:
                raise user_error("Upload an image to restore, or press “Degrade an example for me”.",
                                 title="No image")
            op = restoring.degradation(task, blur, strength, angle, factor, noise)
            wanted = settings(iterations, restarts, None, seed, DEFAULTS.blend)
            loaded = self.load(model, hub_repo)
            self._can_colourise(op, loaded)
            try:
                given = normalize(image)
            except inpaint.InpaintError as err:
                raise user_error(str(err), title="Image not usable") from None
            with contextlib.closing(self._reports((model, hub_repo), given, None, wanted, methods.DEFAULT, request,
                                                  progress, op)) as reports:
                for report in reports:
                    yield (report if isinstance(report, Preview) else _restored(report, op, given, loaded)), op, \
                        given, loaded

    def degrade_example(self, examples: list[dict], count: int | None, model: str | None, hub_repo: str = "",
                        task: str = "deblur", blur: str = "gaussian", strength: float = 2.0, angle: float = 0.0,
                        factor: int = 4, noise: float = 0.1, seed: int = DEFAULTS.seed) -> tuple:
        """The next of `model`'s `examples` (the `count`-th, round the list; any example when the model
        has none) at the resolution of the model `load(model, hub_repo)` gives,
        degraded as the widgets say (`op.degrade(image, seed)`): (the degraded image for the input,
        the clean one enlarged as the result will be shown (the truth), a status, count + 1)."""
        mine = [e for e in examples if e["model"] == model] or list(examples)
        if not mine:
            raise user_error("This app has no example images: upload an image to restore.", title="No example")
        op = restoring.degradation(task, blur, strength, angle, factor, noise)
        loaded = self.load(model, hub_repo)
        self._can_colourise(op, loaded)
        count = int(count or 0)
        example = mine[count % len(mine)]
        clean = restoring.clean_example(example["image"], loaded.model.resolution)
        seed = settings(DEFAULTS.iterations, DEFAULTS.restarts, None, seed, DEFAULTS.blend).seed  # Settings' check
        try:
            degraded = op.degrade(clean, seed)
        except inpaint.InpaintError as err:
            raise user_error(str(err), title="Restore") from None
        caption = example.get("caption") or Path(example["image"]).stem
        status = (f"The example “{caption}” at {clean.width}×{clean.height} with {restoring.described(op)}: it is "
                  f"in the input now ({degraded.width}×{degraded.height}), its clean image beside the result as the "
                  "truth. Press **Restore**.")
        return degraded, restoring.enlarged(clean, restoring.shown(clean.size)), status, count + 1

    def restore_tasks(self, model: str | None, hub_repo: str = "", task: str = "deblur"):
        """The Restore tab's task picker for the chosen model: colourise is offered for colour models
        only (and the picker leaves it for deblur when the model is greyscale)."""
        try:
            channels = self.load(model, hub_repo).model.channels
        except gr.Error:
            channels = None
        choices = restoring.tasks_for(channels)
        return gr.Radio(choices=choices, value=task if task in [v for _, v in choices] else choices[0][1])

    def generate(self, model: str | None = None, hub_repo: str = "", seed: int = 0, count: int = 36):
        """A grid of `count` random samples G(z), z drawn with `seed`."""
        seed = settings(DEFAULTS.iterations, DEFAULTS.restarts, None, seed, DEFAULTS.blend).seed  # Settings' check
        loaded = self.load(model, hub_repo)
        count = int(min(max(int(count), 1), 64))
        samples = loaded.model.generate(count, seed=seed)
        scale = max(1, 96 // loaded.model.resolution)
        return grid(samples, scale=scale), f"{count} samples of {loaded.name}, seed {seed}."

    def about(self, model: str | None = None, hub_repo: str = ""):
        """(model summary, model card markdown) for the chosen model."""
        try:
            loaded = self.load(model, hub_repo)
        except gr.Error as err:
            return f"⚠️ {err.message}", ""
        return describe(loaded), card(loaded.folder)


def _restored(done: Finished, op, given: Image.Image, loaded: Loaded) -> tuple:
    """A finished restoration's outputs: (result, candidates with their losses, G(z) enlarged, status)."""
    c = done.completion
    gallery = [(img, f"#{i + 1} · loss {loss:.4f}") for i, (img, loss) in enumerate(zip(c.candidates, c.losses))]
    return c.image, gallery, _view(c.raw), restore_status(done, loaded, op, given.size)


def example_key(example: dict) -> tuple[str, str, str]:
    return example["model"], str(example["image"]), example["hole"]


def example_value(example: dict) -> dict:
    """The editor's value for an example: its image (RGBA, as the editor holds it) with its preset hole painted."""
    with Image.open(example["image"]) as img:
        image = img.convert("RGBA")
    return editor_value(image, inpaint.preset(example["hole"], image.size))


def take_image(value) -> tuple[Image.Image, None]:
    """(the editor's image, None to clear the editor), or a gr.Error asking for an image."""
    return read_editor(value, "Upload an image first (or pick an example), then choose a mask.")[0], None


def painter(name: str):
    """A callback: the held image with preset hole `name` (see inpaint.PRESETS) as the editor's value."""
    def paint(image: Image.Image) -> dict:
        return editor_value(image, inpaint.preset(name, image.size))
    return paint


def with_mask(image: Image.Image, mask: Image.Image | None) -> dict:
    """The held image with an uploaded mask image (white = hole) as the editor's painted hole."""
    if mask is None:
        raise user_error("Upload a mask image: white where the hole is, black elsewhere.", title="No mask")
    return editor_value(image, mask_hole(mask, image.size))


def before_after(editor, grow, result: Image.Image | None):
    """(your image with the hole in red, the result) for the before/after slider."""
    if result is None:
        return None
    image, hole = read_editor(editor, grow=grow)
    if image.size != result.size:  # the editor changed since: compare with the result alone
        return result, result
    return with_hole(image, hole).convert("RGB"), result.convert("RGB")


def remember(editor, grow, model, hub_repo, iterations, restarts, warm_start, lam, seed, blend, method, result,
             status) -> tuple:
    """After a result: what the side by side's B runs again (the editor's value, the grow, A's
    settings (`settings`' keywords) and method), and A's heading, image and status for its column."""
    first = {"editor": editor, "grow": grow, "method": method, "model": model, "hub": (hub_repo or "").strip(),
             "settings": dict(iterations=iterations, restarts=restarts, warm_start=warm_start, lam=lam, seed=seed,
                              blend=blend)}
    how = "the GAN prior, your settings" if method == BOTH else "your settings"
    return first, f"### A · {first['hub'] or model} · {how}", result, status


def continue_from(result: Image.Image | None) -> dict:
    """The result as the editor's new image, nothing painted: fill another hole in it."""
    if result is None:
        raise user_error("Fill a hole first: then the result can be edited further.", title="No result")
    return {"background": result, "layers": [], "composite": None}


def paint_preset(value, name: str) -> dict:
    """Draw preset hole `name` over the editor's image, replacing any painting."""
    return painter(name)(take_image(value)[0])
