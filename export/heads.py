"""Heads that quantize an encoder's real-valued output for serving.

`SignCodes` gives the ±1 codes of the paper (sign(0) = +1, as `dcmh_tf.hashing.sign_codes`), and
`PackBits` the same bits packed 8 to a byte, most significant bit first, the layout of
`numpy.packbits`, so a served code can go straight into a Hamming index.

Both stay valid ONNX after tf2onnx: the arithmetic runs in int32 and only the result is cast to
int8 / uint8 (ONNX has no uint8 Mul or ReduceSum, and an int8 `Where` fails at opset 13), and the
bit weights are made inside `call`, so that a traced function holds them as constants rather than
taking them as extra inputs.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

# weight of each bit in a byte, most significant first (numpy.packbits' bitorder="big")
BIT_WEIGHTS = (128, 64, 32, 16, 8, 4, 2, 1)


@keras.saving.register_keras_serializable(package="dcmh_tf")
class SignCodes(keras.layers.Layer):
    """(batch, c) floats → (batch, c) int8 codes in {-1, +1}; a value ≥ 0 gives +1 (tf.sign(0) would give 0)."""

    def call(self, features):
        ones = ops.where(features >= 0, ops.ones_like(features, "int32"), -ops.ones_like(features, "int32"))
        return ops.cast(ones, "int8")

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="dcmh_tf")
class PackBits(keras.layers.Layer):
    """(batch, c) floats or ±1 codes → (batch, ceil(c / 8)) uint8, bit = value ≥ 0, most significant
    bit first; the last byte is padded with zero bits, as `numpy.packbits(bits, axis=1)` does."""

    def call(self, features):
        bits = features.shape[-1]
        if bits is None:
            raise ValueError("PackBits: expected inputs with a known last dimension (the code length), received None.")
        padding = -bits % 8
        on = ops.cast(features >= 0, "int32")
        if padding:
            on = ops.pad(on, [[0, 0], [0, padding]])
        groups = ops.reshape(on, (-1, (bits + padding) // 8, 8))
        weights = ops.convert_to_tensor(np.asarray(BIT_WEIGHTS, np.int32))
        return ops.cast(ops.sum(groups * weights, axis=-1), "uint8")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], -(-input_shape[-1] // 8))


def quantize(features) -> dict:
    """{"features": float32, "codes": int8 ±1, "packed": uint8} for a (batch, c) tensor of encoder outputs.

    The keys are the output names of every exported signature and ONNX graph.
    """
    return {"features": features, "codes": SignCodes(name="codes")(features), "packed": PackBits(name="packed")(features)}


def attach_heads(encoder: keras.Model) -> keras.Model:
    """A Keras model with `encoder`'s input and the three outputs of `quantize`; shares `encoder`'s weights."""
    inputs = encoder.inputs[0] if len(encoder.inputs) == 1 else encoder.inputs
    return keras.Model(inputs, quantize(encoder.outputs[0]), name=f"{encoder.name}_with_heads")
