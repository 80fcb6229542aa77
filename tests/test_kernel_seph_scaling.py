"""Kernel SePH's optional standardisation of the kernel features (standardize_kernel)."""

import numpy as np
import pytest

from dcmh_tf.baselines.kernel_seph import SephRnd, rbf_features
from dcmh_tf.errors import ConfigError


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    labels = np.eye(3)[rng.integers(0, 3, n)]
    images = labels @ rng.standard_normal((3, 8)) + 0.5 * rng.standard_normal((n, 8))
    texts = labels @ rng.standard_normal((3, 12)) + 0.5 * rng.standard_normal((n, 12))
    return images, texts, labels


def test_default_kernel_features_are_the_plain_rbf_map():
    images, texts, labels = _data()
    hasher = SephRnd(8, seed=0, anchors=20, iterations=20).fit(images, texts, labels)
    np.testing.assert_array_equal(hasher.feature_map("image", images),
                                  rbf_features(images, hasher.anchors["image"], hasher.sigmas["image"]))


def test_standardized_kernel_features_are_z_scored_on_the_training_rows():
    images, texts, labels = _data()
    hasher = SephRnd(8, seed=0, anchors=20, iterations=20, standardize_kernel=True).fit(images, texts, labels)
    phi = hasher.feature_map("text", texts)
    np.testing.assert_allclose(phi.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(phi.std(axis=0), 1, atol=1e-10)
    codes = hasher.encode_images(images)
    assert codes.shape == (60, 8) and set(np.unique(codes)) <= {-1, 1}


def test_standardize_kernel_must_be_a_flag():
    with pytest.raises(ConfigError, match="standardize_kernel must be true or false, received 'yes'"):
        SephRnd(8, standardize_kernel="yes")
