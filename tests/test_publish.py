"""`python -m ui.publish`: the Space lands on the (fake) Hub with exactly what it needs to run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import ui.publish as publish

try:  # tests/ as a package or as a plain folder on sys.path
    from tests.fake_hub import closed_port_url
except ImportError:
    from fake_hub import closed_port_url

PROJECT = Path(__file__).resolve().parent.parent
SPACE = "alice/gan-inpainting"
# each bundled model with the companions its checkpoint ships (emoji-faces-64 has no context encoder)
COMPANIONS = {"emoji-64": ("context-encoder", "encoder"), "emoji-faces-64": ("encoder",),
              "fashion-mnist-32": ("context-encoder", "encoder")}
MODELS = tuple(COMPANIONS)
EXAMPLES = 6  # per model
CLUTTER = (  # what a working checkout holds besides the app; none of it may reach the Space
    "tests/test_app.py", "train/__init__.py", "evaluation/__init__.py", "reports/results.md",
    "ui/__pycache__/layout.cpython-311.pyc", "inpaint/__pycache__/hub.cpython-311.pyc",
    "checkpoints/emoji-64/training/state.pt", "checkpoints/emoji-64/training/samples-000100.png",
    ".venv/lib/site.py", "runs/mnist/last.safetensors", ".pytest_cache/v/cache/nodeids", "pyproject.toml",
)


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    """A copy of this checkout's app, models and examples with the clutter of a working tree
    planted around them; ui.publish publishes it."""
    root = tmp_path / "checkout"
    for folder in ("ui", "inpaint", "checkpoints", "examples"):
        shutil.copytree(PROJECT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "training"))
    for name in ("app.py", "README.md", "requirements.txt"):
        shutil.copyfile(PROJECT / name, root / name)
    for name in CLUTTER:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"\0not for the Space")
    monkeypatch.setattr(publish, "ROOT", root)
    return root


def expected_files(root: Path) -> set[str]:
    """What the Space needs, spelled out apart from ui.publish's own list."""
    code = {f"{package}/{p.name}" for package in ("ui", "inpaint") for p in (root / package).glob("*.py")}
    models = {f"checkpoints/{m}/{name}" for m in MODELS
              for name in ("config.json", "model.safetensors", "README.md", "completions.png", "samples.png")}
    companions = {f"checkpoints/{m}/{companion}/{name}" for m in MODELS for companion in COMPANIONS[m]
                  for name in ("config.json", "model.safetensors", "README.md")}
    companions |= {f"checkpoints/{m}/context-encoder/completions.png" for m in MODELS
                   if "context-encoder" in COMPANIONS[m]}
    examples = {f"examples/{p.parent.name}/{p.name}" for m in MODELS for p in (root / "examples" / m).glob("*.png")}
    assert examples and {"ui/layout.py", "inpaint/hub.py"} <= code
    return {"app.py", "README.md", "requirements.txt", "examples/examples.json"} | code | models | companions | examples


@pytest.fixture(params=["xet", "lfs"])
def hub(request, fake_hub):
    """The fake Hub with the user alice (token hf_alice), reached the two ways huggingface_hub uploads:
    "xet": as installed (hf_xet present: the streamed pipeline; the fake answers "regular" for every
    file, having no Xet storage); "lfs": without hf_xet (LFS batch, PUT, verify, then the commit)."""
    fake_hub.add_user("alice", "hf_alice")
    fake_hub.add_user("bob", "hf_bob")
    fake_hub.lfs = request.param == "lfs"
    fake_hub.env.xet(request.param == "xet")
    return fake_hub


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = publish.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def lfs_puts(hub) -> list[str]:
    return [r.path for r in hub.requests if r.method == "PUT" and r.path.startswith("/lfs-upload/")]


def test_publish_lands_exactly_what_the_space_needs(hub, tree, capsys):
    code, out, err = run(capsys, SPACE, "--token", "hf_alice")
    assert code == 0, err
    assert f"{hub.url}/spaces/{SPACE}" in out
    landed = hub.files(SPACE, "space")
    assert set(landed) == expected_files(tree) | {".gitattributes"}  # the Hub's own stays
    # the examples; per model its samples and completions, and its context encoder's completions
    encoders = sum("context-encoder" in companions for companions in COMPANIONS.values())
    assert len([name for name in landed if name.endswith(".png")]) == (EXAMPLES + 2) * len(MODELS) + encoders
    for name, content in landed.items():
        if name != ".gitattributes":
            assert content == (tree / name).read_bytes(), name  # weights and pictures byte for byte
    assert not any(name.startswith(("tests/", "train/", "evaluation/", "reports/")) or "__pycache__" in name
                   or "/training/" in name for name in landed)
    readme = landed["README.md"].decode()
    config = yaml.safe_load(readme.split("---")[1])
    assert config["sdk"] == "gradio" and config["app_file"] == "app.py" and config["title"] == "GAN-prior inpainting"
    assert hub.settings(SPACE, "space") == {"type": "space", "sdk": "gradio", "private": False}
    weights = [landed[f"checkpoints/{m}/model.safetensors"] for m in MODELS]
    if hub.lfs:  # binary files went through LFS, each once
        assert len(lfs_puts(hub)) == sum(1 for content in landed.values() if b"\0" in content[:512])
    else:
        assert lfs_puts(hub) == [] and all(len(w) > 1_000_000 for w in weights)


def test_a_second_publish_changes_only_what_changed(hub, tree, capsys):
    assert run(capsys, SPACE, "--token", "hf_alice")[0] == 0
    pushes = len(hub.pushes)
    code, out, err = run(capsys, SPACE, "--token", "hf_alice")  # nothing changed: no commit at all
    assert code == 0 and "error" not in err and f"{hub.url}/spaces/{SPACE}" in out
    assert len(hub.pushes) == pushes

    gone = tree / "examples" / "emoji-faces-64" / "0-twemoji-unamused.png"
    gone.unlink()
    (tree / "app.py").write_text((tree / "app.py").read_text() + "\n# changed\n")
    assert run(capsys, SPACE, "--token", "hf_alice", "--private")[0] == 0  # visibility: only when creating
    assert len(hub.pushes) == pushes + 1
    assert set(hub.pushes[-1].paths) == {"app.py", "examples/emoji-faces-64/0-twemoji-unamused.png"}
    landed = hub.files(SPACE, "space")
    assert set(landed) == expected_files(tree) | {".gitattributes"}  # the stale example is deleted there
    assert landed["app.py"].endswith(b"# changed\n")
    assert hub.settings(SPACE, "space")["private"] is False


def test_private_space_and_the_token_from_hf_token(fake_hub, tree, capsys, monkeypatch):
    fake_hub.add_user("alice", "hf_alice")
    fake_hub.lfs = False
    monkeypatch.setenv("HF_TOKEN", "hf_alice")
    code, out, err = run(capsys, SPACE, "--private")
    assert code == 0, err
    assert fake_hub.settings(SPACE, "space")["private"] is True
    assert {r.authorization for r in fake_hub.requests if r.path.startswith("/api/spaces/")} == {"Bearer hf_alice"}


def test_dry_run_lists_what_ships_and_uploads_nothing(fake_hub, tree, capsys):
    code, out, err = run(capsys, SPACE, "--dry-run")  # no token needed
    assert code == 0 and err == ""
    assert fake_hub.requests == []
    listed = {line.split()[-1]: line for line in out.splitlines()[:-1]}
    assert set(listed) == expected_files(tree)
    size = (tree / "checkpoints/emoji-64/model.safetensors").stat().st_size
    assert f"{size / 1e6:.1f} MB" in listed["checkpoints/emoji-64/model.safetensors"]
    assert out.splitlines()[-1].startswith(f"Would upload {len(listed)} files (")
    assert "Nothing was uploaded" in out


@pytest.mark.parametrize("case, expected", [
    ("no token", "no Hugging Face token to publish alice/gan-inpainting with: pass --token, set HF_TOKEN"),
    ("wrong token", "refused the token (HTTP 401)"),
    ("another user's namespace", "may not write to the Space alice/gan-inpainting (HTTP 403)"),
    ("server error", "answered with a server error (HTTP 500)"),
    ("network down", "cannot reach the Hub at http://127.0.0.1:"),
    ("not OWNER/NAME", "'gan-inpainting' is not a Space name: give it as OWNER/NAME"),
])
def test_errors_end_in_one_sentence_and_exit_code_2(fake_hub, tree, capsys, case, expected):
    fake_hub.add_user("alice", "hf_alice")
    fake_hub.add_user("bob", "hf_bob")
    args = {"no token": [SPACE], "wrong token": [SPACE, "--token", "hf_wrong"],
            "another user's namespace": [SPACE, "--token", "hf_bob"],
            "not OWNER/NAME": ["gan-inpainting", "--token", "hf_alice"]}.get(case, [SPACE, "--token", "hf_alice"])
    if case == "server error":
        fake_hub.fail(SPACE, 500, repo_type="space")
    if case == "network down":
        fake_hub.env.point_at(closed_port_url())
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(KeyError):
        fake_hub.files(SPACE, "space")  # nothing landed


def test_a_missing_piece_or_a_readme_without_space_config_is_refused(tree, capsys):
    (tree / "README.md").write_text("# GAN-prior inpainting\n")
    code, _, err = run(capsys, SPACE, "--dry-run")
    assert code == 2 and "must start with the Space's configuration" in err and "sdk: gradio" in err
    shutil.rmtree(tree / "examples")
    assert "matches 'examples/examples.json'" in run(capsys, SPACE, "--dry-run")[2]
