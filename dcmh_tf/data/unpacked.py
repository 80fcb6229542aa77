"""An unpacked copy of a dataset's pictures: one uncompressed (N, H, W, 3) uint8 `.npy` file.

The authors' files (and the prepared ones) hold the pictures gzip-compressed in HDF5, in MATLAB's
axis order. Reading them costs about 0.8 ms of CPU per 224×224 picture (decompression, then the
transpose to (H, W, 3)), and h5py does it one picture at a time per process, behind one lock. The
unpacked copy costs none of that: it is memory-mapped, a batch is one `np.take` (a copy NumPy makes
without holding the GIL, so tf.data's parallel calls copy at once), and the operating system's
page cache keeps what fits in memory. Measured in docs/training-hardware.md
(`scripts/benchmark_pipeline.py --unpacked`).

Why this and not TFRecord shards: a shard is read whole and in order, so per-row shuffling would
become a shuffle buffer, and the batches Algorithm 1 sees (and a resumed run relies on) would
change. A memory-mapped array keeps random access: the same rows in the same order, the same
batches, bit for bit, as reading the original file. The price is disk: 147 KiB per 224×224
picture (NUS-WIDE's 195,834 pictures: 29.5 GB; MIRFLICKR-25K: 2.9 GB).

Beside `<copy>.npy` a `<copy>.npy.json` records the source file (path, size, modification time),
the array's name in it and the shape; `open_unpacked` refuses a copy whose source has changed
since, so a stale copy is never read silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from dcmh_tf.data.images import PixelStack
from dcmh_tf.data.validation import check_output_file
from dcmh_tf.errors import DataError

FORMAT = "dcmh-tf unpacked pixels"
VERSION = 1
BLOCK_ROWS = 256  # rows read from the source at a time: a few tens of MB


def sidecar_path(path: Path) -> Path:
    return Path(f"{path}.json")


def default_copy_path(source: Path) -> Path:
    """Where `dcmh-tf datasets unpack` puts the copy of `source` unless told: beside it, <stem>.pixels.npy."""
    return Path(source).with_name(f"{Path(source).stem}.pixels.npy")


def source_identity(path: Path) -> dict:
    """What tells a source file apart from a changed one: its resolved path, size and mtime."""
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def unpack_pixels(stack: PixelStack, source: Path, key: str, output: Path, *, progress: bool = False) -> Path:
    """Write the pictures of `stack` (read from the array `key` of the file `source`) to `output`
    as an (N, H, W, 3) uint8 `.npy` file, and its `.json` record. Written under a temporary name
    and renamed at the end, so an interrupted run leaves no half copy under the final name."""
    from tqdm.auto import tqdm

    output = check_output_file(output, ".npy")
    partial = output.with_name(output.name + ".partial")
    shape = tuple(stack.shape)
    needed = int(np.prod(shape))
    free = _free_bytes(output.parent)
    if free is not None and free < needed:
        raise DataError(f"{output.parent}: the copy needs {needed / 2**30:.1f} GiB and the disk has "
                        f"{free / 2**30:.1f} GiB free; choose another --output.")
    copy = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
    try:
        with tqdm(total=shape[0], desc="unpacking pictures", unit="picture", disable=None if progress else True) as bar:
            for start in range(0, shape[0], BLOCK_ROWS):
                stop = min(start + BLOCK_ROWS, shape[0])
                copy[start:stop] = stack[np.arange(start, stop)]
                bar.update(stop - start)
        copy.flush()
    except BaseException:
        del copy
        partial.unlink(missing_ok=True)
        raise
    del copy
    record = {"format": FORMAT, "version": VERSION, "source": source_identity(source), "key": key,
              "shape": list(shape)}
    sidecar_path(output).write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, output)
    return output


def open_unpacked(path: Path, original: PixelStack, source: Path) -> PixelStack:
    """The unpacked copy `path` in place of `original` (the same pictures read from the file
    `source`): a `PixelStack` over the memory-mapped array, resized as `original` would be.
    Refused, with the fix, when the copy is missing, not a copy, of another shape, or made from a
    source file that has changed since."""
    path = Path(path)
    unpack = f"dcmh-tf datasets unpack {source} --output {path}"
    if not path.is_file():
        raise DataError(f"the unpacked copy {path} (--pixels): no such file; make the copy with `{unpack}`.")
    try:
        record = json.loads(sidecar_path(path).read_text())
    except FileNotFoundError:
        raise DataError(f"the unpacked copy {path} (--pixels): its record {sidecar_path(path).name} is missing, so it cannot be "
                        f"checked against {source}; make the copy again with `{unpack}`.") from None
    except (OSError, ValueError) as error:
        raise DataError(f"the unpacked copy {path} (--pixels): its record {sidecar_path(path).name} is unreadable ({error}); "
                        f"make the copy again with `{unpack}`.") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise DataError(f"the unpacked copy {path} (--pixels): {sidecar_path(path).name} is not the record of an unpacked copy; "
                        f"make the copy with `{unpack}`.")
    now = source_identity(source)
    made_from = record.get("source", {})
    if made_from.get("path") != now["path"]:
        raise DataError(f"the unpacked copy {path} (--pixels): this copy was made from {made_from.get('path')}, not from {now['path']}; "
                        f"give the copy of this file, or make one with `{unpack}`.")
    if (made_from.get("size"), made_from.get("mtime_ns")) != (now["size"], now["mtime_ns"]):
        raise DataError(f"the unpacked copy {path} (--pixels): {source} has changed since the copy was made (size or modification "
                        f"time differ); make the copy again with `{unpack}`.")
    try:
        pixels = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise DataError(f"the unpacked copy {path} (--pixels): not a readable .npy file ({error}); make the copy again with "
                        f"`{unpack}`.") from None
    if pixels.dtype != np.uint8 or tuple(pixels.shape) != tuple(original.shape):
        raise DataError(f"the unpacked copy {path} (--pixels): expected uint8 pictures of shape {tuple(original.shape)} (those of "
                        f"{source}), received {pixels.dtype} {tuple(pixels.shape)}; the copy is damaged or of "
                        f"another array: make it again with `{unpack}`.")
    return PixelStack(pixels, (0, 1, 2, 3), output_size=original.output_size, name=f"{path} (unpacked {original.name})")


def _free_bytes(folder: Path) -> int | None:
    try:
        stat = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return stat.f_bavail * stat.f_frsize
