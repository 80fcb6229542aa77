import numpy as np
import pytest

from dcmh_tf.retrieval import index as index_module
from dcmh_tf.errors import DataError
from dcmh_tf.retrieval.index import HammingIndex


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
    (b"not a zip", "is not an index file .*: not a NumPy .npz \\(zip\\) archive"),
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


# faiss ------------------------------------------------------------------------------------------

from dcmh_tf.retrieval.index import INDEX_TYPES, default_parameters, linear_scan_search  # noqa: E402
from dcmh_tf.retrieval.shards import ShardedIndex, load_indexes, shard_rows  # noqa: E402


def clustered_codes(seed, n, bits, centres=20, flips=2):
    """Codes near a few centres: `flips` random bits of a random centre flipped per item."""
    rng = np.random.default_rng(seed)
    centre_codes = np.where(rng.random((centres, bits)) < 0.5, 1, -1).astype(np.int8)
    codes = centre_codes[rng.integers(0, centres, n)].copy()
    for row in codes:
        row[rng.choice(bits, flips, replace=False)] *= -1
    return codes


@pytest.mark.parametrize("bits, k", [(8, 1), (8, 37), (16, 100), (64, 10), (100, 25)])
def test_faiss_exact_equals_the_linear_scan_on_codes_with_many_ties(bits, k):
    # 8- and 16-bit codes over 600 items: hundreds of items share each distance, so the k-th distance
    # cuts through a crowd of ties, where faiss's own order differs from index order
    db = codes_with_ties(bits, 600, bits) if bits > 16 else clustered_codes(bits, 600, bits, centres=6, flips=1)
    queries = np.concatenate([db[:5], clustered_codes(bits + 7, 20, bits, centres=3, flips=3)])
    index = HammingIndex.from_codes(db)
    positions, distances = index.search(queries, k)
    expected_positions, expected_distances = linear_scan_search(index, queries, k)
    np.testing.assert_array_equal(distances, expected_distances)
    np.testing.assert_array_equal(positions, expected_positions)


def test_faiss_range_search_equals_the_linear_scan():
    db = clustered_codes(1, 500, 16, centres=4, flips=2)
    index = HammingIndex.from_codes(db)
    queries = db[:6]
    for radius in (0, 1, 3, 16):
        all_positions, all_distances = linear_scan_search(index, queries, len(db))
        for q, (positions, distances) in enumerate(index.within_radius(queries, radius)):
            keep = all_distances[q] <= radius
            np.testing.assert_array_equal(positions, all_positions[q][keep])
            np.testing.assert_array_equal(distances, all_distances[q][keep])


@pytest.mark.parametrize("index_type", INDEX_TYPES)
def test_every_index_type_finds_near_neighbours_and_survives_a_round_trip(index_type, tmp_path):
    db = clustered_codes(2, 3000, 64, centres=30, flips=3)
    queries = db[:40].copy()  # items of the index (their nearest neighbour is themselves) ...
    flips = np.random.default_rng(3).integers(0, 64, (20, 2))
    for row, (a, b) in zip(queries[20:], flips):  # ... and codes two flips away from an item
        row[[a, b]] *= -1
    parameters = {"nlist": 30, "nprobe": 30} if index_type == "ivf" else None  # every cell: exact
    index = HammingIndex.from_codes(db, index_type=index_type, parameters=parameters)
    exact = HammingIndex.from_codes(db)
    positions, distances = index.search(queries, 10)
    exact_positions, exact_distances = exact.search(queries, 10)
    assert (distances[:20, 0] == 0).all()
    found = distances >= 0
    # what an approximate index returns is true: the distances of the codes it names
    true = (exact.codes()[np.where(found, positions, 0)] != queries[:, None, :]).sum(-1)
    np.testing.assert_array_equal(distances[found], true[found])
    # recall with ties: a code found counts when it is as near as the exact 10th neighbour
    recall = np.mean((distances >= 0) & (distances <= exact_distances[:, -1:]))
    assert recall >= 0.9, recall
    if index_type in ("flat", "ivf"):  # exact (ivf probing every cell)
        np.testing.assert_array_equal(distances, exact_distances)
    if index_type == "multihash":  # exact within nhash·(nflip+1) − 1 = 7 at 64 bits
        radius = 7
        for (p, d), (ep, ed) in zip(index.within_radius(queries, radius), exact.within_radius(queries, radius)):
            np.testing.assert_array_equal(p, ep)
            np.testing.assert_array_equal(d, ed)
    loaded = HammingIndex.load(index.save(tmp_path / "index.npz"))
    assert (loaded.index_type, loaded.parameters) == (index_type, index.parameters)
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], distances)


def test_default_parameters_follow_the_code_length_and_size():
    assert default_parameters("multihash", 64, 10) == {"nhash": 4, "b": 16, "nflip": 1}
    assert default_parameters("multihash", 8, 10) == {"nhash": 1, "b": 8, "nflip": 1}
    assert default_parameters("ivf", 64, 1_000_000) == {"nlist": 4000, "nprobe": 125}
    assert default_parameters("ivf", 64, 10_000_000)["nlist"] == 4096
    with pytest.raises(DataError, match="index type: expected one of flat, multihash, hnsw, ivf"):
        default_parameters("lsh", 64, 10)
    with pytest.raises(DataError, match="nhash × b must be at most the code length"):
        HammingIndex.from_codes(np.ones((4, 16)), index_type="multihash", parameters={"nhash": 2, "b": 16}).search(
            np.ones((1, 16)), 1)


def test_a_version_1_index_still_loads(tmp_path):
    db = codes_with_ties(9, 10, 12)
    path = tmp_path / "old.npz"
    np.savez_compressed(path, format=np.array("dcmh-tf-index"), version=np.array(1), bits=np.array(12),
                        modality=np.array("image"), dataset=np.array("demo"),
                        codes=HammingIndex.from_codes(db).packed, ids=np.arange(10))
    index = HammingIndex.load(path)
    assert (index.index_type, index.run) == ("flat", None)
    np.testing.assert_array_equal(index.search(db[:2], 3)[0], linear_scan_search(index, db[:2], 3)[0])


def test_a_damaged_faiss_part_is_refused_with_how_to_rebuild(tmp_path):
    path = HammingIndex.from_codes(clustered_codes(0, 200, 16), index_type="hnsw").save(tmp_path / "h.npz")
    with np.load(path) as f:
        arrays = {key: f[key] for key in f.files}
    arrays["faiss_index"] = arrays["faiss_index"][:50]
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="damaged index file .*dcmh-tf encode RUN --output"):
        HammingIndex.load(path)


# shards -----------------------------------------------------------------------------------------

def write_shards(tmp_path, db, n, **kwargs):  # kwargs: labels
    rows = np.arange(len(db))
    paths = []
    for k in range(1, n + 1):
        part = shard_rows(rows, (k, n))
        labels = kwargs.get("labels")
        extra = {"labels": labels[part]} if labels is not None else {}
        shard = HammingIndex.from_codes(db[part], ids=part, shard=(k, n), **extra)
        paths.append(shard.save(tmp_path / f"part-{k}.npz"))
    return paths


def test_shards_merged_answer_exactly_as_one_index(tmp_path):
    db = clustered_codes(4, 700, 16, centres=5, flips=1)  # many ties, across shard borders
    labels = np.eye(700, 4, dtype=np.uint8)
    whole = HammingIndex.from_codes(db, ids=np.arange(700), labels=labels)
    paths = write_shards(tmp_path, db, 3, labels=labels)
    sharded = load_indexes(list(reversed(paths)))  # any order given: put in shard order
    assert isinstance(sharded, ShardedIndex) and len(sharded) == 700
    np.testing.assert_array_equal(sharded.ids, whole.ids)
    queries = db[[0, 250, 600]]
    for k in (1, 50, 400, 700):
        np.testing.assert_array_equal(sharded.search(queries, k)[0], whole.search(queries, k)[0])
        np.testing.assert_array_equal(sharded.search(queries, k)[1], whole.search(queries, k)[1])
    for (p, d), (wp, wd) in zip(sharded.within_radius(queries, 2), whole.within_radius(queries, 2)):
        np.testing.assert_array_equal(p, wp)
        np.testing.assert_array_equal(d, wd)
    assert isinstance(load_indexes([tmp_path]), ShardedIndex)  # a folder of shards


def test_incomplete_or_foreign_shards_are_refused(tmp_path):
    db = clustered_codes(5, 90, 16)
    paths = write_shards(tmp_path, db, 3)
    with pytest.raises(DataError, match="not one complete set 1/N … N/N"):
        load_indexes(paths[:2])
    runs = {1: "a", 2: "a", 3: "b"}
    mixed = [HammingIndex.from_codes(db[:5], shard=(k, 3), run={"path": f"runs/{r}", "fingerprint": r * 16})
             .save(tmp_path / f"mixed-{k}.npz") for k, r in runs.items()]
    with pytest.raises(DataError, match="encoded by run runs/b and .* by run runs/a .* do not share one Hamming space"):
        load_indexes(mixed)
    with pytest.raises(DataError, match="--shard 4/3|1 ≤ K ≤ N"):
        shard_rows(np.arange(9), (4, 3))


def test_exact_search_sorts_the_margin_and_falls_back_to_the_range_search_only_when_ties_fill_it(monkeypatch):
    monkeypatch.setitem(index_module._ORDER_PROBE, "flat", False)  # a faiss with its own tie order
    # 16-bit codes: item 3's code 40 times (a crowd of ties at distance 0 for a query equal to it,
    # more than k + margin), the rest random; a second query far from the crowd
    rng = np.random.default_rng(11)
    db = np.where(rng.random((400, 16)) < 0.5, 1, -1).astype(np.int8)
    crowd = rng.choice(np.arange(4, 400), 39, replace=False)
    db[crowd] = db[3]
    k = 10
    assert len(crowd) + 1 > k + index_module.tie_margin(k)
    index = HammingIndex.from_codes(db)
    queries = np.stack([db[3], -db[3]])
    fallen_back = []
    range_search = HammingIndex._with_boundary_ties_in_index_order

    def counting(self, queries, kth, k):
        fallen_back.append(len(queries))
        return range_search(self, queries, kth, k)

    monkeypatch.setattr(HammingIndex, "_with_boundary_ties_in_index_order", counting)
    positions, distances = index.search(queries, k)
    expected_positions, expected_distances = linear_scan_search(index, queries, k)
    np.testing.assert_array_equal(positions, expected_positions)
    np.testing.assert_array_equal(distances, expected_distances)
    np.testing.assert_array_equal(positions[0], np.sort(np.append(crowd, 3))[:k])  # the crowd in index order
    assert fallen_back == [1]  # only the query whose ties used up the margin


def test_exact_search_keeps_index_order_among_ties_inside_the_margin(monkeypatch):
    monkeypatch.setitem(index_module._ORDER_PROBE, "flat", False)  # a faiss with its own tie order
    # every code twice, 12-bit codes over 3,000 items: the k-th distance of most queries is shared by
    # several codes, for some fewer than the margin holds (sorted from faiss's answer), for others more
    # (the range search)
    db = codes_with_ties(21, 3000, 12)
    queries = clustered_codes(22, 30, 12, centres=30, flips=2)
    index = HammingIndex.from_codes(db)
    fallen_back = []
    range_search = HammingIndex._with_boundary_ties_in_index_order
    monkeypatch.setattr(HammingIndex, "_with_boundary_ties_in_index_order",
                        lambda self, q, kth, k: fallen_back.append(len(q)) or range_search(self, q, kth, k))
    for k in (1, 5, 10, 64):
        fallen_back.clear()
        positions, distances = index.search(queries, k)
        expected_positions, expected_distances = linear_scan_search(index, queries, k)
        np.testing.assert_array_equal(distances, expected_distances)
        np.testing.assert_array_equal(positions, expected_positions)
        kth_ties = (linear_scan_search(index, queries, len(db))[1] == distances[:, -1:]).sum(axis=1)
        if k == 10:  # both paths taken: ties sorted inside the margin, and the fallback
            assert fallen_back and 0 < sum(fallen_back) < len(queries)
            assert (kth_ties > 1).sum() > sum(fallen_back)


def test_the_installed_faiss_keeps_index_order_among_ties_so_its_top_k_is_the_answer(monkeypatch):
    # the fast path: one faiss top-k search, no margin and no range search, on codes crowded with ties
    assert index_module.faiss_keeps_index_order()
    monkeypatch.setattr(HammingIndex, "_margin_search", lambda *a: pytest.fail("the margin path was taken"))
    db = clustered_codes(31, 4000, 16, centres=4, flips=1)  # about 1,000 codes at each distance 0–1
    queries = np.concatenate([db[:6], clustered_codes(32, 10, 16, centres=2, flips=2)])
    index = HammingIndex.from_codes(db)
    for k in (1, 10, 300, 2500):
        positions, distances = index.search(queries, k)
        expected_positions, expected_distances = linear_scan_search(index, queries, k)
        np.testing.assert_array_equal(distances, expected_distances)
        np.testing.assert_array_equal(positions, expected_positions)


class _FaissWithItsOwnTieOrder:
    """A stand-in faiss whose flat index returns ties in reverse position order (as a heap that ignores
    ids may), delegating everything else to the real faiss."""

    def __init__(self, faiss):
        self._faiss = faiss

    def __getattr__(self, name):
        return getattr(self._faiss, name)

    def IndexBinaryFlat(self, d):  # noqa: N802 (faiss's name)
        real = self._faiss.IndexBinaryFlat(d)

        class Reversed:
            def add(self, codes):
                self.codes = codes
                real.add(codes)

            def search(self, queries, k):
                d = np.unpackbits(queries[:, None, :] ^ self.codes[None, :, :], axis=2).sum(axis=2)
                positions = np.arange(d.shape[1])[None, :].repeat(len(d), 0)
                order = np.lexsort((-positions, d), axis=1)[:, :k]
                return np.take_along_axis(d, order, 1).astype(np.int32), order.astype(np.int64)

            def range_search(self, queries, radius):
                return real.range_search(queries, radius)

        return Reversed()


def test_a_faiss_with_its_own_tie_order_fails_the_probe_and_the_margin_path_keeps_index_order(monkeypatch):
    import faiss

    monkeypatch.setattr(index_module, "_faiss", lambda: _FaissWithItsOwnTieOrder(faiss))
    monkeypatch.setattr(index_module, "_ORDER_PROBE", {})
    assert not index_module.faiss_keeps_index_order()
    db = codes_with_ties(41, 500, 12)
    queries = clustered_codes(42, 12, 12, centres=12, flips=2)
    index = HammingIndex.from_codes(db)
    for k in (1, 10, 64):
        positions, distances = index.search(queries, k)
        expected_positions, expected_distances = linear_scan_search(index, queries, k)
        np.testing.assert_array_equal(distances, expected_distances)
        np.testing.assert_array_equal(positions, expected_positions)


def test_an_answer_out_of_stable_order_is_not_trusted(monkeypatch):
    # a faiss that passed the probe but answers one call out of order: the margin path answers instead
    db = codes_with_ties(43, 200, 10)
    index = HammingIndex.from_codes(db)
    real_search = index.faiss_index.search
    calls = []

    def once_reversed(queries, k):
        distances, positions = real_search(queries, k)
        calls.append(k)
        return (distances[:, ::-1].copy(), positions[:, ::-1].copy()) if len(calls) == 1 else (distances, positions)

    monkeypatch.setattr(index._faiss_index, "search", once_reversed, raising=False)
    positions, distances = index.search(db[:5], 8)
    expected_positions, expected_distances = linear_scan_search(index, db[:5], 8)
    np.testing.assert_array_equal(positions, expected_positions)
    np.testing.assert_array_equal(distances, expected_distances)
    assert calls[0] == 8 and calls[1] == 8 + index_module.tie_margin(8)
