"""Publish the demo as a Hugging Face Space.

    python -m ui.publish OWNER/NAME [--private] [--token TOKEN] [--dry-run]

Creates the Space (sdk gradio) if it does not exist and uploads what it needs to run, the files
`SHIPPED` names, with `huggingface_hub`'s HTTP API: `git push` would be refused (the weights and
pictures are binary and this repo has no LFS). Files on the Space that are not shipped any more
are deleted, except the Hub's `.gitattributes`, so the Space holds this tree's app and nothing
else. The token comes from --token, else HF_TOKEN, else `hf auth login`; it needs write access.
--dry-run lists what would be uploaded, with sizes, and contacts nobody.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from inpaint.errors import InpaintError

from .layout import ROOT

# What the Space needs to run, and nothing else: the app, the UI and the engine, the bundled models
# (weights, config, card, pictures) and the examples. Globs relative to the repo root, as pathlib
# reads them: `*` stays within one folder, so a checkpoint's training/ state never matches.
SHIPPED = (
    "README.md",  # its YAML front matter is the Space's configuration
    "requirements.txt",
    "app.py",
    "ui/*.py",
    "inpaint/*.py",
    "checkpoints/*/config.json",
    "checkpoints/*/model.safetensors",
    "checkpoints/*/README.md",
    "checkpoints/*/*.png",
    # the companion networks inside a checkpoint (inpaint.hub.load_companion): the context encoder, the warm start
    *(f"checkpoints/*/{companion}/{name}" for companion in ("context-encoder", "encoder")
      for name in ("config.json", "model.safetensors", "README.md")),
    "checkpoints/*/context-encoder/*.png",
    "examples/examples.json",
    "examples/*/*.png",
)
SPACE_SDK = "gradio"
KEPT_ON_THE_SPACE = ".gitattributes"  # the Hub's own; upload_folder never deletes it
TOKEN_HELP = ("pass --token, set HF_TOKEN, or run `hf auth login` with a token that has write access "
              "(https://huggingface.co/settings/tokens)")


class PublishError(InpaintError):
    """The Space could not be published; the message says why and what to do."""


@dataclass(frozen=True)
class ShippedFile:
    path: str  # in the repo and on the Space, with "/"
    size: int  # bytes


def shipped_files(root: Path | None = None) -> list[ShippedFile]:
    """The files `SHIPPED` names under `root` (default: this checkout), sorted by path; refuses a
    pattern that matches nothing (a file the Space needs is missing) and a README.md without the
    Space's front matter."""
    root = root or ROOT
    found: dict[str, int] = {}
    for pattern in SHIPPED:
        matches = [p for p in root.glob(pattern) if p.is_file()]
        if not matches:
            raise PublishError(f"nothing in {root} matches '{pattern}', which the Space needs: run this in a "
                               f"complete checkout of the project")
        found.update((p.relative_to(root).as_posix(), p.stat().st_size) for p in matches)
    check_space_config((root / "README.md").read_text(encoding="utf-8"))
    return [ShippedFile(path, size) for path, size in sorted(found.items())]


def check_space_config(readme: str) -> dict:
    """The Space's configuration: README.md's YAML front matter, which must say `sdk: gradio`."""
    import yaml  # a dependency of huggingface_hub

    front, end = None, readme.find("\n---", 3)
    if readme.startswith("---") and end != -1:
        try:
            front = yaml.safe_load(readme[3:end])
        except yaml.YAMLError as e:
            raise PublishError(f"README.md's front matter (the Space's configuration) is not valid YAML: {e}") from e
    if not isinstance(front, dict) or front.get("sdk") != SPACE_SDK:
        raise PublishError(f"README.md must start with the Space's configuration, a YAML block between '---' "
                           f"lines that says 'sdk: {SPACE_SDK}'")
    return front


def publish(repo_id: str, *, token: str | None = None, private: bool = False, root: Path | None = None) -> str:
    """Create the Space `repo_id` if needed and upload the shipped files; returns the Space's URL.

    Raises PublishError (no token, a refused token, no network, ...) with a sentence to act on.
    """
    from huggingface_hub import HfApi, get_token

    root = root or ROOT
    files = shipped_files(root)
    token = token or get_token()
    if not token:
        raise PublishError(f"no Hugging Face token to publish {repo_id} with: {TOKEN_HELP}")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type="space", space_sdk=SPACE_SDK, private=private, exist_ok=True)
        # a copy, so the upload is one consistent snapshot and walks only what ships (not .venv)
        with tempfile.TemporaryDirectory(prefix="space-") as stage:
            for file in files:
                target = Path(stage, file.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / file.path, target)
            api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=stage, delete_patterns="*",
                              commit_message="Publish the demo with ui.publish")
    except Exception as e:  # noqa: BLE001 - each failure the user can act on gets its sentence
        error = hub_error(e, repo_id, api.endpoint)
        if error is None:
            raise
        raise error from e
    return str(url)


def hub_error(err: Exception, repo_id: str, endpoint: str) -> PublishError | None:
    """A PublishError that says in plain words why publishing `repo_id` failed; None for a bug."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    chain, e = [], err
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__

    def first(kind):
        return next((x for x in chain if isinstance(x, kind)), None)

    http = first(HfHubHTTPError)
    status = http.response.status_code if http is not None and http.response is not None else None
    said = getattr(http, "server_message", None) or ""
    said = f" (the Hub said: {said.strip()})" if said.strip() else ""
    if status == 401:
        return PublishError(f"the Hub at {endpoint} refused the token (HTTP 401): it is not a valid token; "
                            f"{TOKEN_HELP}{said}")
    if status == 403:
        return PublishError(f"the token may not write to the Space {repo_id} (HTTP 403): use a token with write "
                            f"access to the '{repo_id.split('/')[0]}' namespace{said}")
    if status == 402:
        return PublishError(f"the Hub wants payment to create the Space {repo_id} (HTTP 402){said}")
    if status is not None:
        kind = "a server error" if status >= 500 else "an error"
        return PublishError(f"the Hub at {endpoint} answered with {kind} (HTTP {status}) while publishing "
                            f"{repo_id}; try again later{said}")
    if first(httpx2.TimeoutException) is not None:
        return PublishError(f"timed out talking to the Hub at {endpoint}: check the network and try again")
    if first(httpx2.NetworkError) is not None or first(httpx2.ConnectError) is not None:
        return PublishError(f"cannot reach the Hub at {endpoint} (no network, or connection refused): nothing "
                            f"more was published; try again when online")
    if isinstance(err, HFValidationError):
        return PublishError(f"'{repo_id}' is not a valid Space name: {err}")
    if isinstance(err, ValueError) and "README.md" in str(err):  # the Hub's check of the front matter
        return PublishError(f"the Hub refused README.md's front matter (the Space's configuration): {err}")
    return None


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("repo_id", metavar="OWNER/NAME", help="the Space, e.g. alice/gan-inpainting")
    parser.add_argument("--private", action="store_true", help="create the Space private (an existing one keeps "
                                                               "its visibility)")
    parser.add_argument("--token", help="a Hugging Face token with write access (default: HF_TOKEN or the login)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded; upload nothing")
    args = parser.parse_args(argv)
    try:
        owner, _, name = args.repo_id.partition("/")
        if not owner or not name or "/" in name:
            raise PublishError(f"'{args.repo_id}' is not a Space name: give it as OWNER/NAME")
        if args.dry_run:
            files = shipped_files()
            for file in files:
                print(f"{_size(file.size):>10}  {file.path}")
            print(f"Would upload {len(files)} files ({_size(sum(f.size for f in files))}) to the Space "
                  f"{args.repo_id} and delete any other file there but {KEPT_ON_THE_SPACE}. Nothing was uploaded "
                  f"(--dry-run).")
            return 0
        url = publish(args.repo_id, token=args.token, private=args.private)
    except PublishError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Published to {url}: the Space builds and starts now; its logs are on that page.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
