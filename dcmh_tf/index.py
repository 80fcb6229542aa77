"""A Hamming index: packed database codes with their row ids, searched by popcount.

File format (`.npz`, NumPy's zip of arrays, read without pickle):

    format      "dcmh-tf-index"            version   1
    bits        code length c              modality  "image" or "text" (what was encoded)
    codes       (n, ceil(c/8)) uint8, ±1 codes packed MSB first, +1 = bit 1 (`hashing.pack_codes`)
    ids         (n,) int64 row of each code in its dataset
    dataset     dataset name ("" when unknown)
    labels      optional (n, L) uint8 multi-hot labels of the rows
    label_names optional (L,) names of the label columns
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from dcmh_tf.errors import DataError
from dcmh_tf.hashing import check_codes, code_bytes, iter_hamming_distances, pack_codes, to_words, unpack_codes

FORMAT = "dcmh-tf-index"
VERSION = 1
MODALITIES = ("image", "text")
# Query rows × database items whose distances are held at once.
CHUNK_ELEMENTS = 8_000_000


class HammingIndex:
    """n packed codes of `bits` bits. Build one with `from_codes`, read one with `load`.

    packed: (n, ceil(bits/8)) uint8; ids: (n,) int64 dataset rows (default 0..n−1);
    labels: optional (n, L) multi-hot; modality: what the codes encode; dataset: its name.
    """

    def __init__(self, packed: np.ndarray, bits: int, *, ids=None, modality: str = "image", dataset: str = "",
                 labels=None, label_names=None):
        packed = np.asarray(packed)
        if packed.dtype != np.uint8 or packed.ndim != 2 or packed.shape[1] != code_bytes(bits):
            raise DataError(f"index codes: expected (n, {code_bytes(bits)}) uint8 rows for {bits} bits, received "
                            f"{packed.dtype} of shape {packed.shape}.")
        if modality not in MODALITIES:
            raise DataError(f"index modality: expected one of {', '.join(MODALITIES)}, received {modality!r}.")
        ids = np.arange(len(packed), dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        if ids.shape != (len(packed),):
            raise DataError(f"index ids: expected one id per code ({len(packed)}), received shape {ids.shape}.")
        if labels is not None:
            labels = np.asarray(labels, np.uint8)
            if labels.ndim != 2 or len(labels) != len(packed):
                raise DataError(f"index labels: expected one row per code ({len(packed)}), received shape {labels.shape}.")
            if label_names is not None and len(label_names) != labels.shape[1]:
                raise DataError(f"index label_names: {len(label_names)} names for {labels.shape[1]} label columns.")
        self.packed = packed
        self.bits = int(bits)
        self.ids = ids
        self.modality = modality
        self.dataset = dataset
        self.labels = labels
        self.label_names = list(label_names) if label_names is not None else None
        self._words = to_words(packed)

    @classmethod
    def from_codes(cls, codes, **kwargs) -> "HammingIndex":
        """An index of ±1 `codes` (n, c); keyword arguments as in the constructor."""
        codes = check_codes(codes, "database codes")
        return cls(pack_codes(codes), codes.shape[1], **kwargs)

    def __len__(self) -> int:
        return len(self.packed)

    def codes(self) -> np.ndarray:
        """(n, bits) int8 ±1 codes."""
        return unpack_codes(self.packed, self.bits)

    # search -------------------------------------------------------------------------------------
    def search(self, query_codes, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest codes of each query, nearest first, ties in index order.

        query_codes: (n_query, bits) ±1. Returns (positions, distances), each (n_query, min(k, n)):
        positions into the index (`ids[positions]` are dataset rows) and Hamming distances.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise DataError(f"k: expected a positive integer, received {k!r}.")
        k = min(int(k), len(self))
        positions, distances = [], []
        for chunk in self._distances(query_codes):
            # Stable sort of small integers (radix sort): ties stay in index order.
            order = np.argsort(chunk, axis=1, kind="stable")[:, :k]
            positions.append(order)
            distances.append(np.take_along_axis(chunk, order, axis=1).astype(np.int32))
        return np.concatenate(positions), np.concatenate(distances)

    def within_radius(self, query_codes, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Hash lookup: for each query, (positions, distances) of every code within Hamming distance
        `radius`, nearest first, ties in index order."""
        if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0:
            raise DataError(f"radius: expected an integer >= 0, received {radius!r}.")
        results = []
        for chunk in self._distances(query_codes):
            for row in chunk:
                close = np.flatnonzero(row <= radius)
                order = close[np.argsort(row[close], kind="stable")]
                results.append((order, row[order].astype(np.int32)))
        return results

    def _distances(self, query_codes):
        query_codes = check_codes(query_codes, "query codes")
        self.check_bits(query_codes.shape[1], "the query")
        chunk_rows = max(1, CHUNK_ELEMENTS // max(len(self), 1))
        for _, distances in iter_hamming_distances(to_words(pack_codes(query_codes)), self._words, self.bits, chunk_rows):
            yield distances

    def check_bits(self, bits: int, source: str) -> None:
        """Raise `DataError` unless `source` (named in the message) makes codes of this index's length."""
        if int(bits) != self.bits:
            raise DataError(
                f"{source} has {bits}-bit codes but the index holds {self.bits}-bit codes; build the index with "
                f"the same run: `dcmh-tf encode RUN --output INDEX.npz`."
            )

    # files --------------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the index to `path` (an .npz file; the suffix is added when missing). Returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        arrays = {
            "format": np.array(FORMAT), "version": np.array(VERSION), "bits": np.array(self.bits),
            "modality": np.array(self.modality), "dataset": np.array(self.dataset or ""),
            "codes": self.packed, "ids": self.ids,
        }
        if self.labels is not None:
            arrays["labels"] = self.labels
            if self.label_names is not None:
                arrays["label_names"] = np.array(self.label_names, dtype=str)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, path) -> "HammingIndex":
        """Read an index written by `save`; raises `DataError` for a missing or foreign file."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"index file {path} not found; create it with `dcmh-tf encode RUN --output {path}`.")
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {key: f[key] for key in f.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise DataError(f"{path} is not an index file (.npz written by `dcmh-tf encode`): {error}") from None
        if str(arrays.get("format", "")) != FORMAT:
            raise DataError(f"{path} is not a dcmh-tf index (no format={FORMAT!r} entry); create one with "
                            f"`dcmh-tf encode RUN --output {path}`.")
        if int(arrays["version"]) > VERSION:
            raise DataError(f"{path} is an index of format version {int(arrays['version'])}; this dcmh-tf reads "
                            f"version {VERSION} and below. Upgrade dcmh-tf or encode the database again.")
        label_names = arrays.get("label_names")
        return cls(
            arrays["codes"], int(arrays["bits"]), ids=arrays["ids"], modality=str(arrays["modality"]),
            dataset=str(arrays["dataset"]), labels=arrays.get("labels"),
            label_names=label_names.tolist() if label_names is not None else None,
        )
