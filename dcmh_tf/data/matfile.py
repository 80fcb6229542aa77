"""Array files as users have them: MATLAB .mat (v7.3 = HDF5, and the older v5 format), plain HDF5
and NumPy .npz, behind one small interface.

MATLAB stores arrays column-major; in a v7.3 file an array MATLAB sees as (N, 1386) is an HDF5
dataset of shape (1386, N). `ArrayFile.shape` and `ArrayFile.read` give MATLAB's view (axes reversed
back); a plain HDF5 file written from Python is read as it is. Large arrays stay on disk:
`ArrayFile.dataset` hands out the h5py dataset itself, to be read in chunks.
"""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from dcmh_tf.errors import DataError

MAT_V73_HEADER = b"MATLAB 7.3 MAT-file"
MAT_V73_USERBLOCK = 512  # MATLAB's v7.3 files start with a 512-byte header before the HDF5 data
# An HDF5 chunk cache big enough for several 224×224×3 images, so that rows read one by one do not
# decompress the same chunk again and again.
CHUNK_CACHE_BYTES = 64 * 2**20
MATLAB_CLASSES = {
    np.dtype("uint8"): "uint8", np.dtype("int8"): "int8", np.dtype("uint16"): "uint16", np.dtype("int16"): "int16",
    np.dtype("uint32"): "uint32", np.dtype("int32"): "int32", np.dtype("float32"): "single",
    np.dtype("float64"): "double", np.dtype("bool"): "logical",
}


class ArrayFile:
    """Named arrays of one file. Use `open_array_file`; close with `close()` or a `with` block."""

    def __init__(self, path: Path, format: str, arrays: Any, transposed: bool, handle: Any = None):
        self.path = path
        self.format = format  # "MATLAB v7.3 (HDF5)", "MATLAB v5", "HDF5" or "NumPy .npz"
        self._arrays = arrays  # name -> np.ndarray or h5py.Dataset
        self.transposed = transposed  # True when the stored axes are MATLAB's reversed
        self._handle = handle

    @property
    def is_hdf5(self) -> bool:
        return self._handle is not None and isinstance(self._handle, h5py.File)

    def keys(self) -> list[str]:
        return list(self._arrays)

    def __contains__(self, key: str) -> bool:
        return key in self._arrays

    def shape(self, key: str) -> tuple[int, ...]:
        """Shape as MATLAB (or NumPy, for files written from Python) sees the array."""
        shape = tuple(int(s) for s in self._get(key).shape)
        return shape[::-1] if self.transposed else shape

    def read(self, key: str) -> np.ndarray:
        """The whole array in MATLAB's (or NumPy's) orientation; for the small arrays (texts, labels)."""
        array = np.asarray(self._get(key)[()])
        return array.T if self.transposed else array

    def dataset(self, key: str):
        """The stored array (h5py dataset or NumPy array) without reading it; its axes are reversed
        with respect to `shape` when `transposed`."""
        return self._get(key)

    def describe(self) -> dict[str, str]:
        """key -> "shape dtype" for every array, for messages."""
        return {key: f"{'×'.join(map(str, self.shape(key)))} {self._get(key).dtype}" for key in self._arrays}

    def _get(self, key: str):
        if key not in self._arrays:
            raise DataError(
                f"{self.path}: no array named {key!r}; the file holds {', '.join(self._arrays) or 'no arrays'}."
            )
        return self._arrays[key]

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> "ArrayFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_array_file(path) -> ArrayFile:
    """Open a .mat (v7.3 or older), .h5/.hdf5 or .npz file; raises `DataError` naming the file
    when it is missing or in none of these formats."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file.")
    if path.is_dir():
        raise DataError(f"{path} is a folder; expected a .mat, .h5 or .npz file.")
    if h5py.is_hdf5(path):
        handle = h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
        arrays = {key: item for key, item in handle.items() if isinstance(item, h5py.Dataset)}
        with open(path, "rb") as f:
            is_matlab = f.read(len(MAT_V73_HEADER)) == MAT_V73_HEADER
        return ArrayFile(path, "MATLAB v7.3 (HDF5)" if is_matlab else "HDF5", arrays, transposed=is_matlab, handle=handle)
    if zipfile.is_zipfile(path):
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (ValueError, OSError) as error:
            raise DataError(f"{path}: a zip file but not a readable NumPy .npz ({error}).") from None
        return ArrayFile(path, "NumPy .npz", arrays, transposed=False)
    import scipy.io

    try:
        contents = scipy.io.loadmat(path)
    except Exception as error:  # scipy's parser fails on arbitrary bytes with many error types (IndexError, ...)
        raise DataError(
            f"{path}: not a MATLAB .mat, HDF5 or .npz file ({error}); expected the dataset's .mat file "
            f"(MATLAB v7.3 or older), an .h5 or an .npz."
        ) from None
    arrays = {key: value for key, value in contents.items() if not key.startswith("__") and isinstance(value, np.ndarray)}
    return ArrayFile(path, "MATLAB v5", arrays, transposed=False)


def write_mat_v73_header(path) -> None:
    """Write MATLAB's v7.3 text header into the 512-byte user block of an HDF5 file made with
    `h5py.File(path, "w", userblock_size=MAT_V73_USERBLOCK)`, so that MATLAB and this package
    recognise it as a .mat file."""
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {datetime.now():%a %b %d %H:%M:%S %Y} HDF5 schema 1.00 ."
    header = text.encode("ascii").ljust(116, b" ") + b" " * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as f:
        f.write(header)


def matlab_storage_shape(matlab_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The HDF5 dataset shape under which MATLAB stores an array of `matlab_shape`."""
    return tuple(matlab_shape)[::-1]


def tag_matlab_class(dataset: h5py.Dataset, dtype) -> None:
    dataset.attrs["MATLAB_class"] = np.bytes_(MATLAB_CLASSES.get(np.dtype(dtype), "double"))


def write_mat_v73(path, arrays: dict[str, np.ndarray], compression: str | None = "gzip") -> None:
    """Save `arrays` as MATLAB v7.3 would: HDF5 with the MATLAB header, axes reversed, MATLAB_class
    attributes. For tests and for converting data; arrays are written whole."""
    with h5py.File(path, "w", userblock_size=MAT_V73_USERBLOCK) as f:
        for key, value in arrays.items():
            value = np.asarray(value)
            stored = value.astype(np.uint8) if value.dtype == bool else value
            dataset = f.create_dataset(key, data=stored.T, compression=compression if value.size > 1 else None)
            tag_matlab_class(dataset, value.dtype)
    write_mat_v73_header(path)
