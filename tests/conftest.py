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
