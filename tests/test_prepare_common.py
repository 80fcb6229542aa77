"""Writing a prepared dataset: the resize, resumption after an interruption, unreadable pictures,
parallel workers, checksums, and `dcmh-tf datasets prepare`."""

import json
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from fake_releases import write_mirflickr
from PIL import Image

from dcmh_tf.cli import main
from dcmh_tf.data.matfile import open_array_file
from dcmh_tf.data.prepare import common
from dcmh_tf.data.prepare.mirflickr import read_mirflickr


@pytest.fixture
def raw(tmp_path):
    return write_mirflickr(tmp_path / "raw")


def selection_of(raw):
    return read_mirflickr(raw, min_count=2)  # 5 pairs


def arrays_of(folder):
    with open_array_file(folder / "FLICKR-25K.mat") as f:
        return {key: f.read(key) for key in ("images", "YAll", "LAll")}


def sha256sum_check(folder):
    return subprocess.run(["sha256sum", "-c", "FLICKR-25K.sha256"], cwd=folder, capture_output=True, text=True)


def test_the_whole_picture_is_resized_without_crop(tmp_path):
    picture = np.zeros((20, 40, 3), np.uint8)  # left half red, right half blue, twice as wide as high
    picture[:, :20, 0] = 255
    picture[:, 20:, 2] = 255
    Image.fromarray(picture).save(tmp_path / "p.png")
    resized = common.load_resized(tmp_path / "p.png", 8)
    assert resized.shape == (8, 8, 3) and resized.dtype == np.uint8
    np.testing.assert_array_equal(resized[:, :3], np.broadcast_to([255, 0, 0], (8, 3, 3)))  # both halves kept
    np.testing.assert_array_equal(resized[:, 5:], np.broadcast_to([0, 0, 255], (8, 3, 3)))


def test_an_interrupted_run_resumes_with_the_shards_left(raw, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    common.write_release(selection_of(raw), reference, image_size=16, workers=1, shard_size=2, progress=False)
    resized = []
    real_resize = common.resize_shard

    def resize_then_stop(paths, size, destination):
        if len(resized) == 1:
            (tmp_path / "out" / ".FLICKR-25K.parts" / "shard-00002.npz.tmp123").write_bytes(b"half written")
            raise KeyboardInterrupt
        resized.append(destination)
        real_resize(paths, size, destination)

    monkeypatch.setattr(common, "resize_shard", resize_then_stop)
    with pytest.raises(KeyboardInterrupt):
        common.write_release(selection_of(raw), tmp_path / "out", image_size=16, workers=1, shard_size=2,
                             progress=False)
    assert not (tmp_path / "out" / "FLICKR-25K.mat").exists()

    def count_resize(paths, size, destination):
        resized.append(destination)
        real_resize(paths, size, destination)

    monkeypatch.setattr(common, "resize_shard", count_resize)
    resized.clear()
    record = common.write_release(selection_of(raw), tmp_path / "out", image_size=16, workers=1, shard_size=2,
                                  progress=False)
    # 5 pictures in 3 shards, the first done before the interruption
    assert [name.rsplit("/", 1)[1] for name in resized] == ["shard-00001.npz", "shard-00002.npz"]
    assert record["pairs"] == 5 and not (tmp_path / "out" / ".FLICKR-25K.parts").exists()
    for key, value in arrays_of(reference).items():
        np.testing.assert_array_equal(arrays_of(tmp_path / "out")[key], value)

    resized.clear()
    again = common.write_release(selection_of(raw), tmp_path / "out", image_size=16, workers=1, shard_size=2,
                                 progress=False)
    assert resized == [] and again["resumed"] == "complete already: nothing done"
    # other options: made again from scratch
    again = common.write_release(selection_of(raw), tmp_path / "out", image_size=8, workers=1, shard_size=2,
                                 progress=False)
    assert len(resized) == 3 and "resumed" not in again
    assert arrays_of(tmp_path / "out")["images"].shape == (8, 8, 3, 5)  # as MATLAB sees it


@pytest.mark.parametrize("damage, reason", [
    (lambda data: b"\xff\xd8 not really a JPEG", "UnidentifiedImageError"),
    (lambda data: data[:len(data) // 2], "OSError: "),  # PIL: "Truncated File Read" or "image file is truncated"
])
def test_unreadable_pictures_are_skipped_and_reported(raw, tmp_path, capsys, damage, reason):
    picture = raw / "mirflickr" / "im3.jpg"
    picture.write_bytes(damage(picture.read_bytes()))
    record = common.write_release(selection_of(raw), tmp_path / "out", image_size=8, workers=1, progress=False)
    assert record["pairs"] == 4
    (entry,) = record["skipped"][common.UNREADABLE]["paths"]
    assert entry.startswith(f"{picture} ({reason}")
    assert f"1 {common.UNREADABLE}: {raw / 'mirflickr' / 'im3.jpg'}" in capsys.readouterr().err
    arrays = arrays_of(tmp_path / "out")
    assert arrays["images"].shape == (8, 8, 3, 4)  # as MATLAB sees it
    selection = selection_of(raw)  # rows of images 1, 2, 3, 5, 8: the third is left out
    np.testing.assert_array_equal(arrays["YAll"], selection.texts[[0, 1, 3, 4]])
    items = (tmp_path / "out" / "FLICKR-25K.items.txt").read_text().split()
    assert items == ["mirflickr/im1.jpg", "mirflickr/im2.jpg", "mirflickr/im5.jpg", "mirflickr/im8.jpg"]


def test_two_workers_write_what_one_writes_and_sha256sum_checks_it(raw, tmp_path):
    common.write_release(selection_of(raw), tmp_path / "one", image_size=8, workers=1, shard_size=2, progress=False)
    common.write_release(selection_of(raw), tmp_path / "two", image_size=8, workers=2, shard_size=2, progress=False)
    for key, value in arrays_of(tmp_path / "one").items():
        np.testing.assert_array_equal(arrays_of(tmp_path / "two")[key], value)
    listed = (tmp_path / "two" / "FLICKR-25K.sha256").read_text().splitlines()
    assert [line.split("  ")[1] for line in listed] == [
        "FLICKR-25K.mat", "FLICKR-25K.vocabulary.txt", "FLICKR-25K.labels.txt", "FLICKR-25K.items.txt",
        "FLICKR-25K.json"]
    check = sha256sum_check(tmp_path / "two")
    assert check.returncode == 0 and check.stdout.count(": OK") == 5
    (tmp_path / "two" / "FLICKR-25K.labels.txt").write_text("tampered\n")
    check = sha256sum_check(tmp_path / "two")
    assert check.returncode == 1 and "FLICKR-25K.labels.txt: FAILED" in check.stdout


def test_cli_prepares_and_says_how_to_train(raw, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["datasets", "prepare", "mirflickr25k", "--raw", str(raw), "--output", str(out),
                                       "--min-count", "2", "--image-size", "8", "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"{out}/FLICKR-25K.mat: 5 pairs, 8×8 pictures, 4-d texts, 24 labels" in result.stdout
    assert "skipped or irregular: 3" in result.stdout
    assert f"train: dcmh-tf fit --dataset mirflickr25k --data-path {out}/FLICKR-25K.mat" in result.stdout
    assert "1 tag files of images that do not exist (skipped)" in result.stderr
    assert json.loads((out / "FLICKR-25K.json").read_text())["protocol"]["min_count"] == 2


@pytest.mark.parametrize("arguments, code, message", [
    (["--concepts", "10"], 2, "--concepts applies to nus-wide, not mirflickr25k"),
    (["--words", "0"], 2, "Invalid value for '--words'"),
])
def test_cli_refuses_options_of_another_dataset(raw, tmp_path, arguments, code, message):
    result = CliRunner().invoke(main, ["datasets", "prepare", "mirflickr25k", "--raw", str(raw), "--output",
                                       str(tmp_path / "out"), *arguments])
    assert result.exit_code == code and message in result.output


def test_cli_reports_a_missing_release_without_traceback(tmp_path):
    result = CliRunner().invoke(main, ["datasets", "prepare", "iapr-tc12", "--raw", str(tmp_path / "nowhere"),
                                       "--output", str(tmp_path / "out")])
    assert result.exit_code == 1 and f"{tmp_path / 'nowhere'}: no such folder" in result.output
    assert "Traceback" not in result.output
