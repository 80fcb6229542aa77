"""tf.data pipelines: batches of rows read from any array-like, each with its positions."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def read_rows(array, rows: np.ndarray, dtype=np.float32) -> np.ndarray:
    """array[rows] as `dtype`, reading in increasing row order (what h5py requires) and
    returning the rows in the order asked for."""
    rows = np.asarray(rows)
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows),) + tuple(array.shape[1:]), dtype)
    out[order] = np.asarray(array[rows[order]], dtype=dtype)
    return out


def make_dataset(array, rows: np.ndarray, order: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches `(positions, values)` for positions `order` into `rows`.

    array: (N, ...) array-like (NumPy array, h5py dataset); rows: (n,) the rows of `array` that
    positions 0..n−1 stand for; order: the positions to visit, in order. Yields int32 (b,)
    positions and float32 (b, ...) values; the last batch may be smaller.
    """
    rows = np.asarray(rows)
    item_shape = tuple(array.shape[1:])

    def read(positions):
        return read_rows(array, rows[positions])

    def read_batch(positions):
        values = tf.numpy_function(read, [positions], tf.float32, stateful=False)
        values.set_shape((None,) + item_shape)
        return positions, values

    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(order, np.int32)).batch(batch_size)
    return dataset.map(read_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
