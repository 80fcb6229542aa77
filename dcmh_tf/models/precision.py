"""Mixed precision for the encoders: float16 compute in the heavy layers, float32 everywhere else.

Only Conv2D and Dense layers take Keras' "mixed_float16" policy (float16 compute, float32 variables);
the mean subtraction, LRN (its sum of squares overflows float16 for activations above ~115),
pooling, feature standardisation and the last layer stay float32, so an encoder still outputs
float32 and the F, G, B buffers and the loss stay float32. Nothing global is set: the encoder is
cloned with per-layer policies, so other models in the process are unaffected.
"""

from __future__ import annotations

import keras

MIXED_POLICY = "mixed_float16"
HEAVY_LAYERS = (keras.layers.Conv2D, keras.layers.Dense)


def with_mixed_precision(model: keras.Model) -> keras.Model:
    """A copy of `model` (same layer names and weights) whose Conv2D and Dense layers, except the
    output layer, compute in float16."""
    output_layer = model.layers[-1].name

    def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if isinstance(layer, HEAVY_LAYERS) and layer.name != output_layer:
            config["dtype"] = MIXED_POLICY
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone
