"""Retrieval metrics over ±1 codes and label matrices.

Ground truth follows the paper: a database item is relevant to a query when they share at least
one label. Hamming ranking breaks ties by database order (a stable sort), so results do not depend
on the sort algorithm.
"""

from __future__ import annotations

import numpy as np

from dcmh_tf.errors import DataError

# Bound on query-chunk × database elements held at once (int64 arrays), about 64 MB each.
_CHUNK_ELEMENTS = 8_000_000


def _check_codes(query_codes, db_codes, query_labels, db_labels):
    query_codes = np.asarray(query_codes)
    db_codes = np.asarray(db_codes)
    query_labels = np.asarray(query_labels)
    db_labels = np.asarray(db_labels)
    for name, codes in (("query_codes", query_codes), ("db_codes", db_codes)):
        if codes.ndim != 2:
            raise DataError(f"{name}: expected a 2-d array (items, bits), received shape {codes.shape}.")
        if codes.size and not np.isin(codes, (-1, 1)).all():
            raise DataError(f"{name}: expected values in {{-1, +1}}; quantize with dcmh_tf.hashing.sign_codes first.")
    if query_codes.shape[1] != db_codes.shape[1]:
        raise DataError(
            f"code lengths differ: query_codes has {query_codes.shape[1]} bits, db_codes {db_codes.shape[1]}."
        )
    if query_labels.ndim != 2 or db_labels.ndim != 2 or query_labels.shape[1] != db_labels.shape[1]:
        raise DataError(
            f"labels: expected 2-d multi-hot matrices with the same number of labels, received shapes "
            f"{query_labels.shape} and {db_labels.shape}."
        )
    if len(query_labels) != len(query_codes) or len(db_labels) != len(db_codes):
        raise DataError(
            f"rows of labels and codes differ: query {len(query_labels)} labels vs {len(query_codes)} codes, "
            f"database {len(db_labels)} labels vs {len(db_codes)} codes."
        )
    return query_codes, db_codes, query_labels, db_labels


def hamming_distances(query_codes: np.ndarray, db_codes: np.ndarray) -> np.ndarray:
    """(n_query, n_db) int32 Hamming distances between ±1 codes: (c − q·d) / 2."""
    bits = query_codes.shape[1]
    inner = query_codes.astype(np.int32) @ db_codes.astype(np.int32).T
    return (bits - inner) // 2


def mean_average_precision(query_codes, db_codes, query_labels, db_labels, topk=None, exclude_empty: bool = False) -> float:
    """MAP of Hamming ranking.

    query_codes: (n_query, c) in {-1, +1}; db_codes: (n_db, c); query_labels: (n_query, L) 0/1;
    db_labels: (n_db, L) 0/1; topk: rank only the first k database items (None: all).
    AP of a query = mean over its relevant items within the ranking of precision at their rank.
    A query with no relevant item counts as AP 0 (as the official DCMH code does) unless
    `exclude_empty`, which leaves it out of the mean.
    """
    query_codes, db_codes, query_labels, db_labels = _check_codes(query_codes, db_codes, query_labels, db_labels)
    n_query, n_db = len(query_codes), len(db_codes)
    if n_query == 0:
        raise DataError("mean_average_precision: expected at least one query, received none.")
    if n_db == 0:
        raise DataError("mean_average_precision: expected a non-empty database.")
    k = n_db if topk is None else int(topk)
    if k < 1:
        raise DataError(f"topk: expected a positive integer or None, received {topk!r}.")
    k = min(k, n_db)
    db_labels_t = db_labels.astype(np.float32).T
    ranks = np.arange(1, k + 1, dtype=np.float64)
    ap = np.zeros(n_query)
    has_relevant = np.zeros(n_query, dtype=bool)
    chunk = max(1, _CHUNK_ELEMENTS // n_db)
    for start in range(0, n_query, chunk):
        stop = min(start + chunk, n_query)
        distances = hamming_distances(query_codes[start:stop], db_codes)
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        relevant = (query_labels[start:stop].astype(np.float32) @ db_labels_t) > 0
        hits = np.take_along_axis(relevant, order, axis=1)
        n_hits = hits.sum(axis=1)
        precision_at_hit = np.cumsum(hits, axis=1) / ranks * hits
        ap[start:stop] = precision_at_hit.sum(axis=1) / np.maximum(n_hits, 1)
        has_relevant[start:stop] = n_hits > 0
    if exclude_empty:
        return float(ap[has_relevant].mean()) if has_relevant.any() else 0.0
    return float(ap.mean())
