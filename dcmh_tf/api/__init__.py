"""The supported Python API (docs/python-api.md): `DCMH`, a run in Python.

It sits above every stage and below the command line, whose `fit`, `encode` and `evaluate` are
written on it: a model trained here is a run directory like any other, and the other way round.
"""

from dcmh_tf.api.model import DCMH

__all__ = ["DCMH"]
