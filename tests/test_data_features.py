"""Pre-extracted features: layouts, key names, label encodings, raw values, the file's own split."""

import h5py
import numpy as np
import pytest
import scipy.io

from dcmh_tf.config import resolve_config
from dcmh_tf.data.features import read_features
from dcmh_tf.data.loading import load_dataset, make_split
from dcmh_tf.data.matfile import write_mat_v73
from dcmh_tf.errors import ConfigError, DataError

RNG = np.random.default_rng(1)


def test_real_wikipedia_file(shared_data):
    data = read_features(shared_data / "wikipedia" / "wikiData.mat")
    assert (len(data), data.image_dim, data.text_dim, data.labels.shape[1]) == (2866, 128, 10, 10)
    assert data.labels.sum(axis=1).tolist() == [1] * 2866  # one-hot
    split = data.file_split
    assert (len(split.query), len(split.database), len(split.train)) == (693, 2173, 2173)
    raw = scipy.io.loadmat(shared_data / "wikipedia" / "wikiData.mat")
    np.testing.assert_allclose(data.images[split.query], raw["I_te"], rtol=1e-6)  # test set stacked after train
    np.testing.assert_allclose(data.texts[:2173], raw["T_tr"], rtol=1e-6)


def test_train_test_npz_with_class_indices(tmp_path):
    images = 0.01 * RNG.random((9, 4)) + 0.05
    np.savez(tmp_path / "f.npz", X_train=images[:6], X_test=images[6:], Y_train=RNG.random((6, 5)),
             Y_test=RNG.random((3, 5)), labels_train=np.array([3, 1, 1, 7, 3, 3]), labels_test=np.array([[7], [1], [3]]))
    data = read_features(tmp_path / "f.npz")
    assert data.label_names == ["1", "3", "7"]
    np.testing.assert_array_equal(data.labels.argmax(1), [1, 0, 0, 2, 1, 1, 2, 0, 1])
    # raw, train rows first: the encoders standardise (models.layers.FeatureStandardization)
    assert data.images.dtype == np.float32
    np.testing.assert_array_equal(data.images, images.astype(np.float32))
    assert data.file_split.query.tolist() == [6, 7, 8] and data.file_split.train.tolist() == list(range(6))


def test_one_set_v73_multi_hot_split_by_protocol(tmp_path):
    path = tmp_path / "one.mat"
    labels = (RNG.random((20, 3)) < 0.5).astype(np.uint8)
    labels[0] = 0
    write_mat_v73(path, {"I": RNG.random((20, 7)), "T": RNG.random((20, 5)), "L": labels})
    data = read_features(path)
    assert data.file_split is None and data.labels.shape == (20, 3) and data.image_dim == 7
    config = resolve_config("demo", dataset="features", data_path=str(path), n_query=4, n_train=10)
    assert config.image_encoder == "mlp"  # implied by dataset features
    split = make_split(config, load_dataset(config))
    assert (len(split.query), len(split.database), len(split.train)) == (4, 16, 10)
    with pytest.raises(ConfigError, match="has no default split and the file defines none; set --n-query"):
        make_split(config.replace(n_query=None, n_train=None), data)


def test_keys_can_be_named_and_missing_keys_are_listed(tmp_path):
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as f:
        f["vis_tr"], f["vis_te"] = RNG.random((5, 3)), RNG.random((2, 3))
        f["T_tr"], f["T_te"] = RNG.random((5, 2)), RNG.random((2, 2))
        f["L_tr"], f["L_te"] = np.eye(5, dtype=np.uint8)[:, :2], np.eye(2, dtype=np.uint8)
    with pytest.raises(DataError, match=r"cannot find the images arrays .* the file holds L_te \(2×2 uint8\), L_tr"):
        read_features(path)
    data = read_features(path, keys={"images": "vis"})
    assert len(data) == 7 and data.source["keys"]["images"] == ("vis_tr", "vis_te")


@pytest.mark.parametrize("change, message", [
    (dict(I=np.array([[1.0, np.inf], [0, 0], [1, 1]])), r"bad.mat: I: 1 NaN or infinite values in 1 rows \(first row 0\)"),
    (dict(T=np.ones((2, 2))), "received images 3, texts 2, labels 3 rows"),
    (dict(L=np.array([[0, 2], [1, 0], [1, 1]])), "a label matrix must hold only 0 and 1, received values"),
])
def test_bad_features_are_refused(tmp_path, change, message):
    arrays = dict(I=np.ones((3, 2)), T=np.ones((3, 2)), L=np.eye(3, dtype=np.uint8))
    arrays.update(change)
    scipy.io.savemat(tmp_path / "bad.mat", arrays)
    with pytest.raises(DataError, match=message):
        read_features(tmp_path / "bad.mat")
