"""Checks shared by the readers: row counts, finite values, label encodings, unlabelled items; and
the output file check of the commands that write a data file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from dcmh_tf.errors import DataError


FILES_FIX = "Check that the files belong together, or the key options (--images-key, ...)."


def check_row_counts(where: str, fix: str = FILES_FIX, **rows: int) -> int:
    """The common row count of the named arrays; `DataError` listing them, and saying `fix`, when they disagree."""
    if len(set(rows.values())) != 1:
        listed = ", ".join(f"{name} {count}" for name, count in rows.items())
        raise DataError(f"{where}: images, texts and labels must have one row per pair; received {listed} rows. "
                        f"{fix}")
    return next(iter(rows.values()))


def as_float_matrix(array: np.ndarray, where: str) -> np.ndarray:
    """`array` as a (n, d) float32 matrix, refusing NaN and infinite values."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise DataError(f"{where}: expected a 2-D (items, dimensions) matrix, received shape {array.shape}.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{where}: expected numbers, received {array.dtype}.")
    values = array.astype(np.float32)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataError(f"{where}: {int(bad.sum())} NaN or infinite values in {len(rows)} rows (first row "
                        f"{int(rows[0])}); remove or impute them before training.")
    return values


def as_multi_hot(array: np.ndarray, where: str) -> tuple[np.ndarray, list | None]:
    """Labels as (n, L) uint8 0/1, and the class values when they were given as class indices.

    Accepts a multi-hot / one-hot (n, L) matrix of 0/1 (or booleans), or class indices as (n,) or
    (n, 1) integers (0- or 1-based, any values: column k is the k-th smallest class).
    """
    array = np.asarray(array)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise DataError(f"{where}: class indices must be whole numbers, received {array.dtype} values such as "
                            f"{array[:3].tolist()}.")
        classes, index = np.unique(array.astype(np.int64), return_inverse=True)
        one_hot = np.zeros((len(array), len(classes)), np.uint8)
        one_hot[np.arange(len(array)), index] = 1
        return one_hot, classes.tolist()
    if array.ndim != 2:
        raise DataError(f"{where}: expected (items, labels) 0/1 or (items,) class indices, received shape {array.shape}.")
    values = np.unique(array)
    if not np.all(np.isin(values, (0, 1))):
        raise DataError(f"{where}: a label matrix must hold only 0 and 1, received values {values[:6].tolist()}; "
                        f"give class indices as one column instead.")
    return array.astype(np.uint8), None


def warn_unlabelled(labels: np.ndarray, where: str) -> int:
    """Warn on stderr about items without any label (they are never relevant to any query); return their count."""
    count = int(np.sum(~np.asarray(labels).any(axis=1)))
    if count and count == len(labels):
        raise DataError(f"{where}: none of the {count} items has a label (every label row is 0), so no item is "
                        f"relevant to any other and every MAP would be meaningless; check the labels array "
                        f"(--labels-key) and its orientation.")
    if count:
        print(f"Warning: {where}: {count} of {len(labels)} items have no label; they are never relevant to a "
              f"query and count as negatives in training and MAP.", file=sys.stderr)
    return count


def check_output_file(path, suffix: str) -> Path:
    """`path` as a Path, refused (before any work) unless it ends in `suffix` and its folder exists."""
    path = Path(path)
    if path.suffix != suffix:
        raise DataError(f"--output: expected a path ending in {suffix}, received {str(path)!r}.")
    if not path.parent.is_dir():
        raise DataError(f"--output: the folder {str(path.parent)!r} does not exist; create it first.")
    return path
