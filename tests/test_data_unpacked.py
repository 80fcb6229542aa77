"""The unpacked copy of a picture file: the same batches as the compressed file, refused when stale."""

import json
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from dcmh_tf.cli import main
from dcmh_tf.config import resolve_config
from dcmh_tf.data.images import open_pixel_stack, to_matlab_layout
from dcmh_tf.data.matfile import open_array_file, write_mat_v73
from dcmh_tf.data.pipeline import make_dataset
from dcmh_tf.data.unpacked import open_unpacked, sidecar_path, unpack_pixels
from dcmh_tf.errors import ConfigError, DataError

N = 40
TINY = ["--bits", "8", "--hidden", "32", "--epochs", "2", "--batch-size", "8", "--no-jit", "--no-progress"]


@pytest.fixture
def nuswide(tmp_path):
    """NUS-WIDE part files; the pictures (N, 12, 10, 3) in MATLAB's (H, W, 3, N), gzip-compressed."""
    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, (N, 12, 10, 3), dtype=np.uint8)
    write_mat_v73(tmp_path / "nus-wide-tc10-iall.mat", {"IAll": to_matlab_layout(pictures, "HW3N")})
    write_mat_v73(tmp_path / "nus-wide-tc10-yall.mat", {"YAll": (rng.random((N, 10)) < 0.3).astype(np.uint8)})
    write_mat_v73(tmp_path / "nus-wide-tc10-lall.mat", {"LAll": np.eye(4, dtype=np.uint8)[rng.integers(0, 4, N)]})
    return tmp_path / "nus-wide-tc10-iall.mat", pictures


def test_the_copy_gives_the_batches_of_the_compressed_file(nuswide, tmp_path):
    source, pictures = nuswide
    rows = np.arange(3, 37)
    order = np.random.default_rng(1).permutation(len(rows))
    with open_array_file(source) as file:
        stack = open_pixel_stack(file, "IAll", N, output_size=8)
        copy = unpack_pixels(stack, source, "IAll", tmp_path / "copy.npy")
        unpacked = open_unpacked(copy, stack, source)
        assert unpacked.shape == (N, 12, 10, 3) and unpacked.output_size == 8
        np.testing.assert_array_equal(np.load(copy), pictures)
        for parallel in (1, 2):
            batches = [make_dataset(s, rows, order, 5, flip_seed=(3, 0), parallel_reads=parallel)
                       for s in (stack, unpacked)]
            compared = 0
            for (p1, v1), (p2, v2) in zip(*batches):
                np.testing.assert_array_equal(p1.numpy(), p2.numpy())
                np.testing.assert_array_equal(v1.numpy(), v2.numpy())  # resized and flipped alike
                compared += 1
            assert compared == 7
    record = json.loads(sidecar_path(copy).read_text())
    assert record["key"] == "IAll" and record["shape"] == [N, 12, 10, 3]
    assert not (tmp_path / "copy.npy.partial").exists()


def test_a_stale_foreign_or_damaged_copy_is_refused(nuswide, tmp_path):
    source, _ = nuswide
    with open_array_file(source) as file:
        stack = open_pixel_stack(file, "IAll", N)
        copy = unpack_pixels(stack, source, "IAll", tmp_path / "copy.npy")
        other = tmp_path / "other-iall.mat"
        other.write_bytes(source.read_bytes())
        with pytest.raises(DataError, match="made from .*nus-wide-tc10-iall.mat, not from .*other-iall.mat"):
            open_unpacked(copy, stack, other)
        with pytest.raises(DataError, match="no such file; make the copy with `dcmh-tf datasets unpack"):
            open_unpacked(tmp_path / "missing.npy", stack, source)
        np.save(tmp_path / "small.npy", np.zeros((N - 1, 12, 10, 3), np.uint8))
        sidecar_path(tmp_path / "small.npy").write_text(sidecar_path(copy).read_text())
        with pytest.raises(DataError, match=r"expected uint8 pictures of shape \(40, 12, 10, 3\).*\(39, 12, 10, 3\)"):
            open_unpacked(tmp_path / "small.npy", stack, source)
        sidecar_path(copy).write_text("{not json")
        with pytest.raises(DataError, match="record copy.npy.json is unreadable"):
            open_unpacked(copy, stack, source)
        sidecar_path(copy).unlink()
        with pytest.raises(DataError, match="record copy.npy.json is missing"):
            open_unpacked(copy, stack, source)
        copy = unpack_pixels(stack, source, "IAll", tmp_path / "copy.npy")
        stat = source.stat()
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the source changes after the copy
        with pytest.raises(DataError, match="has changed since the copy was made"):
            open_unpacked(copy, stack, source)
        with pytest.raises(DataError, match="expected a path ending in .npy"):
            unpack_pixels(stack, source, "IAll", tmp_path / "copy.bin")


def test_pixels_is_refused_where_it_cannot_apply():
    with pytest.raises(ConfigError, match="the 'demo' dataset has none"):
        resolve_config("demo", pixels="x.npy")
    with pytest.raises(ConfigError, match="Drop --readers"):
        resolve_config("demo", dataset="nus-wide", data_path="x.mat", pixels="x.npy", readers=2)


def test_unpack_then_fit_with_pixels_trains_the_same_run(nuswide, tmp_path):
    source, _ = nuswide
    runner = CliRunner()
    result = runner.invoke(main, ["datasets", "unpack", str(source), "--no-progress"])
    assert result.exit_code == 0, result.output
    copy = tmp_path / "nus-wide-tc10-iall.pixels.npy"
    assert f"to {copy}" in result.output and f"--pixels {copy}" in result.output
    common = ["fit", "--dataset", "nus-wide", "--data-path", str(source), "--n-query", "8", "--n-train", "24",
              "--image-size", "64", "--flip", *TINY]
    runs = {}
    for name, extra in (("file", []), ("copy", ["--pixels", str(copy)])):
        result = runner.invoke(main, [*common, "--output", str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
        runs[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert (runs["copy"]["map_i2t"], runs["copy"]["map_t2i"]) == (runs["file"]["map_i2t"], runs["file"]["map_t2i"])
    # a run started on the file may go on from the copy: the same batches, so it ends as if resumed from the file
    assert runner.invoke(main, [*common, "--epochs", "1", "--output", str(tmp_path / "half")]).exit_code == 0
    shutil.copytree(tmp_path / "half", tmp_path / "half-copy")
    resumed = {}
    for name, extra in (("half", []), ("half-copy", ["--pixels", str(copy)])):
        result = runner.invoke(main, ["fit", "--resume", str(tmp_path / name), "--epochs", "2", "--no-progress", *extra])
        assert result.exit_code == 0, result.output
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        resumed[name] = (metrics["map_i2t"], metrics["map_t2i"])
    assert resumed["half"] == resumed["half-copy"]
    assert json.loads((tmp_path / "half-copy" / "config.json").read_text())["pixels"] == str(copy)
    assert json.loads((tmp_path / "half" / "config.json").read_text())["pixels"] is None
    result = runner.invoke(main, ["fit", "--resume", str(tmp_path / "half"), "--pixels", str(copy), "--readers", "2"])
    assert result.exit_code == 2 and "Drop --readers" in result.output
    # and the pictures did come from the copy: blank it, and the same run learns something else
    blank = np.load(copy, mmap_mode="r+")
    blank[:] = 0
    blank.flush()
    del blank
    result = runner.invoke(main, [*common, "--output", str(tmp_path / "blank"), "--pixels", str(copy)])
    assert result.exit_code == 0, result.output
    blank_run = json.loads((tmp_path / "blank" / "metrics.json").read_text())
    assert (blank_run["map_i2t"], blank_run["map_t2i"]) != (runs["file"]["map_i2t"], runs["file"]["map_t2i"])
    result = runner.invoke(main, ["datasets", "unpack", str(tmp_path / "nus-wide-tc10-yall.mat"), "--output",
                                  str(tmp_path / "nowhere" / "c.npy"), "--no-progress"])
    assert result.exit_code == 1 and "does not exist; create it first" in result.output
    assert "Traceback" not in result.output


def test_the_real_news_photographs_through_the_copy(shared_data, tmp_path):
    """2,192 real photographs, prepared at 64×64: the unpacked copy holds every picture of the file."""
    from dcmh_tf.data.prepare import prepare_dataset
    from dcmh_tf.data.releases import COLLECTION, load_release

    news = shared_data / "web_news"
    record = prepare_dataset("collection", news, tmp_path, options={"max_words": 500}, image_size=64, workers=2,
                             progress=False, warn=lambda message: None)
    source = tmp_path / record["file"]
    data = load_release(COLLECTION, source)
    copy = unpack_pixels(data.images, source, "images", tmp_path / "news.npy")
    unpacked = open_unpacked(copy, data.images, source)
    assert unpacked.shape == data.images.shape == (2192, 64, 64, 3)
    rows = np.arange(len(data))
    np.testing.assert_array_equal(unpacked[rows], data.images[rows])
    assert np.asarray(unpacked[rows]).std() > 10  # photographs, not a blank file
