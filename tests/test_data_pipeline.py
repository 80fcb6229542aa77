"""tf.data pipeline: positions with values, pixels streamed from a v7.3 file, resize and flips in the graph."""

import numpy as np
import pytest

from dcmh_tf.data.images import PixelStack, open_pixel_stack, to_matlab_layout
from dcmh_tf.data.matfile import open_array_file, write_mat_v73
from dcmh_tf.data.pipeline import make_dataset

RNG = np.random.default_rng(2)
PICTURES = RNG.integers(0, 256, (10, 6, 5, 3), dtype=np.uint8)


def collect(dataset):
    batches = [(p.numpy(), v.numpy()) for p, v in dataset]
    return [p for p, _ in batches], np.concatenate([v for _, v in batches])


@pytest.fixture
def stack(tmp_path):
    write_mat_v73(tmp_path / "i.mat", {"IAll": to_matlab_layout(PICTURES, "N3HW")})
    with open_array_file(tmp_path / "i.mat") as file:
        yield open_pixel_stack(file, "IAll", 10)


def test_pixels_stream_from_the_file_in_the_order_asked(stack):
    rows = np.array([9, 2, 4, 7, 0])
    order = np.array([3, 0, 4, 1, 2])
    positions, values = collect(make_dataset(stack, rows, order, batch_size=2))
    assert [p.tolist() for p in positions] == [[3, 0], [4, 1], [2]]
    assert values.dtype == np.float32 and values.shape == (5, 6, 5, 3)
    np.testing.assert_array_equal(values, PICTURES[rows[order]].astype(np.float32))  # raw 0-255: no mean subtracted


def test_features_pass_through_as_float32():
    features = RNG.random((7, 4))
    _, values = collect(make_dataset(features, np.arange(7), np.arange(7)[::-1], batch_size=3))
    np.testing.assert_allclose(values, features[::-1].astype(np.float32))


def test_resize_to_the_output_size():
    constant = np.full((3, 4, 4, 3), 200, np.uint8)
    constant[1] = 10
    _, values = collect(make_dataset(PixelStack(constant, (0, 1, 2, 3), output_size=9), np.arange(3), np.arange(3), 2))
    assert values.shape == (3, 9, 9, 3)
    np.testing.assert_allclose(values[0], 200, atol=1e-3)
    np.testing.assert_allclose(values[1], 10, atol=1e-3)


def test_flips_are_left_right_random_and_seeded():
    rows = np.arange(10)
    order = np.tile(rows, 4)  # 40 draws
    _, flipped = collect(make_dataset(PICTURES, rows, order, 8, flip_seed=(0, 1)))
    originals = PICTURES[order].astype(np.float32)
    is_flipped = np.array([np.array_equal(f, o[:, ::-1]) for f, o in zip(flipped, originals)])
    is_same = np.array([np.array_equal(f, o) for f, o in zip(flipped, originals)])
    assert np.all(is_flipped ^ is_same) and 10 <= is_flipped.sum() <= 30
    _, again = collect(make_dataset(PICTURES, rows, order, 8, flip_seed=(0, 1)))
    _, other = collect(make_dataset(PICTURES, rows, order, 8, flip_seed=(0, 2)))
    np.testing.assert_array_equal(flipped, again)
    assert not np.array_equal(flipped, other)


def test_keep_uint8_hands_pictures_as_uint8_unless_they_are_resized():
    rows = np.arange(10)
    _, kept = collect(make_dataset(PICTURES, rows, rows[::-1], 4, flip_seed=(0, 1), keep_uint8=True))
    _, cast = collect(make_dataset(PICTURES, rows, rows[::-1], 4, flip_seed=(0, 1)))
    assert kept.dtype == np.uint8 and cast.dtype == np.float32
    np.testing.assert_array_equal(kept.astype(np.float32), cast)  # the same flips, the same values
    resized = PixelStack(np.full((3, 4, 4, 3), 7, np.uint8), (0, 1, 2, 3), output_size=9)
    _, values = collect(make_dataset(resized, np.arange(3), np.arange(3), 2, keep_uint8=True))
    assert values.dtype == np.float32 and values.shape == (3, 9, 9, 3)
    _, features = collect(make_dataset(RNG.random((5, 3)), np.arange(5), np.arange(5), 2, keep_uint8=True))
    assert features.dtype == np.float32
