import numpy as np
import pytest

from dcmh_tf.errors import DataError
from dcmh_tf.hashing import (
    check_codes, pack_codes, pack_multi_hot, packed_hamming_distances, sign_codes, to_words, unpack_codes,
)


def random_codes(rng, n, bits):
    return np.where(rng.random((n, bits)) < 0.5, 1, -1).astype(np.int8)


def test_sign_of_zero_is_plus_one():
    np.testing.assert_array_equal(sign_codes([[0.0, -0.0, 1e-9, -2.0]]), [[1, 1, 1, -1]])
    assert sign_codes([[0.5]]).dtype == np.int8


def test_packing_is_msb_first_with_zero_padding():
    codes = np.array([[1, -1, -1, -1, -1, -1, -1, -1, 1], [-1, -1, -1, -1, -1, -1, -1, 1, -1]])
    packed = pack_codes(codes)
    assert packed.dtype == np.uint8
    np.testing.assert_array_equal(packed, [[0b1000_0000, 0b1000_0000], [0b0000_0001, 0]])
    words = to_words(packed)
    assert words.dtype == np.uint64 and words.shape == (2, 1)
    np.testing.assert_array_equal(words.view(np.uint8)[:, :2], packed)  # bytes kept, zero padding after
    np.testing.assert_array_equal(words.view(np.uint8)[:, 2:], 0)


@pytest.mark.parametrize("bits", [1, 5, 8, 12, 16, 32, 63, 64, 65, 100, 128, 129])
def test_pack_unpack_round_trip(bits):
    codes = random_codes(np.random.default_rng(bits), 7, bits)
    packed = pack_codes(codes)
    assert packed.shape == (7, -(-bits // 8))
    np.testing.assert_array_equal(unpack_codes(packed, bits), codes)


@pytest.mark.parametrize("bits", [1, 7, 8, 9, 16, 32, 63, 64, 65, 128, 129, 300])
def test_packed_distances_match_counting_differing_bits(bits):
    rng = np.random.default_rng(bits)
    query, db = random_codes(rng, 5, bits), random_codes(rng, 11, bits)
    db[0] = query[0]  # distance 0
    db[1] = -query[0]  # distance = bits
    expected = (query[:, None, :] != db[None, :, :]).sum(axis=2)
    distances = packed_hamming_distances(to_words(pack_codes(query)), to_words(pack_codes(db)), bits)
    np.testing.assert_array_equal(distances, expected)
    assert distances[0, 0] == 0 and distances[0, 1] == bits
    assert distances.dtype == (np.uint8 if bits <= 255 else np.uint16)


def test_label_words_detect_a_shared_label_beyond_the_first_word():
    labels = np.zeros((3, 70), np.uint8)
    labels[0, 69] = 1
    labels[1, [0, 69]] = 1
    labels[2, 0] = 1
    words = pack_multi_hot(labels)
    assert words.shape == (3, 2)
    shared = ((words[:, None, :] & words[None, :, :]) != 0).any(axis=2)
    np.testing.assert_array_equal(shared, [[1, 1, 0], [1, 1, 1], [0, 1, 1]])


@pytest.mark.parametrize("codes, message", [
    (np.zeros((2, 4)), r"expected values in \{-1, \+1\}, received \[0\.0, 0\.0, 0\.0\]"),
    (np.ones(4), r"expected a 2-d array \(items, bits\)"),
    (np.ones((3, 0)), "at least one bit"),
])
def test_check_codes_refuses_bad_codes(codes, message):
    with pytest.raises(DataError, match=message):
        check_codes(codes)


def test_unpack_refuses_rows_of_another_length():
    with pytest.raises(DataError, match="expected a 2-d uint8 array of 2 bytes per row for 16 bits"):
        unpack_codes(np.zeros((3, 4), np.uint8), 16)
