"""RUN/onnx/: a run's encoders converted once to ONNX, so that queries and encoding skip TensorFlow.

Unlike `dcmh-tf export --format onnx` (heads, uint8 pixels of the input size, a versioned folder for
deployment), these files are the bare encoders: the Keras encoder's own float32 input and its
`features` output, so the same preprocessing (`dcmh_tf.data.pictures`, the tokenizer, tag bags)
feeds them or Keras and only the encoder changes. `dcmh_tf.retrieval.onnx_encoders` reads them and
uses them only while their recorded fingerprint is the run's.

Written into a temporary folder and renamed into place, so a reader never sees half a folder, and
checked against Keras on a sample first: a conversion that differs is not written.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from dcmh_tf.export.exporter import ExportError
from dcmh_tf.export.onnx import OPSET, convert_function
from dcmh_tf.export.parity import keras_outputs, make_sample, run_onnx
from dcmh_tf.export.serving import load_run_encoders
from dcmh_tf.retrieval.onnx_encoders import FORMAT, RECORD, is_fresh, onnx_file
from dcmh_tf.run_directory import RunDirectory

# largest |Δfeatures| against Keras, relative to the features' scale (float32 kernels sum in other orders)
TOLERANCE = 1e-4
SAMPLE_SIZE = 8


def ensure_run_onnx(run: RunDirectory, fingerprint: str | None = None) -> bool:
    """Write RUN/onnx unless it is fresh; True when it was written now."""
    if is_fresh(run, fingerprint):
        return False
    write_run_onnx(run)
    return True


def write_run_onnx(run: RunDirectory, sample_size: int = SAMPLE_SIZE) -> Path:
    """Convert the run's encoders (its current weights) to RUN/onnx/{image,text}.onnx with
    run_onnx.json; raises `ExportError` (and writes nothing) when a converted encoder differs from
    Keras by more than TOLERANCE or in a code on `sample_size` random inputs (seed 0)."""
    stamp = run.weights_stamp()
    fingerprint = run.fingerprint()
    folder = run.onnx_path
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    # the weight files' stamps let a query trust the fingerprint without hashing them again
    record = {"format": FORMAT, "fingerprint": fingerprint, "weights": [list(s) for s in stamp], "opset": OPSET,
              "parity": {}}
    try:
        for encoder in load_run_encoders(run):
            model = encoder.model
            spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=encoder.modality)
            path = onnx_file(tmp, encoder.modality)
            convert_function(lambda x, model=model: {"features": tf.cast(model(x, training=False), tf.float32)},
                             spec, path)
            inputs = make_sample(encoder, sample_size).astype(np.float32)
            reference = keras_outputs(encoder, inputs)
            features = run_onnx(path, inputs)["features"]
            difference = float(np.abs(features - reference["features"]).max())
            scale = max(1.0, float(np.abs(reference["features"]).max()))
            if difference > TOLERANCE * scale or not np.array_equal(features >= 0, reference["codes"] > 0):
                raise ExportError(f"the ONNX conversion of the {encoder.modality} encoder of run {run.path} differs "
                                  f"from Keras (expected |Δfeatures| ≤ {TOLERANCE * scale:.1e} and equal codes, "
                                  f"received {difference:.1e}); queries keep using TensorFlow.")
            record["parity"][encoder.modality] = {"max_feature_difference": difference, "sample": sample_size}
        if run.weights_stamp() != stamp:  # a fit wrote new weights meanwhile: these files may be of either
            raise ExportError(f"the weights of run {run.path} changed while its encoders were converted to ONNX "
                              f"(a fit is training it); queries keep using TensorFlow until it stops.")
        (tmp / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        old = folder.with_name(f"{folder.name}.old-{os.getpid()}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
