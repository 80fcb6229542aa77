"""The compiled kernel of the retrieval metrics: a Hamming ranking read from counts per distance.

Per query, two passes over the database in database order and one over its relevant items, nothing
sorted:

1. Keys: for every item, its Hamming distance d (XOR + popcount of the packed codes) and whether it
   shares a label with the query (AND of the packed labels), kept in one byte ((d << 1) | relevant).
2. Places: walking the keys in database order with one running count per distance gives every item
   its place among the items of its own distance (ties in database order) and, at the end, the number
   of items at each distance; the (place, distance) of each relevant item is kept.
3. Ranks: the counts say where each distance starts in the ranking, so a kept item's rank is that
   start plus its place, and its position t among the relevant items is the same count over relevant
   items. That is the stable sort of the distances, in O(n + c) instead of O(n log n).

The ranks of the relevant items, in increasing order, are all that MAP, MAP@k and P@N need; the
counts per distance are the hash-lookup curve. Why the second pass is needed: with ties in database
order, the precision t / rank of a relevant item depends on how many items of its own distance come
before it in the database, so counts per distance alone do not give MAP, at any distance.

Floating point: the precision of the t-th relevant item is (1 / rank) · t and the sums are NumPy's
pairwise summation (blocks of 128, eight accumulators), so every figure is bit-identical to the
sorting engine (`sorted_ranking`) that came before this kernel.

The passes are C, compiled through Cython when the package is installed (`_bucket_kernel.pyx`,
setup.py): a plain extension module, so evaluating costs no runtime compiler in memory (numba, the
kernel's first home, kept about 130 MB of LLVM resident). The kernel releases the GIL: `metrics` runs
blocks of queries on a few threads. Where the module was not built (no C compiler at install time),
`available()` says so and `metrics` falls back to the sorting engine, with a warning.
"""

from __future__ import annotations

import numpy as np

from dcmh_tf.evaluation.sorted_ranking import empty_scores

try:
    from dcmh_tf.evaluation._bucket_kernel import score_queries
except ImportError:  # built without a C compiler: `available()` is False
    score_queries = None

NOT_BUILT = ("the compiled evaluation kernel (dcmh_tf/evaluation/_bucket_kernel.pyx) was not built when "
             "dcmh-tf was installed (no C compiler then?): the NumPy sorting engine scores instead, with "
             "the same figures, 2–3× slower. To build the kernel, install a C compiler (e.g. apt install "
             "gcc) and reinstall: pip install -e . (or pip install --force-reinstall dcmh-tf).")


# (distance << 1) | relevant is kept in 16 bits, and a place's distance in 16 bits of a 64-bit word
MAX_BITS = 32767


def available() -> bool:
    """Whether the compiled kernel was built with this installation."""
    return score_queries is not None


class BucketRanking:
    """The scores of blocks of queries against one database (the interface of `SortedRanking`).

    db_words (n_db, w) uint64 packed codes; db_label_words (n_db, lw) packed labels (uint32 or uint64,
    held as uint64); bits: code length c; k: the cut of MAP@k (≤ n_db); ns: the N of P@N (each ≤ n_db).
    """

    def __init__(self, db_words: np.ndarray, db_label_words: np.ndarray, bits: int, k: int, ns: np.ndarray):
        self.db_words = np.ascontiguousarray(db_words, np.uint64)
        self.db_label_words = np.ascontiguousarray(db_label_words, np.uint64)
        self.bits, self.k = int(bits), int(k)
        self.ns = np.ascontiguousarray(ns, np.int64)
        self.reciprocals = 1.0 / np.arange(1.0, len(self.db_words) + 1)  # as the sorting engine computes them

    def score(self, query_words: np.ndarray, query_label_words: np.ndarray) -> dict[str, np.ndarray]:
        """Per query of the block (b queries): AP over the whole ranking and the top k, relevant
        counts, relevant among the first N (each N of `ns`), and the numbers of pairs and relevant
        pairs within Hamming radius r = 0..bits."""
        b, bits = len(query_words), self.bits
        part = empty_scores(b, bits, len(self.ns))
        score_queries(np.ascontiguousarray(query_words, np.uint64),
                      np.ascontiguousarray(query_label_words, np.uint64),
                      self.db_words, self.db_label_words, bits, self.k, self.ns, self.reciprocals,
                      part["ap"], part["ap_k"], part["n_relevant"], part["n_relevant_k"], part["hits_at_n"],
                      part["within"], part["relevant_within"])
        return part
