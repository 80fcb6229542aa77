"""Stopping a fit cleanly on SIGINT (Ctrl-C) or SIGTERM.

While a fit trains, both signals only set a flag: the step running in TensorFlow finishes, the
trainer sees the flag before the next step, drops the unfinished epoch and the fit ends with the
last complete epoch, whose checkpoint is already on disk. A second signal during that wrap-up
raises KeyboardInterrupt at once (the user insists). Handlers can only be installed from the main
thread; a fit in another thread runs without them and a signal acts as Python's default.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(Exception):
    """Raised inside the training loop when a stop was asked for; `fit` turns it into `FitInterrupted`."""


class StopRequests:
    """A context manager that catches SIGINT and SIGTERM into `self.signal` (the first one received)."""

    def __init__(self):
        self.signal: signal.Signals | None = None
        self._previous: dict = {}

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for number in SIGNALS:
                self._previous[number] = signal.signal(number, self._receive)
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _receive(self, number, frame) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signal.Signals(number)

    def check(self) -> None:
        """Raise `StopRequested` when a signal came in."""
        if self.signal is not None:
            raise StopRequested
