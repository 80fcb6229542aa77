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


class FitInterrupted(DcmhError):
    """A fit stopped on SIGINT (Ctrl-C) or SIGTERM. The run keeps its last complete epoch.

    signal_name: "SIGINT" or "SIGTERM"; in_epoch: the epoch that was dropped (1-based); epochs_done: the
    epochs the checkpoint keeps (0: none was complete); resume: the command that continues the run;
    exit_code: 128 + the signal's number, the shell's convention (130 for Ctrl-C)."""

    def __init__(self, message: str, *, signal_name: str, exit_code: int, in_epoch: int, epochs_done: int, resume: str):
        super().__init__(message)
        self.signal_name, self.exit_code, self.in_epoch = signal_name, exit_code, in_epoch
        self.epochs_done, self.resume = epochs_done, resume
