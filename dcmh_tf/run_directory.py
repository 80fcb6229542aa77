"""The run directory: everything needed to resume, evaluate or export a run.

    RUN/config.json            resolved Config
    RUN/split.npz              query / database / train row indices
    RUN/inputs.json            what the encoders take: image kind and size or feature length,
                               text length, tag vocabulary and label names when the dataset has them
    RUN/tokenizer.json         the tokenizer of raw text (dcmh_tf.text.Tokenizer), for collections only
    RUN/checkpoint/            written atomically at the end of every epoch:
        image_encoder.weights.h5, text_encoder.weights.h5,
        state.npz              F, G, B buffers, epochs done, optimizer variables
    RUN/best/                  with keep_best: the encoders' weights of the best validation MAP
    RUN/validation.json        with eval_every: the validation curve (dcmh_tf.training.selection)
    RUN/image_encoder.keras,   the encoders the run ends with (the kept ones with keep_best) in Keras'
    RUN/text_encoder.keras     native format: keras.saving.load_model after `import dcmh_tf`
    RUN/metrics.json           latest evaluation (at least map_i2t, map_t2i, bits)
    RUN/onnx/                  the encoders as ONNX files for queries without TensorFlow, written by the
                               first `search` / `encode` / `serve` (dcmh_tf.export.run_onnx), with the
                               fingerprint of the weights they were made from (stale ones are rewritten)
    RUN/logs/                  TensorBoard scalars
    RUN/fit.lock               while a fit trains the run: its pid, host, start and the epoch in
                               progress (`FitLock`); a lock whose process is gone is stale and ignored
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from dcmh_tf.config import Config
from dcmh_tf.data.paired import Split
from dcmh_tf.errors import ConfigError, RunDirectoryError

CONFIG = "config.json"
SPLIT = "split.npz"
INPUTS = "inputs.json"
CHECKPOINT = "checkpoint"
METRICS = "metrics.json"
LOGS = "logs"
IMAGE_WEIGHTS = "image_encoder.weights.h5"
TEXT_WEIGHTS = "text_encoder.weights.h5"
STATE = "state.npz"
BEST = "best"
VALIDATION = "validation.json"
KERAS_FILES = {"image": "image_encoder.keras", "text": "text_encoder.keras"}
TOKENIZER = "tokenizer.json"
LOCK = "fit.lock"
ONNX = "onnx"
# what a resumed run may change besides its epochs (`RunDirectory.resumed_config`): how it reads its pictures, not
# which (the same batches either way); `dcmh-tf fit --resume` options and `DCMH.fit` of a loaded model alike
READING_FIELDS = ("pixels", "readers")


class RunLiveError(RunDirectoryError):
    """A command that reads a run's checkpoint, or writes beside it, met a fit that is still training it."""


def resume_command(path) -> str:
    """The command that continues the run in `path` from its last complete epoch."""
    return f"dcmh-tf fit --resume {shlex.quote(str(path))}"


class RunDirectory:
    """A run's folder on disk. Create one with `create`, open an existing one with `open`."""

    def __init__(self, path: Path, config: Config):
        self.path = Path(path)
        self.config = config

    @classmethod
    def create(cls, path, config: Config, split: Split, data) -> "RunDirectory":
        """A new run in `path` (made if missing) for `data` (a `PairedData`). Refuses a folder that
        already holds a run."""
        path = Path(path)
        if (path / CONFIG).exists():
            existing = _read_config(path)
            if existing == config:
                raise RunDirectoryError(
                    f"{path} already holds a run with this configuration; continue it with "
                    f"`dcmh-tf fit --resume {path}` or choose another --output."
                )
            differences = ", ".join(
                f"{key} {old!r} vs {new!r}"
                for key, old in existing.to_dict().items()
                if (new := config.to_dict()[key]) != old
            )
            raise RunDirectoryError(
                f"{path} holds a different run ({differences}); choose another --output, "
                f"or continue that run with `dcmh-tf fit --resume {path}`."
            )
        if path.exists() and not path.is_dir():
            raise RunDirectoryError(f"--output {path} is a file; expected a folder for the run.")
        path.mkdir(parents=True, exist_ok=True)
        split.save(path / SPLIT)
        _write_atomically(path / INPUTS, json.dumps(input_description(data), indent=2))
        if getattr(data, "tokenizer", None) is not None:
            data.tokenizer.save(path / TOKENIZER)
        run = cls(path, config)
        run.write_config()
        return run

    @classmethod
    def open(cls, path) -> "RunDirectory":
        """An existing run; raises `RunDirectoryError` when `path` is not one."""
        path = Path(path)
        if not path.is_dir():
            raise RunDirectoryError(f"{path} is not a folder; expected a run directory made by `dcmh-tf fit`.")
        missing = [name for name in (CONFIG, SPLIT) if not (path / name).exists()]
        if missing:
            raise RunDirectoryError(
                f"{path} is not a dcmh-tf run: {', '.join(missing)} missing. "
                f"Expected a folder written by `dcmh-tf fit` (it holds {CONFIG}, {SPLIT} and {CHECKPOINT}/)."
            )
        return cls(path, _read_config(path))

    def write_config(self) -> None:
        _write_atomically(self.path / CONFIG, self.config.to_json())

    # split ---------------------------------------------------------------------------------
    def load_split(self) -> Split:
        return Split.load(self.path / SPLIT)

    def read_inputs(self) -> dict[str, Any]:
        """The encoders' inputs as described by `input_description` when the run was created."""
        path = self.path / INPUTS
        if not path.exists():
            raise RunDirectoryError(f"{path} missing: the run directory is incomplete; train it again with `dcmh-tf fit`.")
        return json.loads(path.read_text())

    def load_tokenizer(self):
        """The `dcmh_tf.text.Tokenizer` that turns raw text into this run's bags of words, or None
        for runs on data without one (the demo, the authors' files, features)."""
        from dcmh_tf.text import Tokenizer

        path = self.path / TOKENIZER
        if not path.exists():
            return None
        tokenizer = Tokenizer.load(path)
        text_dim = self.read_inputs()["text_dim"]
        if len(tokenizer.vocabulary) != text_dim:
            raise RunDirectoryError(f"{path}: {len(tokenizer.vocabulary)} tokens in the vocabulary but the text "
                                    f"encoder takes {text_dim}; the run directory is inconsistent, train it again.")
        return tokenizer

    # checkpoint ----------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def has_checkpoint(self) -> bool:
        self._recover_interrupted_swap()
        return (self.checkpoint_path / STATE).exists()

    def save_checkpoint(self, image_encoder, text_encoder, state: dict[str, np.ndarray]) -> None:
        """Write weights and state to a fresh folder, then swap it in, so a kill leaves either the
        previous complete checkpoint or the new one."""
        self._write_weights_folder(self.checkpoint_path, image_encoder, text_encoder, state)

    def _write_weights_folder(self, folder: Path, image_encoder, text_encoder, state: dict | None = None) -> None:
        tmp = folder.with_name(folder.name + ".tmp")
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        image_encoder.save_weights(tmp / IMAGE_WEIGHTS)
        text_encoder.save_weights(tmp / TEXT_WEIGHTS)
        if state is not None:
            np.savez(tmp / STATE, **state)
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)

    # model selection -----------------------------------------------------------------------
    @property
    def best_path(self) -> Path:
        return self.path / BEST

    def save_best(self, image_encoder, text_encoder) -> None:
        """The encoders' weights of the best validation MAP so far (keep_best), swapped in atomically."""
        self._write_weights_folder(self.best_path, image_encoder, text_encoder)

    def load_best(self, image_encoder, text_encoder) -> None:
        for encoder, name in ((image_encoder, IMAGE_WEIGHTS), (text_encoder, TEXT_WEIGHTS)):
            encoder.load_weights(self.best_path / name)

    def read_validation(self) -> list[dict[str, Any]]:
        """The validation curve so far: one record per evaluation, in epoch order ([] before the first)."""
        path = self.path / VALIDATION
        return json.loads(path.read_text()) if path.exists() else []

    def write_validation(self, history: list[dict[str, Any]]) -> None:
        _write_atomically(self.path / VALIDATION, json.dumps(history, indent=2))

    def save_keras(self, image_encoder, text_encoder) -> dict[str, Path]:
        """Both encoders as native `.keras` files (architecture + weights; the custom layers are
        registered under the package name "dcmh_tf", so `import dcmh_tf` is all a loader needs)."""
        written = {}
        for modality, encoder in (("image", image_encoder), ("text", text_encoder)):
            path = self.path / KERAS_FILES[modality]
            tmp = path.with_name(path.stem + ".tmp.keras")  # Keras insists on the extension
            encoder.save(tmp)
            os.replace(tmp, path)
            written[modality] = path
        return written

    def require_checkpoint(self) -> None:
        if not self.has_checkpoint():
            live = self.live_fit()
            if live is not None:
                raise RunLiveError(f"{self.path} has no checkpoint yet: its fit is still in its first epoch "
                                   f"({describe_live_fit(live)}); wait for the first epoch to end.")
            raise RunDirectoryError(
                f"{self.path} has no checkpoint yet ({CHECKPOINT}/{STATE} missing): the run stopped before "
                f"its first epoch ended. Start it again with `dcmh-tf fit --output` to a new folder."
            )

    def epochs_done(self) -> int:
        """Complete epochs in the checkpoint (0 without one); read without TensorFlow."""
        return int(self._read_state(read_buffers=False)["epochs_done"]) if self.has_checkpoint() else 0

    def resumed_config(self, epochs: int | None = None) -> Config:
        """The configuration to resume with: the saved one, trained to `epochs` in all when given (the
        learning rate keeps the run's schedule, `Config.with_epochs`). Fewer epochs than done are refused."""
        done = self.epochs_done()  # also checks the checkpoint
        if epochs is None:
            return self.config
        if epochs < done:
            raise ConfigError(
                f"{self.path} has done {done} epochs, so --epochs {epochs} cannot be reached by training more; "
                f"give --epochs {done} or more to continue it (its last checkpoint is that of epoch {done}; "
                f"`dcmh-tf evaluate {self.path}` scores it)."
            )
        return self.config.with_epochs(epochs)

    def load_checkpoint(self, image_encoder, text_encoder) -> dict[str, np.ndarray]:
        """Load the encoders' weights in place and return the saved state arrays."""
        state = self.check_checkpoint()
        for encoder, name in ((image_encoder, IMAGE_WEIGHTS), (text_encoder, TEXT_WEIGHTS)):
            path = self.checkpoint_path / name
            try:
                encoder.load_weights(path)
            except (OSError, KeyError, TypeError, RuntimeError) as error:  # h5py's ways of meeting a damaged file
                raise self._damaged_weights(path, error, state) from None
            except ValueError as error:
                # Keras's first line names the layers that do not fit; the rest dumps their values
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise RunDirectoryError(
                    f"{self.checkpoint_path / name} does not fit the {encoder.name} this configuration builds "
                    f"({reason}); it was written by another version of dcmh-tf or another configuration. "
                    f"Train the run again with `dcmh-tf fit`."
                ) from None
        return state

    def check_checkpoint(self, read_buffers: bool = True) -> dict[str, np.ndarray]:
        """The checked state arrays, after checking that both weight files open as HDF5; without
        TensorFlow, so that the CLI refuses a damaged run at once. With `read_buffers=False` the
        buffers F, G, B are checked from their headers and neither they nor the optimizer's variables
        are read (a query needs none of them: 100 MB less on the news run); the result then holds
        epochs_done only."""
        self.require_checkpoint()
        state = self._read_state(read_buffers)
        for name in (IMAGE_WEIGHTS, TEXT_WEIGHTS):
            path = self.checkpoint_path / name
            if not path.exists():
                raise RunDirectoryError(f"{path} is missing. {self._what_is_lost(int(state['epochs_done']))}")
            try:
                with h5py.File(path, "r"):
                    pass
            except OSError as error:
                raise self._damaged_weights(path, error, state) from None
        return state

    def _read_state(self, read_buffers: bool = True) -> dict[str, np.ndarray]:
        """checkpoint/state.npz, checked against the run: F, G, B of (training pairs, bits), epochs done.
        Without `read_buffers`, F, G and B are checked from their .npy headers and left out."""
        path = self.checkpoint_path / STATE
        with open(path, "rb") as file:
            start = file.read(4)
        if start != b"PK\x03\x04":  # np.load would take anything else for a pickle and advise unpickling it
            raise RunDirectoryError(f"{path} is damaged: not a NumPy .npz (zip) archive ({path.stat().st_size} bytes "
                                    f"starting {start!r}). {self._what_is_lost()}")
        try:
            with np.load(path, allow_pickle=False) as f:
                if read_buffers:
                    state = {key: f[key] for key in f.files}
                else:  # the buffers' headers and epochs_done; not the optimizer's slots either (80 MB on news)
                    state = {key: _npy_header(f.zip, key) for key in ("F", "G", "B") if key in f.files}
                    if "epochs_done" in f.files:
                        state["epochs_done"] = f["epochs_done"]
        except Exception as error:  # noqa: BLE001  zipfile, zlib and the .npy parser each raise their own types
            raise RunDirectoryError(f"{path} is damaged ({type(error).__name__}: {error}). {self._what_is_lost()}") from None
        n, bits = len(self.load_split().train), self.config.bits
        expected = {"F": (n, bits), "G": (n, bits), "B": (n, bits), "epochs_done": ()}
        for key, shape in expected.items():
            value = state.get(key)
            if value is None or value.shape != shape or not np.issubdtype(value.dtype, np.number):
                received = "missing" if value is None else f"{value.dtype} {value.shape}"
                raise RunDirectoryError(
                    f"{path} is damaged or from another run: '{key}' should be numbers of shape {shape} "
                    f"({n} training pairs, {bits} bits), received {received}. {self._what_is_lost()}"
                )
        if not read_buffers:
            state = {key: value for key, value in state.items() if key not in ("F", "G", "B")}
        epochs = state["epochs_done"]
        if not np.issubdtype(epochs.dtype, np.integer) or int(epochs) < 0:
            raise RunDirectoryError(f"{path} is damaged: epochs_done {epochs!r} is not a whole number >= 0. "
                                    f"{self._what_is_lost()}")
        return state

    def _damaged_weights(self, path: Path, error: Exception, state: dict[str, np.ndarray]) -> RunDirectoryError:
        return RunDirectoryError(f"{path} is damaged or truncated ({type(error).__name__}: {error}). "
                                 f"{self._what_is_lost(int(state['epochs_done']))}")

    def _what_is_lost(self, epochs_done: int | None = None) -> str:
        """What a damaged checkpoint costs: only the last complete epoch is ever kept."""
        epoch = f"epoch {epochs_done}" if epochs_done is not None else "the last complete epoch"
        return (f"The checkpoint of {epoch} cannot be restored and no earlier epoch is kept (each epoch replaces "
                f"the previous checkpoint); train the run again, e.g. `dcmh-tf fit --output NEW` with the options "
                f"of {self.path / CONFIG}.")

    def restore_encoders(self):
        """(image encoder, text encoder, epochs done) rebuilt from the config, inputs.json and the
        last checkpoint; the dataset itself is not needed."""
        from dcmh_tf.models import make_encoders

        inputs = self.read_inputs()
        image_encoder, text_encoder = make_encoders(self.config, inputs["image_dim"], inputs["text_dim"])
        state = self.load_checkpoint(image_encoder, text_encoder)
        kept = self.kept_epoch()
        if kept is not None:  # keep_best: the run's model is the one of the best validation MAP
            self.load_best(image_encoder, text_encoder)
            return image_encoder, text_encoder, kept
        return image_encoder, text_encoder, int(state["epochs_done"])

    def kept_epoch(self) -> int | None:
        """With keep_best, the epoch whose weights are in best/; None otherwise."""
        if not self.config.keep_best or not (self.best_path / IMAGE_WEIGHTS).exists():
            return None
        best = best_record(self.read_validation())
        return None if best is None else int(best["epoch"])

    def fingerprint(self) -> str:
        """A short hash of the weight files the run's codes come from (best/ with keep_best, else the
        checkpoint): the identity of the model. It changes when the run trains further (or keeps
        another best epoch), so codes encoded before no longer match."""
        import hashlib

        paths = self.weight_files()
        # within one process (a query checks the index and the ONNX files against it), the files are
        # hashed again only when one of them was replaced
        key = self._stamp(paths)
        if key not in _FINGERPRINTS:
            digest = hashlib.sha256()
            for path in paths:
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
            _FINGERPRINTS[key] = digest.hexdigest()[:16]
        return _FINGERPRINTS[key]

    def weight_files(self) -> list[Path]:
        """The two weight files the run's codes come from (best/ with keep_best, else the checkpoint)."""
        folder = self.best_path if self.kept_epoch() is not None else self.checkpoint_path
        paths = [folder / name for name in (IMAGE_WEIGHTS, TEXT_WEIGHTS)]
        for path in paths:
            if not path.is_file():
                raise RunDirectoryError(f"{path} missing: the run has no complete checkpoint; train it with `dcmh-tf fit`.")
        return paths

    def weights_stamp(self) -> tuple:
        """(path, inode, size, mtime in ns) of each weight file: changes whenever one is written again
        (checkpoints are swapped in as new files), without reading them."""
        return self._stamp(self.weight_files())

    @staticmethod
    def _stamp(paths: list[Path]) -> tuple:
        return tuple((str(path.resolve()), *_file_stamp(path)) for path in paths)

    def identity(self) -> dict[str, str]:
        """{"path", "fingerprint"}: what an index or an export records of the run that made it."""
        return {"path": str(self.path), "fingerprint": self.fingerprint()}

    def _recover_interrupted_swap(self) -> None:
        old = self.path / (CHECKPOINT + ".old")
        if not self.checkpoint_path.exists() and old.exists():
            os.replace(old, self.checkpoint_path)

    # the live fit --------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    def live_fit(self) -> dict[str, Any] | None:
        """What RUN/fit.lock says of the fit training this run ({"pid", "host", "started", "epoch",
        "epochs"}), or None when no fit holds it: no lock, or a stale one (its process is gone)."""
        return FitLock.read_live(self.lock_path)

    def fit_lock(self, epochs: int) -> "FitLock":
        """Take RUN/fit.lock for the fit of this process (a context manager; released on exit, also on
        an exception). Raises `RunLiveError` when a live fit already holds it; replaces a stale one."""
        return FitLock(self.lock_path, epochs)

    def refuse_live(self, command: str) -> None:
        """Raise `RunLiveError` when a fit is training this run: `command` (e.g. "evaluate") would read a
        checkpoint that moves on under it, or write beside a fit that owns the folder."""
        live = self.live_fit()
        if live is not None:
            raise RunLiveError(f"{self.path} is being trained right now ({describe_live_fit(live)}): `dcmh-tf "
                               f"{command}` needs a run that no fit is training. Wait for the fit to end, or stop it with Ctrl-C "
                               f"(kill -INT {live['pid']}: it keeps its last complete epoch), then run it again.")

    # metrics -------------------------------------------------------------------------------
    def write_metrics(self, metrics: dict[str, Any]) -> None:
        _write_atomically(self.path / METRICS, json.dumps(metrics, indent=2, sort_keys=True))

    def read_metrics(self) -> dict[str, Any]:
        path = self.path / METRICS
        if not path.exists():
            raise RunDirectoryError(f"{path} missing: the run has not been evaluated yet.")
        return json.loads(path.read_text())

    @property
    def onnx_path(self) -> Path:
        """RUN/onnx/: the encoders as ONNX files for onnxruntime (`dcmh_tf.retrieval.onnx_encoders`)."""
        return self.path / ONNX

    @property
    def logs_path(self) -> Path:
        return self.path / LOGS


class FitLock:
    """RUN/fit.lock: which process trains the run, and the epoch in progress.

    JSON {"pid", "host", "process_start", "started", "epoch", "epochs"}. A lock is live while its process
    runs: on this host, a process with that pid whose start time (Linux's /proc/PID/stat) is the one
    recorded, so a pid reused by another program does not count; a lock from another host is taken
    as live (its process cannot be checked from here). Created with O_EXCL, so two fits cannot both
    take a run; a stale lock (its fit was killed with SIGKILL or the machine stopped) is replaced."""

    def __init__(self, path: Path, epochs: int):
        self.path = Path(path)
        self.values = {"pid": os.getpid(), "host": socket.gethostname(), "process_start": _process_start(os.getpid()),
                       "started": time.strftime("%Y-%m-%d %H:%M:%S"), "epoch": None, "epochs": int(epochs)}

    def __enter__(self) -> "FitLock":
        for _ in range(2):  # a stale lock is removed once, then taken
            try:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                live = self.read_live(self.path)
                if live is not None:
                    raise RunLiveError(
                        f"{self.path.parent} is already being trained ({describe_live_fit(live)}); one fit at a time "
                        f"per run: wait for it to end, or stop it with Ctrl-C (kill -INT {live['pid']}) and "
                        f"`{resume_command(self.path.parent)}` afterwards.") from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(descriptor, "w") as file:
                file.write(json.dumps(self.values))
            return self
        raise RunLiveError(f"{self.path}: could not take the lock (another fit took it at the same moment); try again.")

    def update(self, epoch: int) -> None:
        """Record that `epoch` (1-based) is in progress."""
        self.values["epoch"] = int(epoch)
        _write_atomically(self.path, json.dumps(self.values))

    def __exit__(self, *exc_info) -> None:
        try:
            if json.loads(self.path.read_text()).get("pid") == self.values["pid"]:
                self.path.unlink()
        except (OSError, ValueError):
            pass

    @staticmethod
    def read_live(path: Path) -> dict[str, Any] | None:
        """The lock's values when its fit is live, else None (no lock, unreadable, or stale)."""
        try:
            values = json.loads(Path(path).read_text())
            pid = int(values["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # half-written by a fit starting this instant, or damaged: no live fit to report
        if values.get("host") != socket.gethostname():
            return values
        if not _process_alive(pid):
            return None
        recorded, actual = values.get("process_start"), _process_start(pid)
        if recorded is not None and actual is not None and recorded != actual:
            return None  # the pid now belongs to another process
        return values


def describe_live_fit(live: dict[str, Any]) -> str:
    """'fit pid 123, epoch 3/30 in progress, started 2026-12-07 03:10:00' for a lock's values."""
    epoch = f"epoch {live['epoch']}/{live['epochs']} in progress" if live.get("epoch") else "loading its data"
    host = f" on {live['host']}" if live.get("host") != socket.gethostname() else ""
    return f"fit pid {live['pid']}{host}, {epoch}, started {live.get('started', '?')}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _process_start(pid: int) -> int | None:
    """The start time of process `pid` in clock ticks since boot (field 22 of /proc/PID/stat), or None
    where /proc is absent."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return int(text[text.rindex(")") + 2:].split()[19])  # fields after the command name, which may hold spaces
    except (OSError, ValueError, IndexError):
        return None
class _Header:
    """An array's shape and dtype, from its .npy header: what `_read_state` checks without reading it."""

    def __init__(self, shape: tuple, dtype: np.dtype):
        self.shape, self.dtype = shape, dtype


def _npy_header(archive, key: str) -> _Header:
    with archive.open(f"{key}.npy") as file:
        version = np.lib.format.read_magic(file)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(file)
    return _Header(shape, dtype)


_FINGERPRINTS: dict[tuple, str] = {}


def _file_stamp(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def input_description(data) -> dict[str, Any]:
    """What the encoders of a run on `data` (a `PairedData`) take, as JSON-able values:
    image_kind ("pixels" or "features"), image_size (pixels) or image_dim (features), text_dim,
    tag_vocabulary and label_names (lists, or None when the dataset does not name them)."""
    return {
        "dataset": data.name,
        "image_kind": data.image_kind,
        "image_size": data.image_size,
        "image_dim": data.image_dim,
        "text_dim": data.text_dim,
        "tag_vocabulary": list(data.tag_vocabulary) if data.tag_vocabulary is not None else None,
        "label_names": list(data.label_names) if data.label_names is not None else None,
    }


def _read_config(path: Path) -> Config:
    try:
        return Config.from_dict(json.loads((path / CONFIG).read_text()))
    except (json.JSONDecodeError, ConfigError, TypeError) as error:
        raise RunDirectoryError(f"{path / CONFIG} is not a valid dcmh-tf config: {error}") from None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def score(record: dict[str, Any]) -> float:
    """What selection maximises: the mean of the two directions' validation MAP."""
    return (record["map_i2t"] + record["map_t2i"]) / 2


def best_record(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The evaluation with the highest score; the earliest among equal scores; None for no evaluation."""
    best = None
    for record in history:
        if best is None or score(record) > score(best):
            best = record
    return best
