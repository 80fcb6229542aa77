"""A database in several index files (`dcmh-tf encode --shard K/N`), searched as one index.

`ShardedIndex` answers `search` and `within_radius` exactly as one `HammingIndex` of the shards'
codes concatenated in shard order would: each shard answers its own top k, positions are offset into
the concatenation, and the merged candidates are sorted by (distance, position), so ties keep index
order across shards too. It offers the attributes `search_index` reads (ids, labels, label_names,
modality, dataset, bits, run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from dcmh_tf.errors import DataError
from dcmh_tf.retrieval.index import HammingIndex


class ShardedIndex:
    """Several `HammingIndex` parts of one database, in order."""

    def __init__(self, shards: Sequence[HammingIndex], names: Sequence[str] | None = None):
        if not shards:
            raise DataError("no index shard given.")
        names = list(names or [f"shard {i + 1}" for i in range(len(shards))])
        first = shards[0]
        for shard, name in zip(shards[1:], names[1:]):
            for field in ("bits", "modality", "dataset"):
                if getattr(shard, field) != getattr(first, field):
                    raise DataError(f"{name} holds {field} {getattr(shard, field)!r} but {names[0]} holds "
                                    f"{getattr(first, field)!r}: shards of one database must come from one "
                                    f"`dcmh-tf encode --shard K/N` of one run.")
            if _fingerprint(shard) != _fingerprint(first):
                raise DataError(f"{name} was encoded by run {_run_path(shard)} and {names[0]} by run "
                                f"{_run_path(first)} (other weights): their codes do not share one Hamming space.")
            if (shard.labels is None) != (first.labels is None):
                raise DataError(f"{name} and {names[0]}: one holds labels and the other does not.")
        self.shards = list(shards)
        self.bits, self.modality, self.dataset, self.run = first.bits, first.modality, first.dataset, first.run
        self.label_names = first.label_names
        self.ids = np.concatenate([shard.ids for shard in shards])
        self.labels = None if first.labels is None else np.concatenate([shard.labels for shard in shards])
        self.offsets = np.cumsum([0] + [len(shard) for shard in shards])
        self.index_type = ",".join(sorted({shard.index_type for shard in shards}))

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def check_bits(self, bits: int, source: str) -> None:
        self.shards[0].check_bits(bits, source)

    def search(self, query_codes, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As `HammingIndex.search` over the concatenated shards."""
        found = [shard.search(query_codes, k) for shard in self.shards]
        positions = np.concatenate([np.where(p < 0, -1, p + offset) for (p, _), offset in zip(found, self.offsets)], 1)
        distances = np.concatenate([d for _, d in found], 1)
        missing = positions < 0
        order = np.lexsort((np.where(missing, len(self), positions),
                            np.where(missing, np.iinfo(np.int32).max, distances)), axis=1)[:, :min(int(k), len(self))]
        return np.take_along_axis(positions, order, 1), np.take_along_axis(distances, order, 1)

    def within_radius(self, query_codes, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """As `HammingIndex.within_radius` over the concatenated shards."""
        per_shard = [shard.within_radius(query_codes, radius) for shard in self.shards]
        results = []
        for per_query in zip(*per_shard):
            positions = np.concatenate([p + offset for (p, _), offset in zip(per_query, self.offsets)])
            distances = np.concatenate([d for _, d in per_query])
            order = np.lexsort((positions, distances))
            results.append((positions[order], distances[order]))
        return results


def load_indexes(paths: Sequence[str | Path]) -> HammingIndex | ShardedIndex:
    """One index file, or several files and folders of `.npz` files: the shards of one database.

    Shards written by `encode --shard K/N` are put in K order and must all be there (1..N, once each);
    files without a shard number keep the order given (folders: sorted by name).
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.npz"))
            if not found:
                raise DataError(f"folder {path} holds no index file (.npz); write them with "
                                f"`dcmh-tf encode RUN --shard K/N --output {path}/part-K.npz`.")
            files.extend(found)
        else:
            files.append(path)
    if len(files) == 1:
        return HammingIndex.load(files[0])
    shards = [HammingIndex.load(path) for path in files]
    numbered = [shard.shard for shard in shards if shard.shard]
    if numbered:
        if len(numbered) != len(shards):
            raise DataError("some index files are shards (--shard K/N) and some are whole indexes: give the "
                            "shards of one database only.")
        totals = {n for _, n in numbered}
        parts = sorted(k for k, _ in numbered)
        if len(totals) != 1 or parts != list(range(1, totals.pop() + 1)):
            listing = ", ".join(f"{path.name} = {k}/{n}" for path, (k, n) in zip(files, numbered))
            raise DataError(f"the shards given are not one complete set 1/N … N/N ({listing}); give every shard "
                            f"of the database once.")
        order = sorted(range(len(shards)), key=lambda i: shards[i].shard[0])
        shards, files = [shards[i] for i in order], [files[i] for i in order]
    return ShardedIndex(shards, [str(path) for path in files])


def shard_rows(rows: np.ndarray, shard: tuple[int, int]) -> np.ndarray:
    """The K-th of N contiguous, nearly equal parts of `rows` (K counted from 1)."""
    k, n = shard
    if not (1 <= k <= n):
        raise DataError(f"--shard: expected K/N with 1 ≤ K ≤ N, received {k}/{n}.")
    if n > len(rows):
        raise DataError(f"--shard {k}/{n}: only {len(rows)} rows to encode; choose N ≤ {len(rows)}.")
    bounds = np.linspace(0, len(rows), n + 1).round().astype(int)
    return rows[bounds[k - 1]:bounds[k]]


def _fingerprint(index) -> str | None:
    return (index.run or {}).get("fingerprint")


def _run_path(index) -> str:
    return (index.run or {}).get("path", "unknown")
