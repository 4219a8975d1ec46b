"""The Gradio app on tiny models: callbacks called directly, bad inputs, and the `/inpaint` API."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app
import inpaint
from inpaint import methods
from inpaint import operators as ops
from inpaint.complete import WARM as WARM_SEARCH
from inpaint.service import Limits, Service
from pictures import box, mask_image, photo
from ui import layout
from ui import callbacks
from ui import restore as restoring
from ui.callbacks import (BOTH, CONTEXT_ENCODER, INPAINT, NO_CONTEXT_ENCODER, RESTORE, SIDE_BY_SIDE, STORED, Callbacks,
                          before_after, card, continue_from, example_value, listed, method_choices, paint_preset,
                          remember, with_mask)
from ui.editor import from_editor

FAST = dict(iterations=20, restarts=4)


def editor(image: Image.Image, hole: np.ndarray | None) -> dict:
    """What the ImageEditor (type="pil", image_mode="RGBA") hands the callback: RGBA images."""
    layer = np.zeros((image.height, image.width, 4), dtype=np.uint8)
    if hole is not None:
        layer[hole] = (204, 50, 50, 255)
    return {"background": image, "layers": [Image.fromarray(layer, "RGBA")], "composite": image}


def final(gen):
    """Run the streaming callback to the end; (previews, final outputs)."""
    outs = list(gen)
    return outs[:-1], outs[-1]


def callbacks_for(models, **kwargs) -> Callbacks:
    return Callbacks(Service(models, **kwargs))


@pytest.fixture
def calls(tiny_checkpoints) -> Callbacks:
    return callbacks_for(tiny_checkpoints)


@pytest.fixture
def run(calls):
    return calls.inpaint


def error_message(excinfo) -> str:
    return excinfo.value.message


# --- callbacks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["tiny-rgb", "tiny-grey"])
def test_editor_value_to_result_keeps_size_and_outside_pixels(run, model):
    image = photo(40, 30)
    hole = box(image.size)
    value = editor(image.convert("RGBA"), hole)  # the editor hands over RGBA
    previews, (result, gallery, raw, status) = final(run(value, model, "", **FAST))
    assert result.size == image.size
    assert result.mode == "RGB"  # an opaque RGBA upload is treated as RGB
    out, src = np.asarray(result), np.asarray(image)
    assert (out[~hole] == src[~hole]).all()
    assert not (out[hole] == src[hole]).all()
    assert 1 <= len(gallery) <= inpaint.Settings().candidates
    assert all(img.size == image.size for img, _ in gallery)
    assert gallery[0][1].startswith("#1")
    assert raw.size[0] >= 16 and raw.size[0] % 16 == 0  # G(z) upscaled with NEAREST
    assert status.startswith("Done in") and f"{FAST['iterations']} iterations" in status
    assert previews, "the callback streams previews while it searches"
    assert all(isinstance(p[0], Image.Image) for p in previews)


def test_layer_of_canvas_size_is_scaled_to_the_image(run):
    image = photo(40, 30)
    hole = box((80, 60))  # the editor may return layers at the canvas size
    layer = np.zeros((60, 80, 4), dtype=np.uint8)
    layer[hole] = (255, 0, 0, 128)
    value = {"background": image, "layers": [Image.fromarray(layer, "RGBA")], "composite": None}
    _, (result, *_rest) = final(run(value, "tiny-rgb", "", **FAST))
    assert result.size == image.size


def test_black_and_white_mask_as_layer(run):
    """An API client may send a plain mask (white = hole) as the layer instead of a transparent one."""
    image = photo(40, 30)
    hole = box(image.size)
    mask = mask_image(hole)
    for layer in (mask, mask.convert("RGB"), mask.convert("RGBA")):
        value = {"background": image, "layers": [layer], "composite": None}
        _, (result, _, _, status) = final(run(value, "tiny-rgb", "", **FAST))
        assert (np.asarray(result)[~hole] == np.asarray(image)[~hole]).all()
        assert f"covered {hole.mean():.0%}" in status


# --- the editor's value, read once -------------------------------------------------------------

def test_editor_value_to_mask():
    background = photo(20, 10)
    layer = np.zeros((10, 20, 4), np.uint8)
    layer[2:5, 3:9, 3] = 200  # painted with a half-transparent brush
    layer2 = np.zeros((10, 20, 4), np.uint8)
    layer2[8, 19, :] = 255
    image, hole = from_editor({"background": background, "layers": [layer, Image.fromarray(layer2)],
                               "composite": background})
    assert image.mode == "RGB" and (np.asarray(image) == np.asarray(background)).all()
    assert hole.sum() == 3 * 6 + 1 and hole[2:5, 3:9].all() and hole[8, 19]
    assert from_editor(None) == (None, None)
    assert from_editor({"background": None, "layers": [], "composite": None}) == (None, None)


def test_an_opaque_layer_is_read_as_a_mask_image():
    """White = hole, black = kept, whatever its mode; the editor's transparent layers by their alpha."""
    image = photo(40, 30)
    hole = box(image.size)
    for layer in (mask_image(hole), mask_image(hole).convert("RGB"), mask_image(hole).convert("RGBA"),
                  mask_image(hole).convert("1")):
        assert (from_editor({"background": image, "layers": [layer]})[1] == hole).all(), layer.mode
    # a mask of another size is scaled to the image
    big = mask_image(np.asarray(Image.fromarray(hole).resize((80, 60), Image.NEAREST)))
    assert (from_editor({"background": image, "layers": [big]})[1] == hole).all()


def test_the_background_is_read_upright():
    stored = photo(48, 24)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated a quarter turn
    stored.info["exif"] = exif.tobytes()
    hole = box((24, 48))  # drawn on the image as shown
    image, read = from_editor({"background": stored, "layers": [mask_image(hole)]})
    assert image.size == (24, 48) and (read == hole).all()


def test_preset_buttons_draw_the_hole_into_the_editor():
    image = photo(50, 40)
    value = paint_preset(editor(image, None), "center")
    assert value["background"].size == image.size
    bg, hole = from_editor(value)
    assert (hole == inpaint.preset("center", image.size)).all()
    layer = np.asarray(value["layers"][0])
    assert (layer[hole][:, 3] > 0).all() and (layer[~hole][:, 3] == 0).all()
    # a preset replaces what was painted before
    again = paint_preset(paint_preset(value, "left"), "top")
    assert (from_editor(again)[1] == inpaint.preset("top", image.size)).all()


def test_an_uploaded_mask_becomes_the_painted_hole():
    image = photo(40, 30)
    hole = box(image.size)
    for mask in (mask_image(hole), mask_image(hole).convert("RGB"),
                 mask_image(np.asarray(Image.fromarray(hole).resize((80, 60), Image.NEAREST)))):  # another size
        value = with_mask(image, mask)
        assert (from_editor(value)[1] == hole).all()
        assert (np.asarray(value["layers"][0])[hole][:, 3] > 0).all()  # shown in red where the hole is
    with pytest.raises(gr.Error, match="Upload a mask image"):
        with_mask(image, None)


def test_grow_and_shrink_the_hole_before_filling(run):
    image = photo(64, 48)
    hole = box(image.size)
    covered = {}
    for pixels in (-4, 0, 4):
        _, (result, _, _, status) = final(run(editor(image, hole), "tiny-rgb", "", **FAST, grow=pixels))
        covered[pixels] = int(status.split("The hole covered ")[1].split("%")[0])
        grown = inpaint.masks.grow(hole, pixels)
        assert (np.asarray(result)[~grown] == np.asarray(image)[~grown]).all()  # only the grown hole changed
    assert covered[-4] < covered[0] < covered[4]
    assert "(grown by 4 px)" in status


def test_before_after_and_continue_from_the_result(run):
    image = photo(40, 30)
    value = editor(image, box(image.size))
    _, (result, *_rest) = final(run(value, "tiny-rgb", "", **FAST))
    before, after = before_after(value, 0, result)
    assert before.size == after.size == image.size
    red = np.asarray(before).astype(int)
    assert (red[box(image.size)][:, 0] > red[box(image.size)][:, 1]).all()  # the hole shows in red
    assert (np.asarray(after) == np.asarray(result)).all()
    assert before_after(value, 0, None) is None
    again = continue_from(result)
    image2, hole2 = from_editor(again)
    assert (np.asarray(image2) == np.asarray(result)).all() and not hole2.any()  # nothing painted yet
    with pytest.raises(gr.Error, match="Fill a hole first"):
        continue_from(None)


@pytest.mark.parametrize("label,name", layout.PRESET_BUTTONS)
def test_every_preset_button_gives_a_fillable_hole(run, label, name):
    image = photo(32, 32)
    value = paint_preset(editor(image, None), name)
    _, (result, *_rest) = final(run(value, "tiny-rgb", "", iterations=5, restarts=2))
    assert result.size == image.size


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "I;16", "LA", "CMYK"])
def test_odd_image_modes(run, mode):
    base = photo(36, 28)
    if mode == "I;16":
        grey = np.asarray(base.convert("L")).astype("<u2") * 257
        image = Image.frombytes("I;16", base.size, grey.tobytes())
    elif mode == "RGBA":
        image = base.convert("RGBA")
        alpha = np.full((28, 36), 255, np.uint8)
        alpha[:5] = 0  # some real transparency
        image.putalpha(Image.fromarray(alpha))
    else:
        image = base.convert(mode)
    hole = box(image.size)
    _, (result, *_rest) = final(run(editor(image, hole), "tiny-rgb", "", **FAST))
    assert result.size == image.size


def test_a_huge_image_keeps_its_size_and_the_status_says_how_it_was_searched(run):
    image = photo(2400, 1200)
    hole = box(image.size)
    _, (result, _, _, status) = final(run(editor(image, hole), "tiny-rgb", "", iterations=5, restarts=2))
    assert result.size == (2400, 1200)
    assert (np.asarray(result)[~hole] == np.asarray(image)[~hole]).all()
    assert "2400×1200" in status and "1024×512" in status  # the engine's note


def test_stop_returns_the_best_so_far(calls):
    request = SimpleNamespace(session_hash="session-1")
    other = SimpleNamespace(session_hash="session-2")
    image = photo(40, 30)
    gen = calls.inpaint(editor(image, box(image.size)), "tiny-rgb", "", iterations=2000, restarts=2,
                        request=request)
    assert isinstance(calls.stop(request), int)  # nothing under way: a token, to cancel a request still queued
    first = next(gen)
    assert "Searching" in first[3]
    assert isinstance(calls.stop(other), int)  # another session's Stop does nothing to this one
    assert isinstance(calls.stop(request, SIDE_BY_SIDE), int)  # nor the side by side's Stop
    assert calls.stop(request) == gr.skip()  # a search under way: it is asked to stop, nothing is cancelled
    *_previews, (result, gallery, raw, status) = list(gen)
    assert result.size == image.size
    assert "stopped by you" in status
    iterations = int(status.split(":")[1].split("iterations")[0])
    assert iterations < 2000
    assert not calls.service.running("session-1")  # the flag is forgotten afterwards
    assert isinstance(calls.stop(request), int)


def test_an_example_is_filled_once_then_its_stored_result_is_shown(calls, tmp_path, monkeypatch):
    photo(40, 30).save(tmp_path / "example.png")
    example = {"model": "tiny-rgb", "image": str(tmp_path / "example.png"), "hole": "center"}
    assert calls.stored_example(example) is None
    searches = []
    search = calls.search
    monkeypatch.setattr(calls, "search", lambda *args: searches.append(args) or search(*args))
    previews, done = final(calls.fill_example(example))
    assert previews and done[3].startswith("Done in") and len(done) == 7  # the page's outputs
    stored = calls.stored_example(example)
    assert stored[3] == done[3] + STORED
    assert stored[0] is done[0] and stored[1:3] == done[1:3] and stored[4:] == done[4:]
    assert len(searches) == 1
    # what Fill the hole gives for the example's editor value with the default settings: the search is
    # deterministic for its seed, so storing it is safe
    _, filled = final(calls.fill(example_value(example), "tiny-rgb"))
    assert (np.asarray(filled[0]) == np.asarray(done[0])).all()


def test_a_stopped_example_fill_is_not_stored(calls, tmp_path, monkeypatch):
    photo(40, 30).save(tmp_path / "example.png")
    example = {"model": "tiny-rgb", "image": str(tmp_path / "example.png"), "hole": "center"}
    long = inpaint.Settings(iterations=2000, restarts=2, patience=0)
    monkeypatch.setattr(inpaint.Settings, "for_model", classmethod(lambda cls, model, **_: long))  # the example's
    request = SimpleNamespace(session_hash="session-1")
    gen = calls.fill_example(example, request=request)
    assert "Searching" in next(gen)[3]
    assert calls.stop(request) == gr.skip()  # the example's search is the Inpaint tab's
    *_previews, done = list(gen)
    assert "stopped by you" in done[3]
    assert calls.stored_example(example) is None


def test_generate_and_about(calls):
    grid_image, text = calls.generate("tiny-rgb", "", seed=3, count=9)
    assert grid_image.width >= 3 * 16 and "9 samples" in text
    summary, card = calls.about("tiny-grey", "")
    assert "16×16 greyscale" in summary
    assert "DCGAN" in card and "---" not in card.splitlines()[0]
    # the card's local images are inlined as it shows on the Hub, not broken links
    assert "![samples](data:image/png;base64," in card
    assert "](samples.png)" not in card


def test_the_card_leaves_out_images_that_are_not_beside_it(tmp_path):
    (tmp_path / "README.md").write_text("# Card\n\n![there](figure.png)\n\n![gone](missing.png)\n\n"
                                        "![outside](../secret.png)\n\n![web](https://example.com/x.png)\n")
    photo(8, 8).save(tmp_path / "figure.png")
    photo(8, 8).save(tmp_path.parent / "secret.png")
    text = card(tmp_path)
    assert text.startswith("### Card")  # under the page's own headings
    assert "![there](data:image/png;base64," in text
    assert "gone" not in text and "outside" not in text and "secret" not in text
    assert "![web](https://example.com/x.png)" in text


def test_build_demo_without_models_or_examples_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "CHECKPOINTS", tmp_path / "none")
    monkeypatch.setattr(layout, "EXAMPLES", tmp_path / "none")
    assert layout.bundled_models() == {}
    demo = app.build_demo()
    assert isinstance(demo, gr.Blocks)
    with pytest.raises(gr.Error) as excinfo:
        final(callbacks_for({}).inpaint(editor(photo(), box((40, 30))), None, "", **FAST))
    assert "Hub repo id" in error_message(excinfo)


def test_the_method_picker_passes_the_method_through(run, monkeypatch):
    used = []
    default = methods.get()

    def spy(model, image, hole, settings, on_progress=None):
        used.append("spy")
        return default.run(model, image, hole, settings, on_progress=on_progress)

    monkeypatch.setitem(methods.METHODS, "spy", methods.Method("spy", "Spy", "the default, watched", run=spy))
    image = photo(40, 30)
    _, (result, *_rest) = final(run(editor(image, box(image.size)), "tiny-rgb", "", **FAST, method="spy"))
    assert used == ["spy"] and result.size == image.size
    with pytest.raises(gr.Error) as excinfo:
        final(run(editor(image, box(image.size)), "tiny-rgb", "", **FAST, method="nope"))
    assert "unknown method 'nope'" in error_message(excinfo)


# --- bad input -> a plain gr.Error ----------------------------------------------------------------

BAD_INPUTS = {
    "no value": (None, "Upload an image first"),
    "empty editor": ({"background": None, "layers": [], "composite": None}, "Upload an image first"),
    "nothing painted": (editor(photo(), None), "the mask is empty"),
    "no layers": ({"background": photo(), "layers": [], "composite": photo()}, "the mask is empty"),
    "everything painted": (editor(photo(), np.ones((30, 40), bool)), "the mask covers the whole image"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_editor_values_give_a_plain_error(run, case):
    value, expected = BAD_INPUTS[case]
    with pytest.raises(gr.Error) as excinfo:
        final(run(value, "tiny-rgb", "", **FAST))
    assert expected in error_message(excinfo)
    assert "Traceback" not in error_message(excinfo)


@pytest.mark.parametrize("kwargs,expected", [  # the service's limits and the engine's Settings speak
    (dict(iterations=5000), "iterations must be between 1 and 2000"),
    (dict(restarts=1000), "restarts must be between 1 and 128"),
    (dict(lam=-1), "lam must be >= 0"),
    (dict(blend="smudge"), "unknown blend mode 'smudge'; choose one of edge-aware, poisson, alpha, none"),
    (dict(seed=2**64), "seed must be a whole number from 0 to 4294967295"),
    (dict(seed=-3), "seed must be a whole number from 0 to 4294967295"),
    (dict(seed=1.5), "seed must be a whole number from 0 to 4294967295"),
])
def test_settings_out_of_range(run, kwargs, expected):
    image = photo()
    with pytest.raises(gr.Error) as excinfo:
        final(run(editor(image, box(image.size)), "tiny-rgb", "", **{**FAST, **kwargs}))
    assert expected in error_message(excinfo)


def test_model_that_cannot_be_loaded(run):
    image = photo()
    with pytest.raises(gr.Error) as excinfo:
        final(run(editor(image, box(image.size)), "tiny-rgb", "no/such/checkpoint/folder", **FAST))
    assert "no/such/checkpoint/folder" in error_message(excinfo)
    assert excinfo.value.title == "Model not available"
    with pytest.raises(gr.Error):
        callbacks_for({}).generate("x", "no/such/checkpoint/folder")
    summary, _ = callbacks_for({}).about("x", "no/such/checkpoint/folder")
    assert summary.startswith("⚠️")


def test_engine_errors_become_gr_errors(run, monkeypatch):
    def refuse(*args, **kwargs):
        raise inpaint.InpaintError("the hole is too odd to fill")

    monkeypatch.setitem(methods.METHODS, methods.DEFAULT, methods.Method(methods.DEFAULT, "x", "x", run=refuse))
    image = photo()
    with pytest.raises(gr.Error) as excinfo:
        final(run(editor(image, box(image.size)), "tiny-rgb", "", **FAST))
    assert error_message(excinfo) == "the hole is too odd to fill"


def test_preset_without_image():
    with pytest.raises(gr.Error) as excinfo:
        paint_preset({"background": None, "layers": [], "composite": None}, "center")
    assert "Upload an image first" in error_message(excinfo)


# --- the API --------------------------------------------------------------------------------------

def test_seeds_out_of_range_are_plain_errors_on_every_tab(calls):
    with pytest.raises(gr.Error) as excinfo:
        calls.generate("tiny-rgb", "", seed=2**64, count=4)
    assert "seed must be a whole number from 0 to 4294967295" in error_message(excinfo)


def test_api_refuses_a_huge_seed_with_a_message(served, tmp_path):
    from gradio_client import handle_file

    image = photo(24, 18)
    image.save(tmp_path / "image.png")
    mask_image(box(image.size)).save(tmp_path / "mask.png")
    value = {"background": handle_file(str(tmp_path / "image.png")), "layers": [handle_file(str(tmp_path / "mask.png"))]}
    with pytest.raises(Exception) as excinfo:
        served.client().predict(value, iterations=2, restarts=2, seed=2**64, api_name="/inpaint")
    assert "maximum" in str(excinfo.value) or "seed must be" in str(excinfo.value)


def test_api_inpaint(served, tmp_path):
    from gradio_client import handle_file

    image = photo(48, 36)
    hole = box(image.size)
    image.save(tmp_path / "image.png")
    layer = np.zeros((36, 48, 4), dtype=np.uint8)
    layer[hole] = (255, 0, 0, 255)
    Image.fromarray(layer, "RGBA").save(tmp_path / "hole.png")

    client = served.client()
    value = {"background": handle_file(str(tmp_path / "image.png")),
             "layers": [handle_file(str(tmp_path / "hole.png"))], "composite": None}
    result, gallery, raw, status = client.predict(value, iterations=20, restarts=4, api_name="/inpaint")
    out = Image.open(result)
    assert out.size == image.size
    out = np.asarray(out.convert("RGB"))
    assert (out[~hole] == np.asarray(image)[~hole]).all()
    assert len(gallery) >= 1 and gallery[0]["caption"].startswith("#1")
    assert Image.open(raw).size[0] % 16 == 0
    assert status.startswith("Done in")

    # a black-and-white mask (white = hole) works as the layer too
    mask_image(hole).save(tmp_path / "mask.png")
    bw = {"background": handle_file(str(tmp_path / "image.png")), "layers": [handle_file(str(tmp_path / "mask.png"))]}
    result, *_rest = client.predict(bw, iterations=5, restarts=2, api_name="/inpaint")
    assert (np.asarray(Image.open(result).convert("RGB"))[~hole] == np.asarray(image)[~hole]).all()

    # every input but the editor value has a default; the method and then the warm start are the last of them
    api = client.view_api(print_info=False, return_format="dict")
    params = api["named_endpoints"]["/inpaint"]["parameters"]
    # the page's own events (its run with the loss plot and the domain warning, the side by side) are not the API's
    assert set(api["named_endpoints"]) == {"/inpaint", "/generate", "/restore"}
    assert len(api["named_endpoints"]["/inpaint"]["returns"]) == 4
    assert params[0]["parameter_name"] == "editor" and not params[0]["parameter_has_default"]
    assert all(p["parameter_has_default"] for p in params[1:])
    assert params[-2]["parameter_name"] == "method" and params[-2]["parameter_default"] == methods.DEFAULT
    # the search's size and warm start left out: the chosen model's defaults (tiny-rgb has no encoder: Settings())
    defaults = {p["parameter_name"]: p["parameter_default"] for p in params}
    assert params[-1]["parameter_name"] == "warm_start"
    assert defaults["iterations"] is defaults["restarts"] is defaults["warm_start"] is None
    *_rest, status = client.predict(bw, api_name="/inpaint")
    assert f"{inpaint.Settings().restarts} restarts" in status
    result, *_rest = client.predict(bw, iterations=5, restarts=2, method=methods.DEFAULT, api_name="/inpaint")
    assert Image.open(result).size == image.size

    # a user error comes back as its plain message
    empty = {"background": handle_file(str(tmp_path / "image.png")), "layers": [], "composite": None}
    with pytest.raises(Exception, match="the mask is empty"):
        client.predict(empty, api_name="/inpaint")
    # and a request can't ask for more than the cap
    with pytest.raises(Exception, match="2000"):
        client.predict(value, iterations=100_000, api_name="/inpaint")


# --- loading models: the Hub box ---------------------------------------------------------------------

PATHS = ["/etc", "/etc/passwd", "/nonexistent/x", "../checkpoints"]


def test_the_hub_box_takes_hub_repo_ids_only(run, calls, tiny_checkpoints):
    """A path typed into the Hub box gets one refusal, whether it exists or not, is a file or a folder."""
    image = photo()
    refusals = set()
    for path in [*PATHS, tiny_checkpoints["tiny-rgb"]]:
        with pytest.raises(gr.Error) as excinfo:
            final(run(editor(image, box(image.size)), "tiny-rgb", path, **FAST))
        assert path in error_message(excinfo) and "Hub repo id" in error_message(excinfo)
        refusals.add(error_message(excinfo).replace(path, "PATH"))
        summary, _card = calls.about("tiny-rgb", path)
        refusals.add(summary.removeprefix("⚠️ ").replace(path, "PATH"))
    assert len(refusals) == 1, refusals
    # local development may allow folders in the box
    summary, _card = callbacks_for({}, allow_local=True).about("x", tiny_checkpoints["tiny-rgb"])
    assert "16×16 colour" in summary


def test_the_api_takes_hub_repo_ids_only(served, tmp_path):
    from gradio_client import handle_file

    image = photo()
    image.save(tmp_path / "image.png")
    mask_image(box(image.size)).save(tmp_path / "mask.png")
    value = {"background": handle_file(str(tmp_path / "image.png")),
             "layers": [handle_file(str(tmp_path / "mask.png"))], "composite": None}
    client = served.client()
    refusals = set()
    for path in PATHS:
        with pytest.raises(Exception) as excinfo:
            client.predict(value, hub_repo=path, **FAST, api_name="/inpaint")
        assert "Hub repo id" in str(excinfo.value)
        refusals.add(str(excinfo.value).replace(path, "PATH"))
    assert len(refusals) == 1, refusals


def test_the_method_text_says_which_blends_keep_the_pixels_outside_the_hole(run):
    image = photo(40, 30)
    hole = box(image.size)
    kept = {}
    for blend in ("edge-aware", "poisson", "alpha", "none"):
        _, (result, *_rest) = final(run(editor(image, hole), "tiny-rgb", "", **FAST, blend=blend))
        kept[blend] = (np.asarray(result)[~hole] == np.asarray(image)[~hole]).all()
    assert kept == {"edge-aware": True, "poisson": True, "alpha": False, "none": True}
    claim = next(s for s in layout.method_text(Limits()).replace("\n", " ").split(". ") if "unchanged" in s)
    assert all(name in claim for name in kept), claim


# --- the loss plot, the domain warning and the side by side ----------------------------------------

def test_the_page_plots_the_losses_while_it_searches(calls):
    image = photo(40, 30)
    previews, final_outputs = final(calls.fill(editor(image, box(image.size)), "tiny-rgb", "", iterations=30,
                                               restarts=4))
    assert previews, "previews stream"
    for outputs in (*previews, final_outputs):
        contextual, perceptual = outputs[4], outputs[5]
        assert list(contextual.columns) == ["iteration", "loss", "curve"]
        assert set(contextual["curve"]) == {"best", "median", "worst"}
        assert not perceptual.visible  # λ = 0: no perceptual term to plot
    contextual = final_outputs[4]
    ran = int(final_outputs[3].split(": ")[1].split(" iterations")[0])  # it may stop early
    assert contextual["iteration"].max() == ran
    best = contextual[contextual["curve"] == "best"].set_index("iteration")["loss"]
    worst = contextual[contextual["curve"] == "worst"].set_index("iteration")["loss"]
    median = contextual[contextual["curve"] == "median"].set_index("iteration")["loss"]
    assert (best <= median + 1e-6).all() and (median <= worst + 1e-6).all()  # λ = 0: the total is this term

    # with λ > 0 the perceptual term has a panel of its own
    _, final_outputs = final(calls.fill(editor(image, box(image.size)), "tiny-rgb", "", iterations=10, restarts=4,
                                        lam=0.01))
    perceptual = final_outputs[5]
    assert perceptual.visible and {row[2] for row in perceptual.value["data"]} == {"best", "median", "worst"}


def test_a_long_curve_is_thinned_for_the_plot():
    from ui.callbacks import CURVE_POINTS, curve_frame

    frame = curve_frame({"contextual best": list(range(2000)), "contextual worst": [1.0] * 2000}, "contextual")
    best = frame[frame["curve"] == "best"]
    assert len(best) <= CURVE_POINTS + 1 and best["iteration"].iloc[0] == 1 and best["iteration"].iloc[-1] == 2000
    assert curve_frame({"contextual best": [1.0]}, "perceptual") is None


@pytest.fixture
def calibrated(tiny_checkpoints, tmp_path):
    """The tiny colour model twice, with a fit_limit that no image meets ("strict") and one every image meets."""
    import json
    import shutil

    folders = {}
    for name, limit in (("strict", 1e-6), ("lenient", 1.0)):
        folder = shutil.copytree(tiny_checkpoints["tiny-rgb"], tmp_path / name)
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "fit_limit": limit}))
        folders[name] = str(folder)
    return folders


def test_an_image_out_of_the_models_domain_is_warned_about(calibrated):
    calls = callbacks_for(calibrated)
    image = photo(40, 30)
    with pytest.warns(UserWarning, match="looks unlike the tiny-rgb images"):
        _, outputs = final(calls.fill(editor(image, box(image.size)), "strict", "", **FAST))
    badge = outputs[6]
    assert badge.visible and "Out of the model's domain" in badge.value
    assert "tiny-rgb" in badge.value
    _, outputs = final(calls.fill(editor(image, box(image.size)), "lenient", "", **FAST))
    assert not outputs[6].visible


def test_side_by_side_runs_the_same_image_and_hole_again(calls):
    from ui.callbacks import remember

    image = photo(40, 30)
    value = editor(image, box(image.size))
    with pytest.raises(gr.Error) as excinfo:
        list(calls.second(None, "tiny-grey", "paper", 5))
    assert "Fill a hole" in error_message(excinfo)
    result, _, _, status = final(calls.inpaint(value, "tiny-rgb", "", **FAST, grow=2))[1]
    first, heading, shown, shown_status = remember(value, 2, "tiny-rgb", "", FAST["iterations"], FAST["restarts"],
                                                   0.0, 0.0, 0, "edge-aware", methods.DEFAULT, result, status)
    assert heading == "### A · tiny-rgb · your settings" and shown is result and shown_status == status

    previews, (b_heading, b_image, b_status) = final(calls.second(first, "tiny-grey", "paper", 12))
    assert b_heading == "### B · tiny-grey · the paper's settings"
    assert b_image.size == image.size
    # the paper's settings: 64 restarts, no early stop, with the iterations asked for; the same grown hole
    assert "12 iterations, 64 restarts" in b_status and "Model tiny-grey" in b_status and "(grown by 2 px)" in b_status
    assert status.split("The hole covered")[1][:4] == b_status.split("The hole covered")[1][:4]

    _, (b_heading, _, b_status) = final(calls.second(first, "tiny-rgb", "same", 12))
    assert b_heading == "### B · tiny-rgb · A's settings"
    assert f"{FAST['restarts']} restarts" in b_status


# --- ZeroGPU: the search under spaces.GPU ---------------------------------------------------------

def test_gpu_seconds_grow_with_the_work_between_a_floor_and_a_ceiling():
    from ui.gpu import MAX_SECONDS, MIN_SECONDS, gpu_seconds

    assert gpu_seconds(40, 32, 64) == MIN_SECONDS  # the defaults: a fraction of a second of steps
    assert gpu_seconds(1000, 64, 64) > gpu_seconds(1000, 64, 32) > gpu_seconds(100, 64, 32)
    assert gpu_seconds(2000, 128, 64, time_limit=30) == 30 + MIN_SECONDS  # the search stops at its time limit
    assert gpu_seconds(10**6, 128, 256) == MAX_SECONDS


def test_the_app_completes_a_request_with_spaces_importable(serve, tiny_checkpoints, tmp_path, monkeypatch):
    """`spaces` installed but no ZeroGPU (a CPU machine): its GPU decorator changes nothing, and the
    search under it gets its duration from the request and takes and yields only what pickles, as
    it must to cross to ZeroGPU's worker process."""
    import pickle

    from gradio_client import handle_file

    spaces = pytest.importorskip("spaces")
    from ui import gpu

    assert gpu.spaces is spaces and not gpu.ZERO_GPU
    assert spaces.GPU(duration=lambda *args: 1)(len) is len  # effect-free off ZeroGPU
    asked = []

    def like_zero_gpu(duration):
        def decorate(search):
            def run(*args, **kwargs):
                asked.append(duration(*args, **kwargs))  # as spaces calls a dynamic duration
                args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
                for report in search(*args, **kwargs):
                    yield pickle.loads(pickle.dumps(report))
            return run
        return decorate

    monkeypatch.setattr(spaces, "GPU", like_zero_gpu)
    image = photo(48, 36)
    hole = box(image.size)
    image.save(tmp_path / "image.png")
    mask_image(hole).save(tmp_path / "mask.png")
    value = {"background": handle_file(str(tmp_path / "image.png")), "layers": [handle_file(str(tmp_path / "mask.png"))]}
    client = serve(tiny_checkpoints).client()
    result, gallery, raw, status = client.predict(value, iterations=20, restarts=4, api_name="/inpaint")
    assert status.startswith("Done in") and "20 iterations" in status
    assert (np.asarray(Image.open(result).convert("RGB"))[~hole] == np.asarray(image)[~hole]).all()
    assert asked == [gpu.gpu_seconds(20, 4, 16, Limits.from_env().seconds)]


# --- the Restore tab (issue 16) ------------------------------------------------------------------------

RESTORE_FAST = dict(iterations=10, restarts=2)


@pytest.mark.parametrize("task,kwargs,size", [
    ("deblur", dict(blur="gaussian", strength=2), (24, 20)),
    ("deblur", dict(blur="box", strength=3), (24, 20)),
    ("deblur", dict(blur="motion", strength=4, angle=30), (24, 20)),
    ("upscale", dict(factor=4), (96, 80)),
    ("denoise", dict(noise=0.1), (24, 20)),
    ("colourise", {}, (24, 20)),
])
def test_restore_returns_the_clean_size_and_says_what_it_undid(calls, task, kwargs, size):
    image = photo(24, 20, "L" if task == "colourise" else "RGB")
    previews, (result, gallery, raw, status) = final(calls.restore(image, "tiny-rgb", "", task, **kwargs,
                                                                   **RESTORE_FAST))
    assert previews and all("Searching" in p[3] for p in previews)
    assert result.size == size and result.mode == "RGB"
    assert 1 <= len(gallery) and gallery[0][1].startswith("#1") and all(img.size == size for img, _ in gallery)
    assert raw.size[0] % 16 == 0
    op = restoring.degradation(task, **kwargs)
    assert status.startswith("Done in") and f"Undid {restoring.described(op)}" in status
    assert f"the input is 24×20, the result {size[0]}×{size[1]}" in status


def test_restore_is_the_engines_restoration(calls, rgb):
    image = photo(24, 20)
    *_, (result, *_rest) = calls.restore(image, "tiny-rgb", "", "deblur", blur="box", strength=3, **RESTORE_FAST)
    own = inpaint.restore(rgb, image, ops.BoxBlur(3), inpaint.Settings(**RESTORE_FAST))
    assert (np.asarray(result) == np.asarray(own.image)).all()


def test_the_restore_page_shows_the_input_and_result_enlarged_alike(calls):
    previews, (shown_input, shown_result, gallery, raw, status) = final(
        calls.restore_page(photo(12, 10), "tiny-rgb", "", "upscale", factor=2, **RESTORE_FAST))
    assert shown_input.size == shown_result.size == (240, 200)  # 24x20 x 10: about restore.VIEW
    assert "Shown enlarged ×10" in status and "the result 24×20" in status
    assert all(p[0].size == (240, 200) and "Searching" in p[4] for p in previews)
    # nearest neighbour: each input pixel a 20 x 20 block
    arr = np.asarray(shown_input)
    assert (arr[:20, :20] == arr[0, 0]).all()
    # a large result is shown as it is
    _, (shown_input, shown_result, *_rest, status) = final(
        calls.restore_page(photo(300, 200), "tiny-rgb", "", "deblur", **RESTORE_FAST))
    assert shown_input.size == shown_result.size == (300, 200) and "Shown enlarged" not in status


@pytest.mark.parametrize("args,expected", [
    (dict(image=None), "Upload an image to restore"),
    (dict(task="sharpen"), "unknown task 'sharpen'"),
    (dict(blur="radial"), "unknown blur 'radial'"),
    (dict(strength=100), "the blur's sigma must be a number from 0 to 64"),
    (dict(strength=None), "the blur's strength must be a number"),
    (dict(blur="box", strength=0.5), "the box's size must be a number from 1 to 64"),
    (dict(task="upscale", factor=3), "the upscaling factor must be one of 2, 4, 8"),
    (dict(task="denoise", noise=2), "the noise's sigma must be a number from 0 to 1"),
    (dict(model="tiny-grey", task="colourise"), "Colourising needs a colour model: tiny-grey is greyscale. Pick a "
                                                "colour model (tiny-rgb), or another task."),
    (dict(task="upscale", factor=8, image=photo(200, 100)), "over the limit of 1024 pixels"),
    (dict(iterations=5000), "iterations must be between 1 and 2000"),
    (dict(seed=-1), "seed must be a whole number"),
])
def test_restore_errors_are_plain_messages(calls, args, expected):
    kwargs = dict(image=photo(24, 20), model="tiny-rgb", **RESTORE_FAST)
    kwargs.update(args)
    with pytest.raises(gr.Error) as excinfo:
        final(calls.restore(**kwargs))
    assert expected in error_message(excinfo)
    assert "Traceback" not in error_message(excinfo)


def test_degrade_an_example_at_the_models_resolution(calls, tmp_path):
    photo(64, 64).save(tmp_path / "a.png")
    photo(64, 64, "L", seed=1).save(tmp_path / "b.png")
    examples = [{"model": "tiny-rgb", "image": str(tmp_path / "a.png"), "hole": "center", "caption": "first"},
                {"model": "tiny-rgb", "image": str(tmp_path / "b.png"), "hole": "center", "caption": "second"},
                {"model": "elsewhere", "image": str(tmp_path / "b.png"), "hole": "center", "caption": "not mine"}]
    degraded, truth, status, count = calls.degrade_example(examples, 0, "tiny-rgb", "", "upscale", factor=4)
    assert degraded.size == (4, 4) and count == 1  # the example at 16x16, downsampled by 4
    assert truth.size == (256, 256)  # the clean 16x16 enlarged as the result will be shown
    assert "“first”" in status and "downsampling by 4" in status and "Restore" in status
    clean = restoring.clean_example(str(tmp_path / "a.png"), 16)
    assert (np.asarray(degraded) == np.asarray(ops.Downsample(4).degrade(clean))).all()
    # the next press takes the next example of the model, round the list
    degraded, _, status, count = calls.degrade_example(examples, 1, "tiny-rgb", "", "denoise", noise=0.2, seed=3)
    assert "“second”" in status and degraded.size == (16, 16) and degraded.mode == "L" and count == 2
    assert "“first”" in calls.degrade_example(examples, 2, "tiny-rgb", "", "deblur")[2]
    with pytest.raises(gr.Error, match="Colourising needs a colour model"):
        calls.degrade_example(examples, 0, "tiny-grey", "", "colourise")
    with pytest.raises(gr.Error) as excinfo:
        calls.degrade_example([], 0, "tiny-rgb", "", "deblur")
    assert "upload an image" in error_message(excinfo)
    # restoring the degraded example gives back the clean size
    degraded, *_ = calls.degrade_example(examples, 0, "tiny-rgb", "", "upscale", factor=2)
    _, (result, *_rest) = final(calls.restore(degraded, "tiny-rgb", "", "upscale", factor=2, **RESTORE_FAST))
    assert result.size == (16, 16)


def test_colourise_is_offered_for_colour_models_only(calls):
    grey, colour = calls.restore_tasks("tiny-grey", "", "colourise"), calls.restore_tasks("tiny-rgb", "", "colourise")
    assert [v for _, v in grey.choices] == ["deblur", "upscale", "denoise"] and grey.value == "deblur"
    assert [v for _, v in colour.choices] == [v for _, v in restoring.TASKS] and colour.value == "colourise"
    unknown = calls.restore_tasks("tiny-rgb", "no/such/checkpoint/folder", "denoise")  # not loadable: all of them
    assert len(unknown.choices) == len(restoring.TASKS) and unknown.value == "denoise"


def test_the_restore_controls_follow_the_task():
    def shown(task, blur="gaussian"):
        return [u["visible"] for u in restoring.controls(task, blur)]

    assert shown("deblur") == [True, False, False, False]
    assert shown("deblur", "motion") == [True, True, False, False]
    assert shown("upscale", "motion") == [False, False, True, False]
    assert shown("denoise") == [False, False, False, True]
    assert shown("colourise") == [False, False, False, False]


def test_stop_ends_a_restoration_with_the_best_so_far(calls, monkeypatch):
    monkeypatch.setattr(callbacks, "DEFAULTS", inpaint.Settings(patience=0))
    request = SimpleNamespace(session_hash="session-1")
    gen = calls.restore_page(photo(24, 20), "tiny-rgb", "", "denoise", iterations=2000, restarts=2, request=request)
    assert "Searching" in next(gen)[4]
    assert isinstance(calls.stop(request, INPAINT), int)  # the Inpaint tab's Stop does nothing to it
    assert calls.stop(request, RESTORE) == gr.skip()
    *_previews, (_, result, _, _, status) = list(gen)
    assert "stopped by you" in status and result.size == (240, 200)


# --- the method choice (issue 15) ---------------------------------------------------------------------

def test_the_method_picker_offers_both_methods_and_the_two_side_by_side():
    values = [v for _, v in method_choices()]
    assert CONTEXT_ENCODER in methods.names()  # registered by inpaint.methods
    assert values == [*methods.names(), BOTH]
    assert dict((v, label) for label, v in method_choices())[BOTH] == "Both side by side"


def _context_encoder_spy(monkeypatch, used: list):
    """A 'context-encoder' method that fills with the default's one-iteration search (the tiny checkpoints
    ship no context encoder), noting each call."""
    default = methods.get()

    def spy(model, image, hole, settings, on_progress=None):
        used.append(settings)
        return default.run(model, image, hole, dataclasses.replace(settings, iterations=1), on_progress=on_progress)

    monkeypatch.setitem(methods.METHODS, CONTEXT_ENCODER, methods.Method(CONTEXT_ENCODER, "CE", "spy", run=spy))


def test_both_runs_the_gan_prior_then_the_context_encoder_on_the_same_image_and_hole(calls, monkeypatch):
    used = []
    _context_encoder_spy(monkeypatch, used)
    image = photo(40, 30)
    value = editor(image, box(image.size))
    _, (result, _, _, status, *_rest) = final(calls.fill(value, "tiny-rgb", "", **FAST, grow=2, method=BOTH))
    assert not used and "Both side by side" in status  # A is the GAN prior's search
    assert f"{FAST['iterations']} iterations" in status
    first, heading, *_ = remember(value, 2, "tiny-rgb", "", FAST["iterations"], FAST["restarts"], 0.0, 0.0, 0, "edge-aware",
                                  BOTH, result, status)
    assert heading == "### A · tiny-rgb · the GAN prior, your settings"
    outputs = list(calls.both(first))
    b_heading, b_image, b_status, tab = outputs[-1]
    assert len(used) == 1 and b_heading == "### B · tiny-rgb · the context encoder"
    assert b_image.size == image.size and "Done in" in b_status
    assert status.split("The hole covered")[1][:4] == b_status.split("The hole covered")[1][:4]  # the same hole
    assert tab.selected == "side-by-side"
    # any other method: `both` changes nothing
    first["method"] = methods.DEFAULT
    assert list(calls.both(first)) == [(gr.skip(),) * 4]
    assert list(calls.both(None)) == [(gr.skip(),) * 4]


def test_both_on_a_model_without_a_context_encoder_says_so_and_keeps_a(calls):
    image = photo(40, 30)
    value = editor(image, box(image.size))
    _, (result, _, _, status, *_rest) = final(calls.fill(value, "tiny-rgb", "", **FAST, method=BOTH))
    first, *_ = remember(value, 0, "tiny-rgb", "", FAST["iterations"], FAST["restarts"], 0.0, 0.0, 0, "edge-aware", BOTH,
                         result, status)
    with pytest.warns(UserWarning, match="ships no context encoder"):
        heading, b_image, b_status, tab = list(calls.both(first))[-1]
    assert b_image is None and b_status.startswith("⚠️") and "ships no context encoder" in b_status
    assert "Pick the GAN prior" in b_status
    assert tab.selected == "side-by-side"
    # and asked for directly, the context encoder is a plain error, before any search (no tiny model ships one)
    with pytest.raises(gr.Error) as excinfo:
        final(calls.inpaint(value, "tiny-rgb", "", **FAST, method=CONTEXT_ENCODER))
    assert error_message(excinfo) == NO_CONTEXT_ENCODER.format(name="tiny-rgb", models="")
    with pytest.raises(gr.Error) as excinfo:
        final(calls.second(first, "tiny-grey", CONTEXT_ENCODER, 12))
    assert error_message(excinfo) == NO_CONTEXT_ENCODER.format(name="tiny-grey", models="")


def _ships_context_encoder(monkeypatch, models: set[str]):
    """The registry's context encoder, as if the checkpoints of the tiny `models` shipped one."""
    method = methods.get(CONTEXT_ENCODER)
    monkeypatch.setitem(methods.METHODS, CONTEXT_ENCODER,
                        dataclasses.replace(method, available=lambda model: model.dataset in models))


def test_the_context_encoder_is_offered_only_where_the_model_ships_one(calls, monkeypatch):
    picker = calls.methods_for("tiny-rgb", "", BOTH)  # no tiny checkpoint ships one
    assert [v for _, v in picker.choices] == [methods.DEFAULT] and picker.value == methods.DEFAULT
    assert picker.info == "tiny-rgb ships no context encoder: it fills with the GAN prior only."
    assert "ships no context encoder" in calls.about("tiny-rgb")[0]
    b = calls.second_settings("tiny-rgb", CONTEXT_ENCODER)
    assert [v for _, v in b.choices] == ["paper", "same"] and b.value == "paper"
    assert b.info == "tiny-rgb ships no context encoder: it fills with the GAN prior only."

    _ships_context_encoder(monkeypatch, {"tiny-grey"})
    picker = calls.methods_for("tiny-grey", "", BOTH)
    assert [v for _, v in picker.choices] == [*methods.names(), BOTH] and picker.value == BOTH
    assert picker.info == callbacks.METHOD_INFO
    assert "context encoder" not in calls.about("tiny-grey")[0]
    b = calls.second_settings("tiny-grey", CONTEXT_ENCODER)
    assert [v for _, v in b.choices] == ["paper", "same", CONTEXT_ENCODER] and b.value == CONTEXT_ENCODER
    # the method asked for where the model ships none: a message naming the models that ship one
    image = photo(40, 30)
    with pytest.raises(gr.Error) as excinfo:
        final(calls.inpaint(editor(image, box(image.size)), "tiny-rgb", "", **FAST, method=CONTEXT_ENCODER))
    assert error_message(excinfo) == ("tiny-rgb ships no context encoder, so it fills holes with the GAN prior only. "
                                      "Pick the GAN prior, or a model that ships one (tiny-grey).")
    # a model that does not load: the picker is left as it is (`about` says why)
    assert calls.methods_for("tiny-rgb", "no/such/checkpoint/folder") == gr.skip()


def test_a_method_the_model_cannot_run_is_not_offered_and_refused_in_words(calls, monkeypatch):
    """Any registered method whose `available` says no (not only the context encoder)."""
    default = methods.get()
    monkeypatch.setitem(methods.METHODS, "spy", methods.Method("spy", "Spy fill", "the default, for some",
                                                               run=default.run,
                                                               available=lambda model: model.channels == 1))
    assert "spy" not in [v for _, v in calls.methods_for("tiny-rgb").choices]
    assert "spy" in [v for _, v in calls.methods_for("tiny-grey").choices]
    image = photo(40, 30)
    with pytest.raises(gr.Error) as excinfo:
        final(calls.inpaint(editor(image, box(image.size)), "tiny-rgb", "", **FAST, method="spy"))
    assert error_message(excinfo) == ("tiny-rgb can't fill with Spy fill: its checkpoint lacks what the method "
                                      "needs. Pick another method, or a model that has it (tiny-grey).")
    status = final(calls.inpaint(editor(image, box(image.size)), "tiny-grey", "", **FAST, method="spy"))[1][3]
    assert status.startswith("Done in")


def test_listed_names_the_models_to_pick_from():
    assert listed([]) == ""
    assert listed(["a"]) == " (a)"
    assert listed(["a", "b"]) == " (a or b)"
    assert listed(["a", "b", "c"]) == " (a, b or c)"


def test_side_by_side_b_can_be_the_context_encoder(calls, monkeypatch):
    used = []
    _context_encoder_spy(monkeypatch, used)
    image = photo(40, 30)
    value = editor(image, box(image.size))
    result, _, _, status = final(calls.inpaint(value, "tiny-rgb", "", **FAST))[1]
    first, *_ = remember(value, 0, "tiny-rgb", "", FAST["iterations"], FAST["restarts"], 0.0, 0.0, 0, "edge-aware",
                         methods.DEFAULT, result, status)
    b_heading, b_image, b_status = final(calls.second(first, "tiny-rgb", CONTEXT_ENCODER, 12))[1]
    assert len(used) == 1 and b_heading == "### B · tiny-rgb · the context encoder" and b_image.size == image.size


# --- the bundled models and their examples ---------------------------------------------------------

BUNDLED_THERE = all((layout.CHECKPOINTS / name / "model.safetensors").is_file() for name in layout.BUNDLED)
needs_bundled = pytest.mark.skipif(not BUNDLED_THERE, reason="the bundled checkpoints are not all there")


def _examples() -> list[dict]:
    return json.loads((layout.EXAMPLES / "examples.json").read_text())


def test_the_bundled_models_in_the_pickers_order():
    # fashion first (the page's model), the faces-only emoji model before the broad one
    assert layout.BUNDLED == ("fashion-mnist-32", "emoji-faces-64", "emoji-64")
    if BUNDLED_THERE:
        assert list(layout.bundled_models()) == list(layout.BUNDLED)


def test_every_example_names_a_bundled_model_and_its_image_is_there():
    entries = _examples()
    assert {e["model"] for e in entries} == set(layout.BUNDLED)  # every model has examples, no other model
    for e in entries:
        assert (layout.CHECKPOINTS / e["model"] / "config.json").is_file(), e
        assert (layout.EXAMPLES / e["image"]).is_file() and Path(e["image"]).parent.name == e["model"], e
        assert e["hole"] in inpaint.PRESETS and e["caption"], e
    # nothing stale beside them: the examples' folders hold the listed images only
    assert sorted(layout.EXAMPLES.glob("*/*.png")) == sorted(layout.EXAMPLES / e["image"] for e in entries)
    assert {m: sum(e["model"] == m for e in entries) for m in layout.BUNDLED} == dict.fromkeys(layout.BUNDLED, 6)


def test_the_face_examples_are_the_faces_models_and_the_people_the_broad_ones():
    from train import data

    names = {m: [Path(e["image"]).stem.split("-", 2)[2] for e in _examples() if e["model"] == m]
             for m in ("emoji-faces-64", "emoji-64")}
    assert {"unamused", "confounded", "upside-down", "monocle"} <= set(names["emoji-faces-64"])
    assert {"fairy", "veil"} <= set(names["emoji-64"])
    faces = data.emoji_faces()
    for model in ("emoji-faces-64", "emoji-64"):
        group = [e for e in _examples() if e["model"] == model]
        for e in group:  # held-out emoji only; faces for the faces model, never for the broad one
            seq = re.search(r"U\+([0-9A-F-]+)\)", e["caption"]).group(1)
            assert data.emoji_split(seq) == "test", e
            assert (data.base_emoji(seq) in faces) == (model == "emoji-faces-64"), e
        # the three art styles, and holes of several presets
        assert {Path(e["image"]).stem.split("-")[1] for e in group} == {"twemoji", "openmoji", "noto"}
        assert len({e["hole"] for e in group}) >= 4


@needs_bundled
def test_the_page_lists_the_bundled_models_and_their_examples():
    demo = layout.build_demo()
    blocks = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert [v for _, v in blocks["model"].choices] == list(layout.BUNDLED)
    assert blocks["model"].value == "fashion-mnist-32"
    assert [v for _, v in blocks["second-model"].choices] == list(layout.BUNDLED)
    for name in layout.BUNDLED:  # one gallery of six per model, in the picker's order
        gallery = blocks[f"examples-{name}"]
        assert len(gallery.samples) == 6 and gallery.label.startswith(f"Examples for {name} ")
    galleries = [b.elem_id for b in demo.blocks.values() if str(getattr(b, "elem_id", "")).startswith("examples-")]
    assert galleries == [f"examples-{name}" for name in layout.BUNDLED]
    # fashion-mnist-32 ships a context encoder: the picker starts with all the methods
    assert [v for _, v in blocks["method"].choices] == [*methods.names(), BOTH]


@needs_bundled
def test_the_bundled_models_methods_summaries_and_colours():
    calls = callbacks_for(layout.bundled_models())
    ships = {"fashion-mnist-32": True, "emoji-faces-64": False, "emoji-64": True}
    for name, has in ships.items():
        offered = [v for _, v in calls.methods_for(name).choices]
        assert (CONTEXT_ENCODER in offered, BOTH in offered) == (has, has), name
        assert ("ships no context encoder" in calls.about(name)[0]) == (not has), name
    summary = calls.about("emoji-faces-64")[0]
    assert "64×64 colour" in summary and "**emoji-faces**" in summary and "only the faces of emoji" in summary
    assert "emoji faces and people" in calls.about("emoji-64")[0]
    # the context encoder asked for anyway (an API caller): which models ship one, before any search
    image = photo(64, 64)
    with pytest.raises(gr.Error) as excinfo:
        final(calls.inpaint(editor(image, box(image.size)), "emoji-faces-64", method=CONTEXT_ENCODER))
    assert error_message(excinfo) == NO_CONTEXT_ENCODER.format(name="emoji-faces-64",
                                                               models=" (fashion-mnist-32 or emoji-64)")
    # colourising with the greyscale model names both colour models
    with pytest.raises(gr.Error) as excinfo:
        final(calls.restore(photo(16, 16, "L"), "fashion-mnist-32", "", "colourise"))
    assert "Pick a colour model (emoji-faces-64 or emoji-64), or another task." in error_message(excinfo)


def test_api_restore(served, tmp_path):
    from gradio_client import handle_file

    small = photo(12, 10)
    small.save(tmp_path / "small.png")
    client = served.client()
    result, gallery, raw, status = client.predict(handle_file(str(tmp_path / "small.png")), task="upscale", factor=4,
                                                  iterations=10, restarts=2, api_name="/restore")
    assert Image.open(result).size == (48, 40)  # the result at its own size, not as the page shows it
    assert len(gallery) >= 1 and gallery[0]["caption"].startswith("#1")
    assert Image.open(raw).size[0] % 16 == 0
    assert status.startswith("Done in") and "the result 48×40" in status

    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/restore"]
    params = {p["parameter_name"]: p for p in api["parameters"]}
    assert api["parameters"][0]["parameter_name"] == "image" and not api["parameters"][0]["parameter_has_default"]
    assert all(p["parameter_has_default"] for p in api["parameters"][1:])
    assert params["task"]["parameter_default"] == "deblur" and len(api["returns"]) == 4
    # the defaults: a Gaussian blur of sigma 2
    result, *_rest, status = client.predict(handle_file(str(tmp_path / "small.png")), iterations=5, restarts=2,
                                            api_name="/restore")
    assert Image.open(result).size == (12, 10) and "a Gaussian blur of sigma 2 px" in status
    # a user error comes back as its plain message
    with pytest.raises(Exception, match="Colourising needs a colour model: tiny-grey is greyscale"):
        client.predict(handle_file(str(tmp_path / "small.png")), model="tiny-grey", task="colourise",
                       api_name="/restore")


# --- each model's search defaults: the warm start (Settings.for_model) ---------------------------------------

WARM = inpaint.Settings(**WARM_SEARCH)  # the defaults of a model that ships a warm-start encoder


@pytest.fixture(scope="module")
def warm_checkpoints(tiny_checkpoints, tmp_path_factory) -> dict[str, str]:
    """"tiny-warm" (tiny-rgb with an untrained warm-start encoder beside it), first, then the tiny checkpoints."""
    import shutil

    import torch

    from inpaint.encoder import LatentEncoder
    from inpaint.hub import ENCODER_NAME

    folder = shutil.copytree(tiny_checkpoints["tiny-rgb"], tmp_path_factory.mktemp("warm") / "tiny-warm")
    torch.manual_seed(0)
    LatentEncoder(resolution=16, channels=3, z_dim=8, width=4).save_pretrained(folder / ENCODER_NAME)
    return {"tiny-warm": str(folder), **tiny_checkpoints}


@pytest.fixture
def warm_calls(warm_checkpoints) -> Callbacks:
    return callbacks_for(warm_checkpoints)


def searched(calls: Callbacks, monkeypatch) -> list[inpaint.Settings]:
    """The settings of each search the service runs, from now on."""
    seen, run = [], calls.service.run

    def spy(model, image, hole, settings=None, **kwargs):
        seen.append(settings)
        return run(model, image, hole, settings, **kwargs)

    monkeypatch.setattr(calls.service, "run", spy)
    return seen


def test_the_search_sliders_show_the_chosen_models_defaults(warm_calls):
    assert WARM.warm_start > 0 and (WARM.iterations, WARM.restarts) != (inpaint.Settings().iterations,
                                                                         inpaint.Settings().restarts)
    iterations, restarts, warm = warm_calls.search_defaults("tiny-warm", "")
    assert (iterations, restarts, warm.value) == (WARM.iterations, WARM.restarts, WARM.warm_start)
    assert warm.interactive and warm.info == callbacks.WARM_START_INFO
    # a model without an encoder: the cold search, and a warm start that would be ignored can't be moved
    iterations, restarts, warm = warm_calls.search_defaults("tiny-rgb", "")
    cold = inpaint.Settings()
    assert (iterations, restarts, warm.value) == (cold.iterations, cold.restarts, 0.0)
    assert warm.interactive is False and "ships none" in warm.info
    # a model that does not load changes nothing (the model's summary says why)
    assert warm_calls.search_defaults("tiny-warm", "/etc") == (gr.skip(),) * 3


def _sliders(demo: gr.Blocks) -> dict:
    return {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None) in
            ("iterations", "restarts", "warm-start")}


def test_the_page_starts_at_the_first_models_defaults(warm_checkpoints, tiny_checkpoints, tmp_path, monkeypatch):
    shown = _sliders(layout.build_demo(warm_checkpoints, []))
    assert (shown["iterations"].value, shown["restarts"].value, shown["warm-start"].value) == \
           (WARM.iterations, WARM.restarts, WARM.warm_start)
    assert shown["warm-start"].interactive is not False
    shown = _sliders(layout.build_demo(tiny_checkpoints, []))  # tiny-rgb first: no encoder
    cold = inpaint.Settings()
    assert (shown["iterations"].value, shown["restarts"].value, shown["warm-start"].value) == \
           (cold.iterations, cold.restarts, 0.0)
    assert shown["warm-start"].interactive is False
    # a first model that does not load: the cold defaults (the page says why when it loads)
    shown = _sliders(layout.build_demo({"broken": str(tmp_path / "none")}, []))
    assert (shown["iterations"].value, shown["restarts"].value) == (cold.iterations, cold.restarts)


def test_the_inpaint_tab_searches_with_the_models_defaults_and_the_warm_start_asked_for(warm_calls, monkeypatch):
    seen = searched(warm_calls, monkeypatch)
    image = photo(40, 30)
    value = editor(image, box(image.size))
    # left out (an API caller's omission): the model's defaults
    status = final(warm_calls.inpaint(value, "tiny-warm"))[1][3]
    assert seen[-1] == WARM and f"{WARM.restarts} restarts" in status
    final(warm_calls.inpaint(value, "tiny-rgb"))
    assert seen[-1] == inpaint.Settings()
    # a warm start asked for reaches the search; so does the rest of what is given, the others the model's
    final(warm_calls.fill(value, "tiny-warm", "", 20, 4, warm_start=0.5))
    assert (seen[-1].iterations, seen[-1].restarts, seen[-1].warm_start) == (20, 4, 0.5)
    final(warm_calls.inpaint(value, "tiny-warm", "", restarts=4))
    assert (seen[-1].iterations, seen[-1].restarts, seen[-1].warm_start) == (WARM.iterations, 4, WARM.warm_start)
    with pytest.raises(gr.Error) as excinfo:
        final(warm_calls.inpaint(value, "tiny-warm", "", warm_start=1.5))
    assert "warm_start must be a share" in error_message(excinfo)


def test_side_by_side_b_reuses_as_warm_start(warm_calls, monkeypatch):
    seen = searched(warm_calls, monkeypatch)
    image = photo(40, 30)
    value = editor(image, box(image.size))
    result, _, _, status = final(warm_calls.inpaint(value, "tiny-warm", "", **FAST, warm_start=0.5))[1]
    first, *_ = remember(value, 0, "tiny-warm", "", FAST["iterations"], FAST["restarts"], 0.5, 0.0, 0, "edge-aware",
                         methods.DEFAULT, result, status)
    final(warm_calls.second(first, "tiny-warm", "same", 12))
    assert seen[-1] == seen[0] and seen[-1].warm_start == 0.5  # A's settings, its warm start among them
    final(warm_calls.second(first, "tiny-warm", "paper", 3))
    assert seen[-1].warm_start == inpaint.Settings.paper().warm_start  # the paper's own: from the prior


def test_an_example_is_filled_with_its_models_defaults(warm_calls, tmp_path, monkeypatch):
    """The example's fill, the sliders it sets and a fill with the widgets so set give one result (the
    stored one stays what the page would give)."""
    seen = searched(warm_calls, monkeypatch)
    photo(40, 30).save(tmp_path / "example.png")
    example = {"model": "tiny-warm", "image": str(tmp_path / "example.png"), "hole": "center"}
    done = final(warm_calls.fill_example(example))[1]
    assert seen[-1] == WARM and f"{WARM.restarts} restarts" in done[3]
    iterations, restarts, warm = warm_calls.search_defaults("tiny-warm")
    filled = final(warm_calls.fill(example_value(example), "tiny-warm", "", iterations, restarts,
                                   warm_start=warm.value))[1]
    assert seen[-1] == WARM and (np.asarray(filled[0]) == np.asarray(done[0])).all()


def test_the_about_text_gives_both_defaults():
    text = " ".join(layout.method_text(Limits()).split())
    cold = inpaint.Settings()
    assert (f"{WARM.restarts} restarts ({round(WARM.restarts * WARM.warm_start)} of them started from the model's "
            f"encoder) × {WARM.iterations} iterations") in text
    assert f"else {cold.restarts} restarts × {cold.iterations} iterations" in text
