"""Shared CLI plumbing: turning library errors into click errors."""

from __future__ import annotations

import functools

import click

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
