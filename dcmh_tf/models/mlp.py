"""MLP encoders: the text net of Table 2 (BOW → full 4096 ReLU → c) and the image net for
pre-extracted features, which has the same shape."""

from __future__ import annotations

import keras
from keras import layers


def make_mlp(input_dim: int, bits: int, hidden: int = 4096, name: str = "text_encoder", input_name: str = "text") -> keras.Model:
    """(batch, input_dim) float vectors → full1 (hidden, ReLU) → full2 (bits, identity)."""
    if input_dim < 1 or bits < 1 or hidden < 1:
        raise ValueError(
            f"input_dim, bits and hidden: expected positive integers, received {input_dim!r}, {bits!r}, {hidden!r}"
        )
    inputs = keras.Input((input_dim,), name=input_name)
    x = layers.Dense(hidden, activation="relu", name="full1")(inputs)
    outputs = layers.Dense(bits, name="full2")(x)
    return keras.Model(inputs, outputs, name=name)
