"""Errors raised by dcmh_tf.

Every error says what was received, what was expected and how to fix it. The CLI turns
`DcmhError` into a one-line message and exit code 1; nothing here is meant to surface as a traceback.
"""


class DcmhError(Exception):
    """Base class of every error dcmh_tf raises on purpose."""


class ConfigError(DcmhError, ValueError):
    """A configuration value is out of range or inconsistent."""


class DataError(DcmhError, ValueError):
    """A dataset file or array is missing, malformed or inconsistent."""


class RunDirectoryError(DcmhError):
    """A run directory is missing, incomplete, or holds a different run."""


class TrainingError(DcmhError, RuntimeError):
    """Training cannot go on (for example the loss became NaN or infinite)."""
