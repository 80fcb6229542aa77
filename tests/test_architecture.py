"""The import rules of docs/architecture.md (contracts in pyproject.toml), checked by import-linter.

`export/` installs as `dcmh_tf.export` (setup.py's package_dir), which import-linter cannot see in the
repository's own layout, so the check runs over a copy of the tree laid out as installed. The tests
that add a forbidden import to such a copy show that the check can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def installed_layout(tmp_path: Path) -> Path:
    """A copy of dcmh_tf/ with export/ inside it, and the contracts beside it."""
    shutil.copytree(ROOT / "dcmh_tf", tmp_path / "dcmh_tf", ignore=shutil.ignore_patterns("__pycache__", "export"))
    shutil.copytree(ROOT / "export", tmp_path / "dcmh_tf" / "export", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(tree: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=environment, capture_output=True, text=True,
                          timeout=120)


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_keeps_every_import_contract(tmp_path):
    result = lint(installed_layout(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_the_check_sees_export_inside_the_package(tmp_path):
    tree = installed_layout(tmp_path)
    add_line(tree / "dcmh_tf" / "export" / "heads.py", "import dcmh_tf.cli.fit")  # export reaching up into the CLI
    result = lint(tree)
    assert result.returncode == 1
    assert "dcmh_tf.export.heads -> dcmh_tf.cli.fit" in result.stdout


@pytest.mark.parametrize("module, line, contract", [
    # the encoders reaching into a file reader: the arrow the layout issue removed
    ("models/layers.py", "from dcmh_tf.data.features import read_features", "Stages import only the stages below"),
    # a stage importing one above it, even inside a function
    ("evaluation/metrics.py", "def late():\n    from dcmh_tf.training.trainer import fit", "Stages import only"),
    # the circle data/images <-> data/readers, back again
    ("data/readers.py", "from dcmh_tf.data.images import PixelStack", "No import circles"),
    # the project importing a public re-export instead of the real module
    ("retrieval/searcher.py", "from dcmh_tf.metrics import mean_average_precision", "public re-exports"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, contract):
    tree = installed_layout(tmp_path)
    add_line(tree / "dcmh_tf" / module, line)
    result = lint(tree)
    assert result.returncode == 1, result.stdout
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout
