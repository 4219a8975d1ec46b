"""The app under load and under attack: many users at once, hostile uploads through the `/inpaint` API,
Hub faults while the bundled models keep serving, caps a request can't exceed, and gradio's cache.

The engine's and the CLI's side of the same is in test_reliability.py.
"""

from __future__ import annotations

import importlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from PIL import Image, ImageFile, ImageOps

import inpaint
from inpaint import methods
from inpaint.hub import clear_cache
from inpaint.service import Limits, Service
from ui import layout
from ui.callbacks import Callbacks

try:
    from tests.fake_hub import closed_port_url
    from tests.test_reliability import bomb_png, hostile
except ImportError:
    from fake_hub import closed_port_url
    from test_reliability import bomb_png, hostile
from pictures import box, photo, save_mask

SMALL = dict(iterations=10, restarts=2)
REPO = "user/tiny"
USERS = 20


def rss_mib() -> float:
    """This process's resident memory (the app and its clients), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def upload(folder: Path, name: str, image: Image.Image) -> Path:
    path = folder / name
    image.save(path)
    return path


def editor_value(image_path: Path, mask_path: Path | None) -> dict:
    """What an API client sends: the image, and a black-and-white mask (white = hole) as the layer."""
    return {"background": handle_file(str(image_path)),
            "layers": [handle_file(str(mask_path))] if mask_path is not None else [], "composite": None}


def user_error(call) -> str:
    """The message of the error a request ends with (gradio_client raises AppError with it)."""
    with pytest.raises(Exception) as info:
        call()
    message = str(info.value)
    assert "Traceback" not in message
    assert "has not enabled verbose error reporting" not in message, "a bare error, not a message for the user"
    return message


# --- many users at once ------------------------------------------------------------------------

def colour(i: int) -> tuple[int, int, int]:
    return (37 * i % 256, 255 - 23 * i % 256, 90 + 7 * i)


def users(served: Served, n: int) -> list[Client]:
    """n users, each with a session of its own (made side by side: each takes a moment)."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: served.client(), range(n)))


def leave(clients: list[Client]) -> None:
    with ThreadPoolExecutor(len(clients)) as pool:  # each close waits up to 1 s for its heartbeat thread
        list(pool.map(Client.close, clients))


def one_round(clients: list[Client], folder: Path) -> dict:
    """Each user sends their own solid-colour image at the same moment; all results and what
    the queue told them."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs, holes = [], []
    for i, client in enumerate(clients):
        size = (40 + i, 30 + i % 7)  # a size of its own too
        image = upload(folder, f"user{i}.png", Image.new("RGB", size, colour(i)))
        hole = box(size)
        holes.append(hole)
        mask = save_mask(folder / f"mask{i}.png", hole)
        jobs.append(client.submit(editor_value(image, mask), seed=i, **SMALL, api_name="/inpaint"))
    started = time.monotonic()
    seen: list[list] = [[] for _ in jobs]  # (code, rank, queue_size) each user saw
    while not all(job.done() for job in jobs):
        for i, job in enumerate(jobs):
            st = job.status()
            if not seen[i] or seen[i][-1] != (st.code, st.rank, st.queue_size):
                seen[i].append((st.code, st.rank, st.queue_size))
        time.sleep(0.01)
    wall = time.monotonic() - started
    return dict(results=[job.result(timeout=60) for job in jobs], seen=seen, holes=holes, wall=wall)


def test_twenty_users_at_once_each_get_their_own_image(served, tmp_path):
    clients = users(served, USERS)
    try:
        before = rss_mib()
        first = one_round(clients, tmp_path / "round1")
        after_first = rss_mib()
        second = one_round(clients, tmp_path / "round2")
        after_second = rss_mib()
    finally:
        leave(clients)

    for run in (first, second):
        assert len(run["results"]) == USERS  # none dropped
        for i, (result, _gallery, _raw, status) in enumerate(run["results"]):
            out = np.asarray(Image.open(result).convert("RGB"))
            hole = run["holes"][i]
            assert out.shape[:2] == hole.shape, f"user {i} got an image of another size"
            # this user's colour outside the hole: not another user's image
            assert (out[~hole] == colour(i)).all(), f"user {i} got someone else's pixels"
            assert status.startswith("Done in"), status
        # the queue told waiting users where they stand
        ranks = [rank for seen in run["seen"] for code, rank, size in seen if code == Status.IN_QUEUE and rank]
        assert max(ranks, default=0) >= USERS // 2, run["seen"]
        assert all(rank < size for seen in run["seen"] for code, rank, size in seen
                   if code == Status.IN_QUEUE and rank is not None and size is not None)
    # memory: a second round of the same costs (next to) nothing more
    growth = after_second - after_first
    assert growth < 60, f"memory grew by {growth:.0f} MiB in a second round of {USERS} requests"
    print(f"\n{USERS} users: round 1 {first['wall']:.1f} s, round 2 {second['wall']:.1f} s; "
          f"RSS {before:.0f} -> {after_first:.0f} -> {after_second:.0f} MiB")


def test_a_full_queue_says_so_and_loses_no_accepted_request(serve, tiny_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "QUEUE_SIZE", 3)
    real = methods.get()

    def slow(*args, **kwargs):  # each completion takes half a second at least, so the line builds up
        time.sleep(0.5)
        return real.run(*args, **kwargs)

    monkeypatch.setitem(methods.METHODS, real.name, methods.Method(real.name, real.label, real.summary, run=slow))
    s = serve(tiny_checkpoints)
    image = upload(tmp_path, "in.png", Image.new("RGB", (40, 30), (200, 10, 10)))
    mask = save_mask(tmp_path / "mask.png", box((40, 30)))
    clients = users(s, 8)
    jobs = [c.submit(editor_value(image, mask), **SMALL, api_name="/inpaint") for c in clients]
    done, refused = 0, []
    for job in jobs:
        try:
            result = job.result(timeout=120)
            assert Image.open(result[0]).size == (40, 30)
            done += 1
        except Exception as err:  # noqa: BLE001 - the refusal gradio_client raises
            refused.append(str(err))
    assert done >= 3 and refused and done + len(refused) == len(jobs), (done, refused)
    assert all("queue is full" in r.lower() for r in refused), refused
    leave(clients)


# --- hostile uploads through the API ------------------------------------------------------------

def test_an_upload_over_the_size_limit_is_refused(serve, tiny_checkpoints, tmp_path):
    assert layout.MAX_FILE_SIZE  # app.main() launches with it
    s = serve(tiny_checkpoints, max_file_size="20kb")
    noise = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)  # ~58 kB as PNG
    image = upload(tmp_path, "noise.png", Image.fromarray(noise))
    assert image.stat().st_size > 20_000
    mask = save_mask(tmp_path / "m.png", box((160, 120)))
    client = s.client()
    with pytest.raises(Exception, match="exceeds the maximum file size"):
        client.predict(editor_value(image, mask), **SMALL, api_name="/inpaint")
    leave([client])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("kind,message", [
    ("zero-byte", "the file is empty"),
    ("truncated-png", "truncated or corrupt"),
    ("truncated-jpeg", "truncated or corrupt"),
    ("text-as-png", "not an image file"),
    ("bomb-20000x20000", "too large: over 64,000,000 pixels"),
    ("bomb-10000x10000", "too large: over 64,000,000 pixels"),
])
@pytest.mark.parametrize("role", ["image", "mask"])
def test_hostile_uploads_get_a_clear_message(served, tmp_path, kind, message, role):
    good = upload(tmp_path, "good.png", photo(40, 30))
    mask = save_mask(tmp_path / "mask.png", box((40, 30)))
    bad = hostile(kind, tmp_path)
    value = editor_value(bad, mask) if role == "image" else editor_value(good, bad)
    client = served.client()
    text = user_error(lambda: client.predict(value, **SMALL, api_name="/inpaint"))
    assert message in text and bad.name in text
    assert ("The image" if role == "image" else "A mask layer") in text


def test_a_bomb_is_refused_before_gradio_decodes_it(served, tmp_path, monkeypatch):
    decoded = []
    real_load = ImageFile.ImageFile.load

    def load(self, *args, **kwargs):
        decoded.append(self.size)
        return real_load(self, *args, **kwargs)

    bomb = bomb_png(tmp_path / "bomb.png", 10000, 10000)
    image = upload(tmp_path, "in.png", photo(40, 30))
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    client = served.client()
    # the bomb as the mask layer: the image before it is decoded, the bomb is not
    assert "too large" in user_error(lambda: client.predict(editor_value(image, bomb), **SMALL, api_name="/inpaint"))
    assert (40, 30) in decoded  # the mask was decoded: the spy works
    assert (10000, 10000) not in decoded


def mode_image(mode: str, size=(36, 28)) -> tuple[Image.Image, str]:
    base = photo(*size)
    if mode == "I;16":
        return Image.frombytes("I;16", size, (np.asarray(base.convert("L")).astype("<u2") * 257).tobytes()), ".png"
    if mode in ("RGBA", "LA"):
        rgba = base.convert("RGBA")
        alpha = np.full((size[1], size[0]), 255, np.uint8)
        alpha[:, :5] = 0
        rgba.putalpha(Image.fromarray(alpha))
        return rgba.convert(mode), ".png"
    if mode == "CMYK":
        return base.convert("CMYK"), ".jpg"
    return base.convert(mode), ".png"


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "CMYK", "1"])
def test_any_image_mode_through_the_api(served, tmp_path, mode):
    image, suffix = mode_image(mode)
    path = upload(tmp_path, f"in{suffix}", image)
    hole = box(image.size)
    client = served.client()
    result, _g, _r, status = client.predict(editor_value(path, save_mask(tmp_path / "m.png", hole)), **SMALL,
                                            api_name="/inpaint")
    out = Image.open(result)
    assert out.size == image.size and status.startswith("Done in")
    if mode in ("P", "CMYK", "1"):  # opaque: the pixels outside the hole are the upload's own
        expected = np.asarray(inpaint.imageio.read_image(path).convert("RGB"))
        assert (np.asarray(out.convert("RGB"))[~hole] == expected[~hole]).all()
    if mode == "I;16":  # scaled by its 16-bit range like the engine does, not clipped to white
        expected = np.asarray(inpaint.imageio.read_image(path))
        got = np.asarray(out.convert("L"))
        assert np.abs(got[~hole].astype(int) - expected[~hole]).max() <= 1


def test_exif_rotated_jpeg_through_the_api(served, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated a quarter turn
    path = tmp_path / "camera.jpg"
    photo(48, 24).save(path, exif=exif, quality=95)
    with Image.open(path) as img:
        upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    hole = box((upright.shape[1], upright.shape[0]))  # drawn on the image as shown
    client = served.client()
    result, *_rest = client.predict(editor_value(path, save_mask(tmp_path / "m.png", hole)), **SMALL,
                                    api_name="/inpaint")
    out = np.asarray(Image.open(result).convert("RGB"))
    assert out.shape == upright.shape  # 24 x 48: upright
    assert (out[~hole] == upright[~hole]).all()


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_sizes_through_the_api(served, tmp_path):
    client = served.client()

    def send(size, hole):
        path = upload(tmp_path, f"{size[0]}x{size[1]}.png", photo(*size))
        return client.predict(editor_value(path, save_mask(tmp_path / "m.png", hole)), **SMALL, api_name="/inpaint")

    # 1 x 1: there is no hole that leaves something to match
    assert "covers the whole image" in user_error(lambda: send((1, 1), np.ones((1, 1), bool)))
    assert "the mask is empty" in user_error(lambda: send((1, 1), np.zeros((1, 1), bool)))
    # extreme aspect ratios and large images are searched at most Settings.max_side on the long side, say
    # so, and come back at their own size
    for size, shown in (((3000, 500), (1024, 171)), ((2000, 2), (1024, 1)), ((3, 1500), (2, 1024))):
        hole = np.zeros((size[1], size[0]), bool)
        y, x = size[1] // 3, size[0] // 3
        hole[y: y + max(1, size[1] // 4), x: x + max(1, size[0] // 4)] = True
        result, _g, _r, status = send(size, hole)
        out = np.asarray(Image.open(result).convert("RGB"))
        assert out.shape[:2] == hole.shape and f"ran at {shown[0]}×{shown[1]}" in status
        assert (out[~hole] == np.asarray(photo(*size).convert("RGB"))[~hole]).all()  # the input's own pixels
    # 10000 x 10000 is over the pixel limit
    big = bomb_png(tmp_path / "big.png", 10000, 10000)
    text = user_error(lambda: client.predict(editor_value(big, save_mask(tmp_path / "m.png", box((8, 8)))),
                                             **SMALL, api_name="/inpaint"))
    assert "too large" in text


@pytest.mark.parametrize("case,message", [
    ("all-black", "the mask is empty"),
    ("all-white", "the mask covers the whole image"),
    ("no-mask", "the mask is empty"),
])
def test_bad_masks_through_the_api(served, tmp_path, case, message):
    image = upload(tmp_path, "in.png", photo(40, 30))
    hole = np.zeros((30, 40), bool) if case == "all-black" else np.ones((30, 40), bool)
    mask = None if case == "no-mask" else save_mask(tmp_path / "m.png", hole)
    client = served.client()
    assert message in user_error(lambda: client.predict(editor_value(image, mask), **SMALL, api_name="/inpaint"))


def test_a_mask_of_another_size_is_scaled_to_the_image(served, tmp_path):
    image = upload(tmp_path, "in.png", Image.new("RGB", (40, 30), (5, 100, 200)))
    hole = box((40, 30))
    big_mask = save_mask(tmp_path / "m.png", np.asarray(Image.fromarray(hole).resize((80, 60), Image.NEAREST)))
    client = served.client()
    result, *_rest = client.predict(editor_value(image, big_mask), **SMALL, api_name="/inpaint")
    out = np.asarray(Image.open(result).convert("RGB"))
    assert out.shape[:2] == (30, 40) and (out[~hole] == (5, 100, 200)).all()


# --- determinism, caps and the time limit -------------------------------------------------------

def test_same_image_mask_and_seed_give_the_same_result(served, tmp_path):
    image = upload(tmp_path, "in.png", photo(40, 30))
    mask = save_mask(tmp_path / "m.png", box((40, 30)))
    client = served.client()
    out = [np.asarray(Image.open(client.predict(editor_value(image, mask), seed=seed, iterations=10, restarts=4,
                                                blend="none", api_name="/inpaint")[0])) for seed in (3, 3, 4)]
    assert (out[0] == out[1]).all()
    assert not (out[0] == out[2]).all()


@pytest.mark.parametrize("kwargs,message", [  # gradio's sliders check their bounds first, in their words
    (dict(iterations=Limits().iterations + 1), f"greater than maximum value {Limits().iterations}"),
    (dict(iterations=0), "less than minimum value 1"),
    (dict(restarts=Limits().restarts + 1), f"greater than maximum value {Limits().restarts}"),
    (dict(lam=-1), "less than minimum value 0"),
])
def test_caps_cannot_be_exceeded_through_the_api(served, tmp_path, kwargs, message):
    image = upload(tmp_path, "in.png", photo(40, 30))
    mask = save_mask(tmp_path / "m.png", box((40, 30)))
    client = served.client()
    assert message in user_error(lambda: client.predict(editor_value(image, mask), **{**SMALL, **kwargs},
                                                        api_name="/inpaint"))


def test_every_request_has_a_time_limit(served, serve, tiny_checkpoints, tmp_path):
    assert 0 < Limits.from_env().seconds <= 600
    params = Client(served.url, verbose=False).view_api(print_info=False, return_format="dict")
    names = {p["parameter_name"] for p in params["named_endpoints"]["/inpaint"]["parameters"]}
    assert not any("time" in n for n in names)  # not something a client can set
    strict = serve(tiny_checkpoints, limits=Limits(seconds=0.001))
    image = upload(tmp_path, "in.png", photo(40, 30))
    mask = save_mask(tmp_path / "m.png", box((40, 30)))
    result, _g, _r, status = strict.client().predict(editor_value(image, mask), iterations=Limits().iterations,
                                                     restarts=2, api_name="/inpaint")
    assert "Done in" in status and " 1 iterations" in status and "time limit of 0.001 s" in status, status
    assert Image.open(result).size == (40, 30)


def test_the_upload_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("INPAINT_MAX_FILE_SIZE", "2mb")
    try:
        importlib.reload(layout)  # read when the app starts
        assert layout.MAX_FILE_SIZE == "2mb"
    finally:
        monkeypatch.undo()
        importlib.reload(layout)
    assert layout.MAX_FILE_SIZE == os.environ.get("INPAINT_MAX_FILE_SIZE", "25mb")


# --- gradio's cache (temporary files) -----------------------------------------------------------

def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_temporary_files_are_deleted(serve, tiny_checkpoints, tmp_path, monkeypatch):
    frequency, age = layout.DELETE_CACHE
    assert 0 < frequency <= age <= 24 * 3600
    monkeypatch.setattr(layout, "DELETE_CACHE", (1, 1))
    s = serve(tiny_checkpoints, cache=True)
    client = s.client()
    image = upload(tmp_path, "in.png", photo(40, 30))
    mask = save_mask(tmp_path / "m.png", box((40, 30)))
    for seed in range(3):
        client.predict(editor_value(image, mask), seed=seed, **SMALL, api_name="/inpaint")
    made = files_in(s.cache)
    assert made, "the uploads and results are in gradio's cache"
    deadline = time.monotonic() + 15
    while files_in(s.cache) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert files_in(s.cache) == [], f"{len(files_in(s.cache))} of {len(made)} files are still there"


# --- Hub faults: the bundled models keep serving ----------------------------------------------

def fill(run, hub_repo: str = "", model: str = "tiny-rgb"):
    """Run the app's callback to the end; its final (result, gallery, raw, status)."""
    image = photo(40, 30)
    layer = np.zeros((30, 40, 4), np.uint8)
    layer[box((40, 30))] = (255, 0, 0, 255)
    value = {"background": image, "layers": [Image.fromarray(layer, "RGBA")], "composite": None}
    return list(run(value, model, hub_repo, **SMALL))[-1]


def assert_bundled_still_serves(run):
    result, _g, _r, status = fill(run)
    assert result.size == (40, 30) and status.startswith("Done in") and "tiny-rgb" in status


def spoil(fake_hub, saved_folder: Path, fault: str) -> None:
    """Make REPO on the fake Hub fail in one way."""
    files = {n: (saved_folder / n).read_bytes() for n in ("config.json", "model.safetensors", "README.md")}
    if fault == "corrupt":
        files["model.safetensors"] = files["model.safetensors"][:-100]
    elif fault == "mismatch":
        files["config.json"] = files["config.json"].replace(b'"ngf": 4', b'"ngf": 8')
    elif fault == "no-weights":
        del files["model.safetensors"]
    fake_hub.add_repo(REPO, files)
    if isinstance(fault, str) and fault.isdigit():
        fake_hub.fail(REPO, int(fault))
    elif fault == "truncated":
        fake_hub.fail(REPO, "truncated", files=["model.safetensors"])
    elif fault == "refused":
        fake_hub.env.point_at(closed_port_url())
    elif fault == "offline":
        fake_hub.env.offline()


HUB_FAULTS = {
    "404": "not found",
    "401": "needs a token",
    "403": "needs a token",
    "500": "server error (HTTP 500)",
    "refused": "cannot reach the Hub",
    "truncated": "cut off",
    "corrupt": "corrupt or truncated",
    "mismatch": "do not match",
    "no-weights": "has no model.safetensors",
    "offline": "HF_HUB_OFFLINE is set",
}


@pytest.mark.parametrize("fault", list(HUB_FAULTS))
def test_a_failing_hub_repo_leaves_the_bundled_models_serving(tiny_checkpoints, fake_hub, fault):
    spoil(fake_hub, Path(tiny_checkpoints["tiny-rgb"]), fault)
    calls = Callbacks(Service(tiny_checkpoints))
    run = calls.inpaint
    with pytest.raises(gr.Error) as info:
        fill(run, REPO)
    assert REPO in info.value.message and HUB_FAULTS[fault] in info.value.message, info.value.message
    assert info.value.title == "Model not available"
    summary, _card = calls.about("tiny-rgb", REPO)  # the Hub box's own check
    assert summary.startswith("⚠️") and REPO in summary
    assert_bundled_still_serves(run)


@pytest.mark.parametrize("fault", ["500", "refused", "timeout", "offline"])
def test_a_cached_hub_model_is_used_when_the_network_fails(tiny_checkpoints, fake_hub, fault):
    fake_hub.add_repo(REPO, tiny_checkpoints["tiny-rgb"])
    run = Callbacks(Service(tiny_checkpoints)).inpaint
    assert REPO in fill(run, REPO)[3]  # downloaded once, into the HF cache
    clear_cache()  # as after a restart of the app
    if fault == "timeout":
        fake_hub.fail(REPO, "timeout")
        fake_hub.env.timeouts(0.2)
    elif fault == "500":
        fake_hub.fail(REPO, 500)
    elif fault == "refused":
        fake_hub.env.point_at(closed_port_url())
    else:
        fake_hub.env.offline()
    result, _g, _r, status = fill(run, REPO)
    assert result.size == (40, 30) and f"Model {REPO}" in status


# --- a measurement, not a test: how many users one CPU machine serves --------------------------

@pytest.mark.skipif(not os.environ.get("INPAINT_MEASURE"), reason="a measurement that takes minutes: "
                    "INPAINT_MEASURE=1 pytest tests/test_load.py -k capacity -s")
def test_capacity_at_default_settings(serve, tmp_path):
    """INPAINT_MEASURE_USERS (default 8) users send one example each at the same moment to the app on
    the bundled models at the default settings; prints what each waited and the throughput."""
    import json

    n = int(os.environ.get("INPAINT_MEASURE_USERS", "8"))
    models = layout.bundled_models()
    assert models, "needs the bundled checkpoints"
    examples = json.loads((layout.EXAMPLES / "examples.json").read_text())
    s = serve(models)
    clients = users(s, n)
    try:
        for name in models:
            group = [e for e in examples if e["model"] == name]
            paths = []
            for i, e in enumerate(group):
                image = Image.open(layout.EXAMPLES / e["image"]).convert("RGB")
                paths.append((upload(tmp_path, f"{name}-{i}.png", image),
                               save_mask(tmp_path / f"{name}-{i}-mask.png", inpaint.preset(e["hole"], image.size))))
            clients[0].predict(editor_value(*paths[0]), model=name, api_name="/inpaint")  # warm up
            started = time.monotonic()
            jobs = [c.submit(editor_value(*paths[i % len(paths)]), model=name, api_name="/inpaint")
                    for i, c in enumerate(clients)]
            waits = []
            for job in jobs:
                job.result(timeout=600)
                waits.append(time.monotonic() - started)
            statuses = [job.outputs()[-1][3] for job in jobs]
            each = [float(st.split("Done in ")[1].split(" s")[0]) for st in statuses]
            wall = time.monotonic() - started
            d = inpaint.Settings()
            print(f"\n{name}: {n} users at once, defaults ({d.iterations} iterations at most, {d.restarts} restarts): "
                  f"a completion {np.median(each):.2f} s (median; min {min(each):.2f}, max {max(each):.2f}); "
                  f"all {n} answered in {wall:.1f} s, {n / wall * 60:.0f} completions a minute; "
                  f"the last user waited {max(waits):.1f} s ({os.cpu_count()} CPUs, torch threads "
                  f"{__import__('torch').get_num_threads()})")
    finally:
        leave(clients)
        s.demo.close()
