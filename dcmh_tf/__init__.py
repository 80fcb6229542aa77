"""dcmh-tf: Deep Cross-Modal Hashing (Jiang & Li, CVPR 2017) in Keras 3 / TensorFlow.

The supported Python surface (docs/python-api.md) is reached from here: `dcmh_tf.DCMH` and the
errors it raises. The names load on first use (PEP 562), so `import dcmh_tf` does not import
TensorFlow: the command line starts fast.
"""

__version__ = "0.1.0"

_ERRORS = ("DcmhError", "ConfigError", "DataError", "RunDirectoryError", "TrainingError", "FitInterrupted")

__all__ = ["__version__", "DCMH", *_ERRORS]


def __getattr__(name: str):
    # Plain imports (not importlib) so that the import rules (tests/test_architecture.py) see them.
    if name == "DCMH":
        from dcmh_tf.api import DCMH as value
    elif name in _ERRORS:
        from dcmh_tf import errors

        value = getattr(errors, name)
    else:
        raise AttributeError(f"module 'dcmh_tf' has no attribute {name!r}")
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
