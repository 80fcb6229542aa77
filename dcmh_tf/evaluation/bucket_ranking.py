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

The kernel releases the GIL: `metrics` runs blocks of queries on a few threads.
"""

from __future__ import annotations

import numba
import numba.extending
import numpy as np

from dcmh_tf.evaluation.sorted_ranking import empty_scores


@numba.njit(cache=True, nogil=True)
def _block_sum(values, start, n):
    """NumPy's float64 sum of at most 128 values: eight accumulators, then the rest in order."""
    if n < 8:
        total = 0.0
        for i in range(start, start + n):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    i = 8
    while i < n - (n % 8):
        j = start + i
        r0 += values[j]
        r1 += values[j + 1]
        r2 += values[j + 2]
        r3 += values[j + 3]
        r4 += values[j + 4]
        r5 += values[j + 5]
        r6 += values[j + 6]
        r7 += values[j + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += values[start + i]
        i += 1
    return total


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(values, start, n):
    """NumPy's float64 pairwise sum of values[start:start + n], in NumPy's order of additions: above
    128 values, the sum of the two halves (the first a multiple of 8 long), recursively.

    The recursion runs on an explicit stack: numba's cache of a recursive function crashes on load.
    """
    if n <= 128:
        return _block_sum(values, start, n)
    # frames: start, size, stage (0: left half next, 1: right half next, 2: add), the left half's sum
    starts = np.empty(64, np.int64)
    sizes = np.empty(64, np.int64)
    stages = np.zeros(64, np.int64)
    lefts = np.empty(64, np.float64)
    depth = 0
    starts[0], sizes[0], stages[0] = start, n, 0
    returned = 0.0
    while depth >= 0:
        size = sizes[depth]
        if size <= 128:
            returned = _block_sum(values, starts[depth], size)
            depth -= 1
            continue
        half = size // 2
        half -= half % 8
        if stages[depth] == 0:
            stages[depth] = 1
            depth += 1
            starts[depth], sizes[depth], stages[depth] = starts[depth - 1], half, 0
        elif stages[depth] == 1:
            lefts[depth] = returned
            stages[depth] = 2
            depth += 1
            starts[depth], sizes[depth], stages[depth] = starts[depth - 1] + half, size - half, 0
        else:
            returned = lefts[depth] + returned
            depth -= 1
    return returned


@numba.extending.intrinsic
def _popcount(typingctx, word):
    """The number of set bits of a uint64, as an int64: LLVM's ctpop, one popcnt instruction."""
    if word != numba.types.uint64:
        return None

    def codegen(context, builder, signature, arguments):
        return builder.ctpop(arguments[0])

    return numba.types.int64(numba.types.uint64), codegen


@numba.njit(cache=True, nogil=True)
def _keys(query_words, query_labels, db_words, db_labels, keys):
    """Pass 1 of one query: keys[i] = (distance << 1) | relevant for every database item i.

    query_words (w,), db_words (n_db, w): packed codes; query_labels (lw,), db_labels (n_db, lw).
    One word of code and one of labels (up to 64 bits and 64 labels) is a loop that LLVM turns into
    SIMD XOR, popcount and AND (AVX-512 VPOPCNTQ where the CPU has it); wider codes or label sets
    loop over their words.
    """
    n_db, n_words = db_words.shape
    n_label_words = db_labels.shape[1]
    if n_words == 1 and n_label_words == 1:
        _keys_of_one_word(db_words[:, 0], db_labels[:, 0], query_words[0], query_labels[0], keys)
        return
    for i in range(n_db):
        distance = 0
        for w in range(n_words):
            distance += _popcount(db_words[i, w] ^ query_words[w])
        relevant = 0
        for w in range(n_label_words):
            relevant |= (db_labels[i, w] & query_labels[w]) != 0
        keys[i] = (distance << 1) | relevant


@numba.njit(cache=True, nogil=True)
def _keys_of_one_word(codes, labels, word, label, keys):
    # a loop of its own: the vectorizer takes it whole (inside `_keys` it stayed scalar)
    for i in range(codes.shape[0]):
        keys[i] = (_popcount(codes[i] ^ word) << 1) | ((labels[i] & label) != 0)


@numba.njit(cache=True, nogil=True)
def _relevant_ranks(keys, counts, relevant_counts, places, ranks):
    """Passes 2 and 3 of one query: the 0-based rank of each relevant item, in increasing order,
    into ranks[:n_relevant]; returns n_relevant. counts, relevant_counts (c + 1,): filled with the
    items and relevant items at each distance; places (n_db + 1,): scratch.

    Pass 2 walks the database in order and gives each item its place among the items of its own
    distance (ties in database order); a relevant item's (place, distance) is kept, without a branch:
    every item writes its pair at the end of the kept list, which only a relevant item lengthens.
    Pass 3 turns each kept pair into a rank, once the counts say where each distance starts.
    """
    counts[:] = 0
    n_relevant = 0
    for i in range(len(keys)):
        key = np.int64(keys[i])
        distance = key >> 1
        place = counts[distance]
        counts[distance] = place + 1
        places[n_relevant] = (place << 16) | distance
        n_relevant += key & 1
    relevant_counts[:] = 0
    for j in range(n_relevant):
        relevant_counts[places[j] & 0xFFFF] += 1
    # where each distance starts: in the ranking (starts) and among the relevant items (next_relevant)
    bits = len(counts) - 1
    starts = np.empty(bits + 1, np.int64)
    next_relevant = np.empty(bits + 1, np.int64)
    items, hits = 0, 0
    for d in range(bits + 1):
        starts[d], next_relevant[d] = items, hits
        items += counts[d]
        hits += relevant_counts[d]
    for j in range(n_relevant):
        distance = places[j] & 0xFFFF
        t = next_relevant[distance]
        next_relevant[distance] = t + 1
        ranks[t] = starts[distance] + (places[j] >> 16)
    return n_relevant


@numba.njit(cache=True, nogil=True)
def score_queries(query_words, query_labels, db_words, db_labels, bits, k, ns, key_sample, reciprocals,
                  ap, ap_k, n_relevant, n_relevant_k, hits_at_n, within, relevant_within):
    """Every score of each query, written into the output arrays (one row per query).

    query_words (b, w) uint64, db_words (n_db, w) uint64: packed codes; query_labels (b, lw),
    db_labels (n_db, lw): packed labels (uint32 or uint64); k: ranks of MAP@k (≤ n_db); ns: N of P@N
    (each ≤ n_db); key_sample: a 1-element array of the per-item key dtype (uint8 up to 127 bits,
    else uint16); reciprocals (n_db,): 1 / rank for ranks 1..n_db. Outputs: ap, ap_k (b,) float64; n_relevant, n_relevant_k (b,) int64;
    hits_at_n (b, len(ns)) int64; within, relevant_within (b, bits + 1) int64, items and relevant
    items within Hamming radius r.
    """
    n_db = db_words.shape[0]
    n_query = query_words.shape[0]
    keys = np.empty(n_db, key_sample.dtype)
    counts = np.empty(bits + 1, np.int64)
    relevant_counts = np.empty(bits + 1, np.int64)
    places = np.empty(n_db + 1, np.int64)
    ranks = np.empty(n_db, np.int64)
    precision = np.empty(n_db, np.float64)
    for q in range(n_query):
        _keys(query_words[q], query_labels[q], db_words, db_labels, keys)
        total = _relevant_ranks(keys, counts, relevant_counts, places, ranks)
        items, hits = 0, 0
        for d in range(bits + 1):
            items += counts[d]
            hits += relevant_counts[d]
            within[q, d], relevant_within[q, d] = items, hits
        in_top_k = np.searchsorted(ranks[:total], k)
        for t in range(total):
            precision[t] = reciprocals[ranks[t]] * (t + 1.0)
        top_sum = _pairwise_sum(precision, 0, in_top_k)
        ap[q] = (top_sum + _pairwise_sum(precision, in_top_k, total - in_top_k)) / max(total, 1)
        ap_k[q] = top_sum / max(in_top_k, 1)
        n_relevant[q], n_relevant_k[q] = total, in_top_k
        for j in range(len(ns)):
            hits_at_n[q, j] = np.searchsorted(ranks[:total], ns[j])


class BucketRanking:
    """The scores of blocks of queries against one database (the interface of `SortedRanking`).

    db_words (n_db, w) uint64 packed codes; db_label_words (n_db, lw) packed labels; bits: code
    length c; k: the cut of MAP@k (≤ n_db); ns: the N of P@N (each ≤ n_db).
    """

    def __init__(self, db_words: np.ndarray, db_label_words: np.ndarray, bits: int, k: int, ns: np.ndarray):
        self.db_words = np.ascontiguousarray(db_words, np.uint64)
        self.db_label_words = np.ascontiguousarray(db_label_words)
        self.bits, self.k = int(bits), int(k)
        self.ns = np.ascontiguousarray(ns, np.int64)
        # (distance << 1) | relevant in one byte up to 127 bits
        self.reciprocals = 1.0 / np.arange(1.0, len(self.db_words) + 1)  # as the sorting engine computes them
        self.key_sample = np.zeros(1, np.uint8 if 2 * self.bits + 1 <= np.iinfo(np.uint8).max else np.uint16)

    def score(self, query_words: np.ndarray, query_label_words: np.ndarray) -> dict[str, np.ndarray]:
        """Per query of the block (b queries): AP over the whole ranking and the top k, relevant
        counts, relevant among the first N (each N of `ns`), and the numbers of pairs and relevant
        pairs within Hamming radius r = 0..bits."""
        b, bits = len(query_words), self.bits
        part = empty_scores(b, bits, len(self.ns))
        score_queries(np.ascontiguousarray(query_words, np.uint64),
                      np.ascontiguousarray(query_label_words, self.db_label_words.dtype),
                      self.db_words, self.db_label_words, bits, self.k, self.ns, self.key_sample, self.reciprocals,
                      part["ap"], part["ap_k"], part["n_relevant"], part["n_relevant_k"], part["hits_at_n"],
                      part["within"], part["relevant_within"])
        return part
