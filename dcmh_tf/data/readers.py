"""Reading rows of stored pictures: in this process (`read_rows`), or with reader processes for an
HDF5 (MATLAB v7.3) file (`ReaderPool`). `images.PixelStack` uses both; neither knows it.

h5py serialises every call in a process behind one lock, so one process decompresses one picture
at a time whatever its thread count. A `ReaderPool` runs k spawned processes, each with its own
handle on the file; the caller's threads (tf.data's parallel map) hand each a batch of rows, so k
batches are read at once. The pixels come back through shared memory blocks that are reused from
batch to batch: pickling a 19 MB batch through a pipe took as long as reading it, and so did
writing into fresh shared memory (every page faulted in and zeroed), measured on this machine.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
import weakref
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

import numpy as np

from dcmh_tf.data.matfile import CHUNK_CACHE_BYTES


def read_rows(stored, axes: tuple[int, int, int, int], rows: np.ndarray,
              lock: threading.Lock | None = None) -> np.ndarray:
    """Pixels (b, H, W, 3) of the increasing `rows` of `stored` (an h5py dataset or a NumPy array whose
    axes `axes` hold item, height, width, channel), read in this process. `lock` is held around each
    HDF5 request (see `PixelStack`); a NumPy array needs none."""
    if isinstance(stored, np.ndarray):  # in memory or memory-mapped (an unpacked copy): one take
        return np.transpose(np.take(stored, rows, axis=axes[0]), axes)
    # Consecutive rows are read as one slice: one HDF5 request per run instead of per row.
    runs = np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1) if rows.size else []
    parts = []
    for run in runs:
        index = [slice(None)] * 4
        index[axes[0]] = slice(int(run[0]), int(run[-1]) + 1)
        with lock or contextlib.nullcontext():
            parts.append(np.transpose(np.asarray(stored[tuple(index)]), axes))
    if not parts:
        return np.zeros((0,) + tuple(int(stored.shape[axis]) for axis in axes[1:]), stored.dtype)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


class ReaderPool:
    """`readers` processes reading rows of the dataset `key` of the HDF5 file `path`, as
    `PixelStack(dataset, axes)[rows]` would in this process. Thread-safe; `close` ends them."""

    def __init__(self, path: str, key: str, axes: tuple[int, int, int, int], item_shape: tuple[int, ...],
                 dtype: np.dtype, readers: int):
        self.path, self.key, self.axes = path, key, tuple(axes)
        self.item_shape, self.dtype, self.readers = tuple(item_shape), np.dtype(dtype), readers
        # spawn, not fork: a forked copy of a process running TensorFlow's threads may deadlock
        self._pool = ProcessPoolExecutor(readers, mp_context=multiprocessing.get_context("spawn"))
        self._blocks: queue.SimpleQueue = queue.SimpleQueue()  # free shared memory blocks
        self._finalizer = weakref.finalize(self, _shut_down, self._pool, self._blocks)
        # start every process and open the file in it now: a file they cannot open fails here, not mid-epoch
        blocks = [self._block(1, None) for _ in range(readers)]
        try:
            for future in [self._submit(np.zeros(1, np.int64), block) for block in blocks]:
                future.result()
        finally:
            for block in blocks:
                self._blocks.put(block)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Pixels of `rows` (increasing), shape (len(rows),) + item_shape. The rows are split among
        the readers, so that one batch is read by all of them at once."""
        parts = [part for part in np.array_split(rows, self.readers) if len(part)] or [rows]
        blocks = [self._block(len(part), self._free_block()) for part in parts]
        try:
            for future in [self._submit(part, block) for part, block in zip(parts, blocks)]:
                future.result()
            return np.concatenate([np.ndarray((len(part),) + self.item_shape, self.dtype, buffer=block.buf)
                                   for part, block in zip(parts, blocks)])
        finally:
            for block in blocks:
                self._blocks.put(block)

    def _free_block(self) -> shared_memory.SharedMemory | None:
        try:
            return self._blocks.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        self._finalizer()

    def _block(self, n_rows: int, block: shared_memory.SharedMemory | None) -> shared_memory.SharedMemory:
        """`block` when it holds `n_rows` pictures, else a new one (the old one freed)."""
        size = max(1, n_rows * self.dtype.itemsize * int(np.prod(self.item_shape)))
        if block is not None and block.size >= size:
            return block
        if block is not None:
            _free(block)
        return shared_memory.SharedMemory(create=True, size=max(size, 128 * (size // max(n_rows, 1))))

    def _submit(self, rows: np.ndarray, block: shared_memory.SharedMemory):
        return self._pool.submit(read_into_block, self.path, self.key, self.axes, rows, block.name, self.dtype.str)


def _free(block: shared_memory.SharedMemory) -> None:
    block.close()
    block.unlink()


def _shut_down(pool: ProcessPoolExecutor, blocks: queue.SimpleQueue) -> None:
    pool.shutdown(wait=True, cancel_futures=True)
    while not blocks.empty():
        _free(blocks.get())


# in a reader process: its open datasets and the shared memory blocks it has attached, by name
_DATASETS: dict = {}
_ATTACHED: dict[str, shared_memory.SharedMemory] = {}


def read_into_block(path: str, key: str, axes: tuple[int, int, int, int], rows: np.ndarray, block: str,
                    dtype: str) -> None:
    """In a reader process: `rows` of the stack `key` of `path` (opened once per process) written into
    the shared memory block named `block` (attached once; its creator unlinks it)."""
    dataset = _DATASETS.get((path, key))
    if dataset is None:
        import h5py

        dataset = _DATASETS[path, key] = h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)[key]
    memory = _ATTACHED.get(block)
    if memory is None:
        memory = _ATTACHED[block] = shared_memory.SharedMemory(name=block)
    pixels = read_rows(dataset, axes, rows)
    np.ndarray(pixels.shape, np.dtype(dtype), buffer=memory.buf)[...] = pixels
