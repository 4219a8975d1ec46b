"""Load a DCGAN checkpoint from a local folder or a Hugging Face Hub repo.

A checkpoint is a folder (or a Hub repo) holding `config.json` (the `DCGAN` keyword
arguments), `model.safetensors` (the full state dict, floats stored in fp16, D's in int8:
`inpaint.weights`) and, optionally,
`README.md` (the model card). `load_model` returns the model in eval mode, frozen, in fp32.

Hub downloads go through `huggingface_hub.hf_hub_download` into the normal HF cache, so
`HF_ENDPOINT`, `HF_TOKEN`, `HF_HOME`/`HF_HUB_CACHE` and `HF_HUB_OFFLINE` work as usual (note
that huggingface_hub reads most of them once, when it is imported). Since anyone can name any
repo, nothing large is fetched blindly: config.json is fetched and checked first, and each
file's size is asked of the Hub before its bytes are (weights over INPAINT_MAX_WEIGHTS_MB,
default 200, are refused). Every failure is a `ModelLoadError` whose message names the source
and the cause.

The Hub's community DCGANs load too (the layout of the Hugging Face GAN sprint,
huggingface/community-events `huggan/pytorch/dcgan`): config.json holds `num_channels`,
`latent_dim` and `hidden_size`, the weights (`model.safetensors`, or `pytorch_model.bin`, read
with `weights_only=True`) are a generator alone whose `model` is the same stack of layers as
ours. The widths are read from the tensors' shapes; with no discriminator, such a model
completes by the contextual loss alone.

Companions. Networks that serve a prior (the search's latent encoder, a context encoder) live in
subfolders of its checkpoint, each a checkpoint of its own: `<checkpoint>/<name>/config.json`
(the network's keyword arguments), `model.safetensors` and, optionally, `README.md`; on the Hub,
the same subfolder of the repo at the commit the prior came from. `load_companion` reads one
(safely, with the same size limits) or answers None when the checkpoint has none; `load_model`
attaches the latent encoder, if any, as `model.encoder`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .device import pick_device
from .errors import ModelLoadError
from .models import DCGAN
from .weights import loaded

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "CARD_NAME", "ENCODER_NAME", "load_model", "load_companion",
           "is_downloaded", "clear_cache"]

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
COMMUNITY_KEYS = {"num_channels", "latent_dim", "hidden_size"}  # config.json of a community (huggan) DCGAN
COMMUNITY_WEIGHTS = (WEIGHTS_NAME, "pytorch_model.bin")           # its weights, in this order of preference
# the bundled DCGANs' weights are 2-15 MB; a repo that needs hundreds is not one of ours
DEFAULT_MAX_WEIGHTS_MB = 200
MAX_TEXT_BYTES = 1 << 20  # config.json is a few hundred bytes, a model card a few kB
ENCODER_NAME = "encoder"  # the subfolder of a checkpoint that holds its latent encoder (inpaint.encoder)

_COMMIT = re.compile(r"[0-9a-f]{40}")
# The DCGAN keyword arguments a config.json may hold, with their defaults (which give the types).
_CONFIG_FIELDS = {
    name: p.default for name, p in inspect.signature(DCGAN.__init__).parameters.items() if name != "self"
}

_cache: dict[tuple, DCGAN] = {}
_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}
_companion_lock = threading.Lock()  # one companion load at a time (they are small)


def load_model(
    source: str | os.PathLike,
    *,
    device: torch.device | str | None = None,
    revision: str | None = None,
    token: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    allow_local: bool = True,
) -> DCGAN:
    """A `DCGAN` from a checkpoint folder or a Hub repo id, ready for inference.

    `source`: an existing folder, or a Hub repo id `user/name` with an optional `@revision`
    (a branch, tag or commit sha; `revision=` says the same). `device`: where to put the
    model (default None or "auto": CUDA when present, else the CPU; or "cpu", "cuda:1").
    `token` and `cache_dir` are passed to huggingface_hub (by default it uses `HF_TOKEN` and
    the normal HF cache). `allow_local=False` takes Hub repo ids only and never looks at this
    machine's disk (for a source a stranger typed); any other text is refused alike, so the
    answer does not tell whether such a path exists.

    The model is in eval mode with `requires_grad` off, in fp32. It is loaded once per
    (source, revision, device) in this process and then shared: do not modify it in place
    (see `clear_cache`). Raises `ModelLoadError` for anything that goes wrong.
    """
    spec = _parse_source(source, revision, allow_local)
    dev = _resolve_device(device, spec)
    key = (*spec.key(), str(dev))
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            return model
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:  # one load per key at a time; others wait for it and share the result
        with _cache_lock:
            model = _cache.get(key)
        if model is None:
            model = _load(spec, dev, token, cache_dir)
            with _cache_lock:
                _cache[key] = model
    return model


def is_downloaded(source: str | os.PathLike, *, revision: str | None = None,
                  cache_dir: str | os.PathLike | None = None, allow_local: bool = True) -> bool:
    """True when `load_model(source)` downloads nothing: `source` is a local folder, or a Hub
    repo already loaded in this process or whose config.json and model.safetensors are in the
    HF cache, and so is its warm-start encoder (`ENCODER_NAME`/, which `load_model` attaches) or
    the cache's note that the repo has none. (Loading a cached Hub repo still asks the Hub
    whether its branch has moved.) Raises `ModelLoadError` for a source `load_model` would
    refuse as written."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.file_download import _CACHED_NO_EXIST

    spec = _parse_source(source, revision, allow_local)
    if spec.folder is not None:
        return True
    key = spec.key()
    with _cache_lock:
        if any(k[:len(key)] == key for k in _cache):
            return True

    def cached(name: str):  # a path, _CACHED_NO_EXIST (a 404 remembered) or None (never asked)
        return try_to_load_from_cache(spec.repo_id, name, cache_dir=cache_dir, revision=spec.revision)

    encoder = cached(f"{ENCODER_NAME}/{CONFIG_NAME}")
    return (all(isinstance(cached(name), str) for name in (CONFIG_NAME, WEIGHTS_NAME))
            and (encoder is _CACHED_NO_EXIST
                 or isinstance(encoder, str) and isinstance(cached(f"{ENCODER_NAME}/{WEIGHTS_NAME}"), str)))


def clear_cache() -> None:
    """Forget the models `load_model` has loaded in this process (the HF disk cache stays)."""
    with _cache_lock:
        _cache.clear()
        _key_locks.clear()


# --- where the checkpoint comes from ---------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    label: str  # what to call it in messages: "model folder 'x'" or "Hub repo 'user/name'"
    name: str  # what the user gave: the folder, or "user/name[@revision]"
    folder: Path | None = None  # a local folder, or
    repo_id: str | None = None  # a Hub repo id
    revision: str | None = None
    allow_local: bool = True  # False: the disk was not looked at, so messages say nothing of folders

    def key(self) -> tuple:
        if self.folder is not None:
            folder = self.folder.resolve()
            return ("local", str(folder), _stamp(folder))  # a re-exported folder is loaded again
        from huggingface_hub import constants

        return ("hub", constants.ENDPOINT, self.repo_id, self.revision or "main")


def _stamp(folder: Path) -> tuple:
    stamp = []
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        try:
            st = (folder / name).stat()
            stamp.append((st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def _parse_source(source, revision: str | None, allow_local: bool = True) -> _Source:
    if not allow_local:
        if not isinstance(source, str) or not source.strip():
            raise _not_a_repo_id(source)
    elif isinstance(source, os.PathLike):
        folder = Path(source).expanduser()
        if revision is not None:
            raise ModelLoadError(f"model '{folder}': a revision only applies to Hub repos, not to a local folder",
                                 source=str(folder))
        return _Source(label=f"model folder '{folder}'", name=str(folder), folder=folder)
    elif not isinstance(source, str):
        raise ModelLoadError(f"the model source must be a folder or a Hub repo id like 'user/name', "
                             f"got {type(source).__name__}")
    text = source.strip()
    if allow_local:
        if not text:
            raise ModelLoadError("no model given: name a checkpoint folder or a Hub repo id like 'user/name'")
        path = Path(text).expanduser()
        if path.exists():
            if revision is not None:
                raise ModelLoadError(f"model '{text}': a revision only applies to Hub repos, not to a local "
                                     f"folder", source=text)
            return _Source(label=f"model folder '{text}'", name=text, folder=path)

    repo_id, at, rev = text.partition("@")
    if at:
        if not rev:
            raise ModelLoadError(f"model '{text}': nothing after '@'; write 'user/name@revision'", source=text)
        if revision is not None and revision != rev:
            raise ModelLoadError(f"model '{text}' names revision '{rev}' but revision='{revision}' was also given",
                                 source=text)
        revision = rev
    if _looks_like_repo_id(repo_id):
        name = repo_id if revision is None else f"{repo_id}@{revision}"
        return _Source(label=f"Hub repo '{repo_id}'", name=name, repo_id=repo_id, revision=revision,
                       allow_local=allow_local)
    if not allow_local:
        raise _not_a_repo_id(text)
    hint = "" if os.path.isabs(text) or text.startswith((".", "~")) else " (nor a Hub repo id like 'user/name')"
    raise ModelLoadError(f"model folder '{text}' does not exist{hint}", source=text)


def _not_a_repo_id(source) -> ModelLoadError:
    # one sentence for every path, so that it tells nothing about this machine's disk
    text = str(source).strip()
    return ModelLoadError(f"'{text}' is not a Hub repo id: give one like 'user/name' or 'user/name@revision' "
                          f"(local folders are not accepted here)", source=text)


def _looks_like_repo_id(text: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if text.count("/") != 1 or text.startswith((".", "~")) or text.endswith("/"):
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def _resolve_device(device, spec: _Source) -> torch.device:
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return pick_device()  # CUDA when present, else the CPU
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ModelLoadError(f"cannot load {spec.label}: unknown device {device!r} (use 'cpu', 'cuda', "
                             f"'cuda:1' or 'auto')", source=spec.name) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"cannot load {spec.label} on {dev}: this machine (or this PyTorch build) has no "
                             f"CUDA; use device='cpu' or 'auto'", source=spec.name)
    return dev


# --- loading ------------------------------------------------------------------------------------


def _load(spec: _Source, device: torch.device, token, cache_dir) -> DCGAN:
    if spec.folder is not None:
        folder = _checkpoint_folder(spec)
    else:
        folder = _fetch(spec, CONFIG_NAME, spec.revision, MAX_TEXT_BYTES, token, cache_dir).parent
    config = _read_json(folder / CONFIG_NAME, spec)
    if config and set(config) <= COMMUNITY_KEYS:
        model = _community(config, folder, spec, token, cache_dir)
    else:
        config = _check_config(config, spec)
        model = _skeleton(config, spec)  # a bad config is refused before any weights are downloaded
        if spec.repo_id is not None:
            _download_weights_and_card(spec, folder, token, cache_dir)
        model = _fill(model, _read_weights(folder / WEIGHTS_NAME, spec), config, spec)
    try:
        model = model.to(device)
    except (RuntimeError, AssertionError) as err:
        raise ModelLoadError(f"cannot put {spec.label} on {device}: {err}", source=spec.name) from err
    model.source = spec.name  # what it was loaded from, for display
    model.checkpoint_dir = folder  # config.json, model.safetensors and (if any) README.md
    # where its companions are: the same folder, or the same repo at the commit the prior came from
    model.hub_origin = _Origin(spec, folder.name if _COMMIT.fullmatch(folder.name) else spec.revision,
                               token, cache_dir) if spec.repo_id is not None else None
    from .encoder import LatentEncoder, attach

    attach(model, load_companion(model, ENCODER_NAME, LatentEncoder))
    return model


def _checkpoint_folder(spec: _Source) -> Path:
    folder = spec.folder
    if not folder.exists():
        raise ModelLoadError(f"{spec.label} does not exist", source=spec.name)
    if not folder.is_dir():
        raise ModelLoadError(f"{spec.label} is a file, not a folder: give the folder that holds "
                             f"{CONFIG_NAME} and {WEIGHTS_NAME}", source=spec.name)
    missing = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / name).is_file()
               and not (name == WEIGHTS_NAME and any((folder / w).is_file() for w in COMMUNITY_WEIGHTS))]
    if missing:
        raise ModelLoadError(f"{spec.label} is not a checkpoint: it lacks {' and '.join(missing)}",
                             source=spec.name)
    return folder


def _skeleton(config: dict, spec: _Source) -> DCGAN:
    """The DCGAN that config.json describes, on the meta device (no memory, no init)."""
    try:
        with torch.device("meta"):
            return DCGAN(**config)
    except (ValueError, TypeError) as err:
        raise ModelLoadError(f"{CONFIG_NAME} of {spec.label} is invalid: {err}", source=spec.name) from err


def _fill(model: DCGAN, state: dict[str, torch.Tensor], config: dict, spec: _Source) -> DCGAN:
    """The skeleton with these weights: a frozen fp32 DCGAN on the CPU."""
    expected = model.state_dict()
    _check_weights(expected, state, config, spec)
    state = {k: v.to(dtype=expected[k].dtype, copy=True) for k, v in state.items()}  # fp16 -> fp32
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:  # _check_weights should have caught it; keep the promise anyway
        raise ModelLoadError(f"the weights of {spec.label} do not fit its {CONFIG_NAME}: {err}",
                             source=spec.name) from err
    model.eval().requires_grad_(False)
    return model


def _read_json(path: Path, spec: _Source) -> dict:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{CONFIG_NAME} of {spec.label} is not valid JSON ({err.msg} at line {err.lineno}, "
                             f"column {err.colno})", source=spec.name) from err
    except UnicodeDecodeError as err:
        raise ModelLoadError(f"{CONFIG_NAME} of {spec.label} is not valid JSON (not UTF-8 text)",
                             source=spec.name) from err
    except OSError as err:
        raise ModelLoadError(f"cannot read {CONFIG_NAME} of {spec.label}: {err.strerror or err}",
                             source=spec.name) from err
    if not isinstance(config, dict):
        raise ModelLoadError(f"{CONFIG_NAME} of {spec.label} must hold a JSON object of model settings, "
                             f"got {type(config).__name__}", source=spec.name)
    return config


def _check_config(config: dict, spec: _Source) -> dict:
    unknown = sorted(set(config) - set(_CONFIG_FIELDS))
    if unknown:
        raise ModelLoadError(f"{CONFIG_NAME} of {spec.label} has unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"known keys: {', '.join(_CONFIG_FIELDS)}", source=spec.name)
    for key, value in config.items():
        kind = type(_CONFIG_FIELDS[key])
        if kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1 << 16
        else:
            ok = isinstance(value, kind)
        if not ok:
            want = "a positive whole number" if kind is int else "a string"
            raise ModelLoadError(f"{CONFIG_NAME} of {spec.label} is invalid: {key!r} must be {want}, got {value!r}",
                                 source=spec.name)
    return config


def _read_weights(path: Path, spec: _Source) -> dict[str, torch.Tensor]:
    """A safetensors file, or (a community checkpoint's) PyTorch file read with weights_only=True."""
    from safetensors.torch import load_file

    try:
        if path.suffix == ".bin":
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
                raise ValueError("it does not hold a state dict of tensors")
            return state
        return loaded(load_file(str(path)))  # int8 weights (inpaint.weights) come back as floats
    except OSError as err:
        raise ModelLoadError(f"cannot read {path.name} of {spec.label}: {err.strerror or err}",
                             source=spec.name) from err
    except Exception as err:  # SafetensorError, UnpicklingError and friends: truncated, wrong format, bad header
        hint = ("delete it from the HF cache to download it again" if "snapshots" in path.parts
                else "export or copy it again")
        raise ModelLoadError(f"{path.name} of {spec.label} is corrupt or truncated ({err}); {hint} ({path})",
                             source=spec.name) from err


def _community(raw: dict, folder: Path, spec: _Source, token, cache_dir) -> DCGAN:
    """A community (huggan) DCGAN generator as a DCGAN without D: its config checked, its weights
    fetched (safetensors preferred) and renamed, its widths read from the tensors' shapes."""
    for key, value in raw.items():
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1 << 16):
            raise ModelLoadError(f"{CONFIG_NAME} of {spec.label} is invalid: {key!r} must be a positive whole "
                                 f"number, got {value!r}", source=spec.name)
    if spec.repo_id is not None:
        path = _download_community_weights(spec, folder, token, cache_dir)
    else:
        path = next(folder / name for name in COMMUNITY_WEIGHTS if (folder / name).is_file())
    state = _read_weights(path, spec)
    other = sorted(k for k in state if not k.startswith("model."))
    convs = sorted((int(k.split(".")[1]), v) for k, v in state.items()
                   if k.startswith("model.") and k.endswith(".weight") and v.dim() == 4)
    if other or len(convs) < 2:
        why = f"unexpected keys {_some(other)}" if other else "no generator layers ('model.N.weight')"
        raise ModelLoadError(f"{path.name} of {spec.label} is not a community DCGAN generator: {why}", source=spec.name)
    first, last = convs[0][1], convs[-1][1]  # ConvTranspose2d weights: in x out x 4 x 4
    ngf = last.shape[0]
    config = {"resolution": 4 * 2 ** (len(convs) - 1), "channels": last.shape[1], "z_dim": first.shape[0],
              "ngf": ngf, "ndf": ngf, "prior": "gaussian", "dataset": spec.repo_id or folder.name,
              "discriminator": False}
    model = _skeleton(config, spec)
    return _fill(model, {"G.net." + k.removeprefix("model."): v for k, v in state.items()}, config, spec)


def _check_weights(expected: dict, state: dict, config: dict, spec: _Source) -> None:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} is {_shape(state[k])} in the file but {_shape(expected[k])} for the config"
              for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_some(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch: {_some(shapes, quote=False)}")
    if problems:
        settings = ", ".join(f"{k}={v}" for k, v in config.items() if k != "dataset")
        raise ModelLoadError(f"the weights in {WEIGHTS_NAME} of {spec.label} do not match its {CONFIG_NAME} "
                             f"({settings or 'defaults'}): {'; '.join(problems)}", source=spec.name)


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "a scalar"


def _some(items: list[str], n: int = 4, quote: bool = True) -> str:
    shown = [repr(i) if quote else i for i in items[:n]]
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(shown) + more


# --- companions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Origin:
    """Where a Hub model came from, for its companions: the same repo at the same commit."""

    spec: _Source
    revision: str | None  # the commit its config.json came from (or the revision as given)
    token: str | None = field(default=None, repr=False)
    cache_dir: str | os.PathLike | None = None


def load_companion(model: DCGAN, name: str, cls: type[nn.Module]) -> nn.Module | None:
    """The companion network `name` of a model `load_model` gave, or None when it has none.

    It is the checkpoint subfolder `name` (`config.json`: the keyword arguments of `cls`,
    `model.safetensors`: its state dict, fp16 or fp32; `README.md` optional), read from the
    model's folder, or from the same subfolder of its Hub repo at the commit the model was
    loaded from (a model from elsewhere, e.g. built in memory, has none). Returned on the
    model's device, in eval mode, frozen, in fp32; loaded once per model and name and then
    shared. A subfolder that is there but broken (a file missing, bad JSON, weights that do
    not fit the config, over INPAINT_MAX_WEIGHTS_MB) raises `ModelLoadError`; so does a Hub
    that fails. Offline, a companion that is not in the HF cache counts as absent.
    """
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"a companion's name is one folder name, got {name!r}")
    with _companion_lock:
        companions = model.__dict__.setdefault("_companions", {})
        if name not in companions:
            companions[name] = _companion(model, name, cls)
        return companions[name]


def _companion(model: DCGAN, name: str, cls: type[nn.Module]) -> nn.Module | None:
    origin, folder = getattr(model, "hub_origin", None), getattr(model, "checkpoint_dir", None)
    if origin is not None:
        spec = dataclasses.replace(origin.spec, label=f"the '{name}' companion of {origin.spec.label}")
        folder = _fetch_companion(spec, name, origin)
        if folder is None:
            return None
    elif folder is not None:
        folder = Path(folder) / name
        spec = _Source(label=f"the '{name}' companion of model folder '{model.checkpoint_dir}'",
                       name=str(getattr(model, "source", folder)), folder=folder)
        if not folder.is_dir():
            return None
        missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / n).is_file()]
        if missing:
            raise ModelLoadError(f"{spec.label} ({folder}) is not a checkpoint: it lacks {' and '.join(missing)}",
                                 source=spec.name)
    else:
        return None
    config = _read_json(folder / CONFIG_NAME, spec)
    try:
        with torch.device("meta"):  # no memory, no init: the weights come next
            companion = cls(**config)
    except Exception as err:  # noqa: BLE001 - any config a constructor refuses (TypeError, ValueError, ...)
        raise ModelLoadError(f"{CONFIG_NAME} of {spec.label} is invalid: {err}", source=spec.name) from err
    expected = companion.state_dict()
    state = _read_weights(folder / WEIGHTS_NAME, spec)
    _check_weights(expected, state, config, spec)
    state = {k: v.to(dtype=expected[k].dtype, copy=True) for k, v in state.items()}  # fp16 -> fp32
    companion.load_state_dict(state, strict=True, assign=True)
    try:
        companion = companion.to(next(model.parameters()).device)
    except (RuntimeError, AssertionError) as err:
        raise ModelLoadError(f"cannot put {spec.label} on the model's device: {err}", source=spec.name) from err
    companion.eval().requires_grad_(False)
    companion.checkpoint_dir = folder
    return companion


def _fetch_companion(spec: _Source, name: str, origin: _Origin) -> Path | None:
    """The companion's files fetched from the Hub (config, then weights and card, one commit), or None
    when the repo has no `name/config.json` there (a 404, or one the cache remembers)."""
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.errors import RemoteEntryNotFoundError
    from huggingface_hub.file_download import _CACHED_NO_EXIST

    config_file = f"{name}/{CONFIG_NAME}"
    cached = try_to_load_from_cache(spec.repo_id, config_file, cache_dir=origin.cache_dir,
                                    revision=origin.revision)
    if cached is _CACHED_NO_EXIST:  # asked before, at this commit: it has none
        return None
    try:
        config = _fetch(spec, config_file, origin.revision, MAX_TEXT_BYTES, origin.token, origin.cache_dir)
    except ModelLoadError as err:
        if isinstance(err.__cause__, RemoteEntryNotFoundError):
            return None
        if constants.is_offline_mode() and not isinstance(cached, str):
            log.warning("offline: %s is not in the HF cache, so the model goes without it", spec.label)
            return None
        raise
    folder = config.parent
    revision = folder.parent.name if _COMMIT.fullmatch(folder.parent.name) else origin.revision
    weights = _fetch(spec, f"{name}/{WEIGHTS_NAME}", revision, _max_weights_bytes(spec), origin.token,
                     origin.cache_dir)
    if weights.parent != folder:
        raise ModelLoadError(f"{spec.label}: {CONFIG_NAME} and {WEIGHTS_NAME} came from different commits; "
                             f"try again", source=spec.name)
    try:
        _fetch(spec, f"{name}/{CARD_NAME}", revision, MAX_TEXT_BYTES, origin.token, origin.cache_dir)
    except ModelLoadError as err:  # the card is optional
        log.info("no card for %s: %s", spec.label, err)
    return folder


# --- the Hub --------------------------------------------------------------------------------------


def _download_weights_and_card(spec: _Source, folder: Path, token, cache_dir) -> None:
    """Fetch model.safetensors and README.md (if any) into `folder`, the snapshot of the commit
    whose config.json was fetched."""
    # the rest from the config's commit, even if the branch moves meanwhile
    revision = folder.name if _COMMIT.fullmatch(folder.name) else spec.revision
    weights = _fetch(spec, WEIGHTS_NAME, revision, _max_weights_bytes(spec), token, cache_dir)
    if weights.parent != folder:  # not the case with the normal cache layout
        raise ModelLoadError(f"{spec.label}: {CONFIG_NAME} and {WEIGHTS_NAME} came from different commits; "
                             f"try again", source=spec.name)
    try:
        _fetch(spec, CARD_NAME, revision, MAX_TEXT_BYTES, token, cache_dir)
    except ModelLoadError as err:  # the card is optional
        log.info("no model card for %s: %s", spec.label, err)


def _download_community_weights(spec: _Source, folder: Path, token, cache_dir) -> Path:
    """The first of COMMUNITY_WEIGHTS the repo has (and its card, if any), from the config's commit."""
    from huggingface_hub.errors import RemoteEntryNotFoundError

    revision = folder.name if _COMMIT.fullmatch(folder.name) else spec.revision
    for name in COMMUNITY_WEIGHTS:
        try:
            path = _fetch(spec, name, revision, _max_weights_bytes(spec), token, cache_dir)
            break
        except ModelLoadError as err:
            if not isinstance(err.__cause__, RemoteEntryNotFoundError) or name == COMMUNITY_WEIGHTS[-1]:
                raise
    try:
        _fetch(spec, CARD_NAME, revision, MAX_TEXT_BYTES, token, cache_dir)
    except ModelLoadError as err:  # the card is optional
        log.info("no model card for %s: %s", spec.label, err)
    return path


def _fetch(spec: _Source, filename: str, revision: str | None, limit: int, token, cache_dir) -> Path:
    """Download one file of the repo into the HF cache (or find it there); one over `limit`
    bytes is refused from the size the Hub announces, before its bytes are asked for."""
    from huggingface_hub import hf_hub_download

    options = dict(token=token, cache_dir=cache_dir, library_name="gan-inpaint")
    try:
        plan = hf_hub_download(spec.repo_id, filename, revision=revision, dry_run=True, **options)
        if plan.will_download and plan.file_size is not None and plan.file_size > limit:
            raise ModelLoadError(f"{filename} of {spec.label} is {_megabytes(plan.file_size)}, over the limit of "
                                 f"{_megabytes(limit)} for a DCGAN checkpoint; it was not downloaded"
                                 + (" (INPAINT_MAX_WEIGHTS_MB sets the limit)" if filename == WEIGHTS_NAME else ""),
                                 source=spec.name)
        # `revision` as given, so that the cache notes which commit a branch or tag named (for offline
        # use); only config.json is fetched by a branch name, and the weights by the commit it came from
        return Path(hf_hub_download(spec.repo_id, filename, revision=revision, **options))
    except ModelLoadError:
        raise
    except Exception as err:
        raise _hub_error(err, spec, filename, token, cache_dir) from err


def _max_weights_bytes(spec: _Source) -> int:
    text = os.environ.get("INPAINT_MAX_WEIGHTS_MB", str(DEFAULT_MAX_WEIGHTS_MB))
    try:
        return int(float(text) * 1e6)
    except ValueError:
        raise ModelLoadError(f"cannot load {spec.label}: INPAINT_MAX_WEIGHTS_MB must be a number of megabytes, "
                             f"got {text!r}", source=spec.name) from None


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB".replace(".0 MB", " MB")


def _hub_error(err: Exception, spec: _Source, filename: str, token, cache_dir) -> ModelLoadError:
    """A ModelLoadError with a plain-words message for a failed hf_hub_download."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        FileMetadataError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo, rev = spec.repo_id, spec.revision
    where = f"Hub repo '{repo}'" + (f" at revision '{rev}'" if rev else "")
    endpoint = constants.ENDPOINT
    # a mistyped relative folder ("runs/mnist") looks like a repo id too
    no_folder = (f" (and there is no local folder '{repo}' either)" if filename == CONFIG_NAME and spec.allow_local
                 else "")
    has_token = bool(token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
                     or os.path.isfile(constants.HF_TOKEN_PATH))

    def make(message: str) -> ModelLoadError:
        return ModelLoadError(message, source=spec.name)

    def needs_token(status: int | None) -> ModelLoadError:
        code = f" (the Hub answered HTTP {status})" if status else ""
        if has_token:
            return make(f"{where} refused the token: the repo is gated or private and this token has no access "
                        f"to it; accept its terms on the Hub or set HF_TOKEN to a token that has access{code}")
        return make(f"{where} is gated or private and needs a token: set HF_TOKEN (or pass token=) to a "
                    f"Hugging Face token with access to it{code}")

    def from_http(e: HfHubHTTPError) -> ModelLoadError:
        status = e.response.status_code if e.response is not None else None
        if isinstance(e, RevisionNotFoundError):
            return make(f"revision '{rev or 'main'}' not found in Hub repo '{repo}' (check the branch, tag or "
                        f"commit after '@')")
        if isinstance(e, RemoteEntryNotFoundError):
            return make(f"{where} has no {filename}: a checkpoint needs {CONFIG_NAME} and {WEIGHTS_NAME}")
        if isinstance(e, GatedRepoError) or status in (401, 403):
            return needs_token(status)
        if isinstance(e, RepositoryNotFoundError) or status == 404:
            return make(f"Hub repo '{repo}' not found at {endpoint}{no_folder}: check the name; if it is private, "
                        f"set HF_TOKEN")
        if status == 429:
            return make(f"the Hub at {endpoint} is rate-limiting requests (HTTP 429) while fetching {filename} "
                        f"of {where}; wait a little and try again")
        if status is not None and status >= 500:
            return make(f"the Hub at {endpoint} had a server error (HTTP {status}) while fetching {filename} of "
                        f"{where}, and it is not in the cache; try again later")
        return make(f"the Hub at {endpoint} answered HTTP {status} while fetching {filename} of {where}")

    chain, seen, e = [], set(), err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__

    def first(kind):
        return next((x for x in chain if isinstance(x, kind)), None)

    if isinstance(err, HFValidationError):
        return make(f"'{repo}' is not a valid Hub repo id: {err}")
    if isinstance(err, HfHubHTTPError):
        return from_http(err)
    if first(OfflineModeIsEnabled) is not None or (isinstance(err, LocalEntryNotFoundError)
                                                   and constants.is_offline_mode()):
        cache = cache_dir or constants.HF_HUB_CACHE
        return make(f"HF_HUB_OFFLINE is set and {filename} of {where} is not in the cache ({cache}); "
                    f"download it once online or unset HF_HUB_OFFLINE{no_folder}")
    http_error = first(HfHubHTTPError)
    if http_error is not None:  # e.g. a 5xx, after retries, wrapped in LocalEntryNotFoundError
        return from_http(http_error)
    if first(httpx2.TimeoutException) is not None:
        return make(f"timed out talking to the Hub at {endpoint} while fetching {filename} of {where}, and it "
                    f"is not in the cache; check the network (HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT "
                    f"set the limits)")
    if first(httpx2.RemoteProtocolError) is not None or (
            isinstance(err, OSError) and "Consistency check failed" in str(err)):
        return make(f"the download of {filename} of {where} was cut off (the connection closed before the whole "
                    f"file arrived); try again")
    if first(httpx2.ConnectError) is not None or first(httpx2.NetworkError) is not None:
        return make(f"cannot reach the Hub at {endpoint} (no network, or connection refused) to fetch {filename} "
                    f"of {where}, and it is not in the cache{no_folder}")
    if first(FileMetadataError) is not None:
        return make(f"{endpoint} did not answer like a Hugging Face Hub while fetching {filename} of {where} "
                    f"(is HF_ENDPOINT right? a proxy in the way?): {err}")
    if isinstance(err, LocalEntryNotFoundError):
        return make(f"could not fetch {filename} of {where} from {endpoint}, and it is not in the cache: {err}")
    if isinstance(err, OSError):
        cache = cache_dir or constants.HF_HUB_CACHE
        return make(f"could not store {filename} of {where} in the cache {cache}: {err.strerror or err}")
    return make(f"could not download {filename} of {where}: {type(err).__name__}: {err}")
