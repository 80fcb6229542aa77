"""MLP encoders: the text net of Table 2 (BOW → full 4096 ReLU → c) and the image net for
pre-extracted features, which has the same shape."""

from __future__ import annotations

import keras
from keras import layers

from dcmh_tf.models.layers import FeatureStandardization


def make_mlp(input_dim: int, bits: int, hidden: int = 4096, name: str = "text_encoder", input_name: str = "text",
             standardize: bool = False) -> keras.Model:
    """(batch, input_dim) float vectors → full1 (hidden, ReLU) → full2 (bits, identity).

    With `standardize`, a `FeatureStandardization` layer named "standardization" comes first: the
    encoder takes raw features and z-scores them with statistics it keeps as weights (set them with
    `dcmh_tf.models.adapt_standardization`).
    """
    if input_dim < 1 or bits < 1 or hidden < 1:
        raise ValueError(
            f"input_dim, bits and hidden: expected positive integers, received {input_dim!r}, {bits!r}, {hidden!r}"
        )
    inputs = keras.Input((input_dim,), name=input_name)
    x = FeatureStandardization(input_dim, name="standardization")(inputs) if standardize else inputs
    x = layers.Dense(hidden, activation="relu", name="full1")(x)
    outputs = layers.Dense(bits, name="full2")(x)
    return keras.Model(inputs, outputs, name=name)
