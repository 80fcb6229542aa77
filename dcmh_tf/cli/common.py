"""Shared CLI plumbing: turning library errors into click errors."""

from __future__ import annotations

import functools

import click

from dcmh_tf.cli.startup import import_tensorflow
from dcmh_tf.errors import DcmhError


def reports_errors(command):
    """Wrap a command so that a `DcmhError` becomes a one-line message and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DcmhError as error:
            raise click.ClickException(str(error)) from None

    return wrapper


def print_json(values) -> None:
    import json

    click.echo(json.dumps(values, indent=2, sort_keys=True, ensure_ascii=False))  # UTF-8 as is, not \u961f


def check_run(path, *, not_live: str | None = None) -> None:
    """Refuse a RUN that is not a trained run directory (with `not_live`, the command's name, also one
    that a fit is training right now), then import TensorFlow: a mistyped RUN fails in a fraction of
    a second instead of after TensorFlow's start-up."""
    open_run(path, not_live=not_live)
    import_tensorflow()


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def open_run(path, *, not_live: str | None = None):
    """The checked `RunDirectory` at `path`, without TensorFlow: a mistyped RUN fails at once. With
    `not_live`, the command's name, a run that a fit is training right now is refused too."""
    from dcmh_tf.run_directory import RunDirectory

    run = RunDirectory.open(path)
    if not_live is not None:
        run.refuse_live(not_live)
    run.check_checkpoint(read_buffers=False)
    return run


def run_encoders(run) -> str:
    """The `Searcher` encoders to use: "auto" once RUN/onnx holds the run's current encoders (written
    now, through TensorFlow, when missing or stale), so queries run in onnxruntime; "tensorflow" when
    they cannot be written (a read-only run folder, a conversion that differs from Keras), with a warning."""
    from dcmh_tf.retrieval.onnx_encoders import is_fresh

    if is_fresh(run):
        return "auto"
    click.echo(f"converting the run's encoders to ONNX in {run.onnx_path} (once; later queries skip TensorFlow)",
               err=True)
    import_tensorflow()
    from dcmh_tf.export.run_onnx import write_run_onnx

    try:
        write_run_onnx(run)
    except (DcmhError, OSError) as error:
        warn(f"{error} Answering through TensorFlow.")
        return "tensorflow"
    return "auto"


def warn_collapse(metrics: dict) -> None:
    """Warn (stderr) for each modality whose database codes have collapsed (`metrics["codes"]`, made
    by `dcmh_tf.evaluation.scoring.evaluate_encoders`)."""
    from dcmh_tf.hashing import collapse_warning

    for modality, spread in (metrics.get("codes") or {}).items():
        message = collapse_warning(spread, what=f"database {modality}")
        if message:
            warn(message)
