"""Packaging: one TensorFlow in the environment; the package leaves the choice of TensorFlow to an extra."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from check_install import TENSORFLOW_DISTRIBUTIONS, installed, normalise  # noqa: E402


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
