"""MAP of Hamming ranking at NUS-WIDE scale: dcmh_tf's engine against a plain NumPy implementation
and faiss.

Random ±1 codes (2,100 queries × 193,734 database items, 64 bits by default) and 21-label
multi-hot labels (each label present with probability 0.1, at least one per item). Each method
runs in its own process, so its peak RSS (ru_maxrss, which includes the ~0.1 GB of the data and
the interpreter) is its own:

- engine: `dcmh_tf.evaluation.metrics.mean_average_precision` over all queries (exact, ties in database
  order): the compiled kernel (C through Cython, `dcmh_tf.evaluation.bucket_ranking`);
- engine-all: `dcmh_tf.evaluation.metrics.retrieval_scores` (MAP, MAP@500, P@N, hash-lookup PR) in one pass;
- sort: the same scores through the NumPy sorting engine the kernel replaced (`engine="sort"`), and
  whether every figure of the two is identical to the last bit;
- numpy: the reference repositories' `calc_map` (per query: float distances 0.5·(c − B·q),
  `np.argsort`, cumulative precision), timed on `--reference-queries` queries and extrapolated;
- faiss: `faiss.IndexBinaryFlat.search` with k = database size (a full ranking is what MAP needs),
  MAP from its result, timed on `--faiss-queries` queries and extrapolated. Needs faiss-cpu
  (a dependency of the package); skipped when it is missing.

Timings on a shared machine are noisy: the script prints wall and CPU seconds, each the best of
`--repeats` runs, the CPU model and the load average. The kernel's first call in a process (the
module's import and a tiny problem) is printed apart, not in the best of the repeats.

Targets (issue 24): the engine ≤ 0.5 s wall at NUS scale with --threads 2, figures identical to the
sorting engine to the last bit, and equal to the stable NumPy reference (12 digits printed); the
engine's peak RSS no higher than the sorting engine's 141 MB (the data, made before either runs,
set that peak).

    python scripts/benchmark_eval.py                      # the README table
    python scripts/benchmark_eval.py --n-db 20000 --reference-queries 50    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

METHODS = ("engine", "engine-all", "sort", "numpy", "faiss")


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-query", type=int, default=2100)
    parser.add_argument("--n-db", type=int, default=193_734)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--labels", type=int, default=21)
    parser.add_argument("--threads", type=int, default=2, help="threads of the engine, faiss and BLAS")
    parser.add_argument("--reference-queries", type=int, default=200, help="queries timed for the NumPy reference")
    parser.add_argument("--faiss-queries", type=int, default=200, help="queries timed for faiss")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each method; the fastest is reported")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    return parser.parse_args()


def make_problem(args):
    import numpy as np

    rng = np.random.default_rng(args.seed)

    def codes(n):
        return np.where(rng.random((n, args.bits), dtype=np.float32) < 0.5, 1, -1).astype(np.int8)

    def labels(n):
        matrix = rng.random((n, args.labels), dtype=np.float32) < 0.1
        matrix[np.arange(n), rng.integers(0, args.labels, n)] = True  # at least one label per item
        return matrix.astype(np.uint8)

    return codes(args.n_query), codes(args.n_db), labels(args.n_query), labels(args.n_db)


def reference_map(query_codes, db_codes, query_labels, db_labels, kind="quicksort") -> float:
    """The reference repositories' calc_map (DCMH, PyTorch port): float distances, argsort per query."""
    import numpy as np

    bits = query_codes.shape[1]
    db_codes, db_labels_t = db_codes.astype(np.float32), db_labels.T.astype(np.float32)
    total = 0.0
    for i in range(len(query_codes)):
        relevant = (query_labels[i].astype(np.float32) @ db_labels_t > 0).astype(np.float32)
        n_relevant = int(relevant.sum())
        if n_relevant == 0:
            continue
        distances = 0.5 * (bits - db_codes @ query_codes[i].astype(np.float32))
        relevant = relevant[np.argsort(distances, kind=kind)]
        ranks = np.flatnonzero(relevant == 1) + 1.0
        total += np.mean(np.arange(1, n_relevant + 1) / ranks)
    return total / len(query_codes)


def faiss_map(query_codes, db_codes, query_labels, db_labels, threads: int) -> tuple[float, float]:
    """(MAP from faiss' full ranking, seconds spent in faiss' search)."""
    import faiss
    import numpy as np

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexBinaryFlat(query_codes.shape[1])
    index.add(np.packbits(db_codes > 0, axis=1))
    packed_queries = np.packbits(query_codes > 0, axis=1)
    n_db, searching, total = len(db_codes), 0.0, 0.0
    for start in range(0, len(query_codes), 8):  # 8 full rankings at a time: 8 × n_db × 12 bytes
        started = time.perf_counter()
        _, order = index.search(packed_queries[start:start + 8], n_db)
        searching += time.perf_counter() - started
        for row, i in enumerate(range(start, min(start + 8, len(query_codes)))):
            relevant = (db_labels[order[row]] & query_labels[i]).any(axis=1)
            ranks = np.flatnonzero(relevant) + 1.0
            if len(ranks):
                total += np.mean(np.arange(1, len(ranks) + 1) / ranks)
    return total / len(query_codes), searching


def run_child(args) -> dict:
    """Run one method in this process and return its figures."""
    import numpy as np

    query_codes, db_codes, query_labels, db_labels = make_problem(args)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_timed = {"numpy": args.reference_queries, "faiss": args.faiss_queries}.get(args.child, args.n_query)
    figures = {}
    if args.child in ("engine", "engine-all"):  # the compiled module imported before the clock
        from dcmh_tf.evaluation.metrics import mean_average_precision
        started = time.perf_counter()
        mean_average_precision(query_codes[:1], db_codes[:100], query_labels[:1], db_labels[:100])
        figures["first_call_seconds"] = time.perf_counter() - started
    n_timed = min(n_timed, args.n_query)
    subset = slice(0, n_timed)
    from dcmh_tf.evaluation import metrics
    from dcmh_tf.evaluation.metrics import mean_average_precision, retrieval_scores

    metrics.THREADS = args.threads

    if args.child == "faiss":
        import faiss  # noqa: F401  (imported before the clock starts, like the engine)
    timed_sort = None  # the sorting engine's scores from its timed run, compared with the kernel's below

    def run_method():
        nonlocal timed_sort
        if args.child == "engine":
            return mean_average_precision(query_codes, db_codes, query_labels, db_labels)
        if args.child == "engine-all":
            return retrieval_scores(query_codes, db_codes, query_labels, db_labels, topk=500).map
        if args.child == "sort":
            timed_sort = retrieval_scores(query_codes, db_codes, query_labels, db_labels, topk=500, engine="sort")
            return timed_sort.map
        if args.child == "numpy":
            return reference_map(query_codes[subset], db_codes, query_labels[subset], db_labels)
        value, figures["search_seconds"] = faiss_map(query_codes[subset], db_codes, query_labels[subset], db_labels,
                                                     args.threads)
        return value

    def run_engine_on_subset():
        return mean_average_precision(query_codes[subset], db_codes, query_labels[subset], db_labels)

    # The best of a few runs: on a shared machine the least disturbed run is the closest to the method's cost.
    # A baseline timed on a subset alternates with the engine on the same subset, so that the ratio of
    # the two compares runs made under the same load.
    wall, cpu, engine_wall = float("inf"), float("inf"), float("inf")
    for _ in range(args.repeats):
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        value = run_method()
        wall, cpu = min(wall, time.perf_counter() - started_wall), min(cpu, time.process_time() - started_cpu)
        if args.child in ("numpy", "faiss"):
            started_wall = time.perf_counter()
            run_engine_on_subset()
            engine_wall = min(engine_wall, time.perf_counter() - started_wall)
    figures["engine_seconds_same_queries"] = engine_wall
    figures.update(method=args.child, map=value, n_timed=n_timed, seconds=wall, cpu_seconds=cpu,
                   peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, data_rss_mb=rss_data)
    if args.child == "sort":  # every figure of both engines, compared bit for bit
        kernel, reference = retrieval_scores(query_codes, db_codes, query_labels, db_labels, topk=500), timed_sort
        figures["identical"] = {
            "map": kernel.map == reference.map, "map_at_500": kernel.map_at_k == reference.map_at_k,
            "precision_at_n": kernel.precision_at_n == reference.precision_at_n,
            "lookup_precision": bool(np.array_equal(kernel.lookup_precision, reference.lookup_precision)),
            "lookup_recall": bool(np.array_equal(kernel.lookup_recall, reference.lookup_recall)),
        }
        figures["kernel_map"], figures["kernel_map_at_500"] = kernel.map, kernel.map_at_k
    if args.child in ("numpy", "faiss"):
        # The same queries through the engine, and through the reference with a stable sort: the
        # engine's MAP is exact with ties in database order, which the stable reference also gives.
        figures["engine_map_same_queries"] = run_engine_on_subset()
        if args.child == "numpy":
            check = slice(0, min(n_timed, 20))
            figures["stable_reference_map_20"] = reference_map(query_codes[check], db_codes, query_labels[check],
                                                               db_labels, kind="stable")
            figures["engine_map_20"] = mean_average_precision(query_codes[check], db_codes, query_labels[check],
                                                              db_labels)
    return figures


def main() -> None:
    args = parse_arguments()
    if args.child:
        print(json.dumps(run_child(args)))
        return
    environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
                   "MKL_NUM_THREADS": str(args.threads)}
    print(f"MAP of Hamming ranking: {args.n_query} queries × {args.n_db} database items, {args.bits} bits, "
          f"{args.labels} labels, {args.threads} threads, {os.cpu_count()} CPUs ({cpu_model()}), load average "
          f"{os.getloadavg()[0]:.2f} at the start")
    results = {}
    for method in args.methods:
        command = [sys.executable, __file__, "--child", method] + [
            f"--{name.replace('_', '-')}={value}" for name, value in vars(args).items()
            if name not in ("child", "methods")]
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            print(f"  {method}: skipped ({reason})")
            continue
        results[method] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"best of {args.repeats} runs each")
    print(f"{'method':<44}{'timed queries':>14}{'s (timed)':>11}{'s (all queries)':>17}{'CPU s':>8}"
          f"{'peak RSS MB':>13}{'MAP':>9}")
    names = {"engine": "dcmh_tf mean_average_precision", "engine-all": "dcmh_tf retrieval_scores (all metrics)",
             "sort": "sorting engine (before), all metrics",
             "numpy": "NumPy reference (float argsort per query)", "faiss": "faiss IndexBinaryFlat, k = n_db"}
    for method, figures in results.items():
        scale = args.n_query / figures["n_timed"]
        figures["seconds_all"] = figures["seconds"] * scale
        extrapolated = "*" if scale != 1 else " "
        print(f"{names[method]:<44}{figures['n_timed']:>14}{figures['seconds']:>11.2f}"
              f"{figures['seconds_all']:>16.2f}{extrapolated}{figures['cpu_seconds'] * scale:>8.1f}"
              f"{figures['peak_rss_mb']:>13.0f}{figures['map']:>9.4f}")
    print("* extrapolated linearly from the timed queries")
    if "engine" in results:
        engine = results["engine"]["seconds_all"]
        for method in ("numpy", "faiss"):
            if method in results:
                figures = results[method]
                cpu_ratio = (figures["cpu_seconds"] * args.n_query / figures["n_timed"]) / results["engine"]["cpu_seconds"]
                print(f"engine vs {method}: {figures['seconds_all'] / engine:.1f}× faster (wall), {cpu_ratio:.1f}× less "
                      f"CPU time; MAP of the same {figures['n_timed']} queries: engine "
                      f"{figures['engine_map_same_queries']:.6f}, {method} {figures['map']:.6f}")
                print(f"  alternating runs on the same {figures['n_timed']} queries: {method} "
                      f"{figures['seconds']:.2f} s, engine {figures['engine_seconds_same_queries']:.2f} s: "
                      f"{figures['seconds'] / figures['engine_seconds_same_queries']:.1f}×")
                if method == "faiss":
                    print(f"  faiss search alone: {figures['search_seconds'] * args.n_query / figures['n_timed']:.1f} s "
                          f"for all queries")
        if "numpy" in results:
            figures = results["numpy"]
            equal = f"{figures['engine_map_20']:.12f}" == f"{figures['stable_reference_map_20']:.12f}"
            print(f"exactness, first 20 queries: engine {figures['engine_map_20']:.12f}, reference with a stable "
                  f"sort {figures['stable_reference_map_20']:.12f}: {'equal' if equal else 'DIFFERENT'} to 12 digits "
                  f"(the reference sums t / rank, the engine (1 / rank) · t: the last bits may differ)")
        figures = results["engine"]
        from dcmh_tf.evaluation._bucket_kernel import keys_instructions

        print(f"engine: first call in its process {figures['first_call_seconds']:.2f} s (the compiled module "
              f"imported), not counted above; keys with {keys_instructions()}; peak RSS "
              f"{figures['peak_rss_mb']:.1f} MB, of which {figures['data_rss_mb']:.1f} MB peak before the engine "
              f"ran (making the data)")
        # Each process makes the same data first, and that sets a peak (141 MB at NUS scale, the issue's
        # figure) that two processes reach within a fraction of a MB: compare what each engine adds above it.
        added = figures["peak_rss_mb"] - figures["data_rss_mb"]
        if "sort" in results:
            allowed = results["sort"]["peak_rss_mb"] - results["sort"]["data_rss_mb"]
            what = f"the sorting engine's peak ({results['sort']['peak_rss_mb']:.1f} MB, {allowed:+.1f} MB above its data)"
        else:
            allowed, what = 0.0, "the data's peak (the sorting engine was not run)"
        memory = added <= allowed + 0.5
        print(f"target (engine peak RSS no higher than {what}): {'met' if memory else 'NOT met'} "
              f"({figures['peak_rss_mb']:.1f} MB, {added:+.1f} MB above its data)")
        target = engine <= 0.5
        print(f"target (engine ≤ 0.5 s wall, {args.threads} threads): {'met' if target else 'NOT met'} "
              f"({engine:.2f} s, {figures['cpu_seconds']:.2f} CPU s; load average {os.getloadavg()[0]:.2f} at the end)")
    if "sort" in results:
        figures = results["sort"]
        same = all(figures["identical"].values())
        print(f"exactness, all {args.n_query} queries: kernel and sorting engine identical to the last bit in "
              f"{', '.join(name for name, equal in figures['identical'].items() if equal) or 'nothing'}"
              f"{'' if same else '; DIFFERENT in ' + ', '.join(n for n, e in figures['identical'].items() if not e)}"
              f" (MAP {figures['kernel_map']!r}, MAP@500 {figures['kernel_map_at_500']!r}): "
              f"{'met' if same else 'NOT met'}")
        if "engine-all" in results:
            print(f"all metrics, kernel vs the sorting engine it replaced: "
                  f"{figures['seconds_all'] / results['engine-all']['seconds_all']:.1f}× faster (wall), "
                  f"{figures['cpu_seconds'] / results['engine-all']['cpu_seconds']:.1f}× less CPU time")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"

if __name__ == "__main__":
    main()
