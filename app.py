"""Gradio demo: paint a hole into an image and let a DCGAN fill it (Yeh et al., CVPR 2017).

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)
    python app.py --share    # and a public link

UI only: the callbacks turn editor values into `inpaint.complete` calls. The API endpoint
`/inpaint` takes the ImageEditor value first; every other input has a default.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from io import BytesIO
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

import inpaint
import inpaint.hub
from inpaint.blend import BLENDS
from inpaint.complete import MAX_SEED
from inpaint.imageio import MAX_PIXELS, check_size, grid, normalize
from inpaint.masks import from_image

ROOT = Path(__file__).resolve().parent
CHECKPOINTS = ROOT / "checkpoints"
EXAMPLES = ROOT / "examples"
BUNDLED = ("fashion-mnist-32", "emoji-64")  # the picker's order

MAX_SIDE = 1024         # larger images are scaled down first (the fill is 32-64 px anyway)
MAX_ITERATIONS = 2000   # per request, so one request can't hog the shared CPU
MAX_RESTARTS = 128
# seconds one completion may search (the best so far is returned then); the queue's next user waits meanwhile
TIME_LIMIT = float(os.environ.get("INPAINT_TIME_LIMIT", "120"))
# seconds a request waits for a Hub model to download before it gives up (the download goes on in the
# background): a Hub that does not answer must not hold the queue for the minutes huggingface_hub retries
HUB_WAIT = float(os.environ.get("INPAINT_HUB_WAIT", "20"))
MAX_HUB_LOADS = 4       # Hub downloads under way at once; more are refused until one ends
# the Hub box takes Hub repo ids only, so that visitors cannot probe the server's disk with paths;
# INPAINT_ALLOW_LOCAL_MODELS=1 lets it load local folders too (for local development)
ALLOW_LOCAL_MODELS = os.environ.get("INPAINT_ALLOW_LOCAL_MODELS") == "1"
MAX_FILE_SIZE = os.environ.get("INPAINT_MAX_FILE_SIZE", "25mb")  # per uploaded file (launch's max_file_size)
# gradio keeps every upload, result and streamed preview in its cache folder (GRADIO_TEMP_DIR): every 10
# minutes, delete those older than an hour (and all of them when the server stops)
DELETE_CACHE = (600, 3600)
QUEUE_SIZE = 32         # requests waiting in line, beyond which new ones get "queue is full"
HOLE_RGBA = (255, 40, 40, 150)   # how the app draws a hole into the editor: semi-transparent red
BRUSH = ("#ff2828", 0.6)
VIEW = 256               # small model-resolution images are shown upscaled to this size
PRESET_BUTTONS = (("Centre", "center"), ("Left half", "left"), ("Top half", "top"),
                  ("Random pixels (80%)", "random"), ("Strokes", "strokes"))
DEFAULTS = inpaint.Settings()

METHOD = f"""
### How it works

A DCGAN generator G maps a latent vector z to an image of its domain. To fill a hole,
the app searches for the z whose image best agrees with the pixels you left, and
pastes that image's content into the hole (Yeh et al., *Semantic Image Inpainting with
Deep Generative Models*, CVPR 2017). It minimizes

**‖W ⊙ M ⊙ (G(z) − y)‖₁ + λ · (−log D(G(z)))**

where y is your image at the model's resolution, M is 1 on the known pixels and 0 in the
hole, W weights known pixels near the hole more (the paper's importance weights), and
the second term (the discriminator D's opinion) pulls G(z) toward what D finds realistic.
λ is 0 by default: on the bundled models D's term measured no better fills (hole PSNR or
class kept, λ from 0.003 to 3 on validation images) and skipping D makes each step about 40%
cheaper; set λ under Advanced to use it (the paper's value is 0.003). Several random
starts (*restarts*) are optimized side by side with Adam; the best few are shown as
candidates. The fill is then blended into your image at its full resolution
(Poisson blending by default).

### Limits

- The model only knows its domain: a Fashion-MNIST model fills holes with bits of
  garments, an emoji model with bits of emoji faces. Holes in photos of anything else are
  filled with something from that domain.
- The model works at its own small resolution (32×32 or 64×64 pixels for the bundled ones): any image is
  letterboxed (scaled to fit, aspect kept) to the model's square, filled there, and the fill is
  scaled back up and pasted into the hole. With the Poisson blend (the default) or none, pixels outside the
  hole are yours, unchanged; the alpha blend feathers the fill a few pixels past the hole's edge.
- Images larger than {MAX_SIDE} px on the long side are scaled down to {MAX_SIDE} px first.
- The search costs time: defaults are {DEFAULTS.iterations} iterations × {DEFAULTS.restarts} restarts
  (it stops early when the loss stops improving); requests are capped at {MAX_ITERATIONS} iterations,
  {MAX_RESTARTS} restarts and {TIME_LIMIT:.0f} seconds of search (then the best fill so far is returned).
"""


def _user_error(message: str, title: str = "Error") -> gr.Error:
    """A gr.Error for something the user can fix (no traceback in the server log)."""
    return gr.Error(message, title=title, print_exception=False)


# --- models ---------------------------------------------------------------------------------

def bundled_models() -> dict[str, str]:
    """name -> folder of the bundled checkpoints that exist (a folder still training is left out)."""
    return {name: str(CHECKPOINTS / name) for name in BUNDLED
            if all((CHECKPOINTS / name / file).is_file() for file in ("config.json", "model.safetensors"))}


def _source(models: dict[str, str], choice: str | None, hub_repo: str | None) -> tuple[str, str, bool]:
    """(source for load_model, name to show, whether it may be a local folder): a Hub repo id
    typed in wins over the picker. What the server lists may be a folder; what a visitor types
    is a Hub repo id (unless ALLOW_LOCAL_MODELS)."""
    hub_repo = (hub_repo or "").strip()
    if hub_repo:
        return hub_repo, hub_repo, ALLOW_LOCAL_MODELS
    if not models:
        raise _user_error("No model is available: no bundled checkpoint was found; type a Hub repo id like "
                          "'user/name' into the Hub box.")
    if choice not in models:
        choice = next(iter(models))
    return models[choice], choice, True


def _load(models: dict[str, str], choice: str | None, hub_repo: str | None) -> tuple[inpaint.DCGAN, str]:
    source, name, allow_local = _source(models, choice, hub_repo)
    try:
        return load_model(source, allow_local=allow_local), name
    except inpaint.ModelLoadError as err:
        raise _user_error(str(err), title="Model not available") from None


_loads: dict[str, Future] = {}  # source -> the load under way
_downloads: set[str] = set()  # those of them that download (the rest are on this machine)
_loads_lock = threading.Lock()


def load_model(source: str, wait: float | None = None, *, allow_local: bool = True) -> inpaint.DCGAN:
    """inpaint.load_model(source), waiting at most `wait` seconds (default HUB_WAIT).

    The load runs in a thread of its own, so when the Hub does not answer (huggingface_hub retries
    for minutes) this request gives up with a ModelLoadError and frees the queue for the next
    user while the download goes on; once it is done the model is in inpaint.hub's cache and the
    next request for it gets it at once. Loads of the same source share one thread. At most
    MAX_HUB_LOADS downloads run at once; a local folder, or a Hub model already loaded or in the
    HF cache, never waits for one of those slots. `allow_local=False`: Hub repo ids only.
    """
    wait = HUB_WAIT if wait is None else wait
    # first, so that a source this caller may not load is refused even while someone else loads it
    downloads = not inpaint.hub.is_downloaded(source, allow_local=allow_local)
    with _loads_lock:
        future = _loads.get(source)
        if future is None:
            if downloads and len(_downloads) >= MAX_HUB_LOADS:
                raise inpaint.ModelLoadError(f"cannot load Hub repo '{source}' now: {len(_downloads)} downloads "
                                             f"are already under way (the Hub may be slow or unreachable); try "
                                             f"again in a minute, or use a bundled model", source=source)
            future = _loads[source] = Future()
            if downloads:
                _downloads.add(source)
            threading.Thread(target=_load_in_background, args=(source, future, allow_local), name="inpaint-load",
                             daemon=True).start()
    try:
        return future.result(timeout=wait)
    except FutureTimeout:
        raise inpaint.ModelLoadError(
            f"Hub repo '{source}' is still downloading after {wait:g} s (the Hub is slow or not answering); "
            f"the download goes on in the background: try again in a minute, or use a bundled model",
            source=source) from None


def _load_in_background(source: str, future: Future, allow_local: bool) -> None:
    try:
        # cached in-process by inpaint.hub; on the GPU when there is one
        future.set_result(inpaint.load_model(source, allow_local=allow_local))
    except BaseException as err:  # noqa: BLE001 - handed to whoever waits on the future
        future.set_exception(err)
    finally:
        with _loads_lock:
            if _loads.get(source) is future:
                del _loads[source]
                _downloads.discard(source)


def _describe(model: inpaint.DCGAN, name: str) -> str:
    kind = "greyscale" if model.channels == 1 else "colour"
    return (f"**{name}**: {model.resolution}×{model.resolution} {kind} images, trained on **{model.dataset}**. "
            f"It can only fill holes with {model.dataset} content.")


# --- editor values ----------------------------------------------------------------------------

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


def read_editor(value) -> tuple[Image.Image, np.ndarray, list[str]]:
    """ImageEditor value -> (image, hole bool H x W, notes for the status line).

    Raises gr.Error for what a user can get wrong. Images over MAX_SIDE are scaled down. The
    hole is taken to be drawn on the image as it is shown, upright (EXIF orientation applied).
    """
    try:
        image, hole = inpaint.from_editor(_upright(_masks_as_layers(value)))
    except inpaint.InpaintError as err:  # e.g. an image over the pixel limit
        raise _user_error(str(err), title="Image not usable") from None
    except (OSError, ValueError) as err:  # a file the editor could not decode
        raise _user_error(f"The image could not be read ({err}). Try a PNG or JPEG file.") from None
    if image is None:
        raise _user_error("Upload an image first (or pick one of the examples below the editor).", title="No image")
    if not hole.any():
        raise _user_error("Nothing is painted: paint over the part of the image to fill with the brush, "
                          "or click one of the mask buttons.", title="No hole")
    if hole.all():
        raise _user_error("The whole image is painted: leave some of it unpainted so the model has "
                          "something to match.", title="Hole too large")
    image = normalize(image)  # the engine's one reader: any mode -> RGB, RGBA or L, upright
    if image.mode == "RGBA" and np.asarray(image.getchannel("A")).min() == 255:
        image = image.convert("RGB")  # the editor hands everything over as RGBA
    notes = []
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        notes.append(f"The image was {image.width}×{image.height}; it was scaled down to {size[0]}×{size[1]} first.")
        image = image.resize(size, Image.LANCZOS)
        # a cell with any painted pixel is hole: thin strokes survive the scaling
        hole = np.asarray(Image.fromarray(hole.astype(np.uint8) * 255).resize(size, Image.BOX)) > 0
    return image, hole, notes


def _upright(value):
    """The editor value with its background normalized (upright, 8-bit) before the hole is read,
    so that the hole and the image agree on the image's orientation and size."""
    if isinstance(value, dict) and isinstance(value.get("background"), Image.Image):
        return {**value, "background": normalize(value["background"])}
    return value


def _masks_as_layers(value):
    """The editor value with any opaque layer read as a mask image (white / nonzero = hole).

    The editor's own layers are transparent where nothing is painted; a fully opaque layer can
    only be a black-and-white mask that an API client sent, so it becomes a layer whose alpha
    marks the mask's white pixels.
    """
    if not isinstance(value, dict) or not value.get("layers"):
        return value
    layers = []
    for layer in value["layers"]:
        if isinstance(layer, Image.Image) and (
                "A" not in layer.getbands() or np.asarray(layer.getchannel("A")).min() == 255):
            layer = hole_layer(layer.size, from_image(layer.convert("RGB")))
        layers.append(layer)
    return {**value, "layers": layers}


def _take_image(value) -> tuple[Image.Image, None]:
    """(the editor's image, None to clear the editor), or a gr.Error asking for an image."""
    image, _ = inpaint.from_editor(value) if value else (None, None)
    if image is None:
        raise _user_error("Upload an image first (or pick an example), then choose a mask.", title="No image")
    return image, None


def _painter(name: str):
    def paint(image: Image.Image) -> dict:
        return editor_value(image, inpaint.preset(name, image.size))
    return paint


def paint_preset(value, name: str) -> dict:
    """Draw preset hole `name` (see inpaint.PRESETS) over the editor's image, replacing any painting."""
    return _painter(name)(_take_image(value)[0])


# --- the completion ---------------------------------------------------------------------------

_stops: dict[str, threading.Event] = {}  # session hash -> stop flag of that session's running completion
_stops_lock = threading.Lock()


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def stop(request: gr.Request = None) -> None:
    """Ask this session's running completion to stop; it returns the best fill found so far."""
    with _stops_lock:
        flag = _stops.get(_session(request))
    if flag is not None:
        flag.set()


def _view(img: Image.Image) -> Image.Image:
    """A model-resolution image upscaled (pixels kept sharp) so it can be seen."""
    scale = max(1, VIEW // max(img.size))
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def _settings(iterations, restarts, lam, seed, blend) -> inpaint.Settings:
    iterations, restarts = int(iterations), int(restarts)
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise _user_error(f"iterations must be between 1 and {MAX_ITERATIONS}, got {iterations}.")
    if not 1 <= restarts <= MAX_RESTARTS:
        raise _user_error(f"restarts must be between 1 and {MAX_RESTARTS}, got {restarts}.")
    if lam is None or float(lam) < 0:
        raise _user_error("λ must be 0 or more.")
    if blend not in BLENDS:
        raise _user_error(f"blend must be {', '.join(BLENDS[:-1])} or {BLENDS[-1]}, got {blend!r}.")
    return inpaint.Settings(iterations=iterations, restarts=restarts, lam=float(lam), seed=_seed(seed), blend=blend,
                            time_limit=TIME_LIMIT)


def _seed(value) -> int:
    """A seed from the page or the API: a whole number from 0 to MAX_SEED, or a plain error."""
    try:
        seed = int(value or 0)
        if seed != float(value or 0) or not 0 <= seed <= MAX_SEED:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise _user_error(f"the seed must be a whole number from 0 to {MAX_SEED}, got {value!r}.") from None
    return seed


def make_inpaint(models: dict[str, str]):
    """The run callback for these models (a generator: previews while it searches, then the result)."""

    def run(editor, model: str | None = None, hub_repo: str = "", iterations: int = DEFAULTS.iterations,
            restarts: int = DEFAULTS.restarts, lam: float = DEFAULTS.lam, seed: int = DEFAULTS.seed,
            blend: str = DEFAULTS.blend, request: gr.Request = None, progress=gr.Progress()):
        """Fill the painted hole of the editor's image.

        Returns (result image at the input's size, ranked candidates, raw G(z) of the best
        (upscaled), status text). While it runs it yields previews at the model's resolution.
        """
        image, hole, notes = read_editor(editor)
        settings = _settings(iterations, restarts, lam, seed, blend)
        net, name = _load(models, model, hub_repo)

        flag, session = threading.Event(), _session(request)
        with _stops_lock:
            if session is not None:
                _stops[session] = flag
        updates: queue.Queue = queue.Queue()
        outcome: dict = {}

        def on_progress(p: inpaint.Progress) -> bool:
            updates.put(p)
            return flag.is_set()

        def work():
            try:
                outcome["completion"] = inpaint.complete(net, image, hole, settings, on_progress=on_progress)
            except BaseException as err:  # noqa: BLE001 - handed to the generator below
                outcome["error"] = err
            finally:
                updates.put(None)

        worker = threading.Thread(target=work, name="inpaint-complete", daemon=True)
        worker.start()
        finished = False
        try:
            progress(0, desc="Searching the latent space")
            while (latest := updates.get()) is not None:
                while not updates.empty():  # skip the previews we are behind on
                    newer = updates.get()
                    if newer is None:
                        updates.put(None)
                        break
                    latest = newer
                progress((latest.iteration, latest.total), desc="Searching the latent space")
                # None, not gr.skip(), for the candidates and G(z): gradio 6.31 answers a skip with a
                # per-session copy of the component, and the files that copy writes later are never
                # deleted by delete_cache (the old ones are hidden by the progress overlay anyway)
                yield (_view(latest.preview()), None, None,
                       f"Searching… iteration {latest.iteration} of at most {latest.total}, "
                       f"best loss {latest.loss:.4f}")
            finished = True
        finally:
            if not finished:  # the browser went away: let the search end at its next progress report
                flag.set()
            worker.join()
            with _stops_lock:
                if _stops.get(session) is flag:
                    del _stops[session]

        err = outcome.get("error")
        if isinstance(err, inpaint.InpaintError):
            raise _user_error(str(err))
        if err is not None:
            raise err
        c: inpaint.Completion = outcome["completion"]
        if flag.is_set() and c.stopped_early:
            how = " (stopped by you; the best so far)"
        elif c.stopped_early and settings.time_limit is not None and c.seconds > settings.time_limit:
            how = f" (stopped at the time limit of {settings.time_limit:g} s; the best so far)"
        elif c.stopped_early:
            how = " (stopped early: the loss had stopped improving)"
        else:
            how = ""
        status = (f"Done in {c.seconds:.1f} s: {c.iterations} iterations{how}, {settings.restarts} restarts, "
                  f"best loss {c.losses[0]:.4f}. Model {name} ({net.resolution}×{net.resolution}) on {c.device}, "
                  f"blend {settings.blend}. The hole covered {hole.mean():.0%} of the image.")
        status = " ".join([status, *notes])
        gallery = [(img, f"#{i + 1} · loss {loss:.4f}") for i, (img, loss) in enumerate(zip(c.candidates, c.losses))]
        yield c.image, gallery, _view(c.raw), status

    return run


# --- other tabs --------------------------------------------------------------------------------

def make_generate(models: dict[str, str]):
    def generate(model: str | None = None, hub_repo: str = "", seed: int = 0, count: int = 36):
        """A grid of `count` random samples G(z), z drawn with `seed`."""
        net, name = _load(models, model, hub_repo)
        count = int(min(max(int(count), 1), 64))
        seed = _seed(seed)
        samples = net.generate(count, seed=seed)
        scale = max(1, 96 // net.resolution)
        return grid(samples, scale=scale), f"{count} samples of {name}, seed {seed}."
    return generate


def _card(folder: Path | None) -> str:
    """The model card without its YAML header and its local images (shown beside it)."""
    path = folder / "README.md" if folder is not None else None
    if path is None or not path.is_file():
        return "*This model has no model card.*"
    text = path.read_text(encoding="utf-8", errors="replace")
    if text.startswith("---"):
        end = text.find("\n---", 3)
        text = text[end + 4:] if end != -1 else text
    lines = [line for line in text.splitlines() if not (line.startswith("![") and "](" in line and "://" not in line)]
    lines = ["##" + line if line.startswith("#") else line for line in lines]  # under the page's own headings
    return "\n".join(lines).strip()


def make_about(models: dict[str, str]):
    def about(model: str | None = None, hub_repo: str = ""):
        """(model summary, model card markdown, samples.png or None) for the chosen model."""
        try:
            net, name = _load(models, model, hub_repo)
        except gr.Error as err:
            return f"⚠️ {err.message}", "", None
        folder = getattr(net, "checkpoint_dir", None)
        if folder is None and not (hub_repo or "").strip() and model in models:
            folder = models[model]
        folder = Path(folder) if folder is not None else None
        samples = folder / "samples.png" if folder is not None and (folder / "samples.png").is_file() else None
        return _describe(net, name), _card(folder), str(samples) if samples else None
    return about


# --- the page -----------------------------------------------------------------------------------

def _read_examples(models: dict[str, str]) -> list[dict]:
    path = EXAMPLES / "examples.json"
    if not path.is_file():
        return []
    entries = json.loads(path.read_text())
    return [dict(e, image=str(EXAMPLES / e["image"])) for e in entries
            if e["model"] in models and (EXAMPLES / e["image"]).is_file()]


def _examples(examples: list[dict], models: dict[str, str], editor, model, hub) -> None:
    """One gallery of examples per model. Picking one loads the image with its hole painted
    and switches to the model that knows its domain.

    The gallery fills hidden components (the thumbnail shows the image with its hole in red);
    the editor is then cleared and set in two further steps, see `_set_editor`.
    """
    thumb = gr.Image(visible=False, type="pil", format="png")
    pick = gr.Textbox(visible=False)
    chosen = {}  # str(index) -> example entry

    def load(key: str) -> dict:
        e = chosen[key]
        image = _open_example(e["image"])
        return editor_value(image, inpaint.preset(e["hole"], image.size))

    for name in models:
        group = [e for e in examples if e["model"] == name]
        if not group:
            continue
        rows = []
        for e in group:
            image = _open_example(e["image"])
            key = str(len(chosen))
            chosen[key] = e
            rows.append([with_hole(image, inpaint.preset(e["hole"], image.size)), name, "", key])
        gallery = gr.Examples(rows, inputs=[thumb, model, hub, pick], visible_columns=[0], examples_per_page=12,
                              label=f"Examples for {name} (held-out test images, hole already painted): "
                                    "click one, then Fill the hole", api_visibility="private",
                              elem_id=f"examples-{name}")
        _set_editor(gallery.load_input_event.then, load, pick, editor)


def _open_example(path: str) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return img


def _set_editor(then, fn, inputs, editor) -> None:
    """Set the editor to fn(inputs) (a value with a hole layer) after clearing it.

    Works around a gradio 6.31 ImageEditor bug: a layer sent from the server is placed by the
    bounds of everything the canvas held since it was last cleared (at least `canvas_size`),
    so it lands off-centre over an image smaller than an earlier one. Clearing the editor
    first (value None) and keeping `canvas_size` tiny makes the bounds the image's own.
    """
    then(lambda: None, None, editor, queue=False, api_visibility="private", show_progress="hidden").then(
        fn, inputs, editor, queue=False, api_visibility="private", show_progress="hidden")


def build_demo(models: dict[str, str] | None = None, examples: list[dict] | None = None) -> gr.Blocks:
    """The app. models: name -> checkpoint folder or Hub repo id (default: the bundled checkpoints
    that exist). examples: [{"model", "image" (path), "hole" (preset name), "caption"}] (default:
    examples/examples.json, for the models present)."""
    models = dict(bundled_models() if models is None else models)
    examples = _read_examples(models) if examples is None else [e for e in examples if e["model"] in models]
    first = next(iter(models), None)
    run, generate, about = make_inpaint(models), make_generate(models), make_about(models)

    with gr.Blocks(title="GAN inpainting", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(
            "# Fill a hole with a GAN\n"
            "Paint over part of an image (or click a mask button), then press **Fill the hole**: a small "
            "DCGAN searches its latent space for an image that matches the rest of yours and fills the hole "
            "with it (Yeh et al., CVPR 2017). Each model knows only its own kind of image — start with an example."
        )
        with gr.Row(equal_height=True):
            model = gr.Dropdown(choices=list(models), value=first, label="Model (bundled)", scale=1,
                                info="Pick the model that knows your kind of image.")
            hub = gr.Textbox(value="", label="…or a Hugging Face Hub model", scale=1,
                             placeholder="user/name or user/name@revision",
                             info="Press Enter to load; leave empty to use the bundled model.")
        model_info = gr.Markdown()

        with gr.Tabs():
            with gr.Tab("Inpaint"):
                with gr.Row():
                    with gr.Column(scale=1):
                        editor = gr.ImageEditor(
                            label="Your image: paint the hole to fill (red)", type="pil", image_mode="RGBA",
                            format="png", sources=("upload", "clipboard"), layers=False, transforms=(),
                            brush=gr.Brush(default_size=16, colors=[BRUSH], default_color=BRUSH, color_mode="fixed"),
                            eraser=gr.Eraser(default_size=16), canvas_size=(16, 16), height=420,
                            placeholder="Drop an image here, or pick an example below",
                            elem_id="editor",
                        )
                        _refuse_bad_uploads(editor)
                        gr.Markdown("Or paint a preset hole (replaces what is painted):")
                        with gr.Row():
                            preset_buttons = [(gr.Button(label, size="sm", min_width=80), name)
                                              for label, name in PRESET_BUTTONS]
                        with gr.Row():
                            run_button = gr.Button("Fill the hole", variant="primary", scale=3, elem_id="run")
                            stop_button = gr.Button("Stop", variant="stop", scale=1, elem_id="stop")
                        _examples(examples, models, editor, model, hub)
                        with gr.Accordion("Advanced", open=False):
                            iterations = gr.Slider(
                                1, MAX_ITERATIONS, value=DEFAULTS.iterations, step=1, elem_id="iterations",
                                label="Iterations (at most; stops early when the loss stops improving)")
                            restarts = gr.Slider(1, MAX_RESTARTS, value=DEFAULTS.restarts, step=1,
                                                 label="Restarts (random starts searched side by side)",
                                                 elem_id="restarts")
                            lam = gr.Number(value=DEFAULTS.lam, minimum=0,
                                            label="λ (weight of the realism term −log D(G(z)))")
                            seed = gr.Number(value=DEFAULTS.seed, precision=0, minimum=0, maximum=MAX_SEED,
                                             label="Seed")
                            blend = gr.Radio(list(BLENDS), value=DEFAULTS.blend,
                                             label="Blend the fill in with")
                    with gr.Column(scale=1):
                        result = gr.Image(label="Result (your image's size)", type="pil", format="png",
                                          interactive=False, height=380, elem_id="result")
                        status = gr.Markdown("Result, candidates and G(z) appear here.", label="Status", elem_id="status")
                        candidates = gr.Gallery(label="Candidates, best first (click to enlarge)", format="png",
                                                columns=4, height=220, interactive=False, elem_id="candidates")
                        raw = gr.Image(label="Raw G(z) of the best candidate (the model's resolution)",
                                       type="pil", format="png", interactive=False, height=220, elem_id="raw")
            with gr.Tab("Generate"):
                gr.Markdown("Random samples G(z) from the chosen model: what it has learned its domain looks like.")
                with gr.Row():
                    gen_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                    gen_count = gr.Slider(1, 64, value=36, step=1, label="How many")
                    gen_button = gr.Button("Generate", variant="primary")
                gen_image = gr.Image(label="Samples", type="pil", format="png", interactive=False)
                gen_status = gr.Markdown(label="Status")

            with gr.Tab("About"):
                gr.Markdown(METHOD)
                gr.Markdown("### The chosen model")
                about_summary = gr.Markdown()
                with gr.Row():
                    about_card = gr.Markdown()
                    about_samples = gr.Image(label="Samples (from the model card)", interactive=False,
                                             type="filepath", height=360)

        # --- events
        inputs = [editor, model, hub, iterations, restarts, lam, seed, blend]
        outputs = [result, candidates, raw, status]
        run_button.click(run, inputs, outputs, api_name="inpaint", show_progress_on=[candidates, raw],
                         concurrency_id="completion")
        stop_button.click(stop, None, None, queue=False, api_visibility="private")
        held = gr.State()  # the editor's image while the editor is cleared and set again
        for button, name in preset_buttons:
            # (see _set_editor: clear the editor, then set it)
            button.click(_take_image, editor, [held, editor], queue=False, api_visibility="private",
                         show_progress="hidden").then(_painter(name), held, editor, queue=False,
                                                      api_visibility="private", show_progress="hidden")
        gen_button.click(generate, [model, hub, gen_seed, gen_count], [gen_image, gen_status],
                         api_name="generate", concurrency_id="completion")

        def describe(choice, hub_repo):
            summary, card, samples = about(choice, hub_repo)
            if summary.startswith("⚠️"):
                gr.Warning(summary.removeprefix("⚠️ "), title="Model not available")
            return summary, summary, card, samples

        about_outputs = [model_info, about_summary, about_card, about_samples]
        model.change(describe, [model, hub], about_outputs, api_visibility="private", show_progress="hidden")
        hub.submit(describe, [model, hub], about_outputs, api_visibility="private")
        demo.load(describe, [model, hub], about_outputs, api_visibility="private", show_progress="hidden")
    # two CPU cores: one completion at a time, up to QUEUE_SIZE waiting in line (then "queue is full")
    demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    return demo


WIDE_GREY = ("I;16", "I;16B", "I;16L", "I", "F")  # 16/32-bit greyscale modes


def _refuse_bad_uploads(editor: gr.ImageEditor) -> None:
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
            raise _user_error(f"{what} is too large: over {MAX_PIXELS:,} pixels (or a decompression bomb). "
                              f"Scale it down first.", title="Image too large") from None
        except Exception as err:  # noqa: BLE001 - Pillow fails on bad files in many ways; all mean the same
            path = getattr(file, "path", None)
            if (path is not None and os.path.isfile(path) and os.path.getsize(path) == 0) or file == b"":
                why = "the file is empty"
            elif isinstance(err, Image.UnidentifiedImageError):
                why = "it is not an image file"
            else:
                why = "it is truncated or corrupt"
            raise _user_error(f"{what} could not be read: {why}. Try a PNG or JPEG file.",
                              title="Unreadable image") from None

    editor.convert_and_format_image = checked


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    demo = build_demo()
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_FILE_SIZE)


if __name__ == "__main__":
    main()
