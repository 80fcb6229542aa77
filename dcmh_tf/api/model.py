"""`DCMH`: the Python face of a run — construct, fit, encode, evaluate, save, load, index.

A `DCMH` is a configuration (`dcmh_tf.config.Config`) and, once trained or loaded, a run directory
(`dcmh_tf.run_directory`): the same folder `dcmh-tf fit` writes and every command reads. Training
goes through the command line's trainer (`dcmh_tf.training.trainer.fit`: Algorithm 1, a checkpoint
per epoch, model selection on the validation split, the final scores); arrays in memory are first
written into the run (`RUN/arrays.npz`, read back as a prepared collection, or as a features file for
the MLP image net), so that `dcmh-tf evaluate`, `encode`, `search` and `export` read the run as
they read any other. A model fitted without `output` trains in a temporary folder, which `save`
moves to its place.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from dcmh_tf.api.callbacks import KerasCallbacks
from dcmh_tf.api.inputs import (
    as_features, as_labels, as_pictures, as_texts, as_triple, check_lengths, is_dataset,
    read_dataset,
)
from dcmh_tf.config import PRESETS, Config, resolve_config
from dcmh_tf.data.paired import PairedData, Split
from dcmh_tf.data.splits import carve_validation
from dcmh_tf.data.validation import warn_unlabelled
from dcmh_tf.errors import ConfigError, DataError, RunDirectoryError
from dcmh_tf.evaluation.metrics import DEFAULT_TOPK
from dcmh_tf.run_directory import CONFIG, READING_FIELDS, RunDirectory

# The file a run trained on arrays keeps them in, inside the run directory.
ARRAYS = "arrays.npz"


def default_preset(image_encoder: str | None) -> str:
    """The preset a model starts from when none is named: `wiki` for image features (the MLP image
    net), else `collection` (real pictures from scratch on a CPU)."""
    return "wiki" if image_encoder == "mlp" else "collection"


class DCMH:
    """Deep Cross-Modal Hashing: an image net and a text net that map both modalities to `bits`-bit codes.

    bits: code length; image_encoder: a name of `dcmh_tf.config.IMAGE_ENCODERS` ("mlp" takes
    pre-extracted image features); text_dim: the length of the bags of words (known from the data
    at `fit` otherwise); image_dim: the length of image features for "mlp". preset: the starting
    configuration (`dcmh_tf.config.PRESETS`; default "collection", or "wiki" for "mlp"); options:
    any other `Config` field (epochs, gamma, eta, lr, batch_size, image_size, seed, keep_best, ...).
    """

    def __init__(self, bits: int | None = None, image_encoder: str | None = None, text_dim: int | None = None, *,
                 image_dim: int | None = None, preset: str | None = None, **options: Any):
        preset = preset or default_preset(image_encoder)
        if (options.get("keep_best") or options.get("patience")) and "eval_every" not in options:
            options["eval_every"] = 1  # they choose among validation scores: score every epoch, as Keras does
        for name, value in (("text_dim", text_dim), ("image_dim", image_dim)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"{name}: expected a positive integer, received {value!r}.")
        self.config: Config = resolve_config(preset, bits=bits, image_encoder=image_encoder, **options)
        self.text_dim, self.image_dim = text_dim, image_dim
        self.run: RunDirectory | None = None
        self.tokenizer = None
        self.history = None
        self.metrics: dict | None = None
        self._encoders: tuple | None = None
        self._temporary: weakref.finalize | None = None

    # construction ----------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, preset: str, **options: Any) -> "DCMH":
        """A model configured by `preset` ("demo", "paper", "wiki", "collection"), with `options` overriding fields.
        `DCMH.from_preset("demo").fit()` trains on the built-in demo data, as `dcmh-tf fit` does."""
        if preset not in PRESETS:
            raise ConfigError(f"preset: expected one of {', '.join(PRESETS)}, received {preset!r}.")
        return cls(preset=preset, **options)

    @classmethod
    def from_config(cls, config: Config) -> "DCMH":
        """A model of a resolved `Config` (what `dcmh-tf fit` makes of its options)."""
        if not isinstance(config, Config):
            raise ConfigError(f"config: expected a dcmh_tf.config.Config, received {type(config).__name__}.")
        model = cls(preset="demo")
        model.config = config.validate()
        return model

    @classmethod
    def load(cls, path) -> "DCMH":
        """The model of a run directory, made by `dcmh-tf fit` or by `DCMH.save`. Its encoders are
        restored from the run's checkpoint (its best epoch with keep_best) when first used; `fit()`
        continues its training."""
        run = RunDirectory.open(path)
        model = cls.from_config(run.config)
        model.run = run
        inputs = run.read_inputs()
        model.text_dim, model.image_dim = inputs["text_dim"], inputs["image_dim"]
        model.tokenizer = run.load_tokenizer()
        return model

    def __repr__(self) -> str:
        where = f", run={str(self.run.path)!r}" if self.run is not None else ""
        return f"DCMH(bits={self.config.bits}, image_encoder={self.config.image_encoder!r}, text_dim={self.text_dim}{where})"

    # the encoders ----------------------------------------------------------------------------------
    @property
    def image_encoder(self):
        """The image net (a Keras model): trained after `fit` or `load`; before, built from the
        configuration for a look (fit trains encoders built afresh from the seed)."""
        return self._get_encoders()[0]

    @property
    def text_encoder(self):
        """The text net (a Keras model), as `image_encoder`."""
        return self._get_encoders()[1]

    def _get_encoders(self) -> tuple:
        if self._encoders is None:
            if self.run is not None:
                image_encoder, text_encoder, _ = self.run.restore_encoders()
            else:
                if self.text_dim is None or (self.config.image_encoder == "mlp" and self.image_dim is None):
                    needed = "text_dim" + (" and image_dim" if self.config.image_encoder == "mlp" else "")
                    raise ConfigError(f"the encoders are built once their input sizes are known: give {needed} to "
                                      f"DCMH(...), or fit the model first.")
                from dcmh_tf.models import make_encoders

                image_encoder, text_encoder = make_encoders(self.config, self.image_dim, self.text_dim)
            self._encoders = (image_encoder, text_encoder)
        return self._encoders

    @property
    def _takes_features(self) -> bool:
        return self.config.image_encoder == "mlp"

    # training --------------------------------------------------------------------------------------
    def fit(self, images=None, texts=None, labels=None, *, validation: float | tuple | Any = 0.1,
            epochs: int | None = None, output: str | Path | None = None, callbacks: Sequence | None = None,
            validation_freq: int | None = None, tokenizer=None, verbose: int = 1,
            echo: Callable[[str], None] | None = None):
        """Train with the trainer of `dcmh-tf fit`; returns a `keras.callbacks.History` (its `history`
        dict: per-epoch loss terms, lr and validation MAP, `dcmh_tf.api.callbacks`).

        images, texts, labels: arrays (pictures uint8 (N, H, W, 3) or picture files, or (N, d) image
        features for "mlp"; texts (N, d) bags of words or raw strings; labels (N, L) 0/1 or (N,)
        class indices), or `images` a tf.data.Dataset of (image, text, label) elements. With none,
        the dataset of the configuration (`data_path`, or the demo data), or, on a trained or loaded
        model, its run continues to `epochs` in all (`dcmh-tf fit --resume`).
        validation: with arrays, the share of them held out for validation (carved as
        `data.splits.carve_validation` does), or (images, texts, labels) of their own; scored every
        `validation_freq` epochs (default 1), and once more at the end as the run's query set.
        epochs: outer iterations (default: the configuration's). output: the run directory to make
        (default: a temporary one; `save` moves it). callbacks: Keras callbacks, e.g.
        `keras.callbacks.EarlyStopping(monitor="val_map", mode="max", patience=3)` or TensorBoard.
        tokenizer: a `dcmh_tf.text.Tokenizer` for raw-string texts (default: built from the training texts).
        verbose: 0 silent, 1 a line per epoch and progress bars, 2 a line per epoch. echo: what writes
        those lines (default print; the command line passes click.echo).
        """
        from dcmh_tf.training.trainer import fit as train

        if verbose not in (0, 1, 2):
            raise ConfigError(f"verbose: expected 0, 1 or 2, received {verbose!r}.")
        if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
            raise ConfigError(f"epochs: expected a positive integer, received {epochs!r}.")
        given = images is not None or texts is not None or labels is not None
        resume = self.run is not None
        if resume and given:
            raise DataError(f"this model is the run {self.run.path}, whose buffers hold its own training pairs; "
                            f"fit() without data continues it. Train on new arrays with a new DCMH(...).")
        split = None
        if resume:
            config = self._resumed_config(epochs)
            output = self.run.path
        else:
            config = self.config if epochs is None else self.config.replace(epochs=epochs)
            if validation_freq is not None:
                config = config.replace(eval_every=validation_freq)
            output = Path(output) if output is not None else None
            if given:
                if output is not None and (output / CONFIG).exists():  # before the arrays are written into it
                    raise RunDirectoryError(f"{output} already holds a run; continue it with "
                                            f"DCMH.load({str(output)!r}).fit(), or choose another output.")
                folder = output or self._temporary_folder()
                config, split = self._write_arrays(folder, config, images, texts, labels, validation, tokenizer)
                output = folder
            else:
                if config.dataset != "demo" and config.data_path is None:
                    raise ConfigError(f"dataset {config.dataset!r} is read from a file; give its path with "
                                      f"--data-path (data_path=... in Python), or fit arrays (images, texts, labels) "
                                      f"or a tf.data.Dataset.")
                output = output or self._temporary_folder()
        observer = KerasCallbacks(callbacks, config.epochs, verbose=verbose)
        echo = (echo or print) if verbose else (lambda _message: None)
        run, metrics = train(config, output, resume=resume, progress=verbose == 1, echo=echo, split=split,
                             observer=observer)
        self.config, self.run, self.metrics = run.config, run, metrics
        self._encoders = observer.encoders
        inputs = run.read_inputs()
        self.text_dim, self.image_dim = inputs["text_dim"], inputs["image_dim"]
        self.tokenizer = run.load_tokenizer()
        self.history = observer.history
        return observer.history

    def _resumed_config(self, epochs: int | None) -> Config:
        saved = self.run.resumed_config(epochs)  # refuses fewer epochs than done
        changed = [f.name for f in saved.__dataclass_fields__.values()
                   if f.name not in (*READING_FIELDS, "epochs", "lr_decay_epochs")
                   and getattr(saved, f.name) != getattr(self.config, f.name)]
        if changed:
            raise ConfigError(f"a run continues with its saved configuration; model.config changes "
                              f"{', '.join(changed)} (only epochs and {', '.join(READING_FIELDS)} may change).")
        return saved.replace(**{name: getattr(self.config, name) for name in READING_FIELDS})

    def _temporary_folder(self) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="dcmh-tf-run-"))
        self._temporary = weakref.finalize(self, shutil.rmtree, folder, True)
        return folder

    def _write_arrays(self, folder: Path, config: Config, images, texts, labels, validation, tokenizer):
        """Check the arrays, write them into `folder` as the run's dataset; return its config and split."""
        if is_dataset(images):
            if texts is not None or labels is not None:
                raise DataError("fit: a tf.data.Dataset holds (image, text, label) elements; pass it alone, "
                                "received texts and labels besides it.")
            images, texts, labels = read_dataset(images, "fit dataset")
        n = check_lengths("fit", images=images, texts=texts, labels=labels)
        if n == 0:
            raise DataError("fit: expected at least one pair, received 0 rows.")
        extra = None
        if isinstance(validation, (tuple, list)) or is_dataset(validation):
            extra = as_triple(validation, "validation")
            check_lengths("validation", images=extra[0], texts=extra[1], labels=extra[2])
            n_validation = len(extra[2])
        elif isinstance(validation, (float, int)) and not isinstance(validation, bool) and 0 < validation < 1:
            n_validation = max(1, round(validation * n))
        else:
            raise DataError(f"validation: expected a share of the arrays in (0, 1) such as 0.1, or (images, texts, "
                            f"labels) of their own, received {validation!r}; the run is scored on them after "
                            f"training (it has no other query set).")
        rows = n + (n_validation if extra else 0)
        if extra is not None:
            images, texts, labels = (_join(a, b) for a, b in zip((images, texts, labels), extra))
            split = Split(query=np.arange(n, rows), database=np.arange(n), train=np.arange(n),
                          validation=np.arange(n, rows))
        else:
            whole = Split(query=np.zeros(0, np.int64), database=np.arange(n), train=np.arange(n))
            try:
                carved = carve_validation(whole, n_validation, config.seed)
            except DataError:
                raise DataError(f"validation: {n_validation} of {n} pairs held out would leave none to train on; "
                                f"lower the share or give more pairs.") from None
            split = Split(query=carved.validation, database=carved.train, train=carved.train,
                          validation=carved.validation)
        label_matrix, classes = as_labels(labels)
        warn_unlabelled(label_matrix[split.train], "labels")
        if isinstance(texts, (list, tuple)) and texts and isinstance(texts[0], str) and tokenizer is None:
            tokenizer = _build_tokenizer([texts[i] for i in split.train])
        text_matrix = as_texts(texts, tokenizer, self.text_dim, "texts")
        folder.mkdir(parents=True, exist_ok=True)
        path = (folder / ARRAYS).absolute()
        if self._takes_features:
            np.savez(path, I=as_features(images, self.image_dim, "images"), T=text_matrix, L=label_matrix)
            dataset = "features"
            if tokenizer is not None:  # the features reader knows no tokenizer: the run keeps it itself
                tokenizer.save(folder / "tokenizer.json")
        else:
            np.savez(path, images=as_pictures(images, config.image_size, "images"), YAll=text_matrix,
                     LAll=label_matrix)
            dataset = "collection"
            if tokenizer is not None:
                tokenizer.save(path.with_suffix(".tokenizer.json"))
                path.with_suffix(".vocabulary.txt").write_text("".join(f"{w}\n" for w in tokenizer.vocabulary),
                                                               encoding="utf-8")
            if classes is not None:
                path.with_suffix(".labels.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
        eval_every = config.eval_every or 1
        config = config.replace(dataset=dataset, data_path=str(path), n_query=None, n_train=None, pixels=None,
                                readers=1, n_validation=len(split.validation), eval_every=eval_every)
        return config, split

    # encoding --------------------------------------------------------------------------------------
    def encode_images(self, images, *, packed: bool = False, batch_size: int | None = None) -> np.ndarray:
        """(n, bits) int8 ±1 codes of pictures (uint8 (N, H, W, 3) or picture files) or, for "mlp",
        of (N, d) image features; `packed`: (n, ceil(bits/8)) uint8, 8 bits a byte (`hashing.pack_codes`)."""
        return self._encode("image", self._image_array(images, "images"), packed, batch_size)

    def encode_texts(self, texts, *, packed: bool = False, batch_size: int | None = None) -> np.ndarray:
        """(n, bits) int8 ±1 codes of (N, d) bags of words, or of raw strings cut by the run's tokenizer."""
        return self._encode("text", as_texts(texts, self.tokenizer, self._text_dim(), "texts"), packed, batch_size)

    def _text_dim(self) -> int:
        return int(self.text_encoder.input_shape[-1])

    def _image_array(self, images, where: str) -> np.ndarray:
        if self._takes_features:
            return as_features(images, int(self.image_encoder.input_shape[-1]), where)
        return as_pictures(images, self.config.image_size, where)

    def _encode(self, modality: str, array: np.ndarray, packed: bool, batch_size: int | None) -> np.ndarray:
        from dcmh_tf.evaluation.scoring import encode_codes
        from dcmh_tf.hashing import pack_codes

        encoder = self.image_encoder if modality == "image" else self.text_encoder
        codes = encode_codes(encoder, array, np.arange(len(array)), batch_size or self.config.batch_size)
        return pack_codes(codes) if packed else codes

    # evaluation ------------------------------------------------------------------------------------
    def evaluate(self, query=None, database=None, *, topk: int | None = DEFAULT_TOPK, progress: bool = False) -> dict:
        """The metrics of `dcmh-tf evaluate --json`: MAP of Hamming ranking I→T and T→I ("map_i2t",
        "map_t2i"), and per direction MAP@topk, P@N, precision / recall / F within radius 0, 1, 2 and the
        precision-recall curve ("i2t", "t2i"; `dcmh_tf.evaluation.scoring.evaluate_encoders`).

        query, database: (images, texts, labels) each (or tf.data.Datasets of such elements). With
        neither, the run's own query set against its database (and its metrics.json is rewritten).
        """
        from dcmh_tf.evaluation.scoring import evaluate_encoders, evaluate_run

        if query is None and database is None:
            if self.run is None:
                raise DataError("evaluate: expected query=(images, texts, labels) and database=(...); a model "
                                "that was not fitted or loaded has no query set of its own.")
            return evaluate_run(self.run.path, topk=topk, progress=progress, encoders=self._get_encoders())
        if query is None or database is None:
            raise DataError(f"evaluate: expected both query=(images, texts, labels) and database=(...), received "
                            f"only {'query' if query is not None else 'database'}.")
        parts = [as_triple(query, "query"), as_triple(database, "database")]
        n_query = check_lengths("query", images=parts[0][0], texts=parts[0][1], labels=parts[0][2])
        n_database = check_lengths("database", images=parts[1][0], texts=parts[1][1], labels=parts[1][2])
        # one label matrix for both, so that class indices give the same columns in each
        labels, _ = as_labels(_join(parts[0][2], parts[1][2]))
        images = np.concatenate([self._image_array(p[0], f"{name} images") for p, name in zip(parts, ("query", "database"))])
        texts = np.concatenate([as_texts(p[1], self.tokenizer, self._text_dim(), f"{name} texts")
                                for p, name in zip(parts, ("query", "database"))])
        data = PairedData(name="arrays", images=images, texts=texts, labels=labels,
                          image_kind="features" if self._takes_features else "pixels")
        split = Split(query=np.arange(n_query), database=np.arange(n_query, n_query + n_database),
                      train=np.zeros(0, np.int64))
        image_encoder, text_encoder = self._get_encoders()
        metrics = evaluate_encoders(image_encoder, text_encoder, data, split, self.config.batch_size, detailed=True,
                                    topk=topk, progress=progress)
        metrics.update(bits=self.config.bits)
        return metrics

    # retrieval -------------------------------------------------------------------------------------
    def index(self, codes=None, *, ids=None, labels=None, label_names=None, modality: str | None = None,
              index_type: str = "flat", parameters: dict | None = None, backend: str = "faiss",
              rows: str | None = None, dataset: str | None = None, data_path: str | None = None,
              shard: tuple[int, int] | None = None, batch_size: int | None = None, progress: bool = False,
              encoders: str = "auto"):
        """A Hamming index (`dcmh_tf.retrieval.index.HammingIndex`, faiss) of `codes` — ±1 (n, bits) or
        packed uint8 from `encode_*` — with their `ids` (default 0..n−1) and optional multi-hot `labels`.

        Without codes, of the run's own items as `dcmh-tf encode` makes it: `modality` ("image" or
        "text") of the `rows` ("database", "query", "all") of its dataset, or of another `dataset` /
        `data_path` with the same inputs; `shard` (K, N) encodes the K-th of N parts. index_type:
        flat (exact), multihash, hnsw or ivf with their `parameters`. The index records this run's
        identity, so that `dcmh-tf search` refuses codes of another model.
        """
        from dcmh_tf.hashing import unpack_codes
        from dcmh_tf.retrieval.index import HammingIndex
        from dcmh_tf.retrieval.searcher import build_index

        if backend != "faiss":
            raise ConfigError(f"backend: expected one of faiss, received {backend!r}.")
        if codes is None:
            if self.run is None:
                raise DataError("index: expected codes (from encode_images / encode_texts); a model that was not "
                                "fitted or loaded has no items of its own to encode.")
            return build_index(self.run.path, modality=modality or "image", dataset=dataset, data_path=data_path,
                               part=rows, batch_size=batch_size, progress=progress, index_type=index_type,
                               parameters=parameters, shard=shard, encoders=encoders)
        codes = np.asarray(codes)
        if codes.dtype == np.uint8:
            codes = unpack_codes(codes, self.config.bits)
        if codes.ndim != 2 or codes.shape[1] != self.config.bits:
            raise DataError(f"index codes: expected (n, {self.config.bits}) codes of this model, received shape "
                            f"{codes.shape}.")
        label_matrix = as_labels(labels)[0] if labels is not None else None
        return HammingIndex.from_codes(codes, ids=ids, modality=modality or "image", labels=label_matrix,
                                       label_names=label_names, index_type=index_type, parameters=parameters,
                                       run=self.run.identity() if self.run is not None else None)

    # saving ----------------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Keep the run in the folder `path` (a run directory every `dcmh-tf` command reads); returns it.
        A model fitted without `output` moves its temporary run there (and goes on from there);
        another run is copied (the model stays with its own)."""
        path = Path(path)
        if self.run is None:
            raise RunDirectoryError("save: this model has not been fitted; fit it first (the run directory is "
                                    "what training writes).")
        if path.suffix in (".keras", ".h5"):
            raise RunDirectoryError(f"save: expected a folder for the run directory, received the file name {path}; "
                                    f"the run keeps its encoders as image_encoder.keras and text_encoder.keras.")
        source = self.run.path
        if path.exists() and path.resolve() == source.resolve():
            return path
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise RunDirectoryError(f"save: {path} exists and is not an empty folder; choose a new path.")
        if path.exists():
            path.rmdir()
        path.parent.mkdir(parents=True, exist_ok=True)
        moving = self._temporary is not None and self._temporary.alive
        if moving:
            shutil.move(str(source), str(path))
            self._temporary.detach()
            self._temporary = None
        else:
            shutil.copytree(source, path)
        config = self.run.config
        if config.data_path is not None and Path(config.data_path).parent.resolve() == source.resolve():
            config = config.replace(data_path=str((path / Path(config.data_path).name).absolute()))
        saved = RunDirectory(path, config)
        saved.write_config()
        if moving:  # a copy leaves the model with its own run, as Keras' save leaves the model as it is
            self.run, self.config = saved, config
        return path


def _join(first, second):
    """Two parts of one input (arrays, or lists of strings / paths) as one."""
    if isinstance(first, (list, tuple)) or isinstance(second, (list, tuple)):
        return list(first) + list(second)
    return np.concatenate([np.asarray(first), np.asarray(second)])


def _build_tokenizer(texts: list[str]):
    """A tokenizer of the training texts as `datasets prepare collection` makes one: the script detected,
    the tokens of at least two texts (of one, when that leaves none), at most 10,000."""
    from dcmh_tf.data.prepare.collection import detect_tokenizer_mode
    from dcmh_tf.text import make_tokenizer

    tokenizer = make_tokenizer(detect_tokenizer_mode(texts))
    try:
        return tokenizer.build(texts, min_count=2, max_words=10_000)
    except DataError:
        return tokenizer.build(texts, min_count=1, max_words=10_000)
