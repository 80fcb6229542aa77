"""tf.data pipelines: batches of rows read from any array-like, each with its positions.

Rows are read batch by batch inside the pipeline (`tf.numpy_function`), so an h5py dataset or a
`PixelStack` over a v7.3 file is streamed and never held in memory whole. Pixels travel as uint8
and become float32 in the graph, where they are also resized (when the array's `output_size`
differs from the stored size) and, for training, flipped; the trainer takes them as uint8 and casts
them in its step (`keep_uint8`). The CNN-F mean image is NOT subtracted
here: it is a weight of the model (`MeanImageSubtraction`), so exported models take raw pixels.
"""

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


def is_pixel_array(array) -> bool:
    """True for (N, H, W, 3) uint8 pictures, which the pipeline carries as uint8."""
    return len(array.shape) == 4 and np.dtype(array.dtype) == np.uint8


def make_dataset(
    array,
    rows: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    *,
    flip_seed: tuple[int, int] | None = None,
    parallel_reads: int | None = None,
    keep_uint8: bool = False,
) -> tf.data.Dataset:
    """Batches `(positions, values)` for positions `order` into `rows`.

    array: (N, ...) array-like (NumPy array, h5py dataset, `PixelStack`); rows: (n,) the rows of
    `array` that positions 0..n−1 stand for; order: the positions to visit, in order. Yields int32
    (b,) positions and float32 (b, ...) values; the last batch may be smaller. Pixels (N, H, W, 3)
    uint8 come out as float32 0–255, resized to `array.output_size` when it is set.
    flip_seed: when given, each picture is flipped left-right with probability ½, decided by
    (flip_seed, batch number), so the same seed gives the same flips.
    parallel_reads: batches read at once (None: as many as tf.data's autotuning chooses); the
    order of the batches does not depend on it.
    keep_uint8: pixels that need no resizing come out as uint8 (a quarter of the bytes through the
    prefetch buffer); the consumer casts them to float32 (exact: 0–255 are floats), as the trainer's
    step does.
    """
    rows = np.asarray(rows)
    item_shape = tuple(int(s) for s in array.shape[1:])
    pixels = is_pixel_array(array)
    stored_dtype = np.uint8 if pixels else np.float32
    output_size = getattr(array, "output_size", None) if pixels else None
    resize = output_size is not None and tuple(item_shape[:2]) != (output_size, output_size)

    def read(positions):
        return read_rows(array, rows[positions], stored_dtype)

    def read_batch(batch_number, positions):
        values = tf.numpy_function(read, [positions], tf.as_dtype(stored_dtype), stateful=False)
        values = tf.ensure_shape(values, (None,) + item_shape)
        if not (keep_uint8 and pixels and not resize):
            values = tf.cast(values, tf.float32)
        if resize:
            values = resize_pictures(values, output_size)
        if flip_seed is not None and pixels:
            seed = tf.stack([tf.cast(flip_seed[0], tf.int64) * 1_000_003 + flip_seed[1], batch_number])
            flipped = tf.random.stateless_uniform(tf.shape(values)[:1], seed=seed) < 0.5
            values = tf.where(flipped[:, None, None, None], tf.reverse(values, axis=[2]), values)
        return positions, values

    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(order, np.int32)).batch(batch_size).enumerate()
    return dataset.map(read_batch, num_parallel_calls=parallel_reads or tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def resize_pictures(images: tf.Tensor, size: int) -> tf.Tensor:
    """(n, H, W, 3) float pictures resized to (n, size, size, 3): bilinear with antialiasing, the
    whole picture, no crop. Training, `dcmh-tf search` and the exported serving graphs all resize
    with this, so an encoder sees a picture the same way everywhere."""
    return tf.image.resize(images, (size, size), method="bilinear", antialias=True)
