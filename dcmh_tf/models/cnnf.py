"""CNN-F image encoder (Chatfield et al. 2014), as in Table 1 of the DCMH paper.

conv1 64×11×11 stride 4 pad 0, LRN, pool; conv2 256×5×5 stride 1 pad 2, LRN, pool;
conv3–conv5 256×3×3 stride 1 pad 1, pool after conv5; full6 4096, full7 4096 (ReLU);
full8 = code length, identity. Pools are 3×3 stride 2 as in MatConvNet's `imagenet-vgg-f`;
pool1 pads one row and column at the bottom/right there, which is what Keras "same" pooling does
for conv1's 54×54 output, so a 224 input gives 54 → 27 → 13 → 6 exactly as the original.
Layer names are the paper's: conv1–conv5 as in MatConvNet's `imagenet-vgg-f`, whose fc6/fc7 load into
full6/full7 (`load_matconvnet_weights`).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import keras
import numpy as np
from keras import layers

from dcmh_tf.errors import DataError
from dcmh_tf.models.layers import LocalResponseNormalization, MeanImageSubtraction
from dcmh_tf.models.matconvnet import MatConvNetWeights, read_weight_file

# The layers that start from ImageNet in the paper; full8 (the code layer) stays random. Keras
# layer name -> its names in MatConvNet files (imagenet-vgg-f calls the fully connected ones fc6, fc7).
PRETRAINED_LAYERS = {
    "conv1": ("conv1",), "conv2": ("conv2",), "conv3": ("conv3",), "conv4": ("conv4",), "conv5": ("conv5",),
    "full6": ("fc6", "full6"), "full7": ("fc7", "full7"),
}
LRN_LAYERS = ("norm1", "norm2")


def make_cnnf(
    bits: int, image_size: int = 224, hidden: int = 4096, pixel_scale: float = 1.0, name: str = "image_encoder"
) -> keras.Model:
    """CNN-F from raw RGB pixels (batch, image_size, image_size, 3), values in [0, 255], to (batch, bits).

    `hidden` is the width of full6 and full7 (4096 in the paper); `pixel_scale` multiplies the
    mean-subtracted pixels (1 for the published CNN-F, see `MeanImageSubtraction`).
    """
    if bits < 1 or hidden < 1:
        raise ValueError(f"bits and hidden: expected positive integers, received {bits!r}, {hidden!r}")
    if image_size < 59:
        raise ValueError(f"image_size: expected at least 59 (CNN-F's conv1 and pools need it), received {image_size!r}")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = MeanImageSubtraction(image_size, scale=pixel_scale, name="mean")(inputs)
    x = layers.Conv2D(64, 11, strides=4, padding="valid", activation="relu", name="conv1")(x)
    x = LocalResponseNormalization(name="norm1")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = layers.Conv2D(256, 5, padding="same", activation="relu", name="conv2")(x)
    x = LocalResponseNormalization(name="norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="pool2")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(hidden, activation="relu", name="full6")(x)
    x = layers.Dense(hidden, activation="relu", name="full7")(x)
    outputs = layers.Dense(bits, name="full8")(x)
    return keras.Model(inputs, outputs, name=name)


def load_matconvnet_weights(model: keras.Model, path: str | Path | MatConvNetWeights) -> list[str]:
    """Load conv1–full7 and the mean image of MatConvNet's `imagenet-vgg-f.mat` into a CNN-F built by
    `make_cnnf`; returns one line per thing loaded, for the log.

    `path` is the .mat file (old 'normalization' or newer 'meta' layout, MATLAB v5 or v7.3) or the .npz
    written by scripts/convert_vggf.py, or its contents already read (`read_weight_file`). Every layer is checked before any weight changes, and a file that
    does not fit (a layer missing, a shape or an LRN constant different) raises `DataError` naming each
    layer with the file's shape and the model's. full6 and full7 are convolutions in MatConvNet
    (6×6×256×4096 and 1×1×4096×4096 on pool5's 6×6×256 map): they become Dense kernels by a C-order
    reshape, which is the (row, column, channel) order of Keras' Flatten. A mean image of another size
    than the model's input is resized (bilinear, antialiased), a mean colour broadcast.
    """
    weights = path if isinstance(path, MatConvNetWeights) else read_weight_file(path)
    problems: list[str] = []
    assignments: list[tuple[keras.Variable, np.ndarray]] = []
    notes = [f"pretrained CNN-F weights from {weights.source}"]
    for name, file_names in PRETRAINED_LAYERS.items():
        layer = model.get_layer(name)
        expected = _matconvnet_filter_shape(model, name)
        found = [file_name for file_name in file_names if file_name in weights.convs]
        if not found:
            problems.append(
                f"{' or '.join(file_names)}: missing from the file (expected filters {_shape(expected)}; its conv "
                f"layers are {', '.join(weights.convs) or 'none'})"
            )
            continue
        filters, biases = weights.convs[found[0]]
        if filters.shape != expected or biases.shape != expected[-1:]:
            problems.append(
                f"{found[0]}: the file holds filters {_shape(filters.shape)} and biases {_shape(biases.shape)}, "
                f"the model expects {_shape(expected)} and {_shape(expected[-1:])}"
            )
            continue
        assignments += [(layer.kernel, filters.reshape(tuple(layer.kernel.shape))), (layer.bias, biases)]
        notes.append(f"  {name} ← {found[0]}: {_shape(filters.shape)}")
    problems += _lrn_mismatches(model, weights)
    mean_layer = model.get_layer("mean")
    mean_image, note = _fit_mean_image(weights.average_image, mean_layer.image_size, problems)
    if mean_image is not None:
        assignments.append((mean_layer.mean_image, mean_image))
        notes.append(f"  mean image: {note}")
    if problems:
        raise DataError(
            f"{weights.source} does not fit this CNN-F:\n  " + "\n  ".join(problems) + "\nExpected MatConvNet's "
            f"imagenet-vgg-f.mat with a CNN-F of image_size 224 and hidden 4096 (--image-size 224 --hidden 4096)."
        )
    if not math.isclose(mean_layer.scale, 1.0):
        warnings.warn(
            f"pixel_scale is {mean_layer.scale:g}, but the ImageNet CNN-F weights expect mean-subtracted pixels "
            f"at their raw 0–255 scale; use --pixel-scale 1.",
            stacklevel=2,
        )
    for variable, value in assignments:
        variable.assign(value)
    return notes


def _matconvnet_filter_shape(model: keras.Model, name: str) -> tuple[int, ...]:
    """The [h w in out] filter bank MatConvNet stores for the Keras layer `name`."""
    layer = model.get_layer(name)
    if isinstance(layer, layers.Conv2D):
        return tuple(int(s) for s in layer.kernel.shape)
    units = int(layer.kernel.shape[1])
    if name == "full6":  # a convolution over the whole pool5 map
        height, width, channels = (int(s) for s in model.get_layer("pool5").output.shape[1:])
        return height, width, channels, units
    return 1, 1, int(layer.kernel.shape[0]), units


def _lrn_mismatches(model: keras.Model, weights: MatConvNetWeights) -> list[str]:
    """MatConvNet's param [N kappa alpha beta] against the model's LocalResponseNormalization."""
    problems = []
    for name in LRN_LAYERS:
        layer = model.get_layer(name)
        own = (2 * layer.depth_radius + 1, layer.bias, layer.alpha, layer.beta)
        if name not in weights.lrn:
            problems.append(f"{name}: missing from the file (expected an LRN layer with param {list(own)})")
        elif not np.allclose(weights.lrn[name], own, rtol=1e-5, atol=0):
            problems.append(
                f"{name}: the file's LRN param [N kappa alpha beta] is {list(weights.lrn[name])}, "
                f"the model computes {list(own)}"
            )
    return problems


def _fit_mean_image(average: np.ndarray, size: int, problems: list[str]) -> tuple[np.ndarray | None, str]:
    """The file's mean image as the model's (size, size, 3) weight, or None (with a problem noted)."""
    if average.size == 3:
        return np.broadcast_to(average.reshape(1, 1, 3), (size, size, 3)).astype(np.float32), "mean colour broadcast"
    if average.ndim != 3 or average.shape[2] != 3:
        problems.append(f"mean image: the file holds {_shape(average.shape)}, expected H×W×3 (or 3 values)")
        return None, ""
    if average.shape[:2] == (size, size):
        return average.astype(np.float32), _shape(average.shape)
    import tensorflow as tf

    resized = tf.image.resize(average[None].astype(np.float32), (size, size), antialias=True)[0].numpy()
    return resized, f"{_shape(average.shape)} resized to {_shape(resized.shape)}"


def _shape(shape) -> str:
    return "×".join(str(int(s)) for s in shape) if len(shape) else "scalar"
