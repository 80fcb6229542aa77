import numpy as np
import pytest

from dcmh_tf.evaluation import metrics, sorted_ranking
from dcmh_tf.errors import DataError
from dcmh_tf.evaluation.metrics import (
    hamming_distances, hash_lookup_precision_recall, mean_average_precision, precision_at_n,
    precision_recall_at_radius, retrieval_scores,
)


# Brute-force references: plain Python over pairs, ranking by (distance, database index).
def brute_ranking(query, db):
    return [sorted(range(len(db)), key=lambda j: (int((q != db[j]).sum()), j)) for q in query]


def brute_relevant(query_labels, db_labels):
    return [[bool((np.asarray(lq) * np.asarray(ld)).sum()) for ld in db_labels] for lq in query_labels]


def brute_map(query, db, lq, ld, topk=None, exclude_empty=False):
    relevant = brute_relevant(lq, ld)
    aps = []
    for i, ranked in enumerate(brute_ranking(query, db)):
        hits, precisions = 0, []
        for rank, j in enumerate(ranked[:topk], 1):
            if relevant[i][j]:
                hits += 1
                precisions.append(hits / rank)
        if precisions or not exclude_empty:
            aps.append(np.mean(precisions) if precisions else 0.0)
    return float(np.mean(aps)) if aps else 0.0


def brute_precision_at(query, db, lq, ld, n):
    relevant = brute_relevant(lq, ld)
    return float(np.mean([sum(relevant[i][j] for j in ranked[:n]) / min(n, len(db))
                          for i, ranked in enumerate(brute_ranking(query, db))]))


def brute_lookup(query, db, lq, ld, radius):
    relevant = brute_relevant(lq, ld)
    within = [(i, j) for i in range(len(query)) for j in range(len(db)) if (query[i] != db[j]).sum() <= radius]
    hits = sum(relevant[i][j] for i, j in within)
    total = sum(map(sum, relevant))
    return (hits / len(within) if within else 0.0), (hits / total if total else 0.0)


def random_problem(seed, n_query, n_db, bits, n_labels=4, density=0.3, code_values=(1, -1)):
    rng = np.random.default_rng(seed)
    query = np.where(rng.random((n_query, bits)) < 0.5, *code_values)
    db = np.where(rng.random((n_db, bits)) < 0.5, *code_values)
    # Repeated codes make ties at every distance.
    db[n_db // 2:] = db[: n_db - n_db // 2]
    lq = (rng.random((n_query, n_labels)) < density).astype(np.uint8)
    ld = (rng.random((n_db, n_labels)) < density).astype(np.uint8)
    return query, db, lq, ld


def test_hamming_distances():
    q = np.array([[1, 1, -1, -1]])
    d = np.array([[1, 1, -1, -1], [-1, 1, -1, -1], [-1, -1, 1, 1]])
    np.testing.assert_array_equal(hamming_distances(q, d), [[0, 1, 4]])


def test_map_hand_computed_with_ties_broken_by_database_order():
    # 4-bit codes; the query is [1,1,1,1]. Database distances: 0, 1, 1, 2, 0
    query = np.array([[1, 1, 1, 1]])
    db = np.array([[1, 1, 1, 1], [-1, 1, 1, 1], [1, -1, 1, 1], [-1, -1, 1, 1], [1, 1, 1, 1]])
    query_labels = np.array([[1, 0]])
    db_labels = np.array([[0, 1], [1, 0], [0, 1], [1, 1], [1, 0]])
    # stable ranking: items 0, 4 (d=0), 1, 2 (d=1), 3 (d=2); relevance 0, 1, 1, 0, 1
    # AP = (1/2 + 2/3 + 3/5) / 3
    expected = (1 / 2 + 2 / 3 + 3 / 5) / 3
    assert mean_average_precision(query, db, query_labels, db_labels) == pytest.approx(expected)
    # top 3: relevance 0, 1, 1 -> (1/2 + 2/3) / 2
    assert mean_average_precision(query, db, query_labels, db_labels, topk=3) == pytest.approx((1 / 2 + 2 / 3) / 2)
    # P@1 = 0, P@2 = 1/2, P@4 = 2/4
    assert precision_at_n(query, db, query_labels, db_labels, [1, 2, 4]) == pytest.approx({1: 0.0, 2: 0.5, 4: 0.5})
    # hash lookup: radius 0 -> items 0, 4 (1 relevant of 3); radius 1 -> 0, 4, 1, 2 (2 of 3); radius 2..4 -> all
    precision, recall = hash_lookup_precision_recall(query, db, query_labels, db_labels)
    np.testing.assert_allclose(precision, [1 / 2, 2 / 4, 3 / 5, 3 / 5, 3 / 5])
    np.testing.assert_allclose(recall, [1 / 3, 2 / 3, 1, 1, 1])
    table = precision_recall_at_radius(query, db, query_labels, db_labels)
    assert table[1] == pytest.approx({"precision": 0.5, "recall": 2 / 3, "f_measure": 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)})


def test_all_codes_equal_gives_precision_of_database_order():
    query = np.ones((1, 8), np.int8)
    db = np.ones((4, 8), np.int8)
    labels_q = np.array([[1]])
    labels_db = np.array([[0], [1], [0], [1]])
    assert mean_average_precision(query, db, labels_q, labels_db) == pytest.approx((1 / 2 + 2 / 4) / 2)
    # everything is at distance 0: lookup at any radius returns the whole database
    precision, recall = hash_lookup_precision_recall(query, db, labels_q, labels_db)
    np.testing.assert_allclose(precision, 0.5)
    np.testing.assert_allclose(recall, 1.0)


def test_query_without_relevant_items_counts_as_zero_unless_excluded():
    query = np.array([[1, 1], [1, -1]])
    db = np.array([[1, 1], [1, -1]])
    labels_q = np.array([[1, 0], [0, 1]])
    labels_db = np.array([[1, 0], [1, 0]])
    assert mean_average_precision(query, db, labels_q, labels_db) == pytest.approx(0.5)
    assert mean_average_precision(query, db, labels_q, labels_db, exclude_empty=True) == pytest.approx(1.0)


def test_nothing_relevant_anywhere_gives_zeros_not_nan():
    query, db = np.ones((2, 4)), -np.ones((3, 4))
    lq, ld = np.array([[1, 0], [1, 0]]), np.array([[0, 1]] * 3)
    scores = retrieval_scores(query, db, lq, ld)
    assert scores.map == 0.0 and scores.map_at_k == 0.0
    assert mean_average_precision(query, db, lq, ld, exclude_empty=True) == 0.0
    np.testing.assert_array_equal(scores.lookup_precision, 0.0)  # radius < 4: nothing retrieved
    np.testing.assert_array_equal(scores.lookup_recall, 0.0)
    assert scores.at_radius(0) == {"precision": 0.0, "recall": 0.0, "f_measure": 0.0}


def test_k_larger_than_the_database_is_the_whole_ranking():
    query, db, lq, ld = random_problem(1, 6, 9, 8)
    whole = mean_average_precision(query, db, lq, ld)
    assert mean_average_precision(query, db, lq, ld, topk=9) == whole
    assert mean_average_precision(query, db, lq, ld, topk=1000) == whole
    assert precision_at_n(query, db, lq, ld, [1000])[1000] == pytest.approx(brute_precision_at(query, db, lq, ld, 9))
    assert retrieval_scores(query, db, lq, ld, topk=1000).topk == 9


@pytest.mark.parametrize("bits", [5, 12, 16, 32, 64, 65, 100, 128])
def test_every_score_matches_brute_force(bits, monkeypatch):
    # Small blocks of queries: several blocks on several threads, merged in query order.
    monkeypatch.setattr(metrics, "CHUNK_QUERIES", 3)
    query, db, lq, ld = random_problem(bits, 13, 37, bits)
    scores = retrieval_scores(query, db, lq, ld, topk=10, ns=(1, 7, 37, 50))
    assert scores.map == pytest.approx(brute_map(query, db, lq, ld))
    assert scores.map_at_k == pytest.approx(brute_map(query, db, lq, ld, topk=10))
    assert set(scores.precision_at_n) == {1, 7, 37}  # 50 > database size: dropped
    for n, value in scores.precision_at_n.items():
        assert value == pytest.approx(brute_precision_at(query, db, lq, ld, n))
    for radius in (0, 1, 2, bits // 2, bits):
        precision, recall = brute_lookup(query, db, lq, ld, radius)
        assert scores.lookup_precision[radius] == pytest.approx(precision)
        assert scores.lookup_recall[radius] == pytest.approx(recall)
    assert mean_average_precision(query, db, lq, ld) == pytest.approx(scores.map)
    assert mean_average_precision(query, db, lq, ld, topk=10, exclude_empty=True) == pytest.approx(
        brute_map(query, db, lq, ld, topk=10, exclude_empty=True))


@pytest.mark.parametrize("bits", [24, 300])
def test_64_bit_ranking_keys_of_the_sorting_engine_give_the_same_scores(bits, monkeypatch):
    # 64-bit keys serve databases too large for 32-bit (distance, index, relevance) keys; 300 bits
    # also take 16-bit distances (and 16-bit keys in the kernel).
    query, db, lq, ld = random_problem(bits, 7, 25, bits)
    expected = retrieval_scores(query, db, lq, ld, topk=5)
    monkeypatch.setattr(sorted_ranking, "KEY_BITS", 8)
    scores = retrieval_scores(query, db, lq, ld, topk=5, engine="sort")
    assert scores.map == pytest.approx(brute_map(query, db, lq, ld)) and scores.map == expected.map
    assert scores.map_at_k == expected.map_at_k
    np.testing.assert_array_equal(scores.lookup_precision, expected.lookup_precision)


def assert_identical(scores, expected):
    """Every figure equal to the last bit."""
    assert scores.map == expected.map and scores.map_at_k == expected.map_at_k and scores.topk == expected.topk
    assert scores.precision_at_n == expected.precision_at_n
    np.testing.assert_array_equal(scores.lookup_precision, expected.lookup_precision)
    np.testing.assert_array_equal(scores.lookup_recall, expected.lookup_recall)


@pytest.mark.parametrize("bits", [5, 12, 64, 65, 100, 128, 300])
@pytest.mark.parametrize("exclude_empty", [False, True])
def test_the_kernel_equals_the_sorting_engine_to_the_last_bit(bits, exclude_empty, monkeypatch):
    # every database code twice (ties at every distance), sparse labels (queries with no relevant
    # item), and a k that cuts through a crowd of ties; several threads
    monkeypatch.setattr(metrics, "CHUNK_QUERIES", 5)
    query, db, lq, ld = random_problem(bits + 1000, 23, 301, bits, n_labels=6, density=0.08)
    lq[:3] = 0  # no label: no relevant item
    assert ((lq @ ld.T) == 0).all(axis=1).sum() >= 3
    for topk in (None, 1, 40, 150, 301):
        arguments = dict(topk=topk, ns=(1, 2, 10, 77, 300), exclude_empty=exclude_empty)
        kernel = retrieval_scores(query, db, lq, ld, **arguments)
        assert_identical(kernel, retrieval_scores(query, db, lq, ld, engine="sort", **arguments))
        assert kernel.map_at_k == pytest.approx(brute_map(query, db, lq, ld, topk=topk, exclude_empty=exclude_empty))


@pytest.mark.parametrize("bits", [16, 64])
def test_both_loops_of_the_one_word_keys_give_identical_scores(bits):
    # the keys of one-word codes run with AVX-512 VPOPCNTQ where the CPU has it, else with POPCNT:
    # both against the sorting engine (on a CPU without VPOPCNTQ both runs take the POPCNT loop)
    from dcmh_tf.evaluation import _bucket_kernel

    query, db, lq, ld = random_problem(bits + 77, 21, 1003, bits, n_labels=24, density=0.1)  # 1003: a ragged tail
    expected = retrieval_scores(query, db, lq, ld, topk=100, engine="sort")
    previous = _bucket_kernel.use_vpopcnt(False)
    try:
        assert _bucket_kernel.keys_instructions() == "POPCNT"
        assert_identical(retrieval_scores(query, db, lq, ld, topk=100), expected)
        _bucket_kernel.use_vpopcnt(True)
        assert_identical(retrieval_scores(query, db, lq, ld, topk=100), expected)
    finally:
        _bucket_kernel.use_vpopcnt(previous)


def test_ties_in_database_order_with_k_inside_a_tie_bucket():
    # 4-bit codes. Database (distance to query 0, relevant to it): 0 (1, yes), 1 (0, no), 2 (0, yes),
    # 3 (1, no), 4 (0, yes), 5 (2, yes). Ranking, ties in database order: 1 2 4 | 0 3 | 5, so the
    # relevant items sit at ranks 2, 3, 4, 6. k = 4 cuts the distance-1 bucket (ranks 4-5) after item 0.
    # Query 1 has no label: no relevant item, AP 0 (left out with exclude_empty).
    near, one_off, two_off = [1, 1, 1, 1], [-1, 1, 1, 1], [-1, -1, 1, 1]
    db = np.array([one_off, near, near, one_off, near, two_off])
    ld = np.array([[1, 1], [0, 1], [1, 0], [0, 1], [1, 0], [1, 0]])
    query, lq = np.array([near, near]), np.array([[1, 0], [0, 0]])
    for engine in metrics.ENGINES:
        scores = retrieval_scores(query, db, lq, ld, topk=4, ns=(1, 2, 4, 6), engine=engine)
        ap = (1 / 2 + 2 / 3 + 3 / 4 + 4 / 6) / 4
        ap_at_4 = (1 / 2 + 2 / 3 + 3 / 4) / 3
        assert scores.map == pytest.approx(ap / 2, rel=1e-15)
        assert scores.map_at_k == pytest.approx(ap_at_4 / 2, rel=1e-15)
        assert scores.precision_at_n == pytest.approx({1: 0.0, 2: 0.25, 4: 0.375, 6: 1 / 3}, rel=1e-15)
        np.testing.assert_allclose(scores.lookup_precision[:3], [2 / 6, 3 / 10, 4 / 12], rtol=1e-15)
        np.testing.assert_allclose(scores.lookup_recall[:3], [2 / 4, 3 / 4, 1.0], rtol=1e-15)
        assert mean_average_precision(query, db, lq, ld, exclude_empty=True) == pytest.approx(ap, rel=1e-15)
        assert mean_average_precision(query, db, lq, ld, topk=4, exclude_empty=True) == pytest.approx(ap_at_4, rel=1e-15)


def test_a_fresh_process_scores_with_the_compiled_kernel_and_loads_no_runtime_compiler():
    # the kernel is a C extension built at install time: a fresh process finds it built, scores with it
    # (no warning), and neither numba nor LLVM enters memory
    import subprocess
    import sys

    program = (
        "import sys\n"
        "import numpy as np\n"
        "from dcmh_tf.evaluation import bucket_ranking\n"
        "from dcmh_tf.evaluation.metrics import retrieval_scores\n"
        "rng = np.random.default_rng(3)\n"
        "q, d = np.where(rng.random((4, 64)) < .5, 1, -1), np.where(rng.random((500, 64)) < .5, 1, -1)\n"
        "lq, ld = rng.random((4, 5)) < .3, rng.random((500, 5)) < .3\n"
        "print(repr(retrieval_scores(q, d, lq, ld, topk=50).map))\n"
        "print(bucket_ranking.available(), 'numba' in sys.modules or 'llvmlite' in sys.modules)\n"
    )
    rng = np.random.default_rng(3)
    q, d = np.where(rng.random((4, 64)) < .5, 1, -1), np.where(rng.random((500, 64)) < .5, 1, -1)
    lq, ld = rng.random((4, 5)) < .3, rng.random((500, 5)) < .3
    expected = repr(retrieval_scores(q, d, lq, ld, topk=50, engine="sort").map)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    built, compiler_loaded = done.stdout.split("\n")[1].split()
    assert built == "True", "the compiled kernel was not built: install a C compiler (gcc) and reinstall (pip install -e .)"
    assert done.stdout.split("\n")[0] == expected and compiler_loaded == "False"
    assert "Warning" not in done.stderr


def test_without_the_compiled_kernel_the_sorting_engine_scores_with_one_warning(monkeypatch, capsys):
    # an installation built without a C compiler: same figures, from the NumPy engine, and a warning
    # that says how to build the kernel, once per process
    from dcmh_tf.evaluation import bucket_ranking

    query, db, lq, ld = random_problem(12, 9, 80, 32)
    expected = retrieval_scores(query, db, lq, ld, topk=20)
    monkeypatch.setattr(bucket_ranking, "score_queries", None)
    monkeypatch.setattr(metrics, "_WARNED", set())
    assert not bucket_ranking.available()
    for _ in range(2):
        assert_identical(retrieval_scores(query, db, lq, ld, topk=20), expected)
    err = capsys.readouterr().err
    assert err.count("Warning: the compiled evaluation kernel") == 1 and "install a C compiler" in err


def test_float_codes_and_many_labels(monkeypatch):
    monkeypatch.setattr(metrics, "CHUNK_QUERIES", 2)
    query, db, lq, ld = random_problem(7, 9, 30, 24, n_labels=130, density=0.01, code_values=(1.0, -1.0))
    assert ld[:, 64:].any()  # labels beyond the first packed word take part
    assert mean_average_precision(query, db, lq, ld) == pytest.approx(brute_map(query, db, lq, ld))


def test_to_dict_is_json_ready():
    query, db, lq, ld = random_problem(3, 4, 12, 16)
    values = retrieval_scores(query, db, lq, ld, topk=5, ns=(1, 10)).to_dict()
    assert set(values) == {"map", "map_at_k", "topk", "precision_at_n", "radius", "pr_curve", "n_query", "n_database"}
    assert set(values["precision_at_n"]) == {"1", "10"} and set(values["radius"]) == {"0", "1", "2"}
    assert len(values["pr_curve"]["precision"]) == 17 and values["pr_curve"]["recall"][-1] == pytest.approx(1.0)


@pytest.mark.parametrize("bad, message", [
    (dict(query_codes=np.zeros((1, 4))), "expected values in {-1, +1}"),
    (dict(query_codes=np.full((1, 4), 2)), "expected values in {-1, +1}"),
    (dict(db_codes=np.ones((3, 8))), "code lengths differ"),
    (dict(db_labels=np.ones((2, 2))), "rows of labels and codes differ"),
    (dict(query_labels=np.ones((2, 2))), "rows of labels and codes differ"),
    (dict(db_labels=np.ones((3, 5))), "same number of labels"),
    (dict(query_codes=np.ones((0, 4)), query_labels=np.ones((0, 2))), "at least one query"),
    (dict(topk=0), "topk: expected a positive integer"),
])
def test_bad_inputs_are_refused(bad, message):
    args = dict(query_codes=np.ones((1, 4)), db_codes=np.ones((3, 4)), query_labels=np.ones((1, 2)),
                db_labels=np.ones((3, 2)))
    args.update(bad)
    with pytest.raises(DataError, match=message.replace("{", r"\{").replace("}", r"\}").replace("+", r"\+")):
        mean_average_precision(**args)


def test_radius_outside_the_code_is_refused():
    with pytest.raises(DataError, match=r"radii: expected values in 0\.\.4"):
        precision_recall_at_radius(np.ones((1, 4)), np.ones((2, 4)), np.ones((1, 1)), np.ones((2, 1)), radii=(5,))


def test_real_mirflickr_labels_the_kernel_equals_the_sorting_engine(shared_data):
    # MIRFLICKR-25K's real 24-label matrix and 1,386-d tags: codes from a seeded random projection of the
    # tags (a stand-in text net), 2,000 queries against the other 18,015 pairs, every figure to the last bit
    from dcmh_tf.data.matfile import open_array_file

    folder = shared_data / "mirflickr25k"
    with open_array_file(folder / "mirflickr25k-yall.mat") as tag_file, \
            open_array_file(folder / "mirflickr25k-lall.mat") as label_file:
        tags = tag_file.read("YAll").astype(np.float32)
        labels = label_file.read("LAll").astype(np.uint8)
    assert tags.shape == (20015, 1386) and labels.shape == (20015, 24)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(tags))
    query, database = order[:2000], order[2000:]
    for bits in (16, 64, 128):
        codes = np.where(tags @ rng.standard_normal((1386, bits)).astype(np.float32) >= 0, 1, -1).astype(np.int8)
        arguments = (codes[query], codes[database], labels[query], labels[database])
        kernel = retrieval_scores(*arguments, topk=500)
        assert_identical(kernel, retrieval_scores(*arguments, topk=500, engine="sort"))
        assert 0.3 < kernel.map < 0.9  # real labels: neither empty nor everything relevant
