import numpy as np
import pytest

from dcmh_tf.errors import DataError
from dcmh_tf.hashing import sign_codes
from dcmh_tf.metrics import hamming_distances, mean_average_precision


def test_sign_of_zero_is_plus_one():
    np.testing.assert_array_equal(sign_codes([[0.0, -0.0, 1e-9, -2.0]]), [[1, 1, 1, -1]])
    assert sign_codes([[0.5]]).dtype == np.int8


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


def test_all_codes_equal_gives_precision_of_database_order():
    query = np.ones((1, 8), np.int8)
    db = np.ones((4, 8), np.int8)
    labels_q = np.array([[1]])
    labels_db = np.array([[0], [1], [0], [1]])
    assert mean_average_precision(query, db, labels_q, labels_db) == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_query_without_relevant_items_counts_as_zero_unless_excluded():
    query = np.array([[1, 1], [1, -1]])
    db = np.array([[1, 1], [1, -1]])
    labels_q = np.array([[1, 0], [0, 1]])
    labels_db = np.array([[1, 0], [1, 0]])
    assert mean_average_precision(query, db, labels_q, labels_db) == pytest.approx(0.5)
    assert mean_average_precision(query, db, labels_q, labels_db, exclude_empty=True) == pytest.approx(1.0)


def test_map_matches_brute_force_on_random_codes():
    rng = np.random.default_rng(0)
    q = np.where(rng.random((13, 16)) < 0.5, 1, -1)
    d = np.where(rng.random((50, 16)) < 0.5, 1, -1)
    lq = (rng.random((13, 4)) < 0.3).astype(int)
    ld = (rng.random((50, 4)) < 0.3).astype(int)
    aps = []
    for i in range(13):
        dist = [(int((q[i] != d[j]).sum()), j) for j in range(50)]
        ranked = [j for _, j in sorted(dist)]
        hits, precisions = 0, []
        for rank, j in enumerate(ranked, 1):
            if (lq[i] & ld[j]).any():
                hits += 1
                precisions.append(hits / rank)
        aps.append(np.mean(precisions) if precisions else 0.0)
    assert mean_average_precision(q, d, lq, ld) == pytest.approx(np.mean(aps))


@pytest.mark.parametrize("bad, message", [
    (dict(query_codes=np.zeros((1, 4))), "expected values in {-1, +1}"),
    (dict(db_codes=np.ones((3, 8))), "code lengths differ"),
    (dict(db_labels=np.ones((2, 2))), "rows of labels and codes differ"),
])
def test_bad_inputs_are_refused(bad, message):
    args = dict(query_codes=np.ones((1, 4)), db_codes=np.ones((3, 4)), query_labels=np.ones((1, 2)),
                db_labels=np.ones((3, 2)))
    args.update(bad)
    with pytest.raises(DataError, match=message.replace("{", r"\{").replace("}", r"\}").replace("+", r"\+")):
        mean_average_precision(**args)
