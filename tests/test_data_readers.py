"""Parallel readers: pictures of a v7.3 file read by reader processes are the pictures read in-process."""

from __future__ import annotations

import numpy as np
import pytest

from dcmh_tf.data.images import PixelStack, open_pixel_stack, to_matlab_layout
from dcmh_tf.data.matfile import open_array_file, write_mat_v73
from dcmh_tf.data.pipeline import make_dataset
from dcmh_tf.errors import DataError


def test_reader_processes_give_the_pictures_and_order_of_one_reader(tmp_path):
    pictures = np.random.default_rng(0).integers(0, 256, size=(40, 12, 10, 3), dtype=np.uint8)
    write_mat_v73(tmp_path / "i.mat", {"IAll": to_matlab_layout(pictures, "HW3N")})
    rows = np.arange(3, 37)
    order = np.random.default_rng(1).permutation(len(rows))
    batches = {}
    with open_array_file(tmp_path / "i.mat") as file:
        stack = open_pixel_stack(file, "IAll", 40, output_size=8)
        for readers in (1, 2):
            stack.use_readers(readers)
            batches[readers] = [(p.numpy(), v.numpy()) for p, v in make_dataset(stack, rows, order, 5)]
            if readers == 2:
                np.testing.assert_array_equal(stack[np.array([0, 5, 6, 39])], pictures[[0, 5, 6, 39]])
        stack.use_readers(1)
    assert len(batches[2]) == 7
    for (p1, v1), (p2, v2) in zip(batches[1], batches[2]):
        np.testing.assert_array_equal(p1, p2)
        np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(np.concatenate([p for p, _ in batches[2]]), order)


def test_readers_need_a_file():
    stack = PixelStack(np.zeros((4, 3, 8, 8), np.uint8), (0, 2, 3, 1))
    with pytest.raises(DataError, match="parallel readers reopen an HDF5 file; these pixels are in memory"):
        stack.use_readers(2)
    with pytest.raises(DataError, match="readers must be a positive integer, received 0"):
        stack.use_readers(0)


def test_config_readers_reach_a_release_file(tmp_path):
    from dcmh_tf.config import resolve_config
    from dcmh_tf.data.loading import load_dataset

    rng = np.random.default_rng(2)
    pictures = rng.integers(0, 256, size=(12, 8, 8, 3), dtype=np.uint8)
    write_mat_v73(tmp_path / "FLICKR-25K.mat", {"images": to_matlab_layout(pictures, "HW3N"),
                                                 "YAll": rng.integers(0, 2, (12, 5)).astype(np.uint8),
                                                 "LAll": np.eye(3, dtype=np.uint8)[np.arange(12) % 3]})
    config = resolve_config("demo", dataset="mirflickr25k", data_path=str(tmp_path / "FLICKR-25K.mat"), readers=2)
    data = load_dataset(config)
    assert data.images.readers == 2
    np.testing.assert_array_equal(data.images[np.arange(1, 12, 2)], pictures[1::2])
    data.images.use_readers(1)
