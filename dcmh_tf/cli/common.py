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

    click.echo(json.dumps(values, indent=2, sort_keys=True))


def check_run(path, *, not_live: str | None = None) -> None:
    """Refuse a RUN that is not a trained run directory (with `not_live`, the command's name, also one
    that a fit is training right now), then import TensorFlow: a mistyped RUN fails in a fraction of
    a second instead of after TensorFlow's start-up."""
    from dcmh_tf.run_directory import RunDirectory

    run = RunDirectory.open(path)
    if not_live is not None:
        run.refuse_live(not_live)
    run.check_checkpoint()
    import_tensorflow()
