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
    allow_other_runs: bool = False,
) -> ExportResult:
    """Export the encoders of the run in `run_path` to `output`:

        OUT/models.config, OUT/<name>_image/<version>/, OUT/<name>_text/<version>/   (savedmodel)
        OUT/onnx/<version>/<name>_image.onnx, OUT/onnx/<version>/<name>_text.onnx   (onnx)
        OUT/keras/<version>/<name>_image.keras, OUT/keras/<version>/<name>_text.keras   (keras)

    Refuses (`ExportError`) to replace an existing version unless `overwrite`, and to add a version
    beside models of the same name exported from another run unless `allow_other_runs`. Afterwards each
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
    # an absolute path, so that a later export from another folder recognises the same run
    identity = dict(run.identity(), path=str(run.path.resolve()))
    others = [other for other in other_runs(output, name, identity) if not (overwrite and other[0] == version)]
    if others and not allow_other_runs:
        runs: dict[tuple[str, str], list[str]] = {}
        for version, path, fingerprint in others:
            runs.setdefault((path, fingerprint), []).append(str(version))
        listed = "; ".join(f"version{'s' if len(versions) > 1 else ''} {', '.join(versions)} from {path} (weights "
                           f"{fingerprint})" for (path, fingerprint), versions in runs.items())
        raise ExportError(
            f"{output} already holds {name}_image / {name}_text models of another run ({listed}); this export is of "
            f"{identity['path']} (weights {identity['fingerprint']}). TF Serving serves the highest version of a "
            f"name, so clients would get codes of another run, whose index they do not match. Export to another "
            f"--output or --name, or pass --force to version the two runs under one name."
        )
    encoders = {encoder.modality: encoder for encoder in load_run_encoders(run)}
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


def other_runs(output, name: str, identity: dict) -> list[tuple[int, str, str]]:
    """(version, run path, weights fingerprint) of the models named `name` in `output` that another run
    made: another run folder and other weights (the same folder with other weights is that run trained
    further, which is what versions are for). Read from the identity files `record_identity` writes."""
    found = {}
    for modality in ("image", "text"):
        records = [*Path(output).glob(f"{model_name(name, modality)}/*/assets.extra/dcmh_run.json"),
                   *Path(output).glob(f"keras/*/{model_name(name, modality)}.dcmh_run.json")]
        for record in records:
            try:
                recorded = json.loads(record.read_text())
                version = int(record.parent.parent.name if record.parent.name == "assets.extra" else record.parent.name)
            except (OSError, ValueError):
                continue
            same_weights = recorded.get("fingerprint") == identity["fingerprint"]
            same_run = Path(recorded.get("path", "")).resolve() == Path(identity["path"])
            if not (same_weights or same_run):
                found[version] = (version, recorded.get("path", "?"), recorded.get("fingerprint", "?"))
        for path in Path(output).glob(f"onnx/*/{model_name(name, modality)}.onnx"):
            if not path.parent.name.isdigit() or int(path.parent.name) in found:
                continue
            recorded = _onnx_identity(path)
            if recorded and recorded.get("fingerprint") != identity["fingerprint"] \
                    and Path(recorded.get("path", "")).resolve() != Path(identity["path"]):
                found[int(path.parent.name)] = (int(path.parent.name), recorded.get("path", "?"),
                                                recorded.get("fingerprint", "?"))
    return sorted(found.values())


def _onnx_identity(path: Path) -> dict | None:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001  a damaged file names no run; the export replaces nothing of it
        return None
    values = {entry.key.removeprefix("dcmh_run_"): entry.value for entry in model.metadata_props
              if entry.key.startswith("dcmh_run_")}
    return values or None


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
