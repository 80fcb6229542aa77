"""Array files and lazy pixels: MATLAB v7.3 (HDF5) and v5, plain HDF5 and .npz, in the authors' layouts."""

import h5py
import numpy as np
import pytest
import scipy.io

from dcmh_tf.data.images import PixelStack, find_pixel_axes, open_pixel_stack, to_matlab_layout
from dcmh_tf.data.matfile import open_array_file, write_mat_v73
from dcmh_tf.errors import DataError

RNG = np.random.default_rng(0)
PICTURES = RNG.integers(0, 256, size=(6, 5, 4, 3), dtype=np.uint8)  # N=6, H=5, W=4: every axis differs


def test_v73_file_is_read_in_matlab_orientation(tmp_path):
    path = tmp_path / "a.mat"
    texts = np.arange(12, dtype=np.uint8).reshape(6, 2)
    write_mat_v73(path, {"YAll": texts})
    with h5py.File(path, "r") as f:  # stored as MATLAB does: axes reversed
        assert f["YAll"].shape == (2, 6) and f["YAll"].attrs["MATLAB_class"] == b"uint8"
    with open_array_file(path) as file:
        assert file.format == "MATLAB v7.3 (HDF5)" and file.transposed
        assert file.shape("YAll") == (6, 2)
        np.testing.assert_array_equal(file.read("YAll"), texts)


def test_plain_hdf5_and_npz_and_v5_are_read_as_stored(tmp_path):
    texts = np.arange(12, dtype=np.float32).reshape(6, 2)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["T"] = texts
    np.savez(tmp_path / "a.npz", T=texts)
    scipy.io.savemat(tmp_path / "a.mat", {"T": texts})
    for name, format in (("a.h5", "HDF5"), ("a.npz", "NumPy .npz"), ("a.mat", "MATLAB v5")):
        with open_array_file(tmp_path / name) as file:
            assert file.format == format and file.keys() == ["T"]
            np.testing.assert_array_equal(file.read("T"), texts)


def test_missing_file_and_wrong_format_name_the_file(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope.mat'}: no such file"):
        open_array_file(tmp_path / "nope.mat")
    (tmp_path / "notes.mat").write_text("hello, not a mat file")
    with pytest.raises(DataError, match=r"notes.mat: not a MATLAB .mat, HDF5 or .npz file"):
        open_array_file(tmp_path / "notes.mat")
    with open_array_file(_v5(tmp_path, T=np.ones((2, 2)))) as file, pytest.raises(DataError, match="the file holds T"):
        file.read("YAll")


def _v5(tmp_path, **arrays):
    scipy.io.savemat(tmp_path / "v5.mat", arrays)
    return tmp_path / "v5.mat"


@pytest.mark.parametrize("layout", ["HW3N", "N3HW", "NHW3"])
@pytest.mark.parametrize("version", ["7.3", "5"])
def test_pixel_stack_gives_n_h_w_3_in_every_layout(tmp_path, layout, version):
    stored = to_matlab_layout(PICTURES, layout)
    path = tmp_path / "images.mat"
    if version == "7.3":
        write_mat_v73(path, {"IAll": stored})
    else:
        scipy.io.savemat(path, {"IAll": stored})
    with open_array_file(path) as file:
        stack = open_pixel_stack(file, "IAll", n_items=6)
        assert stack.shape == (6, 5, 4, 3) and stack.dtype == np.uint8 and len(stack) == 6
        rows = np.array([0, 2, 3, 5])  # two runs of consecutive rows and a single one
        np.testing.assert_array_equal(stack[rows], PICTURES[rows])
        np.testing.assert_array_equal(stack[1:4], PICTURES[1:4])
        np.testing.assert_array_equal(stack[4], PICTURES[4])


def test_pixel_stack_refuses_unsorted_rows_and_unknown_layouts():
    stack = PixelStack(PICTURES, (0, 1, 2, 3))
    with pytest.raises(DataError, match="increasing order"):
        stack[np.array([3, 1])]
    with pytest.raises(DataError, match=r"expected 7 items on the first or last axis"):
        find_pixel_axes((6, 5, 4, 3), 7, "x.mat: 'IAll'")
    with pytest.raises(DataError, match="expected images with 4 axes"):
        find_pixel_axes((6, 20), 6, "x.mat: 'IAll'")
