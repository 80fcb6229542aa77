"""Encoders: CNN-F and MLP image nets, the MLP text net, and the builders a run uses."""

from __future__ import annotations

import keras
import numpy as np

from dcmh_tf.config import Config
from dcmh_tf.models.cnnf import load_matconvnet_weights, make_cnnf
from dcmh_tf.models.efficientnet import load_imagenet_weights, make_efficientnet_lite
from dcmh_tf.models.layers import FeatureStandardization
from dcmh_tf.models.mlp import make_mlp


def make_encoders(config: Config, image_dim: int | None, text_dim: int) -> tuple[keras.Model, keras.Model]:
    """(image encoder, text encoder) for `config`.

    `image_dim` is the length of pre-extracted image features for the MLP image encoder; it is
    ignored (pass None) for CNN-F, which takes raw pixels of `config.image_size`. On a features
    dataset with `feature_scaling` "standardize", both MLPs start with a `FeatureStandardization`
    layer (identity until `adapt_standardization` sets the training rows' statistics).
    """
    standardize = config.dataset == "features" and config.feature_scaling == "standardize"
    if config.image_encoder == "cnnf":
        image = make_cnnf(config.bits, config.image_size, config.hidden, config.pixel_scale)
    elif config.image_encoder.startswith("efficientnet-"):
        image = make_efficientnet_lite(config.image_encoder, config.bits, config.image_size, config.freeze_stages,
                                       hidden=config.image_hidden)
    else:
        image = make_mlp(image_dim, config.bits, config.hidden, name="image_encoder", input_name="image",
                         standardize=standardize)
    standardize_text = standardize or config.text_scaling == "standardize"
    text = make_mlp(text_dim, config.bits, config.hidden, name="text_encoder", input_name="text",
                    standardize=standardize_text)
    return image, text


def load_pretrained(image_encoder: keras.Model, config: Config) -> list[str]:
    """Start `image_encoder` from `config.pretrained` (CNN-F: MatConvNet's file; EfficientNet-Lite: "imagenet"
    or a PyTorch legacy weight file); the hash layer keeps its random start. Lines for the log."""
    if not config.pretrained:
        return []
    if config.image_encoder == "cnnf":
        return load_matconvnet_weights(image_encoder, config.pretrained)
    return load_imagenet_weights(image_encoder, config.image_encoder, config.pretrained)


def adapt_standardization(encoder: keras.Model, array, rows: np.ndarray) -> None:
    """Set the statistics of `encoder`'s `FeatureStandardization` layers from `array[rows]` (the
    training rows of its inputs); nothing to do for an encoder without one."""
    layers = [layer for layer in encoder.layers if isinstance(layer, FeatureStandardization)]
    if layers:
        features = np.asarray(array[np.sort(np.asarray(rows))])
        for layer in layers:
            layer.adapt(features)


__all__ = ["make_efficientnet_lite", "load_pretrained", "make_cnnf", "make_mlp", "make_encoders", "adapt_standardization", "FeatureStandardization"]
