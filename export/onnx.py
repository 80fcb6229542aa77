"""ONNX export of an encoder with its heads, through tf2onnx.

The graph is `serving_default` of the SavedModel: the same input name and type (`image` uint8
pixels, or `text` / `image` float32 vectors) and the same outputs (`features`, `codes`, `packed`),
with a dynamic batch size named `batch`. Pictures must come at the encoder's input size: the
SavedModel's antialiased resize (TF's ScaleAndTranslate) has no tf2onnx conversion. Opset 18: tf2onnx 1.17's newest, and current enough for every
runtime we know of (onnxruntime supports it since 1.14).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import onnx
import tensorflow as tf

from dcmh_tf.export.serving import ExportedEncoder

OPSET = 18


def onnx_path(output, name: str, modality: str, version: int) -> Path:
    """`OUT/onnx/<version>/<name>_<modality>.onnx`: versioned like the SavedModels beside it."""
    return Path(output) / "onnx" / str(version) / f"{name}_{modality}.onnx"


def write_onnx(encoder: ExportedEncoder, path, opset: int = OPSET) -> onnx.ModelProto:
    """Convert `encoder` with its heads to ONNX, check it with `onnx.checker` and write it to `path`."""
    spec = encoder.input_spec(any_size=False)
    return convert_function(encoder.serve, spec, path, opset)


def convert_function(serve, spec: tf.TensorSpec, path, opset: int = OPSET) -> onnx.ModelProto:
    """Convert `serve` (one input of `spec`, a dict of outputs) to ONNX with a batch dimension named
    `batch`, check it with `onnx.checker` and write it to `path`."""
    import tf2onnx

    function = tf.function(serve, input_signature=[spec], autograph=False)
    with _quiet_tensorflow_logger():
        model, _ = tf2onnx.convert.from_function(function, input_signature=[spec], opset=opset)
    _name_batch_dimension(model)
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return model


@contextlib.contextmanager
def _quiet_tensorflow_logger():
    """tf2onnx exports a TF1 meta graph, which warns that the tag table of a SavedModel written
    before in the same process cannot go into a graph collection; the table is not converted."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _name_batch_dimension(model: onnx.ModelProto) -> None:
    """tf2onnx names the unknown batch dimension `unk__N`; name it for whoever reads the graph's signature."""
    for value in (*model.graph.input, *model.graph.output):
        batch = value.type.tensor_type.shape.dim[0]
        if not batch.HasField("dim_value"):
            batch.dim_param = "batch"
