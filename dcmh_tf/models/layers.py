"""Custom Keras layers of the CNN-F encoder."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from dcmh_tf.standardization import column_statistics

# Per-channel RGB means of ImageNet, used until a real CNN-F mean image is loaded with the
# pretrained weights (which replace the whole (H, W, 3) mean image).
IMAGENET_RGB_MEAN = (123.68, 116.779, 103.939)


@keras.saving.register_keras_serializable(package="dcmh_tf")
class LocalResponseNormalization(keras.layers.Layer):
    """Cross-channel LRN: y = x / (bias + alpha · Σ_{window} x²)^beta.

    The defaults are CNN-F's (MatConvNet `imagenet-vgg-f`, layers norm1/norm2: N = 5, κ = 1,
    α = 1e-4/5 = 2e-5, β = 0.75). MatConvNet's `vl_nnnormalize` and `tf.nn.local_response_normalization`
    use the same formula (α multiplies the plain sum of squares, not its mean), so the constants carry
    over as they are with depth_radius = (N − 1) / 2.
    """

    def __init__(self, depth_radius: int = 2, bias: float = 1.0, alpha: float = 2e-5, beta: float = 0.75, **kwargs):
        super().__init__(**kwargs)
        if int(depth_radius) != depth_radius or depth_radius < 0:
            raise ValueError(f"depth_radius: expected an integer >= 0, received {depth_radius!r}")
        if bias <= 0 or alpha < 0 or beta < 0:
            raise ValueError(f"expected bias > 0, alpha >= 0, beta >= 0; received {bias!r}, {alpha!r}, {beta!r}")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        return tf.nn.local_response_normalization(
            inputs, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }


@keras.saving.register_keras_serializable(package="dcmh_tf")
class MeanImageSubtraction(keras.layers.Layer):
    """Subtracts CNN-F's mean image from raw RGB pixels in [0, 255], then multiplies by `scale`.

    `scale` is 1 for CNN-F as published (and for its ImageNet weights); a network trained from
    scratch wants inputs of unit size instead (about 1/64), or its first steps blow up conv1. The mean image is a non-trainable (H, W, 3) weight, so it travels with the encoder's weights
    into checkpoints and exported models.
    """

    def __init__(self, image_size: int, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if int(image_size) != image_size or image_size < 1:
            raise ValueError(f"image_size: expected a positive integer, received {image_size!r}")
        if not scale > 0:
            raise ValueError(f"scale: expected a number > 0, received {scale!r}")
        self.image_size = int(image_size)
        self.scale = float(scale)

    def build(self, input_shape):
        initial = np.broadcast_to(np.asarray(IMAGENET_RGB_MEAN, "float32"), (self.image_size, self.image_size, 3))
        self.mean_image = self.add_weight(
            name="mean_image",
            shape=(self.image_size, self.image_size, 3),
            initializer=keras.initializers.Constant(initial.copy()),
            trainable=False,
        )

    def call(self, inputs):
        return (inputs - self.mean_image) * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "scale": self.scale}


@keras.saving.register_keras_serializable(package="dcmh_tf")
class FeatureStandardization(keras.layers.Layer):
    """z-scores each of `dim` feature dimensions: (x − mean) / std, with the training rows' statistics.

    Pre-extracted features such as L1-normalised SIFT histograms have values around 0.01; fed raw to a
    freshly initialised MLP its output is dominated by the biases and DCMH collapses to one code per
    modality (MAP 0.16/0.13 on Wikipedia instead of 0.26/0.64). The statistics are non-trainable
    weights (like CNN-F's mean image), so the encoder takes raw features everywhere: training,
    checkpoints, evaluation and exported models. They start as the identity (mean 0, std 1); `adapt`
    sets them from the training rows when a run is created. Statistics and arithmetic are float64,
    rounded to float32 once at the end: the inputs are then bit for bit those of z-scoring in NumPy
    (two float32 roundings differ in the last bit for half the entries, and fifty epochs of training
    turn that into a different run).
    """

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim: expected a positive integer, received {dim!r}")
        self.dim = int(dim)

    def build(self, input_shape):
        if input_shape[-1] != self.dim:
            raise ValueError(f"expected inputs of {self.dim} features, received shape {tuple(input_shape)}")
        self.mean = self.add_weight(name="mean", shape=(self.dim,), initializer="zeros", trainable=False, dtype="float64")
        self.std = self.add_weight(name="std", shape=(self.dim,), initializer="ones", trainable=False, dtype="float64")

    def adapt(self, features) -> None:
        """Set mean and std from `features` (n, dim), computed in float64. A constant column gets
        std 1 (it is only centred) rather than a division by zero."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.dim or len(features) == 0:
            raise ValueError(f"expected a non-empty (n, {self.dim}) matrix of features, received shape {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError("expected finite features, received NaN or infinite values")
        if not self.built:
            self.build((None, self.dim))
        mean, std = column_statistics(features)
        self.mean.assign(mean)
        self.std.assign(std)

    def call(self, inputs):
        scaled = (keras.ops.cast(inputs, "float64") - self.mean) / self.std
        return keras.ops.cast(scaled, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}
