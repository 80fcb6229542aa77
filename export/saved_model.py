"""SavedModels in TF Serving's layout, and the `models.config` that serves them.

    OUT/models.config
    OUT/<name>_image/<version>/saved_model.pb, variables/
    OUT/<name>_text/<version>/...

Written with `keras.export.ExportArchive`, but without `ExportArchive.track(model)`: tracking the
model stores every weight a second time (keras-team/keras#23553). The archive then holds just the
variables the serving functions capture, once each, as plain `tf.Variable`s on an `AutoTrackable`,
which also keeps the SavedModel loadable by the session-based loader of TF Serving and
`saved_model_cli run` (a `tf.Module` holding the Keras model is not).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import keras

from dcmh_tf.export.serving import ExportedEncoder

SERVING_DEFAULT = "serving_default"


def model_name(name: str, modality: str) -> str:
    """TF Serving's model name of one encoder, e.g. `dcmh_image`."""
    return f"{name}_{modality}"


def saved_model_path(output, name: str, modality: str, version: int) -> Path:
    return Path(output) / model_name(name, modality) / str(version)


def write_saved_model(encoder: ExportedEncoder, path) -> list[str]:
    """Write `encoder` with its heads as a SavedModel in `path` (replaced if it exists); return its
    signature names, `serving_default` first."""
    archive = keras.export.ExportArchive()
    archive.add_endpoint(SERVING_DEFAULT, encoder.serve, [encoder.input_spec()])
    for signature, (function, spec) in encoder.extra_signatures().items():
        archive.add_endpoint(signature, function, [spec])
    # A lookup table is a resource, not a variable: the archive saves it (with the initializer that
    # the session-based loader runs) only when tracked. Tracking a table copies no weights.
    for resource in encoder.resources():
        archive.track(resource)
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    archive.write_out(str(path), verbose=False)
    return list(archive._endpoint_names)


def write_models_config(output, name: str, modalities=("image", "text")) -> Path:
    """`OUT/models.config` for `tensorflow_model_server --model_config_file`, with base paths as
    mounted in the documented docker command (`OUT` at /models)."""
    entries = "\n".join(
        "  config {\n"
        f"    name: \"{model_name(name, modality)}\"\n"
        f"    base_path: \"/models/{model_name(name, modality)}\"\n"
        "    model_platform: \"tensorflow\"\n"
        "  }"
        for modality in modalities
    )
    path = Path(output) / "models.config"
    path.write_text(f"model_config_list {{\n{entries}\n}}\n")
    return path

