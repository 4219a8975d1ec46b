"""The packages' layering: the engine (`inpaint`) imports neither the trainer, the evaluation nor
the UI (nor gradio), and the trainer (`train`) imports neither the evaluation nor the UI. A Space
runs the engine under the UI, and the evaluation may use engine and trainer without a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"inpaint": {"train", "evaluation", "ui", "app", "gradio"}, "train": {"evaluation", "ui", "app", "gradio"},
             "evaluation": {"ui", "app", "gradio"}}
ENGINE_ENTRY_POINTS = ("inpaint", "inpaint.hub", "inpaint.complete", "inpaint.methods", "inpaint.__main__")


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a file, at any depth (function-level too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


def test_imported_packages_sees_every_kind_of_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os.path\nfrom . import x\n\ndef f():\n    from train.loop import train\n"
                      "    import evaluation as e\n")
    assert imported_packages(source) == {(1, "os"), (5, "train"), (6, "evaluation")}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_source_file_imports_a_package_above_it(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}" for path in files
             for line, name in sorted(imported_packages(path)) if name in FORBIDDEN[package]]
    assert not wrong, "\n".join(wrong)


def test_importing_the_engine_loads_neither_the_trainer_nor_the_evaluation():
    code = ("import importlib, sys\n"
            f"for name in {ENGINE_ENTRY_POINTS!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('train', 'evaluation', 'ui', 'gradio')))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
