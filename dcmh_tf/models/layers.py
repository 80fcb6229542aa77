"""Custom Keras layers of the CNN-F encoder."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

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
