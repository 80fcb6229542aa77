"""Hand-crafted picture features (OpenCV) for the baselines on real pictures."""

import numpy as np
import pytest

from dcmh_tf.data.picture_features import picture_features
from dcmh_tf.errors import DataError

WORDS = 8


def pictures(seed: int, n: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)  # 64×64 blocky pictures: corners for SIFT


def test_features_are_three_unit_blocks_and_reproducible():
    images = pictures(0)
    features = picture_features(images, np.arange(6), words=WORDS, seed=1)
    assert features.shape == (10, 324 + 128 + WORDS) and features.dtype == np.float32
    for block in (features[:, :324], features[:, 324:452], features[:, 452:]):
        np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(features, picture_features(images, np.arange(6), words=WORDS, seed=1))


def test_visual_words_come_from_the_training_pictures_only():
    images = pictures(0)
    other = images.copy()
    other[6:] = pictures(5, 4)  # other pictures outside the training rows
    a = picture_features(images, np.arange(6), words=WORDS, seed=1)
    b = picture_features(other, np.arange(6), words=WORDS, seed=1)
    np.testing.assert_array_equal(a[:6], b[:6])
    assert not np.array_equal(a[6:], b[6:])


def test_colour_histogram_sees_the_colour():
    plain = np.zeros((2, 64, 64, 3), np.uint8)
    plain[0, ..., 0] = 255  # red
    plain[1, ..., 2] = 255  # blue
    features = picture_features(np.concatenate([plain, pictures(0, 4)]), np.arange(6), words=WORDS, seed=0)
    assert not np.array_equal(features[0, 324:452], features[1, 324:452])


def test_too_few_descriptors_for_the_words_asked_is_refused():
    flat = np.full((3, 64, 64, 3), 128, np.uint8)  # no corner, no SIFT keypoint
    with pytest.raises(DataError, match="fewer than the 8 visual words"):
        picture_features(flat, np.arange(3), words=WORDS)
