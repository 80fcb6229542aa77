"""The `dcmh-tf` command. The only package that imports click: it parses, calls the library and prints.

TensorFlow is imported inside the commands, so `--help` stays fast; a command's module is imported
only when the command runs (`LazyGroup`).
"""

from __future__ import annotations

import click

from dcmh_tf import __version__
from dcmh_tf.cli.startup import VERBOSE_VARIABLE, configure_logging


# command name -> module of dcmh_tf.cli that defines it (registering itself on `main` when imported)
COMMANDS = {name: name for name in ("compare", "datasets", "encode", "evaluate", "export", "fit", "search", "serve")}


class LazyGroup(click.Group):
    """A group that imports a command's module only when the command is called (or listed by
    `--help`): `dcmh-tf search` does not pay for the imports of `fit` or `evaluate`."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx, name):
        if name not in self.commands and name in COMMANDS:
            import importlib

            importlib.import_module(f"dcmh_tf.cli.{COMMANDS[name]}")
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dcmh-tf")
@click.option("--verbose", is_flag=True, envvar=VERBOSE_VARIABLE,
              help=f"Let TensorFlow log as it does by default (its start-up lines included); also {VERBOSE_VARIABLE}=1.")
def main(verbose: bool) -> None:
    """Deep Cross-Modal Hashing (Jiang & Li, CVPR 2017): learn binary codes for images and texts.

    Start with `dcmh-tf fit`, which trains on built-in demo data and prints MAP.
    """
    configure_logging(verbose)


__all__ = ["main"]
