"""CNN-F image encoder (Chatfield et al. 2014), as in Table 1 of the DCMH paper.

conv1 64×11×11 stride 4 pad 0, LRN, pool; conv2 256×5×5 stride 1 pad 2, LRN, pool;
conv3–conv5 256×3×3 stride 1 pad 1, pool after conv5; full6 4096, full7 4096 (ReLU);
full8 = code length, identity. Pools are 3×3 stride 2 as in MatConvNet's `imagenet-vgg-f`;
pool1 pads one row and column at the bottom/right there, which is what Keras "same" pooling does
for conv1's 54×54 output, so a 224 input gives 54 → 27 → 13 → 6 exactly as the original.
Layer names follow MatConvNet's so that pretrained weights map by name.
"""

from __future__ import annotations

import keras
from keras import layers

from dcmh_tf.models.layers import LocalResponseNormalization, MeanImageSubtraction


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
