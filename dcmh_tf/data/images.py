"""A lazy (N, H, W, 3) view of an image array stored in one of the layouts the authors' files use.

The DCMH releases hold the pictures as MATLAB (224, 224, 3, N) or (N, 3, 224, 224) uint8 (in a v7.3
file HDF5 stores them with the axes reversed). `PixelStack` finds the item, channel, height and
width axes once and reads any sorted set of rows as (b, H, W, 3), touching only those rows on disk,
so an epoch streams through a file of any size in the memory of a few batches.

`PixelStack.use_readers(k)` reads with k processes (`dcmh_tf.data.readers`), for HDF5 files. Over
a NumPy array (in memory, or the memory-mapped copy of `dcmh_tf.data.unpacked`) a read is one
`np.take`, which tf.data's threads run in parallel.
"""

from __future__ import annotations

import threading

import numpy as np

from dcmh_tf.data.matfile import ArrayFile
from dcmh_tf.data.readers import ReaderPool, read_rows
from dcmh_tf.errors import DataError


class PixelStack:
    """(N, H, W, 3) pixels over a stored array (h5py dataset or NumPy array) of another axis order.

    stored: the array as stored; axes: the stored axes that hold (item, height, width, channel).
    `output_size`: the square size the pipeline resizes the pictures to (None: as stored); the
    resize happens in the tf.data graph, `__getitem__` returns the stored pixels.
    """

    ndim = 4

    def __init__(self, stored, axes: tuple[int, int, int, int], output_size: int | None = None, name: str = "images"):
        if sorted(axes) != [0, 1, 2, 3] or len(stored.shape) != 4:
            raise DataError(f"{name}: expected a 4-axis array and a permutation of its axes, received "
                            f"shape {tuple(stored.shape)} and axes {axes}.")
        self.stored = stored
        self.axes = tuple(axes)
        self.output_size = output_size
        self.name = name
        # tf.data calls __getitem__ from several threads. h5py serialises HDF5 calls with its own lock,
        # which waits while holding the GIL; taking ours first (it releases the GIL while waiting) keeps
        # one reader at a time inside h5py, so that lock is never contended. (Without it, one of two
        # NUS-WIDE-sized benchmark epochs hung at its last batch; the cause was not pinned down.)
        self._lock = threading.Lock()
        self.readers = 1
        self._pool = None  # a dcmh_tf.data.readers.ReaderPool with readers > 1

    def use_readers(self, readers: int) -> None:
        """Read with `readers` processes (`dcmh_tf.data.readers`; 1: in this process). Only an HDF5
        dataset can be reopened by another process; an in-memory array is refused."""
        if not isinstance(readers, int) or readers < 1:
            raise DataError(f"readers must be a positive integer, received {readers!r}.")
        if readers > 1 and not hasattr(self.stored, "file"):
            raise DataError(f"{self.name}: parallel readers reopen an HDF5 file; these pixels are in memory "
                            f"({type(self.stored).__name__}), read them with readers=1.")
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self.readers = readers
        if readers > 1:
            self._pool = ReaderPool(self.stored.file.filename, self.stored.name, self.axes, self.shape[1:], self.dtype,
                                    readers)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(int(self.stored.shape[axis]) for axis in self.axes)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.stored.dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        """Pixels (b, H, W, 3) of `rows` (increasing integers, a slice or one integer)."""
        if isinstance(rows, (int, np.integer)):
            return self[np.asarray([rows])][0]
        if isinstance(rows, slice):
            rows = np.arange(len(self))[rows]
        rows = np.asarray(rows, np.int64)
        if rows.size and np.any(np.diff(rows) <= 0):
            raise DataError(f"{self.name}: rows must be read in increasing order without repeats.")
        if self._pool is not None:
            return self._pool.read(rows)
        return read_rows(self.stored, self.axes, rows, self._lock)

def find_pixel_axes(shape: tuple[int, ...], n_items: int, where: str) -> tuple[int, int, int, int]:
    """Axes (item, height, width, channel) of an image array of `shape`, in the order MATLAB (or
    NumPy) sees it: the item axis is the first or last one of length `n_items`, the channel axis
    has length 3, height and width are the other two, in that order."""
    if len(shape) != 4:
        raise DataError(f"{where}: expected images with 4 axes, e.g. (224, 224, 3, N) or (N, 3, 224, 224); "
                        f"received shape {shape}.")
    for item in (0, 3):
        if shape[item] != n_items:
            continue
        rest = [axis for axis in range(4) if axis != item]
        channels = [axis for axis in rest if shape[axis] == 3]
        if channels:
            channel = channels[0]
            height, width = [axis for axis in rest if axis != channel]
            return item, height, width, channel
    raise DataError(
        f"{where}: cannot tell the image axes in shape {shape}: expected {n_items} items on the first or last "
        f"axis (the row count of the texts and labels) and 3 colour channels, as in (224, 224, 3, {n_items}) "
        f"or ({n_items}, 3, 224, 224)."
    )


def open_pixel_stack(file: ArrayFile, key: str, n_items: int, output_size: int | None = None) -> PixelStack:
    """The images `key` of `file` as a lazy `PixelStack` of `n_items` rows."""
    shape = file.shape(key)
    where = f"{file.path}: {key!r}"
    axes = find_pixel_axes(shape, n_items, where)
    if file.transposed:  # the stored axes are MATLAB's reversed
        axes = tuple(3 - axis for axis in axes)
    stack = PixelStack(file.dataset(key), axes, output_size=output_size, name=where)
    if stack.dtype != np.uint8:
        raise DataError(f"{where}: expected uint8 pixels 0-255, received {stack.dtype}.")
    return stack


# layout name -> axes of (N, H, W, 3) in the order MATLAB sees the array
MATLAB_LAYOUTS = {"HW3N": (1, 2, 3, 0), "N3HW": (0, 3, 1, 2), "NHW3": (0, 1, 2, 3)}


def to_matlab_layout(images: np.ndarray, layout: str = "HW3N") -> np.ndarray:
    """(N, H, W, 3) pictures as MATLAB holds them in one of the authors' layouts: "HW3N" is
    (H, W, 3, N) (MatConvNet's, in FLICKR-25K.mat), "N3HW" is (N, 3, H, W). Save the result with
    `write_mat_v73` or `scipy.io.savemat` to make a file in the authors' format."""
    if layout not in MATLAB_LAYOUTS:
        raise DataError(f"layout: expected one of {', '.join(MATLAB_LAYOUTS)}, received {layout!r}.")
    return np.ascontiguousarray(np.transpose(images, MATLAB_LAYOUTS[layout]))
