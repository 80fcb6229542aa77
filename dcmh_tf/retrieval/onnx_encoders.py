"""A run's encoders through onnxruntime: queries and encoding without importing TensorFlow.

RUN/onnx/ holds `image.onnx` and `text.onnx` (each: float32 input of the Keras encoder's shape,
dynamic batch, output `features`) and `run_onnx.json`, which records the fingerprint of the weights
they were converted from (`RunDirectory.fingerprint`) and the largest difference from Keras measured
when they were written. `dcmh_tf.export.run_onnx.write_run_onnx` writes the folder; this module only
reads it: files whose fingerprint is not the run's current one (the run trained further, or kept
another best epoch) are stale and never used.

Importing onnxruntime costs about half a second; TensorFlow costs five or more.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from dcmh_tf.run_directory import RunDirectory

RECORD = "run_onnx.json"
FORMAT = 1
MODALITIES = ("image", "text")


def onnx_file(folder: Path, modality: str) -> Path:
    return Path(folder) / f"{modality}.onnx"


def read_record(run: RunDirectory) -> dict | None:
    """RUN/onnx/run_onnx.json, or None when it is missing or unreadable."""
    path = run.onnx_path / RECORD
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def current_fingerprint(run: RunDirectory) -> str:
    """`run.fingerprint()`, read from RUN/onnx/run_onnx.json without hashing the weight files when
    they are the very files it was recorded from (same inodes, sizes and modification times: a
    checkpoint is always swapped in as new files); hashed otherwise."""
    record = read_record(run)
    stamp = [list(entry) for entry in run.weights_stamp()]
    if record is not None and record.get("weights") == stamp:
        return record["fingerprint"]
    fingerprint = run.fingerprint()
    if record is not None and record.get("fingerprint") == fingerprint:
        # the same weights in other files (copied, or a record from before stamps): stamp them for next time
        path = run.onnx_path / RECORD
        tmp = path.with_name(f"{RECORD}.tmp-{os.getpid()}")
        try:
            tmp.write_text(json.dumps(dict(record, weights=stamp), indent=2, sort_keys=True) + "\n")
            os.replace(tmp, path)
        except OSError:  # a read-only run folder: hashed again next time
            tmp.unlink(missing_ok=True)
    return fingerprint


def is_fresh(run: RunDirectory, fingerprint: str | None = None) -> bool:
    """Whether RUN/onnx holds both encoders converted from the run's current weights."""
    record = read_record(run)
    if record is None or not all(onnx_file(run.onnx_path, m).is_file() for m in MODALITIES):
        return False
    return record.get("fingerprint") == (fingerprint or current_fingerprint(run))


def make_onnx_session(path, threads: int | None = None, *, quiet: bool = False):
    """An onnxruntime CPU session of the ONNX file `path`; `threads`: intra-op threads (one inter-op thread);
    quiet: log errors only (onnxruntime's start-up warnings are not the user's business)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if quiet:
        options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEncoders:
    """onnxruntime sessions of a run's two encoders, opened on first use of each."""

    def __init__(self, folder: Path, threads: int | None = None):
        self.folder = Path(folder)
        self.threads = threads
        self._sessions: dict = {}

    @classmethod
    def open(cls, run: RunDirectory, fingerprint: str | None = None, threads: int | None = None) -> "OnnxEncoders | None":
        """The run's ONNX encoders, or None when RUN/onnx is missing or stale."""
        return cls(run.onnx_path, threads) if is_fresh(run, fingerprint) else None

    def session(self, modality: str):
        if modality not in self._sessions:
            self._sessions[modality] = make_onnx_session(onnx_file(self.folder, modality), self.threads, quiet=True)
        return self._sessions[modality]

    def forward(self, modality: str) -> Callable[[np.ndarray], np.ndarray]:
        """(batch, ...) float32 inputs → (batch, c) float32 features of the `modality` encoder."""
        session = self.session(modality)
        name = session.get_inputs()[0].name

        def run(inputs: np.ndarray) -> np.ndarray:
            return session.run(["features"], {name: np.ascontiguousarray(inputs, np.float32)})[0]

        return run
