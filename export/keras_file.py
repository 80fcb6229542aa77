"""The encoders with their heads as native `.keras` files: `keras.saving.load_model(path)` after
`import dcmh_tf.export` (which registers the project's layers: the heads and `dcmh_tf.models.layers`)
gives a model whose outputs are {"features", "codes", "packed"}, as the SavedModels' `serving_default`.
The model takes what the Keras encoder takes: float32 pictures at the encoder's size (no resize) or
raw feature / bag-of-words vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dcmh_tf.export.heads import attach_heads
from dcmh_tf.export.serving import ExportedEncoder


def keras_path(output, name: str, modality: str, version: int) -> Path:
    return Path(output) / "keras" / str(version) / f"{name}_{modality}.keras"


def write_keras_file(encoder: ExportedEncoder, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    attach_heads(encoder.model).save(path)


def run_keras_file(path, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of the `.keras` file in `path`, loaded by `keras.saving.load_model`."""
    import keras

    outputs = keras.saving.load_model(path)(inputs.astype(np.float32), training=False)
    return {key: np.asarray(value) for key, value in outputs.items()}
