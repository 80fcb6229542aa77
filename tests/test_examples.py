"""The scripts in examples/ run as a user runs them: a fresh process, a fresh folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, folder: Path, *args: str) -> str:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], cwd=folder, env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_every_example_has_a_test():
    assert sorted(path.name for path in (ROOT / "examples").glob("*.py")) == ["fit_arrays.py", "fit_tf_data.py"]


def test_fit_arrays_example(tmp_path):
    output = run_example("fit_arrays.py", tmp_path, "runs/mine")
    assert "held-out MAP I→T" in output and "nearest pictures of classes" in output
    assert (tmp_path / "runs" / "mine" / "arrays.npz").is_file()


def test_fit_tf_data_example(tmp_path):
    output = run_example("fit_tf_data.py", tmp_path)
    assert "vocabulary built from the training captions" in output and "'apple'" in output
    assert list((tmp_path / "logs" / "example-tf-data").rglob("events.out.tfevents*"))
