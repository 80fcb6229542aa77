"""The paired image–text data a run works on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dcmh_tf.errors import DataError


@dataclass(frozen=True)
class PairedData:
    """n image–text pairs with their labels.

    images: (n, H, W, 3) uint8 pixels (`image_kind="pixels"`) or (n, d) float features
    (`image_kind="features"`); any array-like that supports NumPy fancy indexing with sorted
    indices, so an h5py dataset can stay on disk. texts: (n, d_text) float32 bag-of-words.
    labels: (n, L) 0/1 multi-hot. Pixels from a file come as a `PixelStack`, whose `output_size`
    is the size the pipeline resizes them to.
    """

    name: str
    images: Any
    texts: np.ndarray
    labels: np.ndarray
    image_kind: str = "pixels"
    tag_vocabulary: list[str] | None = None
    label_names: list[str] | None = None
    source: dict = field(default_factory=dict)
    file_split: "Split | None" = None  # the split the file itself defines (train/test sets), if any
    tokenizer: Any = None  # dcmh_tf.text.Tokenizer that made the texts from raw text, if known

    def __post_init__(self):
        rows = {"images": len(self.images), "texts": len(self.texts), "labels": len(self.labels)}
        if len(set(rows.values())) != 1:
            raise DataError(
                f"{self.name}: images, texts and labels must have one row per pair; received "
                + ", ".join(f"{k} {v}" for k, v in rows.items())
                + "."
            )
        if self.image_kind not in ("pixels", "features"):
            raise DataError(f"image_kind: expected 'pixels' or 'features', received {self.image_kind!r}.")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def text_dim(self) -> int:
        return int(self.texts.shape[1])

    @property
    def image_dim(self) -> int | None:
        """Length of image feature vectors, None for pixels."""
        return int(self.images.shape[1]) if self.image_kind == "features" else None

    @property
    def image_size(self) -> int | None:
        """Side of the pictures the encoder receives (after the pipeline's resize), None for features."""
        if self.image_kind != "pixels":
            return None
        return int(getattr(self.images, "output_size", None) or self.images.shape[1])


@dataclass(frozen=True)
class Split:
    """Row indices of the query set, the retrieval database, the training set (a subset of the
    database) and the validation queries (a subset of the database outside the training set, empty
    when the run has none; see `dcmh_tf.data.splits.carve_validation`)."""

    query: np.ndarray
    database: np.ndarray
    train: np.ndarray
    validation: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def save(self, path) -> None:
        np.savez(path, query=self.query, database=self.database, train=self.train, validation=self.validation)

    @classmethod
    def load(cls, path) -> "Split":
        with np.load(path) as f:  # runs made before validation splits have no "validation"
            validation = f["validation"] if "validation" in f.files else np.zeros(0, np.int64)
            return cls(query=f["query"], database=f["database"], train=f["train"], validation=validation)

    def validation_protocol(self) -> "Split":
        """The validation queries against the rest of the database, as a Split that evaluation takes
        like the real one: model selection never looks at `query`."""
        return Split(query=self.validation, database=np.setdiff1d(self.database, self.validation), train=self.train)


def random_split(n: int, n_query: int, n_train: int, seed: int) -> Split:
    """The paper's protocol: `n_query` random queries, database = the rest, training set =
    `n_train` random database items. Deterministic from `seed`."""
    if n_query < 1 or n_train < 1:
        raise DataError(f"split sizes must be positive, received n_query={n_query}, n_train={n_train}.")
    if n_query + n_train > n:
        raise DataError(
            f"split larger than the data: {n_query} queries + {n_train} training pairs > {n} pairs; "
            f"lower --n-query / --n-train."
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    query = np.sort(order[:n_query])
    database = np.sort(order[n_query:])
    train = np.sort(rng.choice(database, size=n_train, replace=False))
    return Split(query=query, database=database, train=train)
