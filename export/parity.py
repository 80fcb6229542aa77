"""Do exported models compute what the Keras encoder computes? Compare them on a sample batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcmh_tf.export.serving import ExportedEncoder
from dcmh_tf.hashing import sign_codes
from dcmh_tf.models.layers import FeatureStandardization
from dcmh_tf.retrieval.onnx_encoders import make_onnx_session


@dataclass(frozen=True)
class Parity:
    """One exported model against Keras on one batch: the largest |Δ| of the features, the share
    of code bits that agree (1.0 = all), and whether `packed` equals numpy.packbits of Keras' codes."""

    model: str
    format: str
    batch: int
    max_feature_difference: float
    code_agreement: float
    packed_equal: bool


def make_sample(encoder: ExportedEncoder, n: int, seed: int = 0) -> np.ndarray:
    """`n` random inputs for `encoder`: uint8 pixels of its input size; raw features around the
    training rows' mean with their spread for an encoder that standardises its inputs (normal
    z-scores); normal features; or 0/1 bags of words with about 5% of the words (at least one) per row."""
    rng = np.random.default_rng(seed)
    size = encoder.input_size
    if encoder.input_kind == "pixels":
        return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    standardization = [layer for layer in encoder.model.layers if isinstance(layer, FeatureStandardization)]
    if standardization:  # N(0, 1) raw features would be z-scores in the hundreds for SIFT-like inputs
        mean, std = standardization[0].mean.numpy(), standardization[0].std.numpy()
        return (mean + std * rng.normal(size=(n, size))).astype(np.float32)
    if encoder.input_kind == "features":
        return rng.normal(size=(n, size)).astype(np.float32)
    bow = (rng.random((n, size)) < 0.05).astype(np.float32)
    bow[np.arange(n), rng.integers(size, size=n)] = 1
    return bow


def keras_outputs(encoder: ExportedEncoder, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """The reference: features from the Keras encoder, codes from `dcmh_tf.hashing.sign_codes`,
    packed from `numpy.packbits`."""
    features = np.asarray(encoder.model(inputs.astype(np.float32), training=False), np.float32)
    codes = sign_codes(features)
    return {"features": features, "codes": codes, "packed": np.packbits(codes > 0, axis=1)}


def compare(reference: dict, outputs: dict, model: str, format: str) -> Parity:
    """`outputs` of an exported model against the Keras `reference` (both dicts of features, codes, packed)."""
    features = np.asarray(outputs["features"])
    codes = np.asarray(outputs["codes"])
    packed = np.asarray(outputs["packed"])
    expected = reference["features"]
    if features.shape != expected.shape or codes.shape != expected.shape:
        return Parity(model, format, len(expected), float("inf"), 0.0, False)
    return Parity(
        model=model,
        format=format,
        batch=len(expected),
        max_feature_difference=float(np.abs(features - expected).max()),
        code_agreement=float((codes == reference["codes"]).mean()),
        packed_equal=packed.dtype == np.uint8 and np.array_equal(packed, reference["packed"]),
    )


def run_saved_model(path, inputs: np.ndarray, signature: str = "serving_default") -> dict[str, np.ndarray]:
    """Outputs of the SavedModel in `path` through `tf.saved_model.load`."""
    import tensorflow as tf

    function = tf.saved_model.load(str(path)).signatures[signature]
    (name,) = function.structured_input_signature[1]
    return {key: value.numpy() for key, value in function(**{name: tf.constant(inputs)}).items()}


def run_onnx(path, inputs: np.ndarray, threads: int | None = None) -> dict[str, np.ndarray]:
    """Outputs of the ONNX file in `path` through onnxruntime on the CPU."""
    session = make_onnx_session(path, threads)
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: inputs})))
