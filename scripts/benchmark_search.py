"""Benchmark of the Hamming index types (`dcmh_tf.retrieval.index`) on random and clustered codes.

    python scripts/benchmark_search.py                       # 1M and 10M 64-bit codes, every index type
    python scripts/benchmark_search.py --sizes 1000000 --types flat multihash --queries 100

For each database (size × generator) it builds every index type, times its build and the top-k
search of the same queries (one call, all queries, best of --repeats), and scores recall@10 and
recall@100 against the exact answer. Recall counts ties: a code found is right when it is as near
as the exact k-th neighbour (any of several equally near codes is a correct answer). Beside them:
faiss's own IndexBinaryFlat (what `flat` adds to it: index-order ties) and the project's earlier
NumPy linear scan (`dcmh_tf.retrieval.index.linear_scan_search`).

Generators (seeded):
    random     every bit an independent fair coin: no structure, the hardest case for any index
    clustered  n/1000 centres drawn like random codes; each item is a centre with 0–4 of its bits
               flipped (uniform count, random positions); queries are fresh draws from the same
               centres. Codes learned by a hashing model put similar items a few bits apart.
Memory: bytes of the serialized faiss index (the codes included), and the peak RSS of the process.

Milvus (`--milvus lite server`, needs `pip install 'dcmh-tf[milvus]'`): the same codes written into a
collection of embedded Milvus Lite (a file in --milvus-dir) and of a Milvus server (--milvus-server URI; token
from $DCMH_MILVUS_TOKEN), flat (BIN_FLAT) and, on the server, ivf (BIN_IVF_FLAT, faiss's nlist and nprobe).
Each row gives the insert rate (codes/s, batched inserts of 10,000), p50 / p99 of one top-10 query at a time
through `MilvusIndex.find` (ties in database order kept in project code: one or two engine calls), recall@10
against the exact answer, and the peak memory of the engine's process (Lite's or the server's, from
/proc/PID/status VmHWM). faiss rows for the same comparison: one query at a time too.
Target (issue 24): the exact search with ties in index order (`HammingIndex.search`, flat) within
1.1× of faiss's `IndexBinaryFlat.search` (unordered ties) for the top --target-k (10) of the same
queries: the two alternate --target-repeats times and the best of each is compared, on every database;
one line each, "met" or "NOT met". `--exact-only` prints only those lines.

    python scripts/benchmark_search.py --sizes 1000000 --generators random --exact-only   # issue 24's figure
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

from dcmh_tf.retrieval.index import INDEX_TYPES, HammingIndex, default_parameters, linear_scan_search

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_eval import cpu_model  # noqa: E402  (one reading of /proc/cpuinfo for every benchmark)


def random_packed(rng, n, bits):
    return rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)


def clustered_packed(rng, n, bits, centres):
    centre_bits = rng.integers(0, 2, size=(centres, bits), dtype=np.uint8)
    out = np.empty((n, bits // 8), np.uint8)
    step = 1_000_000  # bounded memory: n × bits bytes at once would be 640 MB at 10M
    for start in range(0, n, step):
        m = min(step, n - start)
        items = centre_bits[rng.integers(0, centres, m)]
        flips = rng.integers(0, 5, m)
        positions = rng.integers(0, bits, size=(m, 4))
        for j in range(4):
            rows = np.flatnonzero(flips > j)
            items[rows, positions[rows, j]] ^= 1
        out[start:start + m] = np.packbits(items, axis=1)
    return out, centre_bits


def unpack(packed, bits):
    return np.where(np.unpackbits(packed, axis=1)[:, :bits] > 0, 1, -1).astype(np.int8)


def recall(distances, exact_distances, k):
    """Share of the k results that are as near as the exact k-th neighbour."""
    found = (distances[:, :k] >= 0) & (distances[:, :k] <= exact_distances[:, k - 1:k])
    return float(found.mean())


def timed(function, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def exact_versus_faiss(index, raw, queries, packed_queries, k, repeats):
    """Best seconds of `index.search` (ties in index order) and of faiss's own search, alternating."""
    ours, theirs = float("inf"), float("inf")
    for _ in range(repeats):
        ours = min(ours, timed(lambda: index.search(queries, k), 1)[0])
        theirs = min(theirs, timed(lambda: raw.search(packed_queries, k), 1)[0])
    return ours, theirs


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def benchmark_codes(generator: str, n: int, n_queries: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(packed database codes (n, bits/8), ±1 queries (n_queries, bits)) of `generator`, seeded: the same
    codes for every engine that is measured on them."""
    rng = np.random.default_rng(0)
    if generator == "random":
        return random_packed(rng, n, bits), unpack(random_packed(rng, n_queries, bits), bits)
    packed, _ = clustered_packed(rng, n + n_queries, bits, max(1, n // 1000))
    return packed[:n], unpack(packed[n:], bits)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--generators", nargs="+", default=["random", "clustered"], choices=["random", "clustered"])
    parser.add_argument("--types", nargs="+", default=list(INDEX_TYPES), choices=list(INDEX_TYPES))
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scan-max", type=int, default=10_000_000, help="skip the NumPy scan above this size")
    parser.add_argument("--milvus", nargs="*", default=[], choices=["lite", "server"],
                        help="also Milvus Lite and/or a Milvus server (one top-10 query at a time)")
    parser.add_argument("--milvus-server", default="http://127.0.0.1:19530", help="URI of the Milvus server")
    parser.add_argument("--milvus-server-pid", type=int, default=None, help="the server's pid, for its peak memory")
    parser.add_argument("--milvus-dir", default="/tmp/dcmh-benchmark-milvus", help="folder of the Lite file")
    parser.add_argument("--milvus-queries", type=int, default=100, help="single queries timed per Milvus row")
    parser.add_argument("--target-k", type=int, default=10, help="k of the exact search against faiss")
    parser.add_argument("--target-repeats", type=int, default=7, help="alternating runs of the exact comparison")
    parser.add_argument("--exact-only", action="store_true", help="only the exact search against faiss")
    args = parser.parse_args(argv)
    if args.milvus:
        return milvus_main(args)
    import faiss

    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}, {args.bits} bits, {args.queries} queries, top 100", flush=True)
    if not args.exact_only:
        print("| codes | generator | index | parameters | build s | index MB | queries/s | × exact | recall@10 | recall@100 |")
        print("|---:|---|---|---|---:|---:|---:|---:|---:|---:|", flush=True)
    for n in args.sizes:
        for generator in args.generators:
            packed, queries = benchmark_codes(generator, n, args.queries, args.bits)
            label = f"{n:,}"
            exact = HammingIndex(packed, args.bits)
            build, _ = timed(lambda: exact.faiss_index, 1)
            raw = faiss.IndexBinaryFlat(args.bits)
            raw.add(packed)
            packed_queries = np.packbits(queries > 0, axis=1)
            ours, theirs = exact_versus_faiss(exact, raw, queries, packed_queries, args.target_k, args.target_repeats)
            ratio = ours / theirs
            print(f"# exact top-{args.target_k}, {label} {generator} codes, {args.queries} queries: HammingIndex.search "
                  f"{ours:.3f} s (ties in index order), faiss IndexBinaryFlat {theirs:.3f} s: {ratio:.2f}×, best of "
                  f"{args.target_repeats} alternating, load average {os.getloadavg()[0]:.1f}; target ≤ 1.1×: "
                  f"{'met' if ratio <= 1.1 else 'NOT met'}", flush=True)
            if args.exact_only:
                continue
            exact_time, (_, exact_distances) = timed(lambda: exact.search(queries, 100), args.repeats)
            exact_qps = args.queries / exact_time

            def row(name, parameters, build_s, size_mb, seconds, distances):
                qps = args.queries / seconds
                r10 = recall(distances, exact_distances, 10) if distances is not None else float("nan")
                r100 = recall(distances, exact_distances, 100) if distances is not None else float("nan")
                print(f"| {label} | {generator} | {name} | {parameters} | {build_s:.1f} | {size_mb:.0f} | "
                      f"{qps:,.0f} | {qps / exact_qps:.2f} | {r10:.3f} | {r100:.3f} |", flush=True)

            seconds, (raw_distances, _) = timed(lambda: raw.search(packed_queries, 100), args.repeats)
            row("faiss IndexBinaryFlat (unordered ties)", "", 0.0, packed.nbytes / 2**20, seconds,
                raw_distances.astype(np.int32))
            if n <= args.scan_max:
                seconds, (_, scan_distances) = timed(lambda: linear_scan_search(exact, queries, 100), 1)
                row("NumPy linear scan (before faiss)", "", 0.0, packed.nbytes / 2**20, seconds, scan_distances)
            for index_type in args.types:
                if index_type == "flat":
                    row("flat", "", build, packed.nbytes / 2**20, exact_time, exact_distances)
                    continue
                parameters = default_parameters(index_type, args.bits, n)
                index = HammingIndex(packed, args.bits, index_type=index_type, parameters=parameters)
                build_s, _ = timed(lambda: index.faiss_index, 1)
                size_mb = len(faiss.serialize_index_binary(index.faiss_index)) / 2**20
                seconds, (_, distances) = timed(lambda: index.search(queries, 100), args.repeats)
                shown = " ".join(f"{key}={value}" for key, value in parameters.items())
                row(index_type, shown, build_s, size_mb, seconds, distances)
                del index
            print(f"# peak RSS so far {peak_rss_mb():,.0f} MB, load average {os.getloadavg()[0]:.1f}", flush=True)
    return 0


def engine_peak_mb(pid):
    """Peak resident memory (VmHWM) of process `pid` in MB, or nan."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        pass
    return float("nan")


def lite_pid(db_path):
    """The pid of the milvus-lite process serving `db_path` (a child of this process)."""
    import glob

    for status in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            command = open(status, "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "milvus" in command and str(db_path) in command:
            return int(status.split("/")[2])
    return None


def single_query_times(function, queries):
    times = []
    results = []
    for query in queries:
        start = time.perf_counter()
        results.append(function(query[None]))
        times.append(time.perf_counter() - start)
    return np.array(times) * 1000, results


def milvus_main(args):
    """faiss flat / ivf against Milvus Lite and server, flat and ivf: insert rate, p50/p99 per top-10 query,
    recall@10, peak memory."""
    import faiss

    from dcmh_tf.retrieval.index import default_parameters as faiss_parameters
    from dcmh_tf.retrieval.milvus import BATCH_ROWS, MilvusIndex

    print(f"# {os.cpu_count()} CPUs, faiss {faiss.__version__}, load average {os.getloadavg()[0]:.1f}, {args.bits} bits, "
          f"{args.milvus_queries} single top-10 queries", flush=True)
    print("| codes | generator | engine | index | parameters | insert codes/s | build s | p50 ms | p99 ms | recall@10 | "
          "peak MB |")
    print("|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|", flush=True)
    for n in args.sizes:
        for generator in args.generators:
            packed, queries = benchmark_codes(generator, n, args.milvus_queries, args.bits)
            exact = HammingIndex(packed, args.bits)
            _, exact_distances = exact.search(queries, 10)
            ivf = faiss_parameters("ivf", args.bits, n)

            def row(engine, index_type, parameters, rate, build, times, distances, peak):
                shown = " ".join(f"{k}={v}" for k, v in parameters.items())
                print(f"| {n:,} | {generator} | {engine} | {index_type} | {shown} | {rate} | {build} | "
                      f"{np.percentile(times, 50):.1f} | {np.percentile(times, 99):.1f} | "
                      f"{recall(distances, exact_distances, 10):.3f} | {peak:,.0f} |", flush=True)

            for index_type in ("flat", "ivf"):
                parameters = ivf if index_type == "ivf" else {}
                index = HammingIndex(packed, args.bits, index_type=index_type, parameters=parameters)
                build, _ = timed(lambda: index.faiss_index, 1)
                times, found = single_query_times(lambda q: index.search(q, 10)[1], queries)
                row("faiss", index_type, parameters, "", f"{build:.1f}", times, np.concatenate(found),
                    peak_rss_mb())
                del index
            for engine in args.milvus:
                for index_type in (("flat", "ivf") if engine == "server" else ("flat",)):
                    parameters = ivf if index_type == "ivf" else {}
                    if engine == "lite":
                        os.makedirs(args.milvus_dir, exist_ok=True)
                        path = os.path.join(args.milvus_dir, f"bench_{n}_{generator}.db")
                        for leftover in (path, path + ".lock"):
                            if os.path.exists(leftover):
                                os.remove(leftover)
                        uri = f"milvus://{path}"
                    else:
                        uri = f"milvus://{args.milvus_server}"
                    name = f"bench_{generator}_{index_type}_{n}"
                    from dcmh_tf.retrieval.milvus import collection_exists

                    if collection_exists(uri, name):
                        MilvusIndex.open(uri, name).drop()
                    collection = MilvusIndex.create(uri, name, bits=args.bits, modality="image", index_type=index_type,
                                                    parameters=parameters, rows=n)
                    start = time.perf_counter()
                    ids = np.arange(n)
                    for first in range(0, n, BATCH_ROWS):
                        part = ids[first:first + BATCH_ROWS]
                        collection.insert(part, packed[part], None, part)
                    inserted = time.perf_counter() - start
                    start = time.perf_counter()
                    collection.wait_indexed(timeout=3600)
                    build = time.perf_counter() - start
                    collection.find(queries[:2], top=10)  # warm up
                    times, found = single_query_times(
                        lambda q: np.array([[hit.distance for hit in collection.find(q, top=10)[0]]]), queries)
                    pid = lite_pid(path) if engine == "lite" else args.milvus_server_pid
                    row(f"Milvus {'Lite 2.5.1' if engine == 'lite' else 'server 2.3.5'}", index_type, parameters,
                        f"{n / inserted:,.0f}", f"{build:.1f}", times, np.concatenate(found), engine_peak_mb(pid))
                    collection.drop()
                    collection.client.close()
            print(f"# peak RSS of this process so far {peak_rss_mb():,.0f} MB, load average {os.getloadavg()[0]:.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
