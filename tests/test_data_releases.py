"""The authors' releases: one combined file or three part files, v7.3 and v5, checks on bad files."""

import h5py
import numpy as np
import pytest
import scipy.io

from dcmh_tf.data.images import to_matlab_layout
from dcmh_tf.data.matfile import MAT_V73_USERBLOCK, matlab_storage_shape, tag_matlab_class, write_mat_v73, write_mat_v73_header
from dcmh_tf.data.releases import IAPR_TC12, MIRFLICKR25K, NUS_WIDE, load_release, locate_release_files, read_release
from dcmh_tf.errors import DataError

N = 12


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    labels = (rng.random((N, 4)) < 0.4).astype(np.uint8)
    labels[labels.sum(1) == 0, 0] = 1
    return {
        "images": rng.integers(0, 256, (N, 8, 6, 3), dtype=np.uint8),
        "YAll": (rng.random((N, 10)) < 0.3).astype(np.uint8),
        "LAll": labels,
    }


def write_combined(path, arrays, version="7.3", layout="HW3N"):
    contents = {"images": to_matlab_layout(arrays["images"], layout), "YAll": arrays["YAll"], "LAll": arrays["LAll"]}
    if version == "7.3":
        write_mat_v73(path, contents)
    else:
        scipy.io.savemat(path, contents)
    return path


@pytest.mark.parametrize("version, layout", [("7.3", "HW3N"), ("7.3", "N3HW"), ("5", "HW3N")])
def test_combined_file(tmp_path, arrays, version, layout):
    path = write_combined(tmp_path / "FLICKR-25K.mat", arrays, version, layout)
    data = load_release(MIRFLICKR25K, tmp_path, image_size=64)  # the folder is enough
    assert (len(data), data.text_dim, data.labels.shape[1], data.image_kind) == (N, 10, 4, "pixels")
    assert data.images.shape == (N, 8, 6, 3) and data.image_size == 64  # resized to 64 by the pipeline
    np.testing.assert_array_equal(data.images[np.arange(N)], arrays["images"])
    np.testing.assert_array_equal(data.texts, arrays["YAll"].astype(np.float32))
    assert data.texts.dtype == np.float32 and data.labels.dtype == np.uint8
    assert data.source["keys"] == {"images": "images", "texts": "YAll", "labels": "LAll"}
    assert data.source["files"]["images"] == str(path)


def test_part_files_are_found_from_any_of_them(tmp_path, arrays):
    write_mat_v73(tmp_path / "nus-wide-tc10-iall.mat", {"IAll": to_matlab_layout(arrays["images"], "N3HW")})
    write_mat_v73(tmp_path / "nus-wide-tc10-yall.mat", {"YAll": arrays["YAll"]})
    write_mat_v73(tmp_path / "nus-wide-tc10-lall.mat", {"LAll": arrays["LAll"]})
    files = locate_release_files(tmp_path / "nus-wide-tc10-yall.mat", NUS_WIDE)
    assert files == {"images": tmp_path / "nus-wide-tc10-iall.mat", "texts": tmp_path / "nus-wide-tc10-yall.mat",
                     "labels": tmp_path / "nus-wide-tc10-lall.mat"}
    data = load_release(NUS_WIDE, tmp_path)
    np.testing.assert_array_equal(data.images[np.array([1, 5, 6])], arrays["images"][[1, 5, 6]])
    (tmp_path / "nus-wide-tc10-lall.mat").unlink()
    with pytest.raises(DataError, match="nus-wide-tc10-lall.mat is missing"):
        load_release(NUS_WIDE, tmp_path / "nus-wide-tc10-iall.mat")


def test_bad_files_say_what_is_wrong(tmp_path, arrays, capsys):
    with pytest.raises(DataError, match="no such file or folder"):
        load_release(IAPR_TC12, tmp_path / "missing.mat")
    path = tmp_path / "IAPR-TC12.mat"
    write_mat_v73(path, {"images": to_matlab_layout(arrays["images"]), "tags": arrays["YAll"]})
    with pytest.raises(DataError, match=r"no labels array; looked for LAll, labels, L, the file holds images \(8×6×3×12 "
                                        r"uint8\), tags \(12×10 uint8\)"):
        load_release(IAPR_TC12, path)
    write_mat_v73(path, {"images": to_matlab_layout(arrays["images"]), "YAll": arrays["YAll"][:-1], "LAll": arrays["LAll"]})
    with pytest.raises(DataError, match="received images 12, texts 11, labels 12 rows"):
        load_release(IAPR_TC12, path)
    labels = arrays["LAll"].copy()
    labels[:3] = 0
    write_mat_v73(path, {"images": to_matlab_layout(arrays["images"]), "YAll": arrays["YAll"], "LAll": labels})
    load_release(IAPR_TC12, path)
    assert "3 of 12 items have no label" in capsys.readouterr().err
    texts = arrays["YAll"].astype(np.float64)
    texts[2, 3] = np.nan
    write_mat_v73(path, {"images": to_matlab_layout(arrays["images"]), "YAll": texts, "LAll": arrays["LAll"]})
    with pytest.raises(DataError, match=r"'YAll': 1 NaN or infinite values in 1 rows \(first row 2\)"):
        load_release(IAPR_TC12, path)


def test_key_names_can_be_given(tmp_path, arrays):
    path = tmp_path / "mine.mat"
    write_mat_v73(path, {"pix": to_matlab_layout(arrays["images"]), "bow": arrays["YAll"], "lab": arrays["LAll"]})
    data = read_release(MIRFLICKR25K, path, keys={"images": "pix", "texts": "bow", "labels": "lab"})
    assert len(data) == N


def test_real_mirflickr_text_and_labels_with_a_generated_image_file(tmp_path, shared_data):
    """The 20,015 real rows of YAll and LAll with a small v7.3 image file of the same row count,
    stored like the authors' IAll (HDF5 (N, 3, W, H), chunked, gzip)."""
    n, size = 20015, 4
    path = tmp_path / "mirflickr25k-iall.mat"
    with h5py.File(path, "w", userblock_size=MAT_V73_USERBLOCK) as f:
        images = f.create_dataset("IAll", shape=matlab_storage_shape((size, size, 3, n)), dtype=np.uint8,
                                  chunks=(1024, 3, size, size), compression="gzip")
        for start in range(0, n, 4096):  # written in chunks, as one would write the real file
            stop = min(n, start + 4096)
            images[start:stop] = (np.arange(start, stop) % 251).astype(np.uint8)[:, None, None, None]
        tag_matlab_class(images, np.uint8)
    write_mat_v73_header(path)
    folder = shared_data / "mirflickr25k"
    data = read_release(MIRFLICKR25K, path, folder / "mirflickr25k-yall.mat", folder / "mirflickr25k-lall.mat")
    assert (len(data), data.text_dim, data.labels.shape[1]) == (20015, 1386, 24)
    assert data.labels.sum(axis=1).min() >= 1
    assert data.images.shape == (20015, size, size, 3)
    assert data.images[np.array([20014])][0, 0, 0, 0] == 20014 % 251
