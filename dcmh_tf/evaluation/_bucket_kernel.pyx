# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled passes of `bucket_ranking` (read that module's docstring first): C through Cython,
built when the package is installed (setup.py), called without the GIL.

Floating point: NumPy's float64 pairwise summation is reproduced addition for addition, and the
module is compiled with -ffp-contract=off (no fused multiply-adds), so every figure is bit-identical
to the NumPy sorting engine (`sorted_ranking`) on any CPU.
"""

from libc.stdint cimport int64_t, uint16_t, uint64_t

import numpy as np

cdef extern from *:
    """
    #include <stdint.h>
    static inline long long dcmh_popcount64(unsigned long long word) { return __builtin_popcountll(word); }

    /* The keys of one-word codes and labels: the loop the vectorizer takes whole. On x86-64 with GCC or
       clang it is compiled twice and chosen per CPU at run time: with AVX-512 VPOPCNTQ (eight popcounts
       per instruction) where the CPU has it, else with the POPCNT of the whole module. */
    #define DCMH_KEYS_OF_ONE_WORD_BODY \
        for (Py_ssize_t i = 0; i < n; i++) { \
            keys[i] = (uint16_t)((__builtin_popcountll(codes[i] ^ word) << 1) | ((labels[i] & label) != 0)); \
        }
    static void dcmh_keys_of_one_word_plain(const uint64_t *codes, const uint64_t *labels, uint64_t word,
                                            uint64_t label, uint16_t *keys, Py_ssize_t n) {
        DCMH_KEYS_OF_ONE_WORD_BODY
    }
    #if defined(__x86_64__) && defined(__GNUC__)
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq")))
    static void dcmh_keys_of_one_word_vpopcnt(const uint64_t *codes, const uint64_t *labels, uint64_t word,
                                              uint64_t label, uint16_t *keys, Py_ssize_t n) {
        DCMH_KEYS_OF_ONE_WORD_BODY
    }
    #endif
    static int dcmh_vpopcnt(void) {
    #if defined(__x86_64__) && defined(__GNUC__)
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512bw")
               && __builtin_cpu_supports("avx512vl");
    #else
        return 0;
    #endif
    }
    static void dcmh_keys_of_one_word(const uint64_t *codes, const uint64_t *labels, uint64_t word,
                                      uint64_t label, uint16_t *keys, Py_ssize_t n, int vpopcnt) {
    #if defined(__x86_64__) && defined(__GNUC__)
        if (vpopcnt) { dcmh_keys_of_one_word_vpopcnt(codes, labels, word, label, keys, n); return; }
    #endif
        dcmh_keys_of_one_word_plain(codes, labels, word, label, keys, n);
    }
    """
    long long dcmh_popcount64(unsigned long long word) nogil
    void dcmh_keys_of_one_word(const uint64_t *codes, const uint64_t *labels, uint64_t word, uint64_t label,
                               uint16_t *keys, Py_ssize_t n, int vpopcnt) nogil
    int dcmh_vpopcnt() nogil

# AVX-512 VPOPCNTQ for the one-word keys where the CPU has it (asked once, when the module loads)
cdef int VPOPCNT = dcmh_vpopcnt()


def keys_instructions() -> str:
    """The popcount of the one-word keys loop on this CPU: "AVX-512 VPOPCNTQ" or "POPCNT"."""
    return "AVX-512 VPOPCNTQ" if VPOPCNT else "POPCNT"


def use_vpopcnt(flag: bool) -> bool:
    """Choose the keys loop (tests run both where the CPU has VPOPCNTQ); returns the previous choice.
    The loop with VPOPCNTQ is only taken where the CPU has it."""
    global VPOPCNT
    previous = bool(VPOPCNT)
    VPOPCNT = 1 if (flag and dcmh_vpopcnt()) else 0
    return previous


cdef double _block_sum(const double[::1] values, Py_ssize_t start, Py_ssize_t n) noexcept nogil:
    """NumPy's float64 sum of at most 128 values: eight accumulators, then the rest in order."""
    cdef double total, r0, r1, r2, r3, r4, r5, r6, r7
    cdef Py_ssize_t i, j
    if n < 8:
        total = 0.0
        for i in range(start, start + n):
            total += values[i]
        return total
    r0 = values[start]; r1 = values[start + 1]; r2 = values[start + 2]; r3 = values[start + 3]
    r4 = values[start + 4]; r5 = values[start + 5]; r6 = values[start + 6]; r7 = values[start + 7]
    i = 8
    while i < n - (n % 8):
        j = start + i
        r0 += values[j]; r1 += values[j + 1]; r2 += values[j + 2]; r3 += values[j + 3]
        r4 += values[j + 4]; r5 += values[j + 5]; r6 += values[j + 6]; r7 += values[j + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += values[start + i]
        i += 1
    return total


cdef double _pairwise_sum(const double[::1] values, Py_ssize_t start, Py_ssize_t n) noexcept nogil:
    """NumPy's float64 pairwise sum of values[start:start + n]: above 128 values, the sum of the two
    halves (the first a multiple of 8 long), recursively, in NumPy's order of additions."""
    cdef Py_ssize_t half
    if n <= 128:
        return _block_sum(values, start, n)
    half = n // 2
    half -= half % 8
    return _pairwise_sum(values, start, half) + _pairwise_sum(values, start + half, n - half)


cdef void _keys(const uint64_t[::1] query_words, const uint64_t[::1] query_labels,
                const uint64_t[:, ::1] db_words, const uint64_t[:, ::1] db_labels, uint16_t[::1] keys) noexcept nogil:
    """Pass 1 of one query: keys[i] = (distance << 1) | relevant for every database item i."""
    cdef Py_ssize_t n_db = db_words.shape[0], n_words = db_words.shape[1], n_label_words = db_labels.shape[1]
    cdef Py_ssize_t i, w
    cdef long long distance
    cdef int relevant
    if n_words == 1 and n_label_words == 1:  # up to 64 bits and 64 labels: one straight loop
        dcmh_keys_of_one_word(&db_words[0, 0], &db_labels[0, 0], query_words[0], query_labels[0], &keys[0], n_db,
                              VPOPCNT)
        return
    for i in range(n_db):
        distance = 0
        for w in range(n_words):
            distance += dcmh_popcount64(db_words[i, w] ^ query_words[w])
        relevant = 0
        for w in range(n_label_words):
            relevant |= (db_labels[i, w] & query_labels[w]) != 0
        keys[i] = <uint16_t>((distance << 1) | relevant)


cdef Py_ssize_t _relevant_ranks(const uint16_t[::1] keys, int64_t[::1] counts, int64_t[::1] relevant_counts,
                                int64_t[::1] places, int64_t[::1] ranks, int64_t[::1] starts,
                                int64_t[::1] next_relevant) noexcept nogil:
    """Passes 2 and 3 of one query: the 0-based rank of each relevant item, in increasing order,
    into ranks[:n_relevant]; returns n_relevant. counts, relevant_counts (c + 1,): filled with the
    items and relevant items at each distance; places (n_db + 1,), starts, next_relevant (c + 1,):
    scratch.

    Pass 2 walks the database in order and gives each item its place among the items of its own
    distance (ties in database order); a relevant item's (place, distance) is kept, without a branch:
    every item writes its pair at the end of the kept list, which only a relevant item lengthens.
    Pass 3 turns each kept pair into a rank, once the counts say where each distance starts.
    """
    cdef Py_ssize_t i, j, d, n_relevant = 0, n_distances = counts.shape[0]
    cdef int64_t key, distance, place, items = 0, hits = 0, t
    for d in range(n_distances):
        counts[d] = 0
        relevant_counts[d] = 0
    for i in range(keys.shape[0]):
        key = keys[i]
        distance = key >> 1
        place = counts[distance]
        counts[distance] = place + 1
        places[n_relevant] = (place << 16) | distance
        n_relevant += key & 1
    for j in range(n_relevant):
        relevant_counts[places[j] & 0xFFFF] += 1
    # where each distance starts: in the ranking (starts) and among the relevant items (next_relevant)
    for d in range(n_distances):
        starts[d] = items
        next_relevant[d] = hits
        items += counts[d]
        hits += relevant_counts[d]
    for j in range(n_relevant):
        distance = places[j] & 0xFFFF
        t = next_relevant[distance]
        next_relevant[distance] = t + 1
        ranks[t] = starts[distance] + (places[j] >> 16)
    return n_relevant


cdef Py_ssize_t _first_at_least(const int64_t[::1] sorted_values, Py_ssize_t n, int64_t value) noexcept nogil:
    """np.searchsorted(sorted_values[:n], value) (side "left")."""
    cdef Py_ssize_t low = 0, high = n, middle
    while low < high:
        middle = (low + high) // 2
        if sorted_values[middle] < value:
            low = middle + 1
        else:
            high = middle
    return low


def score_queries(const uint64_t[:, ::1] query_words, const uint64_t[:, ::1] query_labels,
                  const uint64_t[:, ::1] db_words, const uint64_t[:, ::1] db_labels, int bits, int64_t k,
                  const int64_t[::1] ns, const double[::1] reciprocals,
                  double[::1] ap, double[::1] ap_k, int64_t[::1] n_relevant, int64_t[::1] n_relevant_k,
                  int64_t[:, ::1] hits_at_n, int64_t[:, ::1] within, int64_t[:, ::1] relevant_within):
    """Every score of each query, written into the output arrays (one row per query), without the GIL.

    query_words (b, w), db_words (n_db, w): packed codes; query_labels (b, lw), db_labels (n_db, lw):
    packed labels; bits: code length c (≤ 32,767); k: ranks of MAP@k (≤ n_db); ns: N of P@N (each ≤ n_db);
    reciprocals (n_db,): 1 / rank for ranks 1..n_db. Outputs: ap, ap_k (b,) float64; n_relevant,
    n_relevant_k (b,) int64; hits_at_n (b, len(ns)) int64; within, relevant_within (b, bits + 1) int64,
    items and relevant items within Hamming radius r.
    """
    cdef Py_ssize_t n_db = db_words.shape[0], n_query = query_words.shape[0]
    if bits < 1 or 2 * bits + 1 > 65535:
        raise ValueError(f"bits: expected 1 to 32767, received {bits}")
    cdef uint16_t[::1] keys = np.empty(n_db, np.uint16)
    cdef int64_t[::1] counts = np.empty(bits + 1, np.int64)
    cdef int64_t[::1] relevant_counts = np.empty(bits + 1, np.int64)
    cdef int64_t[::1] starts = np.empty(bits + 1, np.int64)
    cdef int64_t[::1] next_relevant = np.empty(bits + 1, np.int64)
    cdef int64_t[::1] places = np.empty(n_db + 1, np.int64)
    cdef int64_t[::1] ranks = np.empty(max(n_db, 1), np.int64)
    cdef double[::1] precision = np.empty(max(n_db, 1), np.float64)
    cdef Py_ssize_t q, d, t, j, total, in_top_k
    cdef int64_t items, hits
    cdef double top_sum
    with nogil:
        for q in range(n_query):
            _keys(query_words[q], query_labels[q], db_words, db_labels, keys)
            total = _relevant_ranks(keys, counts, relevant_counts, places, ranks, starts, next_relevant)
            items = 0
            hits = 0
            for d in range(bits + 1):
                items += counts[d]
                hits += relevant_counts[d]
                within[q, d] = items
                relevant_within[q, d] = hits
            in_top_k = _first_at_least(ranks, total, k)
            for t in range(total):
                precision[t] = reciprocals[ranks[t]] * (t + 1.0)
            top_sum = _pairwise_sum(precision, 0, in_top_k)
            ap[q] = (top_sum + _pairwise_sum(precision, in_top_k, total - in_top_k)) / (total if total > 1 else 1)
            ap_k[q] = top_sum / (in_top_k if in_top_k > 1 else 1)
            n_relevant[q] = total
            n_relevant_k[q] = in_top_k
            for j in range(ns.shape[0]):
                hits_at_n[q, j] = _first_at_least(ranks, total, ns[j])
