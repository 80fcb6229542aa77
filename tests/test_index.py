import numpy as np
import pytest

from dcmh_tf import index as index_module
from dcmh_tf.errors import DataError
from dcmh_tf.index import HammingIndex


def codes_with_ties(seed, n, bits):
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((n, bits)) < 0.5, 1, -1).astype(np.int8)
    codes[n // 2:] = codes[: n - n // 2]  # every code twice: ties at every distance
    return codes


def brute_neighbours(query, db):
    distances = (query != db).sum(axis=1)
    order = sorted(range(len(db)), key=lambda j: (distances[j], j))
    return np.array(order), distances[order]


@pytest.mark.parametrize("bits", [12, 64, 100])
def test_search_matches_brute_force_with_ties_in_index_order(bits, monkeypatch):
    monkeypatch.setattr(index_module, "CHUNK_ELEMENTS", 50)  # several query chunks
    db = codes_with_ties(bits, 30, bits)
    queries = np.concatenate([db[:2], codes_with_ties(bits + 1, 5, bits)])
    index = HammingIndex.from_codes(db, ids=np.arange(100, 130))
    positions, distances = index.search(queries, k=7)
    assert positions.shape == distances.shape == (7, 7)
    for q, query in enumerate(queries):
        expected_positions, expected_distances = brute_neighbours(query, db)
        np.testing.assert_array_equal(positions[q], expected_positions[:7])
        np.testing.assert_array_equal(distances[q], expected_distances[:7])
    # a query equal to database item 0 (and its copy, item 15) finds both at distance 0, in order
    np.testing.assert_array_equal(positions[0, :2], [0, 15])
    np.testing.assert_array_equal(index.ids[positions[0, :2]], [100, 115])


def test_k_larger_than_the_index_returns_everything():
    db = codes_with_ties(0, 6, 8)
    positions, distances = HammingIndex.from_codes(db).search(db[:1], k=50)
    assert positions.shape == (1, 6)
    np.testing.assert_array_equal(positions[0], brute_neighbours(db[0], db)[0])


def test_within_radius_matches_brute_force():
    db = codes_with_ties(3, 40, 10)
    queries = codes_with_ties(4, 3, 10)
    index = HammingIndex.from_codes(db)
    for radius in (0, 2, 4, 10):
        results = index.within_radius(queries, radius)
        assert len(results) == 3
        for query, (positions, distances) in zip(queries, results):
            expected_positions, expected_distances = brute_neighbours(query, db)
            keep = expected_distances <= radius
            np.testing.assert_array_equal(positions, expected_positions[keep])
            np.testing.assert_array_equal(distances, expected_distances[keep])
    assert len(index.within_radius(queries, 10)[0][0]) == 40


def test_save_and_load_round_trip(tmp_path):
    db = codes_with_ties(5, 9, 12)
    labels = np.eye(9, 3, dtype=np.uint8)
    index = HammingIndex.from_codes(db, ids=np.arange(9) * 2, modality="text", dataset="demo", labels=labels,
                                    label_names=["a", "b", "c"])
    path = index.save(tmp_path / "codes")  # suffix added
    assert path == tmp_path / "codes.npz"
    loaded = HammingIndex.load(path)
    assert (loaded.bits, loaded.modality, loaded.dataset, loaded.label_names) == (12, "text", "demo", ["a", "b", "c"])
    np.testing.assert_array_equal(loaded.codes(), db)
    np.testing.assert_array_equal(loaded.ids, np.arange(9) * 2)
    np.testing.assert_array_equal(loaded.labels, labels)
    with np.load(path) as f:  # the documented layout
        assert f["codes"].dtype == np.uint8 and f["codes"].shape == (9, 2) and str(f["format"]) == "dcmh-tf-index"


def test_an_index_of_another_code_length_is_refused(tmp_path):
    path = HammingIndex.from_codes(codes_with_ties(0, 4, 32)).save(tmp_path / "index.npz")
    index = HammingIndex.load(path)
    with pytest.raises(DataError, match="the query has 16-bit codes but the index holds 32-bit codes"):
        index.search(np.ones((1, 16)), k=1)
    with pytest.raises(DataError, match="run r has 64-bit codes but the index holds 32-bit codes"):
        index.check_bits(64, "run r")


@pytest.mark.parametrize("content, message", [
    (None, "not found; create it with `dcmh-tf encode"),
    (b"not a zip", "is not an index file"),
    ("other-npz", "is not a dcmh-tf index"),
])
def test_foreign_files_are_refused(tmp_path, content, message):
    path = tmp_path / "index.npz"
    if content == "other-npz":
        np.savez(path, x=np.ones(3))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        HammingIndex.load(path)


def test_bad_arguments_are_refused():
    index = HammingIndex.from_codes(np.ones((3, 8)))
    with pytest.raises(DataError, match="k: expected a positive integer"):
        index.search(np.ones((1, 8)), k=0)
    with pytest.raises(DataError, match="radius: expected an integer >= 0"):
        index.within_radius(np.ones((1, 8)), -1)
    with pytest.raises(DataError, match="expected values in"):
        index.search(np.zeros((1, 8)), k=1)
    with pytest.raises(DataError, match="index ids: expected one id per code"):
        HammingIndex.from_codes(np.ones((3, 8)), ids=[1, 2])
