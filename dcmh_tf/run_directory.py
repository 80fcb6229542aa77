"""The run directory: everything needed to resume, evaluate or export a run.

    RUN/config.json            resolved Config
    RUN/split.npz              query / database / train row indices
    RUN/inputs.json            what the encoders take: image kind and size or feature length,
                               text length, tag vocabulary and label names when the dataset has them
    RUN/tokenizer.json         the tokenizer of raw text (dcmh_tf.text.Tokenizer), for collections only
    RUN/checkpoint/            written atomically at the end of every epoch:
        image_encoder.weights.h5, text_encoder.weights.h5,
        state.npz              F, G, B buffers, epochs done, optimizer variables
    RUN/metrics.json           latest evaluation (at least map_i2t, map_t2i, bits)
    RUN/logs/                  TensorBoard scalars
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

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
TOKENIZER = "tokenizer.json"


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
        tmp = self.path / (CHECKPOINT + ".tmp")
        old = self.path / (CHECKPOINT + ".old")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        image_encoder.save_weights(tmp / IMAGE_WEIGHTS)
        text_encoder.save_weights(tmp / TEXT_WEIGHTS)
        np.savez(tmp / STATE, **state)
        shutil.rmtree(old, ignore_errors=True)
        if self.checkpoint_path.exists():
            os.replace(self.checkpoint_path, old)
        os.replace(tmp, self.checkpoint_path)
        shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self, image_encoder, text_encoder) -> dict[str, np.ndarray]:
        """Load the encoders' weights in place and return the saved state arrays."""
        if not self.has_checkpoint():
            raise RunDirectoryError(
                f"{self.path} has no checkpoint yet ({CHECKPOINT}/{STATE} missing): the run stopped before "
                f"its first epoch ended. Start it again with `dcmh-tf fit --output` to a new folder."
            )
        for encoder, name in ((image_encoder, IMAGE_WEIGHTS), (text_encoder, TEXT_WEIGHTS)):
            try:
                encoder.load_weights(self.checkpoint_path / name)
            except ValueError as error:
                # Keras's first line names the layers that do not fit; the rest dumps their values
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise RunDirectoryError(
                    f"{self.checkpoint_path / name} does not fit the {encoder.name} this configuration builds "
                    f"({reason}); it was written by another version of dcmh-tf or another configuration. "
                    f"Train the run again with `dcmh-tf fit`."
                ) from None
        with np.load(self.checkpoint_path / STATE) as f:
            return {key: f[key] for key in f.files}

    def restore_encoders(self):
        """(image encoder, text encoder, epochs done) rebuilt from the config, inputs.json and the
        last checkpoint; the dataset itself is not needed."""
        from dcmh_tf.models import make_encoders

        inputs = self.read_inputs()
        image_encoder, text_encoder = make_encoders(self.config, inputs["image_dim"], inputs["text_dim"])
        state = self.load_checkpoint(image_encoder, text_encoder)
        return image_encoder, text_encoder, int(state["epochs_done"])

    def _recover_interrupted_swap(self) -> None:
        old = self.path / (CHECKPOINT + ".old")
        if not self.checkpoint_path.exists() and old.exists():
            os.replace(old, self.checkpoint_path)

    # metrics -------------------------------------------------------------------------------
    def write_metrics(self, metrics: dict[str, Any]) -> None:
        _write_atomically(self.path / METRICS, json.dumps(metrics, indent=2, sort_keys=True))

    def read_metrics(self) -> dict[str, Any]:
        path = self.path / METRICS
        if not path.exists():
            raise RunDirectoryError(f"{path} missing: the run has not been evaluated yet.")
        return json.loads(path.read_text())

    @property
    def logs_path(self) -> Path:
        return self.path / LOGS


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
