"""The Milvus backend against embedded Milvus Lite and a real Milvus server (`milvus_uri` runs each test on
both), and every backend against the reference scan on codes with many ties."""

from __future__ import annotations

import numpy as np
import pytest

from dcmh_tf.hashing import pack_codes
from dcmh_tf.retrieval.backend import FaissBackend
from dcmh_tf.retrieval.index import HammingIndex, linear_scan_search

pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'dcmh-tf[milvus]')")
from dcmh_tf.retrieval.milvus import MilvusError, MilvusIndex, MilvusUnavailable, parse_uri  # noqa: E402

BITS = 12
LABELS = ["sports", "ecology", "a \"quoted\" label"]


def tied_codes(n=400, n_query=12, seed=5):
    """±1 codes of BITS bits where only 5 bits vary: 32 distinct codes among n, hundreds of ties at each
    distance. Queries vary on the same bits plus one other, so distances run 0..6."""
    rng = np.random.default_rng(seed)
    base = np.where(rng.random(BITS) < 0.5, 1, -1).astype(np.int8)
    database = np.tile(base, (n, 1))
    database[:, :5] = np.where(rng.random((n, 5)) < 0.5, 1, -1)
    queries = np.tile(base, (n_query, 1))
    queries[:, :6] = np.where(rng.random((n_query, 6)) < 0.5, 1, -1)
    labels = (rng.random((n, len(LABELS))) < 0.4).astype(np.uint8)
    return database, queries, labels


def write(uri, name, codes, labels, index_type="flat", parameters=None):
    """A collection of `codes` whose item ids differ from their positions (id = 3·position + 5)."""
    index = MilvusIndex.create(uri, name, bits=BITS, modality="image", dataset="tied", label_names=LABELS,
                               run={"path": "runs/x", "fingerprint": "f" * 16}, index_type=index_type,
                               parameters=parameters, rows=len(codes))
    positions = np.arange(len(codes))
    for start in range(0, len(codes), 150):  # several insert calls, as encode makes them
        part = positions[start:start + 150]
        index.insert(3 * part + 5, pack_codes(codes[part]), labels[part], part)
    index.wait_indexed()
    return index


@pytest.fixture(scope="module")
def tied():
    return tied_codes()


@pytest.fixture(scope="module", params=["lite", "server"])
def tied_collection(request, tied, tmp_path_factory):
    """One collection of the tied codes per engine, shared by the read-only tests of this module."""
    if request.param == "lite":
        pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'dcmh-tf[milvus]')")
        uri = f"milvus://{tmp_path_factory.mktemp('lite')}/codes.db"
    else:
        uri = "milvus://" + request.getfixturevalue("milvus_server")["uri"]
    name = f"t_tied_{np.random.default_rng().integers(1 << 40)}"
    index = write(uri, name, tied[0], tied[2])
    yield index
    index.drop()


def test_parse_uri(tmp_path):
    assert parse_uri(f"milvus://{tmp_path}/a.db") == ("lite", str(tmp_path / "a.db"))
    assert parse_uri("milvus://http://127.0.0.1:19530/") == ("server", "http://127.0.0.1:19530")
    for bad in ("codes.db", "milvus://", "milvus://codes.txt", "milvus://ftp://host:1", "milvus://http://"):
        with pytest.raises(MilvusError, match="expected"):
            parse_uri(bad)


def test_top_k_and_radius_equal_the_reference_scan(tied_collection, tied):
    """Exact top k with ties in database order, and complete radius results, as faiss and the NumPy scan."""
    database, queries, labels = tied
    reference = HammingIndex.from_codes(database)
    index = tied_collection
    assert len(index) == len(database)
    for k in (1, 7, 40, 150):
        expected_positions, expected_distances = linear_scan_search(reference, queries, k)
        faiss_positions, faiss_distances = reference.search(queries, k)
        positions, distances = index.search(queries, k)
        np.testing.assert_array_equal(faiss_positions, expected_positions)
        np.testing.assert_array_equal(positions, expected_positions)
        np.testing.assert_array_equal(distances, expected_distances)
        # many codes share the k-th distance: the engine's own pick among them would differ
        assert (expected_distances[:, -1:] == distances[:, -1:]).all()
    hits = index.find(queries[:1], top=5)[0]
    assert [hit.id for hit in hits] == (3 * expected_positions[0, :5] + 5).tolist()
    for radius in (0, 1, 3):
        for (p, d), (fp, fd), (mp, md) in zip(_scan_radius(reference, queries, radius),
                                              reference.within_radius(queries, radius),
                                              index.within_radius(queries, radius)):
            np.testing.assert_array_equal(fp, p)
            np.testing.assert_array_equal(mp, p)
            np.testing.assert_array_equal(md, d)


def test_windows_keep_results_complete_when_a_range_search_is_full(tied_collection, tied, monkeypatch):
    """With a range search capped at 16 results (Milvus caps it at 16,384), position windows still gather
    every tie: the same answers as the scan."""
    database, queries, labels = tied
    reference = HammingIndex.from_codes(database)
    index = tied_collection
    monkeypatch.setattr(index, "limit", 16)
    positions, distances = index.search(queries, 12)
    np.testing.assert_array_equal(positions, linear_scan_search(reference, queries, 12)[0])
    for (p, d), (mp, md) in zip(_scan_radius(reference, queries, 2), index.within_radius(queries, 2)):
        assert len(p) > 16  # more than one full range search
        np.testing.assert_array_equal(mp, p)
        np.testing.assert_array_equal(md, d)


def test_ivf_where_exact_applies(milvus_server, collection_name, tied):
    """BIN_IVF_FLAT with nprobe = nlist scans every cell: the same distances as the scan, the same items
    nearer than the k-th distance (at it, the engine picks), and the radius results complete (top k + filter)."""
    database, queries, labels = tied
    database = np.concatenate([database, -database])  # two far clusters, so the cells are not one
    labels = np.concatenate([labels, labels])
    reference = HammingIndex.from_codes(database)
    index = write("milvus://" + milvus_server["uri"], collection_name, database, labels, "ivf",
                  {"nlist": 8, "nprobe": 8})
    info = index.client.describe_index(collection_name, "code")
    assert info["index_type"] == "BIN_IVF_FLAT" and int(info["indexed_rows"]) == len(database)
    for k in (5, 60):
        expected_positions, expected_distances = linear_scan_search(reference, queries, k)
        positions, distances = index.search(queries, k)
        np.testing.assert_array_equal(distances, expected_distances)
        for row in range(len(queries)):
            nearer = expected_distances[row] < expected_distances[row, -1]
            np.testing.assert_array_equal(positions[row, nearer], expected_positions[row, nearer])
            assert (np.diff(positions[row, ~nearer]) > 0).all()  # the tied ones in position order
    for (p, d), (mp, md) in zip(_scan_radius(reference, queries, 2), index.within_radius(queries, 2)):
        np.testing.assert_array_equal(mp, p)
        np.testing.assert_array_equal(md, d)


def test_label_filter_in_the_engine(tied_collection, tied):
    database, queries, labels = tied
    index = tied_collection
    for column, label in enumerate(LABELS):
        rows = np.flatnonzero(labels[:, column])
        subset = HammingIndex.from_codes(database[rows])
        expected, _ = linear_scan_search(subset, queries, 10)
        found = index.find(queries, top=10, label=label)
        for row, hits in enumerate(found):
            assert [hit.position for hit in hits] == rows[expected[row]].tolist()
            assert all(label in hit.labels for hit in hits)
    with pytest.raises(MilvusError, match="expected one of the collection's 3 labels"):
        index.find(queries, label="nope")
    with pytest.raises(Exception, match="needs a Milvus collection"):
        FaissBackend(HammingIndex.from_codes(database)).find(queries, label="sports")


def test_delete_and_upsert_by_item_id(milvus_uri, collection_name, tied):
    database, queries, labels = tied
    database = database[:50].copy()
    database[7, 8] *= -1  # a code of its own (the 5 varying bits repeat among 50 codes)
    index = write(milvus_uri, collection_name, database, labels[:50])
    query = database[7:8]
    assert index.find(query, top=1)[0][0].id == 3 * 7 + 5
    assert index.delete([3 * 7 + 5, 999_999]) == 1
    assert len(index) == 49
    assert all(hit.id != 26 for hit in index.find(query, radius=BITS)[0])
    # upsert: item 11 (position 2) takes item 7's code and keeps its position; a new item goes last
    far = -database[0:1]
    index.upsert([11, 500], pack_codes(np.concatenate([query, far])), np.array([[1, 0, 0], [0, 1, 0]], np.uint8))
    assert len(index) == 50
    top = index.find(query, top=1)[0][0]
    assert (top.id, top.position, top.distance, top.labels) == (11, 2, 0, ["sports"])
    new = index.find(far, top=1)[0][0]
    assert (new.id, new.position, new.distance, new.labels) == (500, 50, 0, ["ecology"])


def test_an_upsert_of_held_ids_keeps_their_positions_without_seeking_the_last(milvus_uri, collection_name, tied,
                                                                              monkeypatch):
    database, _, labels = tied
    index = write(milvus_uri, collection_name, database[:20], labels[:20])
    far = -database[4:5]  # every bit flipped: at distance ≥ 7 from every code held

    def refused():
        raise AssertionError("no new id: the largest position is not needed")

    monkeypatch.setattr(index, "_max_position", refused)
    index.upsert([3 * 4 + 5], pack_codes(far), labels[4:5])  # item 17, at position 4
    assert len(index) == 20
    moved = index.find(far, top=1)[0][0]
    assert (moved.id, moved.position, moved.distance) == (17, 4, 0)


def test_resume_finds_what_is_missing(milvus_uri, collection_name, tied):
    database, _, labels = tied
    index = write(milvus_uri, collection_name, database[:0], labels[:0])
    index.rows = 30
    index.insert(np.arange(10), pack_codes(database[:10]), labels[:10], np.arange(10))
    index.insert([20, 21], pack_codes(database[20:22]), labels[20:22], [20, 21])
    np.testing.assert_array_equal(index.missing_positions(30, batch=8),
                                  [p for p in range(30) if not (p < 10 or p in (20, 21))])
    np.testing.assert_array_equal(index.held_positions([0, 9, 10, 21, 29]), [0, 9, 21])


def test_open_refuses_what_it_cannot_use(tied_collection):
    milvus_uri = tied_collection.uri
    index = MilvusIndex.open(milvus_uri, tied_collection.collection)
    if milvus_uri.endswith(".db"):  # the one collection of codes there is found without a name
        assert MilvusIndex.open(milvus_uri).collection == tied_collection.collection
    assert (index.bits, index.modality, index.label_names, index.run["fingerprint"]) == (BITS, "image", LABELS, "f" * 16)
    with pytest.raises(MilvusError, match="has no collection 'nope'"):
        MilvusIndex.open(milvus_uri, "nope")
    with pytest.raises(MilvusError, match="expected a letter"):
        MilvusIndex.open(milvus_uri, "1-bad")
    with pytest.raises(MilvusError, match="makes 16-bit codes but collection .* holds 12-bit codes"):
        index.check_bits(16, "run runs/other")


def test_unreachable_server_and_wrong_token(milvus_server, monkeypatch):
    with pytest.raises(MilvusUnavailable, match="no Milvus server answers at http://127.0.0.1:9 .*start it"):
        MilvusIndex.open("milvus://http://127.0.0.1:9")
    monkeypatch.setenv("DCMH_MILVUS_TOKEN", "root:wrong")
    with pytest.raises(MilvusError, match="refused the connection with the token in \\$DCMH_MILVUS_TOKEN"):
        MilvusIndex.open("milvus://" + milvus_server["uri"])


def test_lite_holds_flat_only(tmp_path):
    pytest.importorskip("milvus_lite")
    with pytest.raises(MilvusError, match="Milvus Lite holds exact .BIN_FLAT. collections only"):
        MilvusIndex.create(f"milvus://{tmp_path}/c.db", "c", bits=8, modality="image", index_type="ivf", rows=10)


def _scan_radius(index, queries, radius):
    """(positions, distances) of every code within `radius`, by (distance, position): the reference."""
    positions, distances = linear_scan_search(index, queries, len(index))
    return [(p[d <= radius], d[d <= radius]) for p, d in zip(positions, distances)]
