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
        try:
            handle = h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
        except OSError as error:
            raise DataError(f"{path}: an HDF5 file that cannot be opened ({error}); it may be truncated or "
                            f"damaged: copy or download it again.") from None
        arrays = _hdf5_arrays(handle)
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
    arrays: dict[str, Any] = {}
    for key, value in contents.items():
        if not key.startswith("__"):
            _add_v5(arrays, key, value)
    return ArrayFile(path, "MATLAB v5", arrays, transposed=False)


# MATLAB structs and sparse matrices -----------------------------------------------------------------
# A struct's fields become dotted names (`data.X1`, `data.split.ind_train`), in v5 and v7.3 files alike;
# a sparse matrix is read as a dense array of MATLAB's shape (labels and bags of words fit in memory).
STRUCT_DEPTH = 8  # nested structs deeper than this are not listed (none of the field's files go near it)


def _add_v5(arrays: dict, key: str, value, depth: int = 0) -> None:
    import scipy.sparse

    if scipy.sparse.issparse(value):
        arrays[key] = value.toarray()
    elif isinstance(value, np.ndarray) and value.dtype.names:  # a struct (scalar, or a 1×1 struct array)
        if value.size != 1 or depth >= STRUCT_DEPTH:
            return  # struct arrays of several elements hold no dataset arrays we could name
        for field in value.dtype.names:
            _add_v5(arrays, f"{key}.{field}", value[field].reshape(-1)[0], depth + 1)
    elif isinstance(value, np.ndarray) and value.dtype != object and value.dtype.kind in "biuf":
        arrays[key] = value


class MatlabSparse:
    """A MATLAB v7.3 sparse matrix (an HDF5 group of `data`, `ir`, `jc` with a MATLAB_sparse attribute:
    compressed columns), offered like a stored dataset: `shape` and `[()]` in storage orientation (the
    reverse of MATLAB's), so `ArrayFile.read` gives MATLAB's view as for any v7.3 array."""

    def __init__(self, group: h5py.Group):
        self.rows = int(np.asarray(group.attrs["MATLAB_sparse"]).reshape(-1)[0])
        self.columns = len(group["jc"]) - 1
        self.shape = (self.columns, self.rows)
        self.dtype = group["data"].dtype if "data" in group else np.dtype("float64")
        self._group = group

    def __getitem__(self, item):
        import scipy.sparse

        if item != ():
            raise DataError("a sparse MATLAB matrix is read whole.")
        group = self._group
        jc = np.asarray(group["jc"][()], np.int64)
        ir = np.asarray(group["ir"][()], np.int64) if "ir" in group else np.zeros(0, np.int64)
        data = np.asarray(group["data"][()]) if "data" in group else np.zeros(0)
        if group.attrs.get("MATLAB_class", b"") in (b"logical", "logical"):
            data = data.astype(bool)
        if len(jc) != self.columns + 1 or len(ir) != len(data) or (len(jc) and jc[-1] != len(data)):
            raise DataError(f"sparse matrix {group.name}: its ir / jc / data parts disagree ({len(ir)}, "
                            f"{len(jc)}, {len(data)}); the file is damaged.")
        try:
            matrix = scipy.sparse.csc_matrix((data, ir, jc), shape=(self.rows, self.columns)).toarray()
        except ValueError as error:
            raise DataError(f"sparse matrix {group.name} is damaged: {error}.") from None
        return matrix.T


def _hdf5_arrays(group: h5py.Group, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """name -> dataset for every array of the file, struct fields as dotted names; MATLAB's own
    `#refs#` / `#subsystem#` groups are left out."""
    arrays: dict[str, Any] = {}
    for key, item in group.items():
        if key.startswith("#"):
            continue
        name = f"{prefix}{key}"
        if isinstance(item, h5py.Dataset):
            if item.dtype.kind in "biuf":
                arrays[name] = item
        elif isinstance(item, h5py.Group):
            if "MATLAB_sparse" in item.attrs:
                arrays[name] = MatlabSparse(item)
            elif depth < STRUCT_DEPTH:
                arrays.update(_hdf5_arrays(item, f"{name}.", depth + 1))
    return arrays


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
