"""The EfficientNet-Lite Keras builder: pixels -> (x − 127)/128 -> stem -> 7 stages -> head -> pool -> c outputs.

Only standard Keras layers (Conv2D / DepthwiseConv2D with TensorFlow's "same" padding, which puts the extra
row and column at the bottom and right on stride 2, BatchNormalization with epsilon 1e-3, ReLU6), so the
model saves as `.keras`, exports to SavedModel and ONNX, and loads without this module. Layer names carry
their stage (`stage3_block5_dwconv`), which is how `freeze_stages` and the split for cached activations
find them.
"""

from __future__ import annotations

import keras
from keras import layers

from dcmh_tf.errors import ConfigError
from dcmh_tf.models.efficientnet.architecture import BN_EPSILON, HEAD_FILTERS, STEM_FILTERS, block_plan, get_variant

STAGES = 7


def make_efficientnet_lite(
    variant: str = "efficientnet-lite0",
    bits: int | None = None,
    image_size: int | None = None,
    freeze_stages: int = 0,
    classifier: bool = False,
    name: str = "image_encoder",
    hidden: int = 0,
) -> keras.Model:
    """EfficientNet-Lite from raw RGB pixels (batch, size, size, 3) in [0, 255] to (batch, bits) codes before sign.

    The backbone is followed by a global average pool and the hash layer `hash` (bits outputs, identity:
    the role of CNN-F's full8). With `classifier`, the 1000 ImageNet logits (`predictions`) instead of the
    hash layer (the parity tests). `image_size` defaults to the variant's own (224, 240, 260).
    `freeze_stages` = N freezes the stem and stages 1..N (weights and BatchNorm statistics: a frozen
    BatchNormalization runs in inference mode); 0 fine-tunes every layer, as the paper does; 8 freezes
    the head conv too, which leaves only the hash layer to learn.
    """
    spec = get_variant(variant)
    image_size = spec.image_size if image_size is None else int(image_size)
    if image_size < 32:
        raise ConfigError(f"image_size: expected at least 32 for {variant} (five stride-2 steps), received {image_size}.")
    if not 0 <= int(freeze_stages) <= STAGES + 1:
        raise ConfigError(f"freeze_stages: expected 0..{STAGES + 1} (stem and stages 1..N; {STAGES + 1} includes the "
                          f"head conv), received {freeze_stages!r}.")
    if not classifier and (bits is None or bits < 1):
        raise ConfigError(f"bits: expected a positive integer, received {bits!r}.")
    if not isinstance(hidden, int) or hidden < 0:
        raise ConfigError(f"hidden: expected an integer >= 0 (0: the hash layer on the pooled features), received {hidden!r}.")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    # (x − 127) / 128, as the TF-Lite release feeds the net (not ImageNet mean/std); a layer, not scalar arithmetic
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescale")(inputs)
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    for index, (stage, filters_in, filters_out, kernel, stride, expand) in enumerate(block_plan(spec)):
        x = _block(x, f"stage{stage}_block{index}_", filters_in, filters_out, kernel, stride, expand)
    x = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if classifier:
        outputs = layers.Dense(1000, name="predictions")(x)
    else:
        if hidden:
            x = layers.BatchNormalization(epsilon=BN_EPSILON, name="pool_bn")(x)
            x = layers.Dense(hidden, activation="relu", name="full7")(x)
        outputs = layers.Dense(bits, name="hash")(x)
    model = keras.Model(inputs, outputs, name=name)
    freeze(model, freeze_stages)
    return model


def _block(x, prefix: str, filters_in: int, filters_out: int, kernel: int, stride: int, expand: int):
    """Inverted residual (MBConv without squeeze-excitation): expand 1×1, depthwise k×k, project 1×1."""
    inputs = x
    if expand != 1:
        x = layers.Conv2D(filters_in * expand, 1, padding="same", use_bias=False, name=prefix + "expand_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=prefix + "expand_bn")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_relu")(x)
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=prefix + "dwconv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=prefix + "dw_bn")(x)
    x = layers.ReLU(6.0, name=prefix + "dw_relu")(x)
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, name=prefix + "project_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=prefix + "project_bn")(x)
    if stride == 1 and filters_in == filters_out:
        x = layers.Add(name=prefix + "add")([x, inputs])
    return x


def layer_stage(layer_name: str) -> int | None:
    """0 for the stem, 1..7 for a stage, 8 for the head conv, None for the pool and the output layer."""
    if layer_name.startswith(("rescale", "stem_")):
        return 0
    if layer_name.startswith("stage"):
        return int(layer_name[5:layer_name.index("_")])
    if layer_name.startswith("head_"):
        return STAGES + 1
    return None


def freeze(model: keras.Model, freeze_stages: int) -> None:
    """Freeze (weights and BatchNorm statistics) the stem and stages 1..`freeze_stages`; unfreeze the rest."""
    for layer in model.layers:
        stage = layer_stage(layer.name)
        layer.trainable = stage is None or stage > freeze_stages


def stage_output_name(model: keras.Model, stage: int) -> str:
    """The name of the layer whose output ends `stage` (0: the stem) in a model built here."""
    names = [layer.name for layer in model.layers if layer_stage(layer.name) == stage]
    if not names:
        raise ConfigError(f"stage: expected 0..{STAGES + 1} in {model.name}, received {stage!r}.")
    return names[-1]


# Weightless layers whose output depends on their input alone, the same in training and inference: a cache
# of frozen activations may run on through them (the global pool after the head). Dropout and noise layers
# have no weights either, but differ at every training step, so they are not here.
PURE_LAYERS = (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D, layers.Flatten)


def frozen_boundary(model: keras.Model, stage: int) -> str:
    """The name of the last layer that `freeze_stages` = `stage` fixes: the end of `stage`, or past it the
    `PURE_LAYERS` that alone take its output (with every stage frozen, the global pool: what the trained
    layers see is then the pooled vector, not the map)."""
    name = stage_output_name(model, stage)
    consumers: dict[int, list] = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            for tensor in layer._inbound_nodes[0].input_tensors:
                consumers.setdefault(id(tensor), []).append(layer)
    outputs = {id(tensor) for tensor in model.outputs}
    while True:
        boundary = model.get_layer(name).output
        users = consumers.get(id(boundary), [])
        if (id(boundary) in outputs or len(users) != 1 or not isinstance(users[0], PURE_LAYERS) or users[0].weights
                or len(users[0]._inbound_nodes[0].input_tensors) != 1):
            return name
        name = users[0].name


def split_at_stage(model: keras.Model, stage: int) -> tuple[keras.Model, keras.Model]:
    """(bottom, top): pixels -> the output of `stage`, and that activation map -> the model's output."""
    return split_at_layer(model, stage_output_name(model, stage))


def split_at_layer(model: keras.Model, name: str) -> tuple[keras.Model, keras.Model]:
    """(bottom, top): pixels -> the output of layer `name`, and that activation -> the model's output.

    The two share the model's layers (and so its weights): train `top` on activations of a frozen
    `bottom` computed once, and the full model holds the trained weights.
    """
    boundary = model.get_layer(name).output
    bottom = keras.Model(model.inputs, boundary, name=model.name + "_bottom")
    below = {id(layer) for layer in bottom.layers}
    top_input = keras.Input(tuple(boundary.shape[1:]), name="activations")
    x = top_input
    tensors = {id(boundary): top_input}
    for layer in model.layers:
        if id(layer) in below or isinstance(layer, keras.layers.InputLayer):
            continue
        node_inputs = layer._inbound_nodes[0].input_tensors
        args = [tensors[id(t)] for t in node_inputs]
        x = layer(args if len(args) > 1 else args[0])
        tensors[id(layer.output)] = x
    top = keras.Model(top_input, x, name=model.name + "_top")
    return bottom, top
