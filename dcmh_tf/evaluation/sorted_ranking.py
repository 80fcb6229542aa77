"""The sorting engine of the retrieval metrics, kept as the reference of the compiled kernel
(`bucket_ranking`): `metrics` used it until the kernel replaced it, and the exactness tests and
`scripts/benchmark_eval.py` compare the two bit for bit (`metrics.ENGINES`).

Each database item becomes one unique integer key (distance, database index, relevant bit): one
vectorised integer sort per query ranks the database exactly, ties in database order, and carries
the relevance along; MAP, MAP@k, P@N and the hash-lookup counts come from the ranks of the relevant
items and the rank where each distance starts. Memory: a few bytes per database item per thread.
"""

from __future__ import annotations

import numpy as np

from dcmh_tf.hashing import packed_hamming_distances

# Ranking keys are 32-bit where (distance, database index, relevance) fits, else 64-bit.
KEY_BITS = 32


def empty_scores(b: int, bits: int, n_ns: int) -> dict[str, np.ndarray]:
    """Zeroed scores of a block of b queries, as both engines return them: ap, ap_k (b,) float64;
    n_relevant, n_relevant_k (b,); hits_at_n (b, n_ns); within, relevant_within (b, bits + 1)."""
    part = {name: np.zeros(b) for name in ("ap", "ap_k")}
    part.update({name: np.zeros(b, np.int64) for name in ("n_relevant", "n_relevant_k")})
    part["hits_at_n"] = np.zeros((b, n_ns), np.int64)
    part["within"] = np.zeros((b, bits + 1), np.int64)
    part["relevant_within"] = np.zeros((b, bits + 1), np.int64)
    return part


def _share_a_label(query_label_words: np.ndarray, db_label_words: np.ndarray) -> np.ndarray:
    """(n_query, n_db) bool: the two items share at least one label."""
    relevant = np.zeros((len(query_label_words), len(db_label_words)), bool)
    for word in range(query_label_words.shape[1]):
        shared = np.bitwise_and(query_label_words[:, word, None], db_label_words[None, :, word])
        relevant |= shared != 0
    return relevant


class SortedRanking:
    """The Hamming ranking of a database for one query at a time, and the scores read from it.

    Each database item becomes one unique integer key (distance, database index, relevant bit):
    sorting a query's keys (NumPy's vectorised quicksort of 32-bit integers where they fit) ranks
    by distance with ties in database order and carries the relevance along. One query at a time,
    the working set (a few bytes per database item) stays in the CPU caches.
    """

    def __init__(self, db_words: np.ndarray, db_label_words: np.ndarray, bits: int, k: int, ns: np.ndarray):
        n_db = len(db_words)
        self.db_words = np.asfortranarray(db_words)  # each word a contiguous column
        self.db_label_words = db_label_words
        self.bits, self.k, self.ns = bits, k, ns
        self.shift = max(1, (n_db - 1).bit_length()) + 1
        self.dtype = np.dtype(np.uint32 if bits.bit_length() + self.shift <= KEY_BITS else np.uint64)
        self.index_field = np.arange(n_db, dtype=self.dtype) << 1
        # key where distance h starts, h = 1..bits+1: the number of smaller keys = items within radius h−1
        self.distance_starts = np.arange(1, bits + 2, dtype=self.dtype) << self.shift
        self.counts = np.arange(1.0, n_db + 1)  # 1, 2, 3, ...: relevant items so far, and ranks
        self.reciprocals = 1.0 / self.counts

    def sorted_keys(self, query_words: np.ndarray, query_label_words: np.ndarray) -> np.ndarray:
        """(n_db,) sorted keys of one query: query_words (w,) packed code, query_label_words its labels."""
        keys = np.empty((1, len(self.db_words)), self.dtype)
        packed_hamming_distances(query_words[None], self.db_words, self.bits, out=keys)
        keys = keys[0]
        keys <<= self.shift
        keys |= self.index_field
        keys |= _share_a_label(query_label_words[None], self.db_label_words)[0]
        keys.sort()
        return keys

    def score(self, query_words: np.ndarray, query_label_words: np.ndarray) -> dict[str, np.ndarray]:
        """Per query of the block: AP over the whole ranking and the top k, relevant counts, relevant
        among the first N (each N of `ns`), and the numbers of pairs and relevant pairs within
        Hamming radius r = 0..bits."""
        b, bits = len(query_words), self.bits
        part = empty_scores(b, bits, len(self.ns))
        for row in range(b):
            keys = self.sorted_keys(query_words[row], query_label_words[row])
            hit_ranks = np.flatnonzero((keys & self.dtype.type(1)).astype(bool))  # 0-based, ascending
            n_relevant = len(hit_ranks)
            n_relevant_k = int(np.searchsorted(hit_ranks, self.k))
            # precision at the t-th relevant item = t / its rank (np.dot would start BLAS threads here)
            precision = self.reciprocals[hit_ranks]
            precision *= self.counts[:n_relevant]
            in_top_k = precision[:n_relevant_k].sum()
            part["n_relevant"][row], part["n_relevant_k"][row] = n_relevant, n_relevant_k
            part["ap"][row] = (in_top_k + precision[n_relevant_k:].sum()) / max(n_relevant, 1)
            part["ap_k"][row] = in_top_k / max(n_relevant_k, 1)
            part["hits_at_n"][row] = np.searchsorted(hit_ranks, self.ns)
            within = np.searchsorted(keys, self.distance_starts)
            part["within"][row] = within
            part["relevant_within"][row] = np.searchsorted(hit_ranks, within)
        return part
