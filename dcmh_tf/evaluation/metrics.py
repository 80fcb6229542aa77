"""Retrieval metrics over ±1 codes and label matrices: MAP of Hamming ranking, precision at N, and
precision / recall of hash lookup within a Hamming radius.

Ground truth follows the paper: a database item is relevant to a query when they share at least
one label. Hamming ranking breaks ties by database order (a stable sort), so results do not depend
on the sort algorithm.

The engine packs codes into 64-bit words and labels into 32- or 64-bit words and scores blocks of
queries on a few threads with a compiled kernel (C through Cython, `bucket_ranking`): per query, the Hamming
distance and relevance of every database item (XOR + popcount, AND), the items and relevant items
counted per distance, and the exact rank of every relevant item from those counts and a second walk
in database order, without a sort. Memory stays a few bytes per database item per thread, whatever
the number of queries. The NumPy sorting engine it replaced (`sorted_ranking`: one integer sort of
(distance, index, relevance) keys per query) gives bit-identical figures and is kept as the
reference (`engine="sort"`).
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from dcmh_tf.errors import DataError
from dcmh_tf.evaluation import bucket_ranking
from dcmh_tf.hashing import check_codes, pack_codes, pack_multi_hot, packed_hamming_distances, to_words

# Queries per task of the thread pool (the memory of a task is a few bytes per database item).
CHUNK_QUERIES = 16
THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))

# "kernel": the compiled bucket count (bucket_ranking); "sort": the NumPy sorting engine it replaced
# (sorted_ranking), kept as the reference of the exactness tests and the benchmark.
ENGINES = ("kernel", "sort")
# N of the precision-at-N curve (those above the database size are dropped by `retrieval_scores`)
PRECISION_NS = (1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
from dcmh_tf.evaluation import DEFAULT_TOPK  # noqa: E402  k of MAP@k in `dcmh-tf evaluate`
# Radii of the paper's Table 7
TABLE_RADII = (0, 1, 2)


def check_retrieval_inputs(query_codes, db_codes, query_labels, db_labels):
    """The four arrays as NumPy arrays after checking shapes and values; raises `DataError`.

    query_codes: (n_query, c) in {-1, +1}; db_codes: (n_db, c); query_labels: (n_query, L);
    db_labels: (n_db, L) multi-hot (nonzero = label present).
    """
    query_codes = check_codes(query_codes, "query_codes")
    db_codes = check_codes(db_codes, "db_codes")
    query_labels = np.asarray(query_labels)
    db_labels = np.asarray(db_labels)
    if query_codes.shape[1] != db_codes.shape[1]:
        raise DataError(
            f"code lengths differ: query_codes has {query_codes.shape[1]} bits, db_codes {db_codes.shape[1]}; "
            f"encode queries and database with the same run."
        )
    if query_labels.ndim != 2 or db_labels.ndim != 2 or query_labels.shape[1] != db_labels.shape[1]:
        raise DataError(
            f"labels: expected 2-d multi-hot matrices with the same number of labels, received shapes "
            f"{query_labels.shape} and {db_labels.shape}."
        )
    if len(query_labels) != len(query_codes) or len(db_labels) != len(db_codes):
        raise DataError(
            f"rows of labels and codes differ: query {len(query_labels)} labels vs {len(query_codes)} codes, "
            f"database {len(db_labels)} labels vs {len(db_codes)} codes; pass one label row per code row."
        )
    if len(query_codes) == 0:
        raise DataError("expected at least one query, received none.")
    if len(db_codes) == 0:
        raise DataError("expected a non-empty database, received no database codes.")
    return query_codes, db_codes, query_labels, db_labels


def hamming_distances(query_codes, db_codes) -> np.ndarray:
    """(n_query, n_db) int32 Hamming distances between ±1 codes (n_query, c) and (n_db, c)."""
    query_codes = check_codes(query_codes, "query_codes")
    db_codes = check_codes(db_codes, "db_codes")
    if query_codes.shape[1] != db_codes.shape[1]:
        raise DataError(f"code lengths differ: {query_codes.shape[1]} vs {db_codes.shape[1]} bits.")
    bits = query_codes.shape[1]
    return packed_hamming_distances(to_words(pack_codes(query_codes)), to_words(pack_codes(db_codes)), bits).astype(np.int32)


@dataclass(frozen=True)
class RetrievalScores:
    """Scores of one retrieval direction (for example image queries against database texts).

    map: MAP of Hamming ranking over the whole database. map_at_k: the same over the top `topk`.
    precision_at_n: {N: mean over queries of (relevant among the first N) / N}.
    lookup_precision, lookup_recall: (c + 1,) arrays, index r = hash lookup within Hamming radius
    r, micro-averaged over all query–database pairs: precision = relevant pairs within r / pairs
    within r (0 when no pair is that close), recall = relevant pairs within r / relevant pairs.
    """

    map: float
    map_at_k: float
    topk: int
    precision_at_n: dict[int, float]
    lookup_precision: np.ndarray
    lookup_recall: np.ndarray
    n_query: int
    n_database: int

    @property
    def bits(self) -> int:
        return len(self.lookup_precision) - 1

    def at_radius(self, radius: int) -> dict[str, float]:
        """Precision, recall and F-measure of hash lookup within `radius` (the paper's Table 7)."""
        return precision_recall_f(self.lookup_precision[radius], self.lookup_recall[radius])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values (dict keys as strings)."""
        return {
            "map": self.map,
            "map_at_k": self.map_at_k,
            "topk": self.topk,
            "precision_at_n": {str(n): p for n, p in self.precision_at_n.items()},
            "radius": {str(r): self.at_radius(r) for r in TABLE_RADII if r <= self.bits},
            "pr_curve": {"precision": self.lookup_precision.tolist(), "recall": self.lookup_recall.tolist()},
            "n_query": self.n_query,
            "n_database": self.n_database,
        }


def mean_average_precision(query_codes, db_codes, query_labels, db_labels, topk=None, exclude_empty: bool = False) -> float:
    """MAP of Hamming ranking.

    query_codes: (n_query, c) in {-1, +1}; db_codes: (n_db, c); query_labels: (n_query, L) 0/1;
    db_labels: (n_db, L) 0/1; topk: rank only the first k database items (None, or k ≥ n_db: all).
    AP of a query = mean over its relevant items within the ranking of precision at their rank.
    A query with no relevant item (within the top k) counts as AP 0, as the official DCMH code
    does, unless `exclude_empty`, which leaves it out of the mean.
    """
    return _scan(query_codes, db_codes, query_labels, db_labels, topk=topk, exclude_empty=exclude_empty)["map_at_k"]


def precision_at_n(query_codes, db_codes, query_labels, db_labels, ns: Sequence[int]) -> dict[int, float]:
    """{N: mean over queries of (relevant items among the first N of the Hamming ranking) / N}.

    Shapes as in `mean_average_precision`. An N above the database size counts the whole
    database (precision over n_db items).
    """
    return _scan(query_codes, db_codes, query_labels, db_labels, ns=ns)["precision_at_n"]


def hash_lookup_precision_recall(query_codes, db_codes, query_labels, db_labels) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall), each (c + 1,): hash lookup within Hamming radius r = 0..c, micro-averaged
    over all pairs (see `RetrievalScores`). Shapes as in `mean_average_precision`."""
    values = _scan(query_codes, db_codes, query_labels, db_labels)
    return values["lookup_precision"], values["lookup_recall"]


def precision_recall_at_radius(query_codes, db_codes, query_labels, db_labels,
                               radii: Sequence[int] = TABLE_RADII) -> dict[int, dict[str, float]]:
    """{r: {"precision", "recall", "f_measure"}} of hash lookup within Hamming radius r (the paper's
    Table 7), micro-averaged over all pairs. Shapes as in `mean_average_precision`."""
    precision, recall = hash_lookup_precision_recall(query_codes, db_codes, query_labels, db_labels)
    bits = len(precision) - 1
    if any(not 0 <= r <= bits for r in radii):
        raise DataError(f"radii: expected values in 0..{bits} for {bits}-bit codes, received {list(radii)}.")
    return {r: precision_recall_f(precision[r], recall[r]) for r in radii}


def precision_recall_f(precision: float, recall: float) -> dict[str, float]:
    """{"precision", "recall", "f_measure"} of one hash lookup: F = 2PR / (P + R), 0 when both are 0."""
    f_measure = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": float(precision), "recall": float(recall), "f_measure": float(f_measure)}


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"Warning: {message}", file=sys.stderr)


def retrieval_scores(query_codes, db_codes, query_labels, db_labels, *, topk: int | None = None,
                     ns: Sequence[int] = PRECISION_NS, exclude_empty: bool = False,
                     progress: bool = False, engine: str = "kernel") -> RetrievalScores:
    """Every score of `RetrievalScores` in one pass over the distances.

    Shapes as in `mean_average_precision`; `ns` above the database size are dropped. engine: "kernel"
    (the compiled bucket count) or "sort" (the NumPy engine it replaced, bit-identical, slower).
    """
    n_db = len(db_codes)
    kept_ns = [n for n in ns if n <= n_db] or [n_db]
    values = _scan(query_codes, db_codes, query_labels, db_labels, topk=topk, ns=kept_ns,
                   exclude_empty=exclude_empty, progress=progress, engine=engine)
    return RetrievalScores(
        map=values["map"], map_at_k=values["map_at_k"], topk=values["topk"], precision_at_n=values["precision_at_n"],
        lookup_precision=values["lookup_precision"], lookup_recall=values["lookup_recall"],
        n_query=len(query_codes), n_database=n_db,
    )


def _scan(query_codes, db_codes, query_labels, db_labels, *, topk=None, ns: Sequence[int] = (),
          exclude_empty: bool = False, progress: bool = False, engine: str = "kernel") -> dict[str, Any]:
    """One chunked pass over the queries: MAP, MAP@k, P@N and the hash-lookup curve (`ENGINES`)."""
    query_codes, db_codes, query_labels, db_labels = check_retrieval_inputs(query_codes, db_codes, query_labels, db_labels)
    n_query, n_db = len(query_codes), len(db_codes)
    bits = query_codes.shape[1]
    if topk is not None and (isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1):
        raise DataError(f"topk: expected a positive integer or None, received {topk!r}.")
    k = n_db if topk is None else min(int(topk), n_db)
    ns = np.asarray([int(n) for n in ns], np.int64)
    if np.any(ns < 1):
        raise DataError(f"precision at N: expected positive N, received {ns.tolist()}.")
    query_words, query_label_words = to_words(pack_codes(query_codes)), pack_multi_hot(query_labels)
    db_words, db_label_words, clipped_ns = to_words(pack_codes(db_codes)), pack_multi_hot(db_labels), np.minimum(ns, n_db)
    if engine == "kernel" and not bucket_ranking.available():
        _warn_once(bucket_ranking.NOT_BUILT)
        engine = "sort"
    if engine == "kernel" and bits > bucket_ranking.MAX_BITS:  # codes longer than any the project trains
        engine = "sort"
    if engine == "kernel":
        ranking = bucket_ranking.BucketRanking(db_words, db_label_words, bits, k, clipped_ns)
    elif engine == "sort":
        from dcmh_tf.evaluation.sorted_ranking import SortedRanking

        ranking = SortedRanking(db_words, db_label_words, bits, k, clipped_ns)
    else:
        raise DataError(f"engine: expected one of {', '.join(ENGINES)}, received {engine!r}.")

    def score(rows: slice) -> dict[str, np.ndarray]:
        return ranking.score(query_words[rows], query_label_words[rows])

    chunks = [slice(start, min(start + CHUNK_QUERIES, n_query)) for start in range(0, n_query, CHUNK_QUERIES)]
    with ThreadPoolExecutor(min(THREADS, len(chunks))) as pool:
        parts = list(tqdm(pool.map(score, chunks), total=len(chunks), desc="ranking", unit="chunk",
                          disable=None if progress else True, leave=False))
    merged = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def mean_ap(ap: np.ndarray, has_relevant: np.ndarray) -> float:
        if exclude_empty:
            return float(ap[has_relevant].mean()) if has_relevant.any() else 0.0
        return float(ap.mean())

    within = merged["within"].sum(axis=0)  # pairs within radius r, r = 0..bits
    relevant_within = merged["relevant_within"].sum(axis=0)
    total_relevant = relevant_within[-1]
    return {
        "map": mean_ap(merged["ap"], merged["n_relevant"] > 0),
        "map_at_k": mean_ap(merged["ap_k"], merged["n_relevant_k"] > 0),
        "topk": k,
        "precision_at_n": {int(n): float(merged["hits_at_n"][:, i].mean() / min(n, n_db)) for i, n in enumerate(ns)},
        "lookup_precision": np.divide(relevant_within, within, out=np.zeros(bits + 1), where=within > 0),
        "lookup_recall": relevant_within / total_relevant if total_relevant else np.zeros(bits + 1),
    }
