"""The `dcmh-tf` command. The only package that imports click: it parses, calls the library and prints.

TensorFlow is imported inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import click

from dcmh_tf import __version__
from dcmh_tf.cli.startup import VERBOSE_VARIABLE, configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dcmh-tf")
@click.option("--verbose", is_flag=True, envvar=VERBOSE_VARIABLE,
              help=f"Let TensorFlow log as it does by default (its start-up lines included); also {VERBOSE_VARIABLE}=1.")
def main(verbose: bool) -> None:
    """Deep Cross-Modal Hashing (Jiang & Li, CVPR 2017): learn binary codes for images and texts.

    Start with `dcmh-tf fit`, which trains on built-in demo data and prints MAP.
    """
    configure_logging(verbose)


from dcmh_tf.cli import evaluate as _evaluate  # noqa: E402  (commands register themselves on `main`)
from dcmh_tf.cli import fit as _fit  # noqa: E402,F401
from dcmh_tf.cli import encode as _encode  # noqa: E402,F401
from dcmh_tf.cli import search as _search  # noqa: E402,F401
from dcmh_tf.cli import datasets as _datasets  # noqa: E402,F401
from dcmh_tf.cli import export as _export  # noqa: E402,F401
from dcmh_tf.cli import compare as _compare  # noqa: E402,F401
from dcmh_tf.cli import serve as _serve  # noqa: E402,F401

__all__ = ["main"]
