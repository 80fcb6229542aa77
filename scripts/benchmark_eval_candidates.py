"""The candidates for the compiled kernel of the retrieval metrics, on their first step (issue 24).

At NUS-WIDE scale (2,100 queries × 193,734 database items, 64 bits, 21 labels; the problem of
`scripts/benchmark_eval.py`), each candidate computes what it can of the per-item work: the
Hamming distance of every (query, item) pair, and where it can, the shared-label bit and the
counts per distance. CPU seconds for all 2,100 queries (timed on --queries and scaled), one thread,
best of --repeats, and the resident memory its runtime adds to the process:

- the compiled kernel (`dcmh_tf.evaluation.bucket_ranking`, C through Cython): every pass (keys, places,
  ranks, sums), for comparison with the candidates' first step; numba, its first home, is no longer a
  dependency (docs/benchmarks.md keeps its figures);
- NumPy (`np.bitwise_count`, the engine before): distances only;
- faiss (`faiss.hammings`, its C++ popcount kernel, 8 queries per call): int32 distances only; faiss
  has no label AND and no per-distance ranking, which are the larger part of the work;
- TensorFlow with XLA (`jit_compile`): distances, relevance and the counts per distance (one-hot sum)
  for 8 queries at a time.

    python scripts/benchmark_eval_candidates.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def best_cpu(function, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200, help="queries timed (scaled to 2,100)")
    parser.add_argument("--tf-queries", type=int, default=40, help="queries timed for TensorFlow")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import numpy as np

    import benchmark_eval

    class Problem:
        n_query, n_db, bits, labels, seed = args.queries, 193_734, 64, 21, 0

    from dcmh_tf.hashing import pack_codes, pack_multi_hot, packed_hamming_distances, to_words

    query_codes, db_codes, query_labels, db_labels = benchmark_eval.make_problem(Problem)
    query_packed, db_packed = pack_codes(query_codes), pack_codes(db_codes)
    query_words, db_words = to_words(query_packed), to_words(db_packed)
    query_label_words, db_label_words = pack_multi_hot(query_labels), pack_multi_hot(db_labels)
    n, q = len(db_words), args.queries
    scale = 2100 / q
    print(f"{q} queries timed, scaled to 2,100; database {n:,}; load average {os.getloadavg()[0]:.2f}; "
          f"CPU {benchmark_eval.cpu_model()}")
    print("| candidate | what it computes | CPU s (2,100 queries, 1 thread) | runtime's resident MB |")
    print("| --- | --- | ---: | ---: |")

    before = rss_mb()
    from dcmh_tf.evaluation import bucket_ranking

    ranking = bucket_ranking.BucketRanking(db_words, db_label_words, 64, n, np.array([100], np.int64))
    ranking.score(query_words[:1], query_label_words[:1])
    added = rss_mb() - before
    seconds = best_cpu(lambda: ranking.score(query_words[:q], query_label_words[:q]), args.repeats)
    print(f"| the compiled kernel (Cython) | every pass: keys, places, ranks, sums | {seconds * scale:.3f} | "
          f"{added:.0f} |", flush=True)

    out = np.empty((1, n), np.uint8)
    seconds = best_cpu(lambda: [packed_hamming_distances(query_words[i:i + 1], db_words, 64, out=out)
                                for i in range(q)], args.repeats)
    print(f"| NumPy bitwise_count | distances | {seconds * scale:.3f} | 0 |", flush=True)

    before = rss_mb()
    import faiss

    faiss.omp_set_num_threads(1)
    distances = np.empty((8, n), np.int32)
    added = rss_mb() - before

    def faiss_run():
        for start in range(0, q - q % 8, 8):
            faiss.hammings(faiss.swig_ptr(np.ascontiguousarray(query_packed[start:start + 8])), faiss.swig_ptr(db_packed),
                           8, n, 8, faiss.swig_ptr(distances))

    seconds = best_cpu(faiss_run, args.repeats) * q / (q - q % 8)
    print(f"| faiss hammings | distances (int32) | {seconds * scale:.3f} | {added:.0f} |", flush=True)

    before = rss_mb()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    db_tensor = tf.constant(db_words[:, 0].view(np.int64))
    db_label_tensor = tf.constant(db_label_words[:, 0].astype(np.int64))

    @tf.function(jit_compile=True)
    def counts(words, labels):
        distance = tf.cast(tf.raw_ops.PopulationCount(x=tf.bitwise.bitwise_xor(db_tensor[None, :], words[:, None])),
                           tf.int32)
        relevant = tf.cast(tf.bitwise.bitwise_and(db_label_tensor[None, :], labels[:, None]) != 0, tf.int32)
        return tf.reduce_sum(tf.one_hot(distance * 2 + relevant, 130, dtype=tf.int32), axis=1)

    words = tf.constant(query_words[:, 0].view(np.int64))
    labels = tf.constant(query_label_words[:, 0].astype(np.int64))
    tq = min(args.tf_queries, q) - min(args.tf_queries, q) % 8
    counts(words[:8], labels[:8]).numpy()  # compilation
    added = rss_mb() - before
    seconds = best_cpu(lambda: [counts(words[s:s + 8], labels[s:s + 8]).numpy() for s in range(0, tq, 8)], 1)
    print(f"| TensorFlow + XLA | distance + relevance, counts per distance | {seconds * 2100 / tq:.3f} | {added:.0f} |")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
