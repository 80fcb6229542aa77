"""`dcmh-tf datasets info` and `dcmh-tf fit --dataset ...` on small files in the real formats."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from dcmh_tf.cli import main
from dcmh_tf.data.images import to_matlab_layout
from dcmh_tf.data.matfile import write_mat_v73

TINY = ["--bits", "8", "--hidden", "32", "--epochs", "1", "--batch-size", "8", "--no-jit", "--no-progress"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def flickr(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, 24)]
    labels[:2] = 0  # two items without any label
    write_mat_v73(tmp_path / "FLICKR-25K.mat", {
        "images": to_matlab_layout(rng.integers(0, 256, (24, 8, 8, 3), dtype=np.uint8)),
        "YAll": (rng.random((24, 10)) < 0.3).astype(np.uint8), "LAll": labels})
    return tmp_path / "FLICKR-25K.mat"


@pytest.fixture
def features(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "features.npz"
    np.savez(path, I_tr=rng.random((20, 6)), T_tr=rng.random((20, 5)), L_tr=rng.integers(0, 3, 20),
             I_te=rng.random((6, 6)), T_te=rng.random((6, 5)), L_te=rng.integers(0, 3, 6))
    return path


def test_info_on_a_release(runner, flickr):
    result = runner.invoke(main, ["datasets", "info", str(flickr)])
    assert result.exit_code == 0, result.output
    assert f"{flickr}: mirflickr25k" in result.output
    assert "pairs            24" in result.output and "images           8×8×3 pixels" in result.output
    assert "labels           4 (0 to 1 per item, mean 0.917)" in result.output
    assert "without label    2 items" in result.output
    assert "2 of 24 items have no label" in result.stderr
    # the protocol's 2000 + 10000 do not fit into 24 pairs
    assert "Warning: the protocol's 2000 queries + 10000 training pairs exceed 24 pairs" in result.stderr
    assert "split (protocol)" not in result.output and "split            protocol" in result.output  # no negative sizes


def test_info_json_on_features(runner, features):
    result = runner.invoke(main, ["datasets", "info", str(features), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert (info["dataset"], info["pairs"], info["image_shape"], info["text_dim"], info["labels"]) == (
        "features", 26, [6], 5, 3)
    assert info["split"] == {"source": "file", "query": 6, "database": 20, "train": 20}


@pytest.mark.parametrize("content, message", [
    (None, "data.mat: no such file"),
    (b"plain text", "not a MATLAB .mat, HDF5 or .npz file"),
])
def test_info_on_bad_paths_exits_1(runner, tmp_path, content, message):
    path = tmp_path / "data.mat"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(main, ["datasets", "info", str(path), "--dataset", "features"])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_fit_on_features_implies_the_mlp_and_keeps_the_file_split(runner, features, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(main, ["fit", "--dataset", "features", "--data-path", str(features), "--output", str(run),
                                  *TINY])
    assert result.exit_code == 0, result.output
    assert "MAP I→T" in result.output and "MAP T→I" in result.output
    config = json.loads((run / "config.json").read_text())
    assert config["image_encoder"] == "mlp" and config["lr"] == 1e-3  # the wiki preset
    assert json.loads((run / "inputs.json").read_text())["image_dim"] == 6
    split = np.load(run / "split.npz")
    assert split["query"].tolist() == list(range(20, 26)) and len(split["train"]) == 20
    result = runner.invoke(main, ["evaluate", str(run), "--json"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args, code, message", [
    (["--dataset", "features", "--image-encoder", "cnnf"], 1, "use image_encoder 'mlp'"),
    (["--dataset", "mirflickr25k"], 2, "give its path with --data-path"),
    # a path that names nothing is a bad option, refused before TensorFlow's start-up
    (["--dataset", "nus-wide", "--data-path", "nowhere.mat"], 2, "nowhere.mat, which does not exist"),
])
def test_fit_refuses_bad_dataset_options(runner, args, code, message, tmp_path):
    result = runner.invoke(main, ["fit", *args, "--output", str(tmp_path / "run"), *TINY])
    assert result.exit_code == code and message in result.output and "Traceback" not in result.output


def test_fit_on_a_release_resizes_the_pictures(runner, flickr, tmp_path):
    result = runner.invoke(main, ["fit", "--dataset", "mirflickr25k", "--data-path", str(flickr), "--n-query", "6",
                                  "--n-train", "12", "--image-size", "64", "--flip", "--output", str(tmp_path / "run"),
                                  *TINY])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "inputs.json").read_text())["image_size"] == 64


def test_a_run_keeps_absolute_data_paths_so_later_commands_work_from_anywhere(runner, flickr, tmp_path, monkeypatch):
    monkeypatch.chdir(flickr.parent)
    result = runner.invoke(main, ["fit", "--dataset", "mirflickr25k", "--data-path", flickr.name, "--n-query", "6",
                                  "--n-train", "12", "--image-size", "64", "--output", str(tmp_path / "run"), *TINY])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data_path"] == str(flickr)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(main, ["evaluate", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    assert "\"map_i2t\"" in result.output
