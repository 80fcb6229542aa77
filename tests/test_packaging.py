"""Packaging: one TensorFlow in the environment; the package leaves the choice of TensorFlow to an extra;
the wheel carries the compiled evaluation kernel, and builds without it where there is no C compiler."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from check_install import TENSORFLOW_DISTRIBUTIONS, installed, normalise  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_the_environment_holds_exactly_one_tensorflow_distribution():
    """After `pip install -r requirements.txt -e .` (README, CI) tensorflow-cpu alone ships the module:
    a second TensorFlow distribution would have overwritten its files."""
    found = installed()
    assert len(found) == 1, f"distributions shipping tensorflow/__init__.py: {found}"


def test_tensorflow_is_required_only_through_an_extra():
    requirements = [Requirement(text) for text in metadata.requires("dcmh-tf")]
    tensorflow = [r for r in requirements if normalise(r.name) in TENSORFLOW_DISTRIBUTIONS]
    # every TensorFlow requirement sits behind an extra, so pip never adds one beside an existing one
    assert tensorflow and all(r.marker is not None and "extra" in str(r.marker) for r in tensorflow)
    gpu = [r for r in tensorflow if r.marker.evaluate({"extra": "and-cuda"})]
    assert [(r.name, r.extras) for r in gpu] == [("tensorflow", {"and-cuda"})]
    cpu = [r.name for r in tensorflow if r.marker.evaluate({"extra": "cpu", "platform_machine": "x86_64"})]
    assert cpu == ["tensorflow-cpu"]
    assert not [r for r in tensorflow if r.marker.evaluate({"extra": ""})]
    pinned = (Path(__file__).resolve().parents[1] / "requirements.txt").read_text().splitlines()
    assert [line.split("==")[0] for line in pinned if normalise(line.split("==")[0]) in TENSORFLOW_DISTRIBUTIONS] == [
        "tensorflow-cpu"]


def _wheel_files(tmp_path, environment) -> list[str]:
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "source"
    # a copy of the tracked files (and the kernel's source), so that the build leaves the checkout alone
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked + ["dcmh_tf/evaluation/_bucket_kernel.pyx"]:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    # this environment's setuptools and Cython (requirements.txt), no index: the tests run without a network
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                           str(source), "-w", str(tmp_path / "wheel")],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **environment})
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_the_wheel_carries_the_compiled_evaluation_kernel(tmp_path):
    files = _wheel_files(tmp_path, {})
    assert any(name.startswith("dcmh_tf/evaluation/_bucket_kernel.") and name.endswith(".so") for name in files)
    assert "dcmh_tf/export/onnx.py" in files and "dcmh_tf/retrieval/serve_page.html" in files


def test_without_a_c_compiler_the_package_still_builds_without_the_kernel(tmp_path):
    # the extension is optional: evaluation then uses the NumPy engine (tests/test_metrics.py)
    files = _wheel_files(tmp_path, {"CC": "false", "LDSHARED": "false"})
    assert "dcmh_tf/evaluation/bucket_ranking.py" in files
    assert not any("_bucket_kernel" in name and name.endswith(".so") for name in files)
