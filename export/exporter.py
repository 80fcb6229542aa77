"""Export a run: both encoders with their heads, as SavedModels for TF Serving and / or ONNX,
then a parity check of every written model against Keras on a sample batch."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from dcmh_tf.errors import DcmhError
from dcmh_tf.export.keras_file import keras_path, run_keras_file, write_keras_file
from dcmh_tf.export.onnx import onnx_path, write_onnx
from dcmh_tf.export.parity import Parity, compare, keras_outputs, make_sample, run_onnx, run_saved_model
from dcmh_tf.export.saved_model import model_name, saved_model_path, write_models_config, write_saved_model
from dcmh_tf.export.serving import load_run_encoders

FORMATS = ("savedmodel", "onnx", "keras")
SAMPLE_SIZE = 8


class ExportError(DcmhError):
    """An export cannot be written as asked (bad name or version, output already there, ...)."""


@dataclass
class ExportResult:
    """What `export_run` wrote and checked.

    written: {(model name, format): path}; signatures: {model name: SavedModel signature names};
    skipped: {model name: {SavedModel signature not written: reason}}; parity: one row per written model.
    """

    written: dict[tuple[str, str], Path] = field(default_factory=dict)
    signatures: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)
    models_config: Path | None = None
    parity: list[Parity] = field(default_factory=list)
    sample: str = ""


def export_run(
    run_path,
    output,
    formats=FORMATS,
    name: str = "dcmh",
    version: int = 1,
    overwrite: bool = False,
    sample_size: int = SAMPLE_SIZE,
    progress: bool = False,
) -> ExportResult:
    """Export the encoders of the run in `run_path` to `output`:

        OUT/models.config, OUT/<name>_image/<version>/, OUT/<name>_text/<version>/   (savedmodel)
        OUT/onnx/<version>/<name>_image.onnx, OUT/onnx/<version>/<name>_text.onnx   (onnx)
        OUT/keras/<version>/<name>_image.keras, OUT/keras/<version>/<name>_text.keras   (keras)

    Refuses (`ExportError`) to replace an existing version unless `overwrite`. Afterwards each
    written model runs on `sample_size` random inputs (seed 0) and is compared with Keras.
    """
    from dcmh_tf.run_directory import RunDirectory

    formats = _check_arguments(formats, name, version, output)
    run = RunDirectory.open(run_path)
    run.refuse_live("export")  # its checkpoint moves on while a fit trains it
    targets = {
        (modality, format): _target(output, name, modality, version, format)
        for format in formats
        for modality in ("image", "text")
    }
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not overwrite:
        raise ExportError(
            f"version {version} already exists: {', '.join(existing)}. "
            f"Choose another --version, or pass --overwrite to replace it."
        )
    encoders = {encoder.modality: encoder for encoder in load_run_encoders(run)}
    identity = run.identity()
    result = ExportResult(sample=f"{sample_size} random inputs per encoder (seed 0), not the run's data")
    # disable=None: tqdm draws only on a terminal, so `export ... 2> log` gets no bars
    steps = tqdm(targets.items(), desc="export", unit="model", disable=None if progress else True, file=sys.stderr)
    for (modality, format), path in steps:
        steps.set_postfix_str(f"{model_name(name, modality)} {format}")
        encoder = encoders[modality]
        if format == "savedmodel":
            result.signatures[model_name(name, modality)] = write_saved_model(encoder, path)
            result.skipped[model_name(name, modality)] = dict(encoder.skipped)
        elif format == "keras":
            write_keras_file(encoder, path)
        else:
            write_onnx(encoder, path)
        record_identity(path, format, identity)
        result.written[model_name(name, modality), format] = path
    if "savedmodel" in formats:
        result.models_config = write_models_config(output, name)
    result.parity = check_parity(result, encoders, name, sample_size)
    return result


def record_identity(path: Path, format: str, identity: dict) -> None:
    """Write which run made an exported model (`RunDirectory.identity`: path and weights fingerprint),
    so codes it makes can be matched to an index: a SavedModel gets `assets.extra/dcmh_run.json` (TF
    Serving's folder for extra files, ignored by the loaders), an ONNX file the metadata properties
    `dcmh_run_path` and `dcmh_run_fingerprint`, a `.keras` file a `<name>.dcmh_run.json` beside it (a
    .keras archive has no place for it that `keras.saving.load_model` would keep)."""
    text = json.dumps(identity, indent=2, sort_keys=True) + "\n"
    if format == "savedmodel":
        extra = Path(path) / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / "dcmh_run.json").write_text(text)
        return
    if format == "keras":
        Path(path).with_suffix(".dcmh_run.json").write_text(text)
        return
    import onnx

    model = onnx.load(str(path))
    for key, value in identity.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = f"dcmh_run_{key}", value
    onnx.save(model, str(path))


def check_parity(result: ExportResult, encoders: dict, name: str, sample_size: int = SAMPLE_SIZE) -> list[Parity]:
    """Compare every model in `result.written` with its Keras encoder on `sample_size` random inputs."""
    rows = []
    for modality, encoder in encoders.items():
        inputs = make_sample(encoder, sample_size)
        reference = keras_outputs(encoder, inputs)
        for format, run in (("savedmodel", run_saved_model), ("onnx", run_onnx), ("keras", run_keras_file)):
            path = result.written.get((model_name(name, modality), format))
            if path is not None:
                rows.append(compare(reference, run(path, inputs), model_name(name, modality), format))
    return rows


def _check_arguments(formats, name: str, version: int, output) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(FORMATS if "all" in formats else formats))
    unknown = [format for format in formats if format not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"format {', '.join(unknown) or '(none)'}: expected one of {', '.join(FORMATS)}, all.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ExportError(
            f"model name {name!r}: expected letters, digits, '_', '.' or '-' (it becomes a folder and a "
            f"TF Serving model name)."
        )
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ExportError(f"version {version!r}: expected a positive integer (TF Serving's version folders).")
    if Path(output).exists() and not Path(output).is_dir():
        raise ExportError(f"output {output} is a file; expected a folder (it is created if missing).")
    return formats


def _target(output, name: str, modality: str, version: int, format: str) -> Path:
    if format == "savedmodel":
        return saved_model_path(output, name, modality, version)
    if format == "keras":
        return keras_path(output, name, modality, version)
    return onnx_path(output, name, modality, version)
