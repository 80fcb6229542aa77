"""Encoders: CNN-F and MLP image nets, the MLP text net, and the builders a run uses."""

from __future__ import annotations

import keras

from dcmh_tf.config import Config
from dcmh_tf.models.cnnf import make_cnnf
from dcmh_tf.models.mlp import make_mlp


def make_encoders(config: Config, image_dim: int | None, text_dim: int) -> tuple[keras.Model, keras.Model]:
    """(image encoder, text encoder) for `config`.

    `image_dim` is the length of pre-extracted image features for the MLP image encoder; it is
    ignored (pass None) for CNN-F, which takes raw pixels of `config.image_size`.
    """
    if config.image_encoder == "cnnf":
        image = make_cnnf(config.bits, config.image_size, config.hidden, config.pixel_scale)
    else:
        image = make_mlp(image_dim, config.bits, config.hidden, name="image_encoder", input_name="image")
    text = make_mlp(text_dim, config.bits, config.hidden, name="text_encoder", input_name="text")
    return image, text


__all__ = ["make_cnnf", "make_mlp", "make_encoders"]
