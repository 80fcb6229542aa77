"""TensorFlow's start-up, quiet unless asked: the command line's first impression is its own output.

Importing TensorFlow 2.21 writes C++ INFO lines to stderr that TF_CPP_MIN_LOG_LEVEL does not
silence ("oneDNN custom operations are on ..." from tsl's port.cc, preceded by absl's "All log
messages before absl::InitializeLog() ..."), and writes them twice: the code and absl's logging
state exist twice in the process, once in libtensorflow_framework.so.2 (loaded with the first
extension module, `_pywrap_cpu_feature_guard`) and once linked statically into
`_pywrap_profiler_plugin.so`, which depends on no TensorFlow library (`ldd`; both files hold the
message's text). Each copy runs its own static initialisation when loaded. The one way to keep them out without turning
oneDNN off (TF_ENABLE_ONEDNN_OPTS=0, which changes speed and numerics) is to catch file descriptor 2
while TensorFlow is imported and pass on every line that is not such an INFO line: warnings and
errors from the import still reach the user.

`dcmh-tf --verbose ...` or DCMH_TF_VERBOSE=1 leaves TensorFlow's logging untouched.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

VERBOSE_VARIABLE = "DCMH_TF_VERBOSE"

# absl's log lines start "I0000 00:00:1796248921.544159   14474 port.cc:153] " (I, W, E or F for the level)
LOG_LINE = re.compile(r"[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] ")
ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# a Python warning or traceback never continues a C++ INFO line
PYTHON_REPORT = re.compile(r"\S+:\d+: \w*(Warning|Error)\b|Traceback ")


def drop_start_up_noise(text: str) -> str:
    """`text` without absl's INFO lines (and the lines that continue them) and its InitializeLog notice;
    warnings, errors and every other line are kept."""
    kept, in_info = [], False
    for line in text.splitlines(keepends=True):
        if LOG_LINE.match(line) or line.startswith(ABSL_NOTICE):
            in_info = line.startswith("I") or line.startswith(ABSL_NOTICE)
        elif PYTHON_REPORT.match(line):
            in_info = False
        if not in_info:
            kept.append(line)
    return "".join(kept)


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def configure_logging(verbose: bool) -> None:
    """Called by the `dcmh-tf` group before any command: quiet (TensorFlow's C++ INFO and WARNING lines
    off unless TF_CPP_MIN_LOG_LEVEL is set) or verbose (TensorFlow's own defaults)."""
    if verbose:
        os.environ[VERBOSE_VARIABLE] = "1"  # also for the processes the command starts
    if not is_verbose():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_tensorflow() -> None:
    """Import TensorFlow and Keras, keeping their C++ start-up INFO lines out of stderr (see the module
    docstring). Commands call it after checking their arguments, so that a bad argument fails fast."""
    if "tensorflow" in sys.modules or is_verbose():
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            sys.stderr.write(drop_start_up_noise(captured.read().decode(errors="replace")))
            sys.stderr.flush()
