"""What the `Searcher` asks of an index, whichever engine holds the codes.

A backend answers `find`: for each query code, the nearest items (the top k) or every item within a Hamming
radius, as `Hit`s (item id, position, distance, label names), nearest first and ties in database order
(position). Two engines implement it: `FaissBackend` over a `HammingIndex` file or a `ShardedIndex`
(`dcmh_tf.retrieval.index`, `.shards`), and `MilvusIndex` over a Milvus collection
(`dcmh_tf.retrieval.milvus`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np

from dcmh_tf.errors import DataError


class Hit(NamedTuple):
    """One item found: its id (dataset row), its position in the database order, its Hamming distance,
    and its label names (None when the index holds no labels)."""

    id: int
    position: int
    distance: int
    labels: list | None


def label_names_of(row, names) -> list:
    """The labels of one multi-hot `row`: their `names` when the index has them, else the column numbers."""
    columns = np.flatnonzero(row).tolist()
    return [names[c] for c in columns] if names else columns


class Backend(ABC):
    """The attributes and the one query method the Searcher and the service use."""

    bits: int
    modality: str
    dataset: str
    run: dict | None
    label_names: list | None
    index_type: str

    @abstractmethod
    def __len__(self) -> int:
        """The number of items held."""

    @abstractmethod
    def check_bits(self, bits: int, source: str) -> None:
        """Raise `DataError` unless `source` makes codes of this index's length."""

    @abstractmethod
    def find(self, query_codes, *, top: int | None = None, radius: int | None = None,
             label: str | None = None) -> list[list[Hit]]:
        """For each row of `query_codes` (n_query, bits) ±1: the `top` nearest items (default 10), or with
        `radius` every item within that distance (the first `top` of them when `top` is given); only items
        carrying `label` when given. Nearest first, ties in database order."""

    def health(self) -> dict:
        """{"status": "ok", "items": n} when the index can answer; an engine behind a network may answer
        {"status": "unavailable", "detail": why}."""
        return {"status": "ok", "items": len(self)}


class FaissBackend(Backend):
    """A `HammingIndex` or `ShardedIndex` (faiss, in this process) behind the `Backend` interface."""

    def __init__(self, index):
        self.index = index
        for name in ("bits", "modality", "dataset", "run", "label_names", "index_type"):
            setattr(self, name, getattr(index, name))

    def __len__(self) -> int:
        return len(self.index)

    def check_bits(self, bits: int, source: str) -> None:
        self.index.check_bits(bits, source)

    def find(self, query_codes, *, top=None, radius=None, label=None) -> list[list[Hit]]:
        if label is not None:
            raise DataError("a label filter (--label) needs a Milvus collection (the engine filters); an index "
                            "file answers without one. Write the codes with `dcmh-tf encode RUN --to milvus://...`.")
        index = self.index
        if radius is None:
            positions, distances = index.search(query_codes, top or 10)
            found = list(zip(positions, distances))
        else:
            found = [(p[:top], d[:top]) for p, d in index.within_radius(query_codes, radius)]  # top None: all
        results = []
        for positions, distances in found:
            keep = positions >= 0  # an approximate index may find fewer than `top`
            results.append([Hit(int(index.ids[p]), int(p), int(d), self._labels(p))
                            for p, d in zip(positions[keep], distances[keep])])
        return results

    def _labels(self, position: int) -> list | None:
        if self.index.labels is None:
            return None
        return label_names_of(self.index.labels[position], self.index.label_names)


def as_backend(index) -> Backend:
    """`index` itself when it is a `Backend`, else a `FaissBackend` around it."""
    return index if isinstance(index, Backend) else FaissBackend(index)
