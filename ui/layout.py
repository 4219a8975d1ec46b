"""The page: its components and how their events reach the callbacks (`build_demo`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

import inpaint
from inpaint import methods
from inpaint.blend import BLENDS
from inpaint.complete import MAX_SEED, WARM
from inpaint.device import pick_device
from inpaint.service import Limits, Service

from . import restore as restoring
from .callbacks import (BOTH, CURVES, DEFAULTS, INPAINT, PAPER, RESTORE, SIDE_BY_SIDE, TOKENS, Callbacks,
                        before_after, continue_from, example_value, method_choices, method_picker, painter, remember,
                        second_picker, take_image, warm_start_slider, with_mask)
from .editor import BRUSH, from_editor, guard_uploads, with_hole
from .gpu import ZERO_GPU

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "checkpoints"
EXAMPLES = ROOT / "examples"
# the picker's order: the first is the page's model; the faces-only emoji model before the broad one (it fills
# faces better: +1.16 dB hole PSNR on the validation faces), the broad one for people
BUNDLED = ("fashion-mnist-32", "emoji-faces-64", "emoji-64")
MAX_FILE_SIZE = os.environ.get("INPAINT_MAX_FILE_SIZE", "25mb")  # per uploaded file (launch's max_file_size)
# gradio keeps every upload, result and streamed preview in its cache folder (GRADIO_TEMP_DIR): every 10
# minutes, delete those older than an hour (and all of them when the server stops)
DELETE_CACHE = (600, 3600)
MAX_GROW = 32          # pixels the grow/shrink slider reaches either way
QUEUE_SIZE = 32         # requests waiting in line, beyond which new ones get "queue is full"
CURVE_COLOURS = dict(zip(CURVES, ("#1d4ed8", "#9ca3af", "#f59e0b")))  # the best restart stands out
COLOUR_KEY = "blue: the best restart (lowest total loss), grey: the median, orange: the worst of the restarts"
# on ZeroGPU the search runs in a GPU worker process that the page's stop signal does not reach:
# Stop cancels the request there, which closes the worker's search (see `build_demo`)
ZERO_GPU_STOP = ("On this Space's ZeroGPU hardware, Stop cancels the request, waiting or running: the search "
                 "ends and its last preview stays, but the best fill so far is not finished into a result.")
PRESET_BUTTONS = (("Centre", "center"), ("Left half", "left"), ("Top half", "top"),
                  ("Random pixels (80%)", "random"), ("Strokes", "strokes"))


def method_text(limits: Limits) -> str:
    """The About tab's account of the method and its limits."""
    warm = inpaint.Settings(**WARM)
    return f"""
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
candidates. A model that ships a warm-start encoder (a network trained to guess z from the pixels
you left; the bundled ones do) starts most of them from its guess (*warm start* under Advanced),
the rest from the prior. The fill is then blended into your image at its full resolution
(by default an edge-aware Poisson blend: the colour difference at the hole's edge is spread into the fill
but stops at the fill's own edges, so a background keeps its colour where a figure meets it).

### Limits

- The model only knows its domain: a Fashion-MNIST model fills holes with bits of
  garments, an emoji model with bits of emoji (the faces-only one with bits of emoji faces: pick it for
  a face, the broad one for people). Holes in photos of anything else are filled with something from
  that domain.
- The model works at its own small resolution (32×32 or 64×64 pixels for the bundled ones): any image is
  letterboxed (scaled to fit, aspect kept) to the model's square, filled there, and the fill is
  scaled back up and pasted into the hole. With the blends edge-aware (the default), poisson and none, pixels
  outside the hole are yours, unchanged; the alpha blend feathers the fill a few pixels past the hole's edge.
- Images larger than {DEFAULTS.max_side} px on the long side are searched and blended at {DEFAULTS.max_side} px;
  the fill is then scaled up into the hole of your full-size image.
- The search costs time. Its defaults: {warm.restarts} restarts ({round(warm.restarts * warm.warm_start)} of them
  started from the model's encoder) × {warm.iterations} iterations for a model that ships a warm-start encoder
  (all the bundled ones do), else {DEFAULTS.restarts} restarts × {DEFAULTS.iterations} iterations (so on the Restore
  tab too: the encoder reads holes only). It stops early when the loss stops improving. Requests are capped
  at {limits.iterations} iterations, {limits.restarts} restarts and {limits.seconds:.0f} seconds of search (then the
  best fill so far is returned).
- The context encoder (the Method picker) needs a checkpoint that ships one: it is offered only for
  such a model (the model's summary says when it ships none).
""" + (f"- {ZERO_GPU_STOP}\n" if ZERO_GPU else "")


def bundled_models() -> dict[str, str]:
    """name -> folder of the bundled checkpoints that exist (a folder still training is left out)."""
    return {name: str(CHECKPOINTS / name) for name in BUNDLED
            if all((CHECKPOINTS / name / file).is_file() for file in ("config.json", "model.safetensors"))}


def build_demo(models: dict[str, str] | None = None, examples: list[dict] | None = None, *,
               limits: Limits | None = None) -> gr.Blocks:
    """The app. models: name -> checkpoint folder or Hub repo id (default: the bundled checkpoints
    that exist). examples: [{"model", "image" (path), "hole" (preset name), "caption"}] (default:
    examples/examples.json, for the models present). limits: what one request may ask for
    (default: `Limits.from_env()`). INPAINT_ALLOW_LOCAL_MODELS=1 lets the Hub box load local
    folders too (for local development); otherwise it takes Hub repo ids only."""
    models = dict(bundled_models() if models is None else models)
    examples = _read_examples(models) if examples is None else [e for e in examples if e["model"] in models]
    service = Service(models, limits, allow_local=os.environ.get("INPAINT_ALLOW_LOCAL_MODELS") == "1")
    calls = Callbacks(service)
    first = next(iter(models), None)
    try:  # the Inpaint tab's search sliders and methods start at the first model's
        first_loaded = calls.load(first, "")
    except gr.Error:
        first_loaded = None  # the page says why when it loads (`describe`)
    first_model = None if first_loaded is None else first_loaded.model
    shown = inpaint.Settings.for_model(first_model) if first_model is not None else DEFAULTS

    with gr.Blocks(title="GAN inpainting", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(
            "# Fill a hole with a GAN\n"
            "Paint over part of an image (or click a mask button), then press **Fill the hole**: a small "
            "DCGAN searches its latent space for an image that matches the rest of yours and fills the hole "
            "with it (Yeh et al., CVPR 2017). Each model knows only its own kind of image — start with an example."
        )
        with gr.Row(equal_height=True):
            model = gr.Dropdown(choices=list(models), value=first, label="Model (bundled)", scale=1, elem_id="model",
                                info="Pick the model that knows your kind of image.")
            hub = gr.Textbox(value="", label="…or a Hugging Face Hub model", scale=1,
                             placeholder="user/name or user/name@revision",
                             info="Press Enter to load; leave empty to use the bundled model.")
            # hidden while one method is registered; its value still reaches /inpaint. "Both side by side": the GAN
            # prior's fill here, and the context encoder's next to it on the Side by side tab. Its choices are the
            # chosen model's (`Callbacks.methods_for`): the context encoder where the checkpoint ships one
            method = gr.Dropdown(label="Method (Inpaint tab)", scale=1, visible=len(method_choices()) > 1,
                                 elem_id="method", **method_picker(first_loaded))
        model_info = gr.Markdown()

        with gr.Tabs() as tabs:
            with gr.Tab("Inpaint", id="inpaint"):
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
                        guard_uploads(editor)
                        gr.Markdown("Or paint a preset hole (replaces what is painted):")
                        with gr.Row():
                            preset_buttons = [(gr.Button(label, size="sm", min_width=80), name)
                                              for label, name in PRESET_BUTTONS]
                        with gr.Row(equal_height=True):
                            mask_upload = gr.Image(label="…or upload a mask (white = hole; replaces what is painted)",
                                                   type="pil", image_mode=None, sources=("upload",), height=150,
                                                   scale=1, elem_id="mask-upload")
                            grow = gr.Slider(-MAX_GROW, MAX_GROW, value=0, step=1, scale=1, elem_id="grow",
                                             label="Grow (+) or shrink (−) the hole by this many pixels before filling")
                        with gr.Row():
                            run_button = gr.Button("Fill the hole", variant="primary", scale=3, elem_id="run")
                            stop_button = gr.Button("Stop", variant="stop", scale=1, elem_id="stop")
                        if ZERO_GPU:
                            gr.Markdown(ZERO_GPU_STOP, elem_id="stop-note")
                        picked, example_key, chosen = _examples(examples, models, model, hub)
                        with gr.Accordion("Advanced", open=False):
                            # at the chosen model's defaults (`Callbacks.search_defaults`)
                            iterations = gr.Slider(
                                1, service.limits.iterations, value=shown.iterations, step=1, elem_id="iterations",
                                label="Iterations (at most; stops early when the loss stops improving)")
                            restarts = gr.Slider(1, service.limits.restarts, value=shown.restarts, step=1,
                                                 label="Restarts (random starts searched side by side)",
                                                 elem_id="restarts")
                            warm_start = gr.Slider(0, 1, step=0.05, label="Warm start", elem_id="warm-start",
                                                   **warm_start_slider(first_model))
                            lam = gr.Number(value=DEFAULTS.lam, minimum=0,
                                            label="λ (weight of the realism term −log D(G(z)))")
                            seed = gr.Number(value=DEFAULTS.seed, precision=0, minimum=0, maximum=MAX_SEED,
                                             label="Seed")
                            blend = gr.Radio(list(BLENDS), value=DEFAULTS.blend,
                                             label="Blend the fill in with",
                                             info="edge-aware: Poisson whose colour correction stops at the "
                                                  "fill's own edges (default); poisson: the paper's; alpha: "
                                                  "feathered past the hole's edge; none: pasted as it is")
                    with gr.Column(scale=1):
                        domain = gr.HTML(visible=False, elem_id="domain")  # the domain check's warning
                        with gr.Tabs():
                            with gr.Tab("Result"):
                                result = gr.Image(label="Result (your image's size)", type="pil", format="png",
                                                  interactive=False, height=380, elem_id="result")
                            with gr.Tab("Before / after", elem_id="compare-tab"):
                                compare = gr.ImageSlider(label="Before (the hole in red) / after: drag the line",
                                                         type="pil", format="png", interactive=False, max_height=380,
                                                         elem_id="compare")
                        status = gr.Markdown("Result, candidates and G(z) appear here.", label="Status", elem_id="status")
                        continue_button = gr.Button("Continue from the result: paint another hole in it", size="sm",
                                                    elem_id="continue")
                        candidates = gr.Gallery(label="Candidates, best first (click to enlarge)", format="png",
                                                columns=4, height=220, interactive=False, elem_id="candidates")
                        raw = gr.Image(label="Raw G(z) of the best candidate (the model's resolution)",
                                       type="pil", format="png", interactive=False, height=220, elem_id="raw")
                        # the terms have different scales: one panel each; the perceptual one only when λ > 0
                        gr.Markdown(f"**The search's losses per iteration** ({COLOUR_KEY}): the plot follows "
                                    "the search as it runs.")
                        contextual_plot = _loss_plot("Contextual loss ‖W ⊙ M ⊙ (G(z) − y)‖₁",
                                                     "contextual-plot", visible=True)
                        perceptual_plot = _loss_plot("Perceptual loss −log D(G(z)) (λ > 0)", "perceptual-plot",
                                                     visible=False)
            restore = _restore_tab(service.limits)

            with gr.Tab("Side by side", id="side-by-side", elem_id="side-by-side-tab"):
                gr.Markdown("The same image and hole as your last result (**A**), run again with another model or "
                            "the paper's settings (**B**), the two next to each other. Fill a hole on the Inpaint "
                            "tab first. The paper's settings take long on a CPU (about half a minute for a 32×32 "
                            "model, two minutes for 64×64): fewer iterations give a quicker look.")
                with gr.Row(equal_height=True):
                    second_model = gr.Dropdown(choices=list(models), value=first,
                                               label="B's model", scale=1, elem_id="second-model")
                    # the context encoder where B's model ships one (`Callbacks.second_settings`)
                    second_which = gr.Radio(label="B's settings", scale=2, elem_id="second-which",
                                            **second_picker(first_loaded))
                    paper_iterations = gr.Slider(1, service.limits.iterations,
                                                 value=min(PAPER.iterations, service.limits.iterations), step=1,
                                                 label=f"Iterations with the paper's settings (the paper: "
                                                       f"{PAPER.iterations})", scale=2, elem_id="paper-iterations")
                with gr.Row():
                    second_button = gr.Button("Run B", variant="primary", scale=3, elem_id="run-second")
                    second_stop = gr.Button("Stop", variant="stop", scale=1, elem_id="stop-second")
                with gr.Row(equal_height=False):
                    first_heading, first_image, first_status = _side(
                        "A", "your last result", "Fill a hole on the Inpaint tab: its result shows here.", "first")
                    second_heading, second_image, second_status = _side(
                        "B", "another model or the paper's settings", "Choose B's model and settings above, then "
                        "Run B.", "second")
                first_run = gr.State()  # what B runs again: A's editor value, grow, settings and method

            with gr.Tab("Generate"):
                gr.Markdown("Random samples G(z) from the chosen model: what it has learned its domain looks like.")
                with gr.Row():
                    gen_seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
                    gen_count = gr.Slider(1, 64, value=36, step=1, label="How many")
                    gen_button = gr.Button("Generate", variant="primary")
                gen_image = gr.Image(label="Samples", type="pil", format="png", interactive=False)
                gen_status = gr.Markdown(label="Status")

            with gr.Tab("About"):
                gr.Markdown(method_text(service.limits))
                gr.Markdown("### The chosen model")
                about_summary = gr.Markdown()
                about_card = gr.Markdown(elem_id="card")  # the whole width: the card's tables are wide

        # --- events
        # the searches share one line: one at a time on a CPU (batching buys nothing there, README: Serving);
        # on a GPU up to max_batch reach the service at once, which searches them side by side in one batch;
        # ZeroGPU runs each request in a process of its own, where they cannot share a batch
        slots = service.limits.max_batch if pick_device().type == "cuda" and not ZERO_GPU else 1
        completion_group = dict(concurrency_id="completion", concurrency_limit=slots)
        inputs = [editor, model, hub, iterations, restarts, lam, seed, blend, grow, method, warm_start]
        outputs = [result, candidates, raw, status]
        quick = dict(queue=False, api_visibility="private", show_progress="hidden")
        page_outputs = [*outputs, contextual_plot, perceptual_plot, domain]
        searching = dict(api_visibility="private", show_progress_on=[candidates, raw], **completion_group)
        # the page's run also shows the loss plots and the domain warning; API clients keep /inpaint's four
        # outputs, from an event of its own (a trigger the page never shows)
        # (its iterations, restarts and warm start of its own, left out: the chosen model's defaults, where the
        # sliders would give the first model's)
        api_trigger = gr.Button(visible=False)
        # iterations, restarts, warm start: bounded as the sliders are, so gradio refuses the same values
        api_search = [gr.Number(value=None, minimum=1, maximum=service.limits.iterations, precision=0, visible=False),
                      gr.Number(value=None, minimum=1, maximum=service.limits.restarts, precision=0, visible=False),
                      gr.Number(value=None, minimum=0, maximum=1, visible=False)]
        api_inputs = [editor, model, hub, *api_search[:2], lam, seed, blend, grow, method, api_search[2]]
        api_trigger.click(calls.inpaint, api_inputs, outputs, api_name="inpaint", **completion_group)
        ran = run_button.click(calls.fill, inputs, page_outputs, **searching)

        # "Both side by side": after the GAN prior's result, a fresh token in `both_token` (from a queued event:
        # a State's change only fires after one) runs B with the context encoder in the searches' line
        both_token = gr.State()

        def compare_and_remember(listener) -> None:
            """After a result: the before/after slider, then what the side by side's B runs again (one after
            the other: both write the result's file again (gradio caches it by content), which a reader of
            it at the same moment can find half written); with the method "both", B then runs the context
            encoder and the Side by side tab shows the two."""
            listener(before_after, [editor, grow, result], compare, **quick).then(
                remember, [editor, grow, model, hub, iterations, restarts, warm_start, lam, seed, blend, method, result,
                           status],
                [first_run, first_heading, first_image, first_status], **quick).then(
                lambda first: next(TOKENS) if (first or {}).get("method") == BOTH else gr.skip(), first_run,
                both_token, api_visibility="private", show_progress="hidden", concurrency_limit=None)

        compare_and_remember(ran.success)

        # an example: its image and hole into the editor, the settings to its model's defaults, then its result:
        # the stored one at once when it was filled before (by anyone), else it is filled (and stored) in
        # the queue like any search. Which of the two: `show_example` writes a fresh token into one of two
        # States, whose change event follows (a State's change only fires after a queued event).
        example_fill, example_shown = gr.State(), gr.State()  # the example to fill; a stored result was shown

        def example_inputs(key: str) -> tuple:
            return (example_value(chosen[key]), *calls.search_defaults(chosen[key]["model"]), DEFAULTS.lam,
                    DEFAULTS.seed, DEFAULTS.blend, 0, methods.DEFAULT)

        def show_example(key: str) -> tuple:
            stored = calls.stored_example(chosen[key])
            if stored is None:
                return (*[gr.skip()] * len(page_outputs), (key, next(TOKENS)), gr.skip())
            return (*stored, gr.skip(), next(TOKENS))

        def fill_example(token, request: gr.Request, progress=gr.Progress()):
            yield from calls.fill_example(chosen[token[0]], request=request, progress=progress)

        for event in picked:
            _set_editor(event.then, example_inputs, example_key,
                        [editor, iterations, restarts, warm_start, lam, seed, blend, grow, method]).then(
                show_example, example_key, [*page_outputs, example_fill, example_shown], api_visibility="private",
                show_progress="hidden", concurrency_limit=None)
        example_ran = example_fill.change(fill_example, example_fill, page_outputs, **searching)
        compare_and_remember(example_ran.success)
        compare_and_remember(example_shown.change)

        # Stop: the session's running search returns the best fill so far; a request of the session's still
        # waiting in the queue is cancelled (then `stop` writes a fresh token into a State, whose change
        # event cancels; gradio's cancels= alone would cancel a running search too, losing its best so far).
        # Under ZeroGPU the stop signal can't reach the GPU worker, so Stop cancels the event whatever its
        # state: gradio closes the callback, spaces closes the worker's search
        def stopper(task: str):
            def stop(request: gr.Request):
                return calls.stop(request, task)
            return stop

        second_ran = second_button.click(calls.second, [first_run, second_model, second_which, paper_iterations],
                                         [second_heading, second_image, second_status], api_visibility="private",
                                         show_progress_on=[second_image], **completion_group)
        both_ran = both_token.change(calls.both, first_run, [second_heading, second_image, second_status, tabs],
                                     api_visibility="private", show_progress_on=[second_image], **completion_group)
        restore_ran = _restore_events(restore, calls, examples, model, hub, completion_group, quick)
        for button, task, searches in ((stop_button, INPAINT, [ran, example_ran]),
                                       (second_stop, SIDE_BY_SIDE, [second_ran, both_ran]),
                                       (restore.stop, RESTORE, [restore_ran])):
            waiting = gr.State()  # a token: this session had no search under way when Stop was pressed
            button.click(stopper(task), None, waiting, api_visibility="private", show_progress="hidden",
                         concurrency_limit=None, cancels=searches if ZERO_GPU else None)
            waiting.change(None, None, None, api_visibility="private", cancels=searches)
        model.change(lambda name: name, model, second_model, **quick)  # B starts from A's model
        second_model.change(calls.second_settings, [second_model, second_which], second_which,
                            api_visibility="private", show_progress="hidden")
        # the editor is set by first taking its image (and clearing it), then setting it: see _set_editor
        held = gr.State()  # the editor's image meanwhile
        for button, name in preset_buttons:
            button.click(take_image, editor, [held, editor], **quick).success(painter(name), held, editor, **quick)
        mask_upload.upload(take_image, editor, [held, editor], **quick).success(
            with_mask, [held, mask_upload], editor, **quick)
        continue_button.click(lambda image: (continue_from(image), None), result, [held, editor], **quick).success(
            lambda value: value, held, editor, **quick)
        gen_button.click(calls.generate, [model, hub, gen_seed, gen_count], [gen_image, gen_status],
                         api_name="generate", **completion_group)

        def describe(choice, hub_repo):
            summary, card = calls.about(choice, hub_repo)
            if summary.startswith("⚠️"):
                gr.Warning(summary.removeprefix("⚠️ "), title="Model not available")
            return summary, summary, card

        about_outputs = [model_info, about_summary, about_card]
        model.change(describe, [model, hub], about_outputs, api_visibility="private", show_progress="hidden")
        hub.submit(describe, [model, hub], about_outputs, api_visibility="private")
        demo.load(describe, [model, hub], about_outputs, api_visibility="private", show_progress="hidden")
        # the Inpaint tab's search sliders show the chosen model's defaults and its methods (the context encoder
        # where it ships one); the Restore tab offers colourising for colour models only
        for listener in (model.change, hub.submit, demo.load):
            listener(calls.search_defaults, [model, hub], [iterations, restarts, warm_start],
                     api_visibility="private", show_progress="hidden")
            listener(calls.methods_for, [model, hub, method], method, api_visibility="private",
                     show_progress="hidden")
            listener(calls.restore_tasks, [model, hub, restore.task], restore.task, api_visibility="private",
                     show_progress="hidden")
    # up to QUEUE_SIZE waiting in line (then "queue is full"); the searches' own limit is `slots`, above
    demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    return demo


RESTORE_INTRO = (
    "Undo a known degradation with the same GAN prior, no retraining: the search finds the z whose G(z), "
    "blurred, shrunk, made noisy or turned grey **the same way**, matches your image; the result is then made "
    "consistent with your image at its full size. Say what happened to the image and how strongly (in its own "
    "pixels), or press **Degrade an example for me** to try it on an example of the chosen model's kind. The "
    "model only knows its domain (garments, emoji) and works at its own small resolution.")


# the input is often tiny (an 8x8 image to upscale): shown as large as its box, its pixels kept sharp
RESTORE_CSS = ("#restore-input img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }")


def _restore_tab(limits: Limits) -> SimpleNamespace:
    """The Restore tab's components (`_restore_events` wires them): a degraded image and what happened
    to it in, the input and result (and an example's truth) side by side out, candidates, G(z)."""
    with gr.Tab("Restore", id="restore", elem_id="restore-tab"):
        gr.Markdown(RESTORE_INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(label="Your degraded image (blurred, small, noisy or greyscale)", type="pil",
                                 image_mode=None, format="png", sources=("upload", "clipboard"), height=300,
                                 elem_id="restore-input")
                task = gr.Radio(list(restoring.TASKS), value="deblur", label="What to undo",
                                elem_id="restore-task")
                with gr.Column(visible=True) as blur_row:
                    blur = gr.Radio(list(restoring.BLURS), value="gaussian", label="The blur", elem_id="restore-blur")
                    strength = gr.Slider(1, restoring.MAX_STRENGTH, value=2, step=0.5,
                                         label="Its strength in pixels (Gaussian: sigma; box: side; motion: length)",
                                         elem_id="restore-strength")
                angle = gr.Slider(0, 180, value=0, step=5, visible=False, elem_id="restore-angle",
                                  label="The motion's angle (degrees; 0 = horizontal)")
                factor = gr.Radio([(f"×{f}", f) for f in restoring.FACTORS], value=4, visible=False,
                                  label="Upscale by (your image is the small one)", elem_id="restore-factor")
                noise = gr.Slider(0.01, 0.5, value=0.1, step=0.01, visible=False, elem_id="restore-noise",
                                  label="The noise's sigma (on the 0–1 scale of pixel values)")
                degrade = gr.Button("Degrade an example for me", size="sm", elem_id="degrade-example")
                with gr.Row():
                    run = gr.Button("Restore", variant="primary", scale=3, elem_id="restore-run")
                    stop = gr.Button("Stop", variant="stop", scale=1, elem_id="restore-stop")
                with gr.Accordion("Advanced", open=False):
                    iterations = gr.Slider(1, limits.iterations, value=DEFAULTS.iterations, step=1,
                                           label="Iterations (at most; stops early when the loss stops improving)",
                                           elem_id="restore-iterations")
                    restarts = gr.Slider(1, limits.restarts, value=DEFAULTS.restarts, step=1,
                                         label="Restarts (random starts searched side by side)",
                                         elem_id="restore-restarts")
                    seed = gr.Number(value=DEFAULTS.seed, precision=0, minimum=0, maximum=MAX_SEED,
                                     label="Seed (of the search, and of an example's noise)")
            with gr.Column(scale=2):
                with gr.Row(equal_height=True):
                    shown = dict(type="pil", format="png", interactive=False, height=300)
                    input_view = gr.Image(label="Input, enlarged alike", elem_id="restore-input-view",
                                          **shown)
                    result = gr.Image(label="Restored", elem_id="restore-result", **shown)
                    truth = gr.Image(label="Truth (the clean example)", visible=False,
                                     elem_id="restore-truth", **shown)
                status = gr.Markdown("The input and the restored image appear here, side by side.",
                                     elem_id="restore-status")
                candidates = gr.Gallery(label="Candidates, best first (click to enlarge)", format="png", columns=4,
                                        height=220, interactive=False, elem_id="restore-candidates")
                raw = gr.Image(label="Raw G(z) of the best candidate (the model's resolution)", type="pil",
                               format="png", interactive=False, height=220, elem_id="restore-raw")
        count = gr.State(0)  # which example the next "Degrade an example" takes
        gr.HTML(f"<style>{RESTORE_CSS}</style>")
    return SimpleNamespace(image=image, task=task, blur_row=blur_row, blur=blur, strength=strength, angle=angle,
                           factor=factor, noise=noise, degrade=degrade, run=run, stop=stop, iterations=iterations,
                           restarts=restarts, seed=seed, input_view=input_view, result=result, truth=truth,
                           status=status, candidates=candidates, raw=raw, count=count)


def _restore_events(tab: SimpleNamespace, calls: Callbacks, examples: list[dict], model, hub, completion_group: dict,
                    quick: dict):
    """Wire the Restore tab; the page's Restore run (for Stop to cancel)."""
    degradation = [tab.task, tab.blur, tab.strength, tab.angle, tab.factor, tab.noise]
    inputs = [tab.image, model, hub, *degradation, tab.iterations, tab.restarts, tab.seed]
    # the API's /restore: the result at its own size; the page's run shows the input and result enlarged alike
    api_trigger = gr.Button(visible=False)
    api_trigger.click(calls.restore, inputs, [tab.result, tab.candidates, tab.raw, tab.status], api_name="restore",
                      **completion_group)
    ran = tab.run.click(calls.restore_page, inputs,
                        [tab.input_view, tab.result, tab.candidates, tab.raw, tab.status], api_visibility="private",
                        show_progress_on=[tab.result, tab.candidates, tab.raw], **completion_group)

    def degrade_example(count, *args):
        image, truth, status, count = calls.degrade_example(examples, count, *args)
        return image, gr.Image(value=truth, visible=True), status, count, None, None, None, None

    tab.degrade.click(degrade_example, [tab.count, model, hub, *degradation, tab.seed],
                      [tab.image, tab.truth, tab.status, tab.count, tab.input_view, tab.result, tab.candidates,
                       tab.raw], **quick)
    # the visitor's own image has no truth to show
    for listener in (tab.image.upload, tab.image.clear):
        listener(lambda: gr.Image(value=None, visible=False), None, tab.truth, **quick)
    for listener in (tab.task.change, tab.blur.change):
        listener(restoring.controls, [tab.task, tab.blur], [tab.blur_row, tab.angle, tab.factor, tab.noise], **quick)
    return ran


def _side(letter: str, what: str, waiting: str, name: str) -> tuple[gr.Markdown, gr.Image, gr.Markdown]:
    """One column of the side by side: (heading, image, status), elem_ids `name`-image and `name`-status."""
    with gr.Column(scale=1, elem_id=f"{name}-column"):
        heading = gr.Markdown(f"### {letter} · {what}")
        image = gr.Image(label=letter, type="pil", format="png", interactive=False, height=320,
                         elem_id=f"{name}-image")
        status = gr.Markdown(waiting, elem_id=f"{name}-status")
    return heading, image, status


def _loss_plot(label: str, elem_id: str, *, visible: bool) -> gr.LinePlot:
    """A plot of one loss term per iteration: the best restart, the median and the worst.

    Without a legend (COLOUR_KEY names the colours above the plots): gradio 6.31 cuts a legend
    under the plot off, and a label longer than a line cuts off the x axis."""
    return gr.LinePlot(x="iteration", y="loss", color="curve", color_map=CURVE_COLOURS, colors_in_legend=[],
                       label=label, x_title="iteration", y_title="loss", height=280, visible=visible,
                       elem_id=elem_id)


def _read_examples(models: dict[str, str]) -> list[dict]:
    path = EXAMPLES / "examples.json"
    if not path.is_file():
        return []
    entries = json.loads(path.read_text())
    return [dict(e, image=str(EXAMPLES / e["image"])) for e in entries
            if e["model"] in models and (EXAMPLES / e["image"]).is_file()]


def _examples(examples: list[dict], models: dict[str, str], model, hub) -> tuple[list, gr.Textbox, dict]:
    """One gallery of examples per model. Picking one switches to the model that knows its domain
    and fills hidden components: the thumbnail (the image with its hole in red) and the example's
    key. Returns (each gallery's event that did so, the key's component, key -> example entry);
    `build_demo` loads the example into the editor (see `_set_editor`) and shows its result.
    """
    thumb = gr.Image(visible=False, type="pil", format="png")
    pick = gr.Textbox(visible=False)
    chosen = {}  # str(index) -> example entry
    events = []
    for name in models:
        group = [e for e in examples if e["model"] == name]
        if not group:
            continue
        rows = []
        for e in group:
            key = str(len(chosen))
            chosen[key] = e
            rows.append([with_hole(*from_editor(example_value(e))), name, "", key])
        gallery = gr.Examples(rows, inputs=[thumb, model, hub, pick], visible_columns=[0], examples_per_page=12,
                              label=f"Examples for {name} (held-out test images, hole already painted): "
                                    "click one and it fills (at once when filled before)",
                              api_visibility="private",
                              elem_id=f"examples-{name}")
        events.append(gallery.load_input_event)
    return events, pick, chosen


def _set_editor(then, fn, inputs, outputs):
    """Set the editor, outputs[0], to fn(inputs)[0] (a value with a hole layer; the other outputs
    to the rest) after clearing it; the event that set it.

    Works around a gradio 6.31 ImageEditor bug: a layer sent from the server is placed by the
    bounds of everything the canvas held since it was last cleared (at least `canvas_size`),
    so it lands off-centre over an image smaller than an earlier one. Clearing the editor
    first (value None) and keeping `canvas_size` tiny makes the bounds the image's own.
    """
    return then(lambda: None, None, outputs[0], queue=False, api_visibility="private", show_progress="hidden").then(
        fn, inputs, outputs, queue=False, api_visibility="private", show_progress="hidden")
