"""The Gradio app on tiny models: callbacks called directly, bad inputs, and the `/inpaint` API."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app
import inpaint

FAST = dict(iterations=20, restarts=4)


def picture(size=(40, 30), mode="RGB", seed=0) -> Image.Image:
    """A smooth test image of `size` = (width, height) in `mode`."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), np.full((h, w), 90)], -1)
    rgb = (rgb + rng.integers(0, 20, rgb.shape)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB").convert(mode) if mode != "RGB" else Image.fromarray(rgb, "RGB")


def box_hole(size, box=(0.3, 0.3, 0.6, 0.7)) -> np.ndarray:
    w, h = size
    hole = np.zeros((h, w), dtype=bool)
    hole[int(box[1] * h): int(box[3] * h), int(box[0] * w): int(box[2] * w)] = True
    return hole


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


@pytest.fixture
def run(tiny_checkpoints):
    return app.make_inpaint(tiny_checkpoints)


def error_message(excinfo) -> str:
    return excinfo.value.message


# --- callbacks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["tiny-rgb", "tiny-grey"])
def test_editor_value_to_result_keeps_size_and_outside_pixels(run, model):
    image = picture((40, 30))
    hole = box_hole(image.size)
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
    image = picture((40, 30))
    hole = box_hole((80, 60))  # the editor may return layers at the canvas size
    layer = np.zeros((60, 80, 4), dtype=np.uint8)
    layer[hole] = (255, 0, 0, 128)
    value = {"background": image, "layers": [Image.fromarray(layer, "RGBA")], "composite": None}
    _, (result, *_rest) = final(run(value, "tiny-rgb", "", **FAST))
    assert result.size == image.size


def test_black_and_white_mask_as_layer(run):
    """An API client may send a plain mask (white = hole) as the layer instead of a transparent one."""
    image = picture((40, 30))
    hole = box_hole(image.size)
    mask = Image.fromarray(np.where(hole, 255, 0).astype(np.uint8), "L")
    for layer in (mask, mask.convert("RGB"), mask.convert("RGBA")):
        value = {"background": image, "layers": [layer], "composite": None}
        _, (result, _, _, status) = final(run(value, "tiny-rgb", "", **FAST))
        assert (np.asarray(result)[~hole] == np.asarray(image)[~hole]).all()
        assert f"covered {hole.mean():.0%}" in status


def test_preset_buttons_draw_the_hole_into_the_editor():
    image = picture((50, 40))
    value = app.paint_preset(editor(image, None), "center")
    assert value["background"].size == image.size
    bg, hole = inpaint.from_editor(value)
    assert (hole == inpaint.preset("center", image.size)).all()
    layer = np.asarray(value["layers"][0])
    assert (layer[hole][:, 3] > 0).all() and (layer[~hole][:, 3] == 0).all()
    # a preset replaces what was painted before
    again = app.paint_preset(app.paint_preset(value, "left"), "top")
    assert (inpaint.from_editor(again)[1] == inpaint.preset("top", image.size)).all()


@pytest.mark.parametrize("label,name", app.PRESET_BUTTONS)
def test_every_preset_button_gives_a_fillable_hole(run, label, name):
    image = picture((32, 32))
    value = app.paint_preset(editor(image, None), name)
    _, (result, *_rest) = final(run(value, "tiny-rgb", "", iterations=5, restarts=2))
    assert result.size == image.size


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "I;16", "LA", "CMYK"])
def test_odd_image_modes(run, mode):
    base = picture((36, 28))
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
    hole = box_hole(image.size)
    _, (result, *_rest) = final(run(editor(image, hole), "tiny-rgb", "", **FAST))
    assert result.size == image.size


def test_huge_image_is_scaled_down_and_said_so(run):
    image = picture((2400, 1200))
    hole = box_hole(image.size)
    _, (result, _, _, status) = final(run(editor(image, hole), "tiny-rgb", "", iterations=5, restarts=2))
    assert result.size == (1024, 512)
    assert "scaled down to 1024×512" in status


def test_stop_returns_the_best_so_far(run):
    request = SimpleNamespace(session_hash="session-1")
    other = SimpleNamespace(session_hash="session-2")
    image = picture((40, 30))
    gen = run(editor(image, box_hole(image.size)), "tiny-rgb", "", iterations=2000, restarts=2, request=request)
    first = next(gen)
    assert "Searching" in first[3]
    app.stop(other)  # another session's Stop does nothing to this one
    app.stop(request)
    *_previews, (result, gallery, raw, status) = list(gen)
    assert result.size == image.size
    assert "stopped by you" in status
    iterations = int(status.split(":")[1].split("iterations")[0])
    assert iterations < 2000
    assert "session-1" not in app._stops  # the flag is forgotten afterwards


def test_generate_and_about(tiny_checkpoints):
    grid_image, text = app.make_generate(tiny_checkpoints)("tiny-rgb", "", seed=3, count=9)
    assert grid_image.width >= 3 * 16 and "9 samples" in text
    summary, card, samples = app.make_about(tiny_checkpoints)("tiny-grey", "")
    assert "16×16 greyscale" in summary
    assert "DCGAN" in card and "---" not in card.splitlines()[0]
    assert "![" not in card  # local images are shown beside the card, not as broken links
    assert samples is not None and samples.endswith("samples.png")


def test_build_demo_without_models_or_examples_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(app, "CHECKPOINTS", tmp_path / "none")
    monkeypatch.setattr(app, "EXAMPLES", tmp_path / "none")
    assert app.bundled_models() == {}
    demo = app.build_demo()
    assert isinstance(demo, gr.Blocks)
    with pytest.raises(gr.Error) as excinfo:
        final(app.make_inpaint({})(editor(picture(), box_hole((40, 30))), None, "", **FAST))
    assert "Hub repo id" in error_message(excinfo)


# --- bad input -> a plain gr.Error ----------------------------------------------------------------

BAD_INPUTS = {
    "no value": (None, "Upload an image first"),
    "empty editor": ({"background": None, "layers": [], "composite": None}, "Upload an image first"),
    "nothing painted": (editor(picture(), None), "Nothing is painted"),
    "no layers": ({"background": picture(), "layers": [], "composite": picture()}, "Nothing is painted"),
    "everything painted": (editor(picture(), np.ones((30, 40), bool)), "whole image is painted"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_editor_values_give_a_plain_error(run, case):
    value, expected = BAD_INPUTS[case]
    with pytest.raises(gr.Error) as excinfo:
        final(run(value, "tiny-rgb", "", **FAST))
    assert expected in error_message(excinfo)
    assert "Traceback" not in error_message(excinfo)


@pytest.mark.parametrize("kwargs,expected", [
    (dict(iterations=5000), "iterations must be between 1 and 2000"),
    (dict(restarts=1000), "restarts must be between 1 and 128"),
    (dict(lam=-1), "λ must be 0 or more"),
    (dict(blend="smudge"), "blend must be poisson, alpha or none"),
    (dict(seed=2**64), "seed must be a whole number from 0 to 4294967295"),
    (dict(seed=-3), "seed must be a whole number from 0 to 4294967295"),
    (dict(seed=1.5), "seed must be a whole number from 0 to 4294967295"),
])
def test_settings_out_of_range(run, kwargs, expected):
    image = picture()
    with pytest.raises(gr.Error) as excinfo:
        final(run(editor(image, box_hole(image.size)), "tiny-rgb", "", **{**FAST, **kwargs}))
    assert expected in error_message(excinfo)


def test_model_that_cannot_be_loaded(run):
    image = picture()
    with pytest.raises(gr.Error) as excinfo:
        final(run(editor(image, box_hole(image.size)), "tiny-rgb", "no/such/checkpoint/folder", **FAST))
    assert "no/such/checkpoint/folder" in error_message(excinfo)
    assert excinfo.value.title == "Model not available"
    with pytest.raises(gr.Error):
        app.make_generate({})("x", "no/such/checkpoint/folder")
    summary, _, _ = app.make_about({})("x", "no/such/checkpoint/folder")
    assert summary.startswith("⚠️")


def test_engine_errors_become_gr_errors(run, monkeypatch):
    def refuse(*args, **kwargs):
        raise inpaint.InpaintError("the hole is too odd to fill")

    monkeypatch.setattr(inpaint, "complete", refuse)
    image = picture()
    with pytest.raises(gr.Error) as excinfo:
        final(run(editor(image, box_hole(image.size)), "tiny-rgb", "", **FAST))
    assert error_message(excinfo) == "the hole is too odd to fill"


def test_preset_without_image():
    with pytest.raises(gr.Error) as excinfo:
        app.paint_preset({"background": None, "layers": [], "composite": None}, "center")
    assert "Upload an image first" in error_message(excinfo)


# --- the API --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tiny_checkpoints):
    demo = app.build_demo(tiny_checkpoints, examples=[])
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        yield demo
    finally:
        demo.close()


def test_seeds_out_of_range_are_plain_errors_on_every_tab(tiny_checkpoints):
    with pytest.raises(gr.Error) as excinfo:
        app.make_generate(tiny_checkpoints)("tiny-rgb", "", seed=2**64, count=4)
    assert "seed must be a whole number from 0 to 4294967295" in error_message(excinfo)


def test_api_refuses_a_huge_seed_with_a_message(served, tmp_path):
    from gradio_client import Client, handle_file

    image = picture((24, 18))
    image.save(tmp_path / "image.png")
    Image.fromarray(np.where(box_hole(image.size), 255, 0).astype(np.uint8), "L").save(tmp_path / "mask.png")
    value = {"background": handle_file(str(tmp_path / "image.png")), "layers": [handle_file(str(tmp_path / "mask.png"))]}
    client = Client(served.local_url, verbose=False, download_files=str(tmp_path / "downloads"))
    with pytest.raises(Exception) as excinfo:
        client.predict(value, iterations=2, restarts=2, seed=2**64, api_name="/inpaint")
    assert "maximum" in str(excinfo.value) or "seed must be" in str(excinfo.value)


def test_api_inpaint(served, tmp_path):
    from gradio_client import Client, handle_file

    image = picture((48, 36))
    hole = box_hole(image.size)
    image.save(tmp_path / "image.png")
    layer = np.zeros((36, 48, 4), dtype=np.uint8)
    layer[hole] = (255, 0, 0, 255)
    Image.fromarray(layer, "RGBA").save(tmp_path / "hole.png")

    client = Client(served.local_url, verbose=False, download_files=str(tmp_path / "downloads"))
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
    Image.fromarray(np.where(hole, 255, 0).astype(np.uint8), "L").save(tmp_path / "mask.png")
    bw = {"background": handle_file(str(tmp_path / "image.png")), "layers": [handle_file(str(tmp_path / "mask.png"))]}
    result, *_rest = client.predict(bw, iterations=5, restarts=2, api_name="/inpaint")
    assert (np.asarray(Image.open(result).convert("RGB"))[~hole] == np.asarray(image)[~hole]).all()

    # every input but the editor value has a default
    api = client.view_api(print_info=False, return_format="dict")
    params = api["named_endpoints"]["/inpaint"]["parameters"]
    assert params[0]["parameter_name"] == "editor" and not params[0]["parameter_has_default"]
    assert all(p["parameter_has_default"] for p in params[1:])

    # a user error comes back as its plain message
    empty = {"background": handle_file(str(tmp_path / "image.png")), "layers": [], "composite": None}
    with pytest.raises(Exception, match="Nothing is painted"):
        client.predict(empty, api_name="/inpaint")
    # and a request can't ask for more than the cap
    with pytest.raises(Exception, match="2000"):
        client.predict(value, iterations=100_000, api_name="/inpaint")


# --- loading models: the device, the Hub box, download slots ---------------------------------------

def test_the_app_loads_models_on_the_gpu_when_there_is_one(tiny_checkpoints, monkeypatch):
    import torch

    import inpaint.hub as hub

    asked = []
    real = hub._load

    def on_cpu(spec, device, token, cache_dir):  # note where it was asked to go; stay on the CPU
        asked.append(device)
        return real(spec, torch.device("cpu"), token, cache_dir)

    monkeypatch.setattr(hub, "_load", on_cpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    hub.clear_cache()
    try:
        app.make_about(tiny_checkpoints)("tiny-rgb", "")
    finally:
        hub.clear_cache()
    assert asked == [torch.device("cuda")]


PATHS = ["/etc", "/etc/passwd", "/nonexistent/x", "../checkpoints"]


def test_the_hub_box_takes_hub_repo_ids_only(run, tiny_checkpoints, monkeypatch):
    """A path typed into the Hub box gets one refusal, whether it exists or not, is a file or a folder."""
    image = picture()
    refusals = set()
    for path in [*PATHS, tiny_checkpoints["tiny-rgb"]]:
        with pytest.raises(gr.Error) as excinfo:
            final(run(editor(image, box_hole(image.size)), "tiny-rgb", path, **FAST))
        assert path in error_message(excinfo) and "Hub repo id" in error_message(excinfo)
        refusals.add(error_message(excinfo).replace(path, "PATH"))
        summary, _card, _samples = app.make_about(tiny_checkpoints)("tiny-rgb", path)
        refusals.add(summary.removeprefix("⚠️ ").replace(path, "PATH"))
    assert len(refusals) == 1, refusals
    # local development may allow folders in the box
    monkeypatch.setattr(app, "ALLOW_LOCAL_MODELS", True)
    summary, _card, _samples = app.make_about({})("x", tiny_checkpoints["tiny-rgb"])
    assert "16×16 colour" in summary


def test_the_api_takes_hub_repo_ids_only(served, tmp_path):
    from gradio_client import Client, handle_file

    image = picture()
    image.save(tmp_path / "image.png")
    Image.fromarray(np.where(box_hole(image.size), 255, 0).astype(np.uint8), "L").save(tmp_path / "mask.png")
    value = {"background": handle_file(str(tmp_path / "image.png")),
             "layers": [handle_file(str(tmp_path / "mask.png"))], "composite": None}
    client = Client(served.local_url, verbose=False, download_files=str(tmp_path / "downloads"))
    refusals = set()
    for path in PATHS:
        with pytest.raises(Exception) as excinfo:
            client.predict(value, hub_repo=path, **FAST, api_name="/inpaint")
        assert "Hub repo id" in str(excinfo.value)
        refusals.add(str(excinfo.value).replace(path, "PATH"))
    assert len(refusals) == 1, refusals


def test_bundled_and_cached_models_never_wait_for_a_hub_download_slot(tiny_checkpoints, fake_hub):
    import time

    cached = "user/cached"
    fake_hub.add_repo(cached, tiny_checkpoints["tiny-rgb"])
    app.load_model(cached)  # now in the HF cache
    inpaint.hub.clear_cache()  # as after a restart
    slow = [f"user/slow-{i}" for i in range(app.MAX_HUB_LOADS)]
    try:
        for repo in slow:  # every download slot taken by a Hub that does not answer yet
            fake_hub.add_repo(repo, tiny_checkpoints["tiny-grey"])
            fake_hub.fail(repo, "slow")
            with pytest.raises(inpaint.ModelLoadError, match="still downloading"):
                app.load_model(repo, wait=0.05)
        with pytest.raises(inpaint.ModelLoadError, match="already under way"):
            app.load_model("user/one-more", wait=0.05)
        started = time.monotonic()
        summary, _card, _samples = app.make_about(tiny_checkpoints)("tiny-grey", "")
        assert "16×16 greyscale" in summary
        assert app.load_model(cached, wait=5).resolution == 16
        assert time.monotonic() - started < 5
    finally:
        for repo in slow:
            fake_hub.heal(repo)
        deadline = time.monotonic() + 30
        while app._loads and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not app._loads
    assert app.load_model(slow[0]).channels == 1


def test_the_method_text_says_which_blends_keep_the_pixels_outside_the_hole(run):
    image = picture((40, 30))
    hole = box_hole(image.size)
    kept = {}
    for blend in ("poisson", "alpha", "none"):
        _, (result, *_rest) = final(run(editor(image, hole), "tiny-rgb", "", **FAST, blend=blend))
        kept[blend] = (np.asarray(result)[~hole] == np.asarray(image)[~hole]).all()
    assert kept == {"poisson": True, "alpha": False, "none": True}
    claim = next(s for s in app.METHOD.replace("\n", " ").split(". ") if "unchanged" in s)
    assert "alpha" in claim and "poisson" in claim.lower() and "none" in claim, claim
