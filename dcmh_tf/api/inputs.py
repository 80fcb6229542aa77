"""What users hand the Python API, checked and turned into the arrays a run works on.

Pictures: uint8 (N, H, W, 3) arrays (resized to the run's image size, bilinear with antialiasing as
everywhere else, and kept as uint8) or a sequence of picture file paths; image features for the MLP
image net: (N, d) numbers. Texts: (N, d) bags of words, or a sequence of raw strings cut by a
`dcmh_tf.text.Tokenizer`. Labels: (N, L) 0/1 or (N,) class indices. A `tf.data.Dataset` of (image,
text, label) elements, batched or not, is read once into such arrays (Algorithm 1 visits every
training pair in every phase, with buffers of all of them). The checks are those of the readers
(`dcmh_tf.data.validation`): shapes, dtypes, NaN and infinities, row counts, items without labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dcmh_tf.data.validation import as_float_matrix, as_multi_hot, check_row_counts
from dcmh_tf.errors import DataError

# pictures resized at a time when they come at another size than the run's
RESIZE_CHUNK = 256


def is_dataset(value: Any) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.data.Dataset)


def is_string_sequence(value: Any) -> bool:
    """A list / tuple / 1-d array of str or bytes (texts or file paths), not a single string."""
    if isinstance(value, (str, bytes)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and (value.dtype.kind in "USO") and all(isinstance(v, (str, bytes)) for v in value[:1])
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, (str, bytes, Path)) for v in value)


def as_pictures(images: Any, size: int, where: str = "images") -> np.ndarray:
    """(N, size, size, 3) uint8 pictures from a uint8 (N, H, W, 3) array or a sequence of picture files."""
    if isinstance(images, (str, bytes, Path)):
        raise DataError(f"{where}: expected several pictures (an (N, H, W, 3) uint8 array or a list of picture "
                        f"files), received one {type(images).__name__} {images!r}; wrap it in a list.")
    if is_string_sequence(images):
        return read_picture_files(images, size, where)
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[-1] != 3:
        hint = " (image features go to an MLP image net: image_encoder='mlp')" if array.ndim == 2 else ""
        raise DataError(f"{where}: expected pictures as an (N, H, W, 3) uint8 array or a list of picture files, "
                        f"received an array of shape {array.shape}{hint}.")
    if array.dtype != np.uint8:
        raise DataError(f"{where}: expected uint8 pixels 0-255, received {array.dtype}; convert 0-1 floats with "
                        f"(images * 255).round().astype('uint8').")
    if not len(array):
        raise DataError(f"{where}: expected at least one picture, received none.")
    if array.shape[1:3] == (size, size):
        return np.ascontiguousarray(array)
    return resize_to_uint8(array, size)


def resize_to_uint8(array: np.ndarray, size: int) -> np.ndarray:
    import tensorflow as tf

    from dcmh_tf.data.pipeline import resize_pictures

    out = np.empty((len(array), size, size, 3), np.uint8)
    for start in range(0, len(array), RESIZE_CHUNK):
        chunk = tf.cast(array[start:start + RESIZE_CHUNK], tf.float32)
        out[start:start + len(chunk)] = np.clip(np.round(resize_pictures(chunk, size).numpy()), 0, 255)
    return out


def read_picture_files(paths: Sequence, size: int, where: str = "images") -> np.ndarray:
    """(N, size, size, 3) uint8 of the PNG, JPEG, GIF or BMP files `paths`, resized as `dcmh-tf search` does."""
    from dcmh_tf.retrieval.searcher import read_image

    out = np.empty((len(paths), size, size, 3), np.uint8)
    for i, path in enumerate(paths):
        path = Path(path.decode() if isinstance(path, bytes) else path)
        if not path.is_file():
            raise DataError(f"{where}: picture {i} {str(path)!r} is not a file; expected paths of PNG, JPEG, GIF "
                            f"or BMP files.")
        out[i] = np.clip(np.round(read_image(path, size)[0]), 0, 255)
    return out


def as_features(array: Any, dim: int | None, where: str = "images") -> np.ndarray:
    """(N, dim) float32 image features, finite."""
    if is_string_sequence(array):
        raise DataError(f"{where}: this model's image net takes pre-extracted features (image_encoder 'mlp'), "
                        f"received picture files; use a pixel encoder (e.g. 'cnnf') for pictures.")
    values = np.asarray(array)
    if values.ndim == 4:
        raise DataError(f"{where}: this model's image net takes (N, d) pre-extracted features (image_encoder "
                        f"'mlp'), received pictures of shape {values.shape}; use a pixel encoder (e.g. 'cnnf').")
    values = as_float_matrix(values, where)
    if dim is not None and values.shape[1] != dim:
        raise DataError(f"{where}: expected {dim}-d image features (the image net's input), received {values.shape[1]}.")
    return values


def as_texts(texts: Any, tokenizer, dim: int | None, where: str = "texts") -> np.ndarray:
    """(N, dim) float32 bags of words, from a matrix or from raw strings cut by `tokenizer`."""
    if isinstance(texts, (str, bytes)):
        raise DataError(f"{where}: expected several texts (a list of strings or an (N, d) bag-of-words matrix), "
                        f"received one string; wrap it in a list.")
    if is_string_sequence(texts):
        if tokenizer is None:
            raise DataError(f"{where}: raw strings need the run's tokenizer, and this model has none (its texts "
                            f"were bags of words); give (N, {dim or 'd'}) bags of words instead.")
        strings = [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in texts]
        return tokenizer.bag_of_words(strings)
    values = as_float_matrix(np.asarray(texts), where)
    if dim is not None and values.shape[1] != dim:
        raise DataError(f"{where}: expected bags of {dim} words (the text net's input), received {values.shape[1]} "
                        f"columns.")
    return values


def as_labels(labels: Any, where: str = "labels") -> tuple[np.ndarray, list | None]:
    """(N, L) uint8 multi-hot labels and the class values when class indices were given."""
    if labels is None:
        raise DataError(f"{where}: expected labels ((N, L) 0/1 or (N,) class indices): DCMH learns which pairs are "
                        f"similar from shared labels; received None.")
    array = np.asarray(labels)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise DataError(f"{where}: {int(np.sum(~np.isfinite(array)))} NaN or infinite values; expected 0/1 or class "
                        f"indices.")
    return as_multi_hot(array, where)


def check_lengths(where: str, **arrays) -> int:
    """The common row count of the named inputs; `DataError` when one is missing or the counts disagree."""
    for name, value in arrays.items():
        if value is None:
            what = ("labels ((N, L) 0/1 or (N,) class indices): DCMH learns which pairs are similar from shared "
                    "labels" if name == "labels" else f"{name} with one row per pair")
            raise DataError(f"{where}: expected {what}; received None.")
    return check_row_counts(where, "Give one image, one text and one label per pair, in the same order.",
                            **{name: len(value) for name, value in arrays.items()})


def read_dataset(dataset, where: str = "dataset") -> tuple[Any, Any, np.ndarray]:
    """(images, texts, labels) of a tf.data.Dataset of (image, text, label) elements, batched or not,
    read once into NumPy arrays (texts that are strings come back as a list of str)."""
    import tensorflow as tf

    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 3:
        raise DataError(f"{where}: expected elements (image, text, label), received elements {spec}.")
    text_spec = spec[1]
    batched = len(text_spec.shape) == (1 if text_spec.dtype == tf.string else 2)
    parts: list[list] = [[], [], []]
    for element in dataset.as_numpy_iterator():
        for part, value in zip(parts, element):
            part.append(value)
    if not parts[0]:
        raise DataError(f"{where}: the dataset is empty; expected (image, text, label) elements.")
    join = np.concatenate if batched else np.stack
    images, texts, labels = (join(part) for part in parts)
    if texts.dtype.kind in "SO":
        texts = [t.decode("utf-8") for t in texts]
    if images.dtype.kind in "SO":
        images = [i.decode("utf-8") for i in images]
    return images, texts, labels


def as_triple(value: Any, where: str) -> tuple[Any, Any, Any]:
    """(images, texts, labels) from such a tuple or a tf.data.Dataset of them."""
    if is_dataset(value):
        return read_dataset(value, where)
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise DataError(f"{where}: expected (images, texts, labels) or a tf.data.Dataset of such elements, "
                        f"received {type(value).__name__}{f' of {len(value)} items' if isinstance(value, (tuple, list)) else ''}.")
    return tuple(value)
