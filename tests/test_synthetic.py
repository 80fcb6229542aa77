import numpy as np
from scipy.ndimage import uniform_filter

from dcmh_tf.data import random_split
from dcmh_tf.data.synthetic import CLASSES, TAG_VOCABULARY, make_demo_data


def test_demo_data_is_deterministic_and_well_formed():
    a = make_demo_data(40, image_size=64, seed=5)
    b = make_demo_data(40, image_size=64, seed=5)
    c = make_demo_data(40, image_size=64, seed=6)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.texts, b.texts)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (40, 64, 64, 3) and a.images.dtype == np.uint8
    assert a.texts.shape == (40, len(TAG_VOCABULARY)) and a.labels.shape == (40, len(CLASSES))
    assert (a.labels.sum(1) >= 1).all() and (a.labels.sum(1) <= 3).all()
    # every present class leaves at least one of its own tags in the text
    for labels, text in zip(a.labels, a.texts):
        for c in np.flatnonzero(labels):
            assert text[4 * c: 4 * c + 4].sum() >= 1


def test_objects_are_drawn_in_their_class_colour():
    data = make_demo_data(30, image_size=64, seed=0)
    # Averaging 3×3 neighbourhoods cuts the background's pixel noise (σ 28) by three, while a solid
    # object keeps its colour: single noisy background pixels can look red, a red region cannot.
    # Green below 75 keeps out the blurred edges of orange bars (240, 140, 30).
    smooth = uniform_filter(data.images.astype(np.float32), size=(1, 3, 3, 1))
    red = (smooth[..., 0] > 170) & (smooth[..., 1] < 75) & (smooth[..., 2] < 110)
    has_circle = data.labels[:, 0] == 1
    assert red[has_circle].sum(axis=(1, 2)).min() > 20  # a red disc is there
    assert red[~has_circle].sum(axis=(1, 2)).max() < 20


def test_random_split_follows_the_protocol():
    split = random_split(100, n_query=10, n_train=30, seed=1)
    assert len(split.query) == 10 and len(split.database) == 90 and len(split.train) == 30
    assert not set(split.query) & set(split.database)
    assert set(split.train) <= set(split.database)
    np.testing.assert_array_equal(split.train, random_split(100, 10, 30, seed=1).train)
