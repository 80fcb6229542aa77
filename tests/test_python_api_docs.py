"""Every code block of docs/python-api.md, and the README's Python example, executed as written.

The blocks of a page run in order in one namespace, in a fresh folder. Blocks after a
`<!-- test: news -->` line need the real news collection (../shared/data/web_news): they run in a
test of their own, marked large, with the `dcmh-tf` lines of their bash blocks run as commands.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

import dcmh_tf
from dcmh_tf.config import IMAGE_ENCODERS
from tests.test_api import tiny_arrays

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python-api.md"
BLOCK = re.compile(r"(?:<!-- test: (?P<session>\w+) -->\n)?```(?P<language>python|bash)\n(?P<code>.*?)```", re.S)


def code_blocks(path: Path, session: str | None = None) -> list[tuple[str, str]]:
    """(language, code) of the page's python and bash blocks marked `session` (None: the unmarked ones)."""
    return [(match["language"], match["code"]) for match in BLOCK.finditer(path.read_text(encoding="utf-8"))
            if match["session"] == session]


def run_blocks(blocks, name: str, namespace: dict | None = None) -> dict:
    namespace = {"__name__": "__doc_example__"} if namespace is None else namespace
    for number, (language, code) in enumerate(blocks, 1):
        if language == "python":
            exec(compile(code, f"{name} block {number}", "exec"), namespace)  # noqa: S102  our own documentation
            continue
        for line in code.splitlines():
            if line.startswith("dcmh-tf "):
                subprocess.run(shlex.split(line.split("  #")[0]), check=True, timeout=900)
    return namespace


@pytest.fixture
def in_a_fresh_folder(tmp_path, monkeypatch):
    """The examples' relative paths (runs/, data/) in an empty folder; `dcmh-tf` there runs this tree."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return tmp_path


def test_the_page_has_the_examples_the_issue_asks_for():
    blocks = code_blocks(PAGE)
    python = "\n".join(code for language, code in blocks if language == "python")
    for call in ("dcmh_tf.DCMH(", ".fit(", ".encode_images(", ".encode_texts(", ".evaluate(", ".save(",
                 "DCMH.load(", ".index(", "tf.data.Dataset", "EarlyStopping"):
        assert call in python, call
    assert code_blocks(PAGE, "news"), "the news example is marked for its own test"


def test_every_example_of_the_python_api_page_runs(in_a_fresh_folder, capsys):
    namespace = run_blocks(code_blocks(PAGE), PAGE.name)
    output = capsys.readouterr().out
    assert "MAP I→T" in output
    # the errors block printed one house-style error per mistake
    assert output.count("DataError") == 3, output
    assert (in_a_fresh_folder / "runs" / "arrays16" / "config.json").is_file()
    assert namespace["demo"].run.epochs_done() == 2


@pytest.mark.large
def test_the_news_example_runs(shared_data, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "shared").symlink_to(shared_data.parent)  # ../shared/data/web_news from the working folder
    monkeypatch.chdir(work)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    namespace = run_blocks(code_blocks(PAGE, "news"), PAGE.name + " (news)")
    news = namespace["news"]
    assert news.tokenizer.mode == "characters"
    assert len(namespace["history"].history["val_map"]) == 3
    assert namespace["picture"].shape == (1, 32)


def test_the_readme_python_example_runs(in_a_fresh_folder):
    readme = ROOT / "README.md"
    blocks = [block for block in code_blocks(readme) if block[0] == "python"]
    assert len(blocks) == 1 and len(blocks[0][1].strip().splitlines()) == 5
    images, texts, labels = tiny_arrays(n=64, seed=3)
    namespace = run_blocks(blocks, readme.name, {"images": images, "texts": texts, "labels": labels})
    model = namespace["model"]
    assert model.config.image_encoder in IMAGE_ENCODERS and model.config.image_encoder != "mlp"
    # the default encoder (the collection preset's) round-trips through the saved run too
    loaded = dcmh_tf.DCMH.load(in_a_fresh_folder / "runs" / "mine")
    assert np.array_equal(loaded.encode_images(images), namespace["image_codes"])
