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
