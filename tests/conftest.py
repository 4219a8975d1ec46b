"""Shared test fixtures."""

from __future__ import annotations

import pytest

try:  # tests/ as a package or as a plain folder on sys.path
    from tests.fake_hub import FakeHub, HubEnv
except ImportError:
    from fake_hub import FakeHub, HubEnv


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A `FakeHub` server with huggingface_hub pointed at it (HF_ENDPOINT) and at an empty
    cache under tmp_path (HF_HOME, HF_HUB_CACHE), no token and retries without sleeping.

    `fake_hub.env` (a `HubEnv`) switches offline mode, timeouts or the endpoint for the test.
    """
    from huggingface_hub.utils import close_session

    from inpaint.hub import clear_cache

    hub = FakeHub()
    hub.env = HubEnv(monkeypatch, tmp_path / "hf-home", hub.url)
    clear_cache()
    try:
        yield hub
    finally:
        clear_cache()
        close_session()  # drop keep-alive connections to this server
        hub.close()


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    """Two tiny untrained checkpoint folders, {"tiny-rgb": 16x16 colour, "tiny-grey": 16x16 greyscale},
    written by `train.export.export` (fast; for the app's tests)."""
    import torch

    from inpaint.models import DCGAN, weights_init
    from train.export import export

    root = tmp_path_factory.mktemp("tiny-checkpoints")
    folders = {}
    for name, channels in (("tiny-rgb", 3), ("tiny-grey", 1)):
        torch.manual_seed(0)
        model = DCGAN(resolution=16, channels=channels, z_dim=8, ngf=4, ndf=4, dataset=name)
        model.apply(weights_init)
        folders[name] = str(export(model, root / name))
    return folders


@pytest.fixture(scope="module")
def rgb(tiny_checkpoints):
    """The tiny colour model, loaded."""
    import inpaint

    return inpaint.load_model(tiny_checkpoints["tiny-rgb"])


@pytest.fixture(scope="module")
def grey(tiny_checkpoints):
    """The tiny greyscale model, loaded."""
    import inpaint

    return inpaint.load_model(tiny_checkpoints["tiny-grey"])


# --- the app, served ---------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A running app: its `demo`, `url`, gradio's cache folder (`cache`) and `client()`s."""

    def __init__(self, demo, cache, files):
        self.demo, self.cache, self.files = demo, cache, files

    @property
    def url(self) -> str:
        return self.demo.local_url

    def client(self):
        """A new user (a session of its own)."""
        from gradio_client import Client

        return Client(self.url, verbose=False, download_files=str(self.files / "downloads"))


class Servers:
    """Start the app with `servers(models, examples, limits=..., max_file_size=..., cache=...)`
    (arguments as `build_demo`'s; examples default to none, models to the bundled ones); every
    one is closed at the end. cache=True: gradio's cache in a folder of its own, `Served.cache`
    (GRADIO_TEMP_DIR stays set while they serve: gradio reads it at each request)."""

    def __init__(self, folder, monkeypatch):
        self.folder, self.mp, self.running = folder, monkeypatch, []

    def __call__(self, models=None, examples=(), *, limits=None, max_file_size=None, cache=False) -> Served:
        from ui import MAX_FILE_SIZE, build_demo

        files = self.folder / f"app-{len(self.running)}"
        files.mkdir(parents=True)
        if cache:
            cache = files / "cache"
            cache.mkdir()
            self.mp.setenv("GRADIO_TEMP_DIR", str(cache))
        demo = build_demo(models, None if examples is None else list(examples), limits=limits)
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                    max_file_size=max_file_size or MAX_FILE_SIZE)
        self.running.append(demo)
        return Served(demo, cache or None, files)

    def close(self) -> None:
        for demo in self.running:
            demo.close()


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """Start the app (see `Servers`) for one test."""
    servers = Servers(tmp_path, monkeypatch)
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="module")
def served(tiny_checkpoints, tmp_path_factory):
    """The app on the tiny checkpoints, no examples, default limits: one for a test module."""
    with pytest.MonkeyPatch.context() as mp:
        servers = Servers(tmp_path_factory.mktemp("served"), mp)
        try:
            yield servers(tiny_checkpoints, cache=True)
        finally:
            servers.close()


@pytest.fixture
def image_folder(tmp_path, monkeypatch):
    """A folder of 40 small non-square colour images (for `--dataset folder:PATH`), and an empty
    data cache under tmp_path (GAN_INPAINT_CACHE)."""
    import numpy as np
    from PIL import Image

    monkeypatch.setenv("GAN_INPAINT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        arr = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)  # not square: centre-cropped
        Image.fromarray(arr).resize((27, 18), Image.BICUBIC).save(folder / f"{i:03d}.png")
    return folder
