"""Stream epochs of images from a NUS-WIDE-sized MATLAB v7.3 file and print images/s and peak RSS.

    python scripts/benchmark_pipeline.py                       # 195,834 × 3×224×224, the NUS-WIDE TC-21 size
    python scripts/benchmark_pipeline.py --images 500 --size 32   # a quick check
    python scripts/benchmark_pipeline.py --images 10000 --size 224 --readers 1 2 --rounds 2

Each round streams one epoch per reader count (`PixelStack.use_readers`: 1 = h5py in this process,
k > 1 = k reader processes), alternating, so that the machine's load falls alike on each; first,
the ceiling: the bytes/s of a plain sequential read of the whole file (`open().read()`, no HDF5).

    python scripts/benchmark_pipeline.py --images 10000 --size 224 --readers 1 2 --unpacked --threads 1 2 --rounds 2
    python scripts/benchmark_pipeline.py --path DIR/COLLECTION.mat --key images --images 2192 --unpacked   # real pictures

`--unpacked` also writes the unpacked copy (`dcmh-tf datasets unpack`, dcmh_tf/data/unpacked.py),
timing it, and streams the same epochs from it with 1, 2, ... tf.data threads (`--threads`), with
its own ceiling: a sequential read of the uncompressed copy, whose bytes are the pictures' own.

The file is generated first when it is missing: stored as the authors' `IAll` (HDF5 (N, 3, 224, 224)
uint8 = MATLAB (224, 224, 3, N)), one chunk per image, gzip. The pixels are low-entropy (a few
distinct patterns) so that the file is small on disk; every chunk is still decompressed on read.
Chunks are compressed once and written with `write_direct_chunk`, so generation takes seconds.
The epoch goes through the same pipeline as training (`dcmh_tf.data.pipeline.make_dataset`): rows
in shuffled order, read batch by batch from the file, uint8 → float32 in the graph.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import zlib
from pathlib import Path

import h5py
import numpy as np

from dcmh_tf.data.matfile import MAT_V73_USERBLOCK, matlab_storage_shape, tag_matlab_class, write_mat_v73_header
from dcmh_tf.data.unpacked import sidecar_path

PATTERNS = 16
KEY = "IAll"  # the pictures' array in a generated file


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def generate(path: Path, n: int, size: int) -> None:
    """A v7.3 file holding `IAll`: n pictures size×size, one gzip chunk each."""
    storage = matlab_storage_shape((size, size, 3, n))  # (n, 3, size, size) in HDF5
    chunk_shape = (1, 3, size, size)
    rows = np.arange(size)[:, None]
    chunks = []
    for k in range(PATTERNS):  # horizontal bands of a few grey levels: low entropy, not constant
        picture = np.broadcast_to(((rows // 16 + k) * 37 % 256).astype(np.uint8), (size, size))
        chunks.append(zlib.compress(np.broadcast_to(picture, chunk_shape).tobytes(), 4))
    with h5py.File(path, "w", userblock_size=MAT_V73_USERBLOCK) as f:
        images = f.create_dataset("IAll", shape=storage, dtype=np.uint8, chunks=chunk_shape, compression="gzip",
                                  compression_opts=4)
        tag_matlab_class(images, np.uint8)
        for i in range(n):
            images.id.write_direct_chunk((i, 0, 0, 0), chunks[i % PATTERNS])
    write_mat_v73_header(path)


def sequential_read(path: Path, block: int = 16 * 2**20) -> tuple[int, float]:
    """Bytes and seconds of a plain read of the whole file, in `block`-sized reads."""
    started, total = time.perf_counter(), 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(block):
            total += len(chunk)
    return total, time.perf_counter() - started


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) used so far by this process and by its ended children (the readers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def stream_epoch(path: Path, n: int, batch_size: int, shuffled: bool, readers: int = 1,
                 unpacked: Path | None = None, threads: int | None = None, key: str = KEY) -> tuple[int, float, tuple]:
    """Images read, seconds taken and (this process's, the readers') CPU seconds for one pass over all
    n rows with `readers` reader processes, or from the copy `unpacked` with `threads` tf.data threads."""
    from tqdm.auto import tqdm

    from dcmh_tf.data.images import open_pixel_stack
    from dcmh_tf.data.matfile import open_array_file
    from dcmh_tf.data.pipeline import make_dataset
    from dcmh_tf.data.unpacked import open_unpacked

    with open_array_file(path) as file:
        stack = open_pixel_stack(file, key, n)
        if unpacked is not None:
            stack = open_unpacked(unpacked, stack, path)
        else:
            stack.use_readers(readers)
        order = np.random.default_rng(0).permutation(n) if shuffled else np.arange(n)
        batches = make_dataset(stack, np.arange(n), order, batch_size, parallel_reads=threads)
        seen, checksum = 0, 0.0
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        for _, values in tqdm(batches, total=-(-n // batch_size), unit="batch", file=sys.stderr):
            seen += int(values.shape[0])
            checksum += float(values[0, 0, 0, 0])  # touch the data, as a training step would
        seconds = time.perf_counter() - started
        if unpacked is None:
            stack.use_readers(1)  # stops the reader processes, whose CPU time then counts in RUSAGE_CHILDREN
        cpu = tuple(after - before for after, before in zip(cpu_seconds(), cpu_before))
        return seen, seconds, cpu


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=195_834, help="pictures in the file (NUS-WIDE TC-21: 195,834)")
    parser.add_argument("--size", type=int, default=224, help="picture side")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--path", type=Path, default=None, help="file to use or create [default: /tmp/...]")
    parser.add_argument("--sequential", action="store_true", help="read rows in file order instead of shuffled")
    parser.add_argument("--readers", type=int, nargs="+", default=[1], help="reader counts to measure [default: 1]")
    parser.add_argument("--rounds", type=int, default=1, help="epochs per reader count, alternating [default: 1]")
    parser.add_argument("--key", default=KEY, help="the pictures' array in an existing --path file [default: IAll]; "
                        "e.g. images for a prepared file (dcmh-tf datasets prepare)")
    parser.add_argument("--unpacked", action="store_true", help="also measure the unpacked copy of the file")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="tf.data threads reading the unpacked copy [default: 1 2]")
    parser.add_argument("--keep", action="store_true", help="keep a generated file (and its unpacked copy)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    path = args.path or Path(f"/tmp/dcmh-benchmark-{args.images}x{args.size}-iall.mat")
    generated = not path.exists()
    if generated:
        started = time.perf_counter()
        generate(path, args.images, args.size)
        print(f"generated {path}: {args.images} images 3×{args.size}×{args.size}, "
              f"{path.stat().st_size / 2**20:.1f} MiB on disk ({args.images * 3 * args.size**2 / 2**30:.1f} GiB of "
              f"pixels) in {time.perf_counter() - started:.1f} s")
    size, seconds = sequential_read(path)
    per_image = size / args.images
    print(f"ceiling: plain sequential read of the file {size / seconds / 2**20:.0f} MiB/s "
          f"({size / 2**20:.0f} MiB in {seconds:.2f} s; {per_image / 1024:.1f} KiB per image on disk, "
          f"so {size / seconds / per_image:.0f} images/s before decompression)")
    copy = None
    if args.unpacked:
        copy = unpack(path, args.images, args.key)
    before = peak_rss_mib()
    variants = [(f"{readers} reader(s)", {"readers": readers}) for readers in args.readers]
    if copy is not None:
        variants += [(f"unpacked, {threads} thread(s)", {"unpacked": copy, "threads": threads})
                     for threads in args.threads]
    rates = {name: [] for name, _ in variants}
    for round_ in range(args.rounds):
        for name, options in variants:
            seen, seconds, (main_cpu, reader_cpu) = stream_epoch(path, args.images, args.batch_size,
                                                                 not args.sequential, key=args.key, **options)
            rates[name].append(seen / seconds)
            print(f"round {round_ + 1}, {name}: streamed {seen} images "
                  f"({'file order' if args.sequential else 'shuffled'}, batch {args.batch_size}) in {seconds:.1f} s: "
                  f"{seen / seconds:.0f} images/s; CPU per image {1000 * main_cpu / seen:.2f} ms in this process"
                  + (f", {1000 * reader_cpu / seen:.2f} ms in the readers" if options.get("readers", 1) > 1 else ""),
                  flush=True)
    first = variants[0][0]
    for name, values in rates.items():
        print(f"{name}: {' / '.join(f'{v:.0f}' for v in values)} images/s "
              f"(×{np.mean(values) / np.mean(rates[first]):.2f} of {first})")
    print(f"peak RSS {peak_rss_mib():.0f} MiB (before streaming {before:.0f} MiB)")
    if generated and not args.keep:
        path.unlink()
        if copy is not None:
            copy.unlink()
            sidecar_path(copy).unlink()


def unpack(path: Path, n: int, key: str = KEY) -> Path:
    """The unpacked copy of `path` beside it (made now, timed, when missing), after printing its ceiling."""
    from dcmh_tf.data.images import open_pixel_stack
    from dcmh_tf.data.matfile import open_array_file
    from dcmh_tf.data.unpacked import default_copy_path, unpack_pixels

    copy = default_copy_path(path)
    if not copy.exists() or not sidecar_path(copy).exists():
        started = time.perf_counter()
        with open_array_file(path) as file:
            unpack_pixels(open_pixel_stack(file, key, n), path, key, copy)
        seconds = time.perf_counter() - started
        print(f"unpacked copy {copy}: {copy.stat().st_size / 2**20:.0f} MiB written in {seconds:.1f} s "
              f"({n / seconds:.0f} images/s)")
    size, seconds = sequential_read(copy)
    print(f"ceiling of the copy: plain sequential read {size / seconds / 2**20:.0f} MiB/s "
          f"({size / 2**20:.0f} MiB in {seconds:.2f} s, {size / n / 1024:.1f} KiB per image: "
          f"{size / seconds / (size / n):.0f} images/s; from the page cache when the file fits in memory)")
    return copy


if __name__ == "__main__":
    main()
