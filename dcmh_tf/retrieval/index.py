"""A Hamming index: packed database codes with their row ids, searched with faiss.

Index types (`INDEX_TYPES`), all faiss binary indexes over the packed codes:

    flat       `IndexBinaryFlat`: exact, a popcount scan of every code (the default)
    multihash  `IndexBinaryMultiHash`: multi-index hashing (Norouzi et al., CVPR 2012): the code is cut
               into `nhash` substrings of `b` bits, each the key of a hash table; a query looks up every
               bucket within `nflip` flipped bits of its substrings and ranks the candidates exactly.
               It finds every code within distance nhash·(nflip+1)−1 and may miss farther ones.
    hnsw       `IndexBinaryHNSW`: a navigable small-world graph (`M` links, `ef_search` candidates)
    ivf        `IndexBinaryIVF`: `nlist` Hamming k-means cells, `nprobe` of them scanned per query

Order of equal distances: `flat` answers exactly as a stable sort of all distances would — nearest first,
ties in index order. faiss ≥ 1.7.3 keeps that order itself: its top-k heap scans the codes in position
order and breaks distance ties by id (faiss PR #2245, `heap_replace_top` with `cmp2`), so its top k *is*
the stable top k. The project checks this on the faiss it runs (`faiss_keeps_index_order`, a small
crowded probe against a NumPy stable sort, once per process) and checks every answer is sorted by
(distance, position); where either check fails (another faiss build), faiss is asked for k + a margin
(`tie_margin`), the answer sorted by (distance, position), and only where ties at the k-th distance fill
the whole margin are the codes at that distance gathered again by a range search (`search`).
The approximate types return the neighbours they found, sorted by (distance, position).

File format (`.npz`, NumPy's zip of arrays, read without pickle):

    format      "dcmh-tf-index"            version   2 (version 1 files, flat only, still load)
    bits        code length c              modality  "image" or "text" (what was encoded)
    codes       (n, ceil(c/8)) uint8, ±1 codes packed MSB first, +1 = bit 1 (`hashing.pack_codes`)
    ids         (n,) int64 row of each code in its dataset
    dataset     dataset name ("" when unknown)
    labels      optional (n, L) uint8 multi-hot labels of the rows
    label_names optional (L,) names of the label columns
    index_type  one of INDEX_TYPES          parameters  JSON of the index type's parameters
    faiss_index optional uint8 bytes of the faiss index (`faiss.serialize_index_binary`), for the types
                that are costly to build; `flat` is rebuilt from `codes` on load
    run         optional JSON {"path", "fingerprint"}: the run whose encoders made the codes
    shard       optional (K, N): the K-th of N parts of one database (`dcmh-tf encode --shard K/N`)
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np

from dcmh_tf.errors import DataError
from dcmh_tf.hashing import check_codes, code_bytes, iter_hamming_distances, pack_codes, to_words, unpack_codes

FORMAT = "dcmh-tf-index"
VERSION = 2
MODALITIES = ("image", "text")
INDEX_TYPES = ("flat", "multihash", "hnsw", "ivf")
# Query rows × database items whose distances are held at once by the NumPy reference scan.
CHUNK_ELEMENTS = 8_000_000


def tie_margin(k: int) -> int:
    """Extra neighbours asked of faiss by the exact search of k: enough that ties at the k-th
    distance rarely use them up (then a range search gathers the ties), few enough that the heap of
    k + margin costs about what the heap of k does."""
    return max(16, k // 4)


_ORDER_PROBE: dict[str, bool] = {}


def faiss_keeps_index_order() -> bool:
    """Whether this process's faiss `IndexBinaryFlat.search` returns the stable top k (nearest first,
    ties in position order), checked once on a crowded probe against a NumPy stable sort.

    The probe: 8-bit codes over 300 items, nearly all at distances 0–3 of each query, so that every k
    cuts through a crowd of ties and a heap that broke ties any other way would keep other items.
    """
    if "flat" not in _ORDER_PROBE:
        faiss = _faiss()
        rng = np.random.default_rng(2245)
        centre = rng.integers(0, 256, 1, dtype=np.uint8)
        flips = np.packbits(rng.random((300, 8)) < 0.15, axis=1)
        database = centre ^ flips
        queries = np.concatenate([centre[None], database[:7] ^ np.uint8(1)]).reshape(-1, 1)
        index = faiss.IndexBinaryFlat(8)
        index.add(database)
        distances = np.unpackbits(queries[:, None, :] ^ database[None, :, :], axis=2).sum(axis=2)
        expected = np.argsort(distances, axis=1, kind="stable")
        keeps = True
        for k in (1, 7, 40, 150, 300):
            _, found = index.search(queries, k)
            keeps = keeps and bool(np.array_equal(found, expected[:, :k]))
        _ORDER_PROBE["flat"] = keeps
    return _ORDER_PROBE["flat"]


def _in_stable_order(distances: np.ndarray, positions: np.ndarray) -> bool:
    """Whether every row is sorted by (distance, position), all positions real."""
    if (positions < 0).any():
        return False
    d_step, p_step = np.diff(distances, axis=1), np.diff(positions, axis=1)
    return bool(((d_step > 0) | ((d_step == 0) & (p_step > 0))).all())


def default_parameters(index_type: str, bits: int, n: int) -> dict[str, int]:
    """The parameters an index type gets unless told otherwise, for n codes of `bits` bits.

    multihash: substrings of 16 bits (b ≤ 16 keeps a table's key space small), as many as fit, one flip:
    exact within distance 2·nhash − 1 (7 at 64 bits). hnsw: M = 16, ef_construction = 64, ef_search = 128.
    ivf: nlist ≈ 4·√n cells (faiss's rule of thumb), at most 4096 (k-means training grows with nlist²),
    nprobe = nlist / 32 of them.
    """
    if index_type == "flat":
        return {}
    if index_type == "multihash":
        b = min(16, bits)
        return {"nhash": max(1, bits // b), "b": b, "nflip": 1}
    if index_type == "hnsw":
        return {"M": 16, "ef_construction": 64, "ef_search": 128}
    if index_type == "ivf":
        return ivf_parameters(n, 4096)
    raise DataError(f"index type: expected one of {', '.join(INDEX_TYPES)}, received {index_type!r}.")


def ivf_parameters(n: int, max_nlist: int) -> dict[str, int]:
    """{"nlist", "nprobe"} of an IVF index of n codes: nlist ≈ 4·√n cells (faiss's rule of thumb), at most
    `max_nlist`, nprobe = nlist / 32 of them (at least 1). The faiss index and a Milvus collection each
    give their own cap."""
    nlist = int(min(max_nlist, max(1, round(4 * math.sqrt(max(n, 1))))))
    return {"nlist": nlist, "nprobe": max(1, nlist // 32)}


def _faiss():
    import faiss

    return faiss


def _set_search_parameters(faiss_index, index_type: str, parameters: dict) -> None:
    if index_type == "multihash":
        faiss_index.nflip = int(parameters["nflip"])
    elif index_type == "hnsw":
        faiss_index.hnsw.efSearch = int(parameters["ef_search"])
    elif index_type == "ivf":
        faiss_index.nprobe = int(parameters["nprobe"])


def build_faiss_index(packed: np.ndarray, index_type: str, parameters: dict, seed: int = 0):
    """A faiss binary index of type `index_type` holding `packed` (n, bytes) uint8 codes at positions 0..n−1."""
    faiss = _faiss()
    d = packed.shape[1] * 8  # the pad bits of the last byte are 0 in every code: distances do not change
    if index_type == "flat":
        index = faiss.IndexBinaryFlat(d)
    elif index_type == "multihash":
        nhash, b = int(parameters["nhash"]), int(parameters["b"])
        if nhash * b > d or b < 1 or nhash < 1:
            raise DataError(f"multihash: nhash × b must be at most the code length ({d} bits), received "
                            f"nhash {nhash}, b {b}.")
        index = faiss.IndexBinaryMultiHash(d, nhash, b)
    elif index_type == "hnsw":
        index = faiss.IndexBinaryHNSW(d, int(parameters["M"]))
        index.hnsw.efConstruction = int(parameters["ef_construction"])
    elif index_type == "ivf":
        nlist = int(parameters["nlist"])
        if nlist > len(packed):
            raise DataError(f"ivf: nlist ({nlist}) cannot exceed the number of codes ({len(packed)}); "
                            f"choose a smaller --nlist.")
        index = faiss.index_binary_factory(d, f"BIVF{nlist}")
        sample = packed
        if len(packed) > 64 * nlist:  # k-means needs tens of points per cell, not millions
            sample = packed[np.random.default_rng(seed).choice(len(packed), 64 * nlist, replace=False)]
        index.train(np.ascontiguousarray(sample))
    else:
        raise DataError(f"index type: expected one of {', '.join(INDEX_TYPES)}, received {index_type!r}.")
    if len(packed):
        index.add(np.ascontiguousarray(packed))
    _set_search_parameters(index, index_type, parameters)
    return index


class HammingIndex:
    """n packed codes of `bits` bits. Build one with `from_codes`, read one with `load`.

    packed: (n, ceil(bits/8)) uint8; ids: (n,) int64 dataset rows (default 0..n−1);
    labels: optional (n, L) multi-hot; modality: what the codes encode; dataset: its name;
    index_type / parameters: see the module docstring; run: {"path", "fingerprint"} of the run that
    encoded the codes, when known; shard: (K, N) when the index is one part of a database.
    """

    def __init__(self, packed: np.ndarray, bits: int, *, ids=None, modality: str = "image", dataset: str = "",
                 labels=None, label_names=None, index_type: str = "flat", parameters: dict | None = None,
                 run: dict | None = None, shard: tuple[int, int] | None = None, faiss_index=None):
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
        parameters = {**default_parameters(index_type, int(bits), len(packed)), **(parameters or {})}
        self.packed = packed
        self.bits = int(bits)
        self.ids = ids
        self.modality = modality
        self.dataset = dataset
        self.labels = labels
        self.label_names = list(label_names) if label_names is not None else None
        self.index_type = index_type
        self.parameters = parameters
        self.run = dict(run) if run else None
        self.shard = tuple(shard) if shard else None
        self._faiss_index = faiss_index
        if faiss_index is not None:
            _set_search_parameters(faiss_index, index_type, parameters)

    @classmethod
    def from_codes(cls, codes, **kwargs) -> "HammingIndex":
        """An index of ±1 `codes` (n, c); keyword arguments as in the constructor."""
        codes = check_codes(codes, "database codes")
        return cls(pack_codes(codes), codes.shape[1], **kwargs)

    def __len__(self) -> int:
        return len(self.packed)

    @property
    def exact(self) -> bool:
        return self.index_type == "flat"

    def codes(self) -> np.ndarray:
        """(n, bits) int8 ±1 codes."""
        return unpack_codes(self.packed, self.bits)

    @property
    def faiss_index(self):
        """The faiss index over the codes, built on first use."""
        if self._faiss_index is None:
            self._faiss_index = build_faiss_index(self.packed, self.index_type, self.parameters)
        return self._faiss_index

    # search -------------------------------------------------------------------------------------
    def search(self, query_codes, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest codes of each query, nearest first, ties in index order.

        query_codes: (n_query, bits) ±1. Returns (positions, distances), each (n_query, min(k, n)):
        positions into the index (`ids[positions]` are dataset rows) and Hamming distances. Exact for
        `flat`; an approximate index may find fewer than k codes for a query: the rest of its row is
        position −1, distance −1.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise DataError(f"k: expected a positive integer, received {k!r}.")
        queries = self._packed_queries(query_codes)
        k = min(int(k), len(self))
        if k == 0:
            empty = np.zeros((len(queries), 0), np.int64)
            return empty, empty.astype(np.int32)
        if self.exact:
            return self._exact_search(queries, k)
        distances, positions = self.faiss_index.search(queries, k)
        distances = distances.astype(np.int32)
        # approximate: what faiss found, in (distance, position) order; −1 marks a missing neighbour
        distances = np.where(positions < 0, -1, distances)
        order = np.lexsort((positions, np.where(positions < 0, np.iinfo(np.int32).max, distances)), axis=1)
        return np.take_along_axis(positions, order, 1), np.take_along_axis(distances, order, 1)

    def _exact_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top k, ties in index order, at the cost of one faiss top-k search.

        With a faiss that keeps position order among ties (`faiss_keeps_index_order`) its answer is
        the answer, once checked to be sorted by (distance, position). Otherwise: `_margin_search`.
        """
        if faiss_keeps_index_order():
            distances, positions = self.faiss_index.search(queries, k)
            distances = distances.astype(np.int32)
            if _in_stable_order(distances, positions):
                return positions, distances
        return self._margin_search(queries, k)

    def _margin_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top k, ties in index order, from a faiss whose order among ties is its own, at the cost
        of one faiss top-(k + margin) search.

        faiss returns the k + m nearest codes with its own order among equal distances. Every code
        nearer than the last distance it returns is among them, so when the k-th distance is below
        that last one, the k nearest by (distance, position) are all in hand: sort them. Only a query
        whose margin is used up by ties at the k-th distance falls back to the range search.
        """
        wanted = min(k + tie_margin(k), len(self))
        distances, positions = self.faiss_index.search(queries, wanted)
        distances = distances.astype(np.int32)
        order = np.lexsort((positions, distances), axis=1)[:, :k]
        top_positions = np.take_along_axis(positions, order, 1)
        top_distances = np.take_along_axis(distances, order, 1)
        if wanted == len(self):  # every code was returned: nothing can be missing
            return top_positions, top_distances
        exhausted = np.flatnonzero(top_distances[:, -1] >= distances.max(axis=1))
        if len(exhausted):
            top_positions[exhausted], top_distances[exhausted] = self._with_boundary_ties_in_index_order(
                queries[exhausted], top_distances[exhausted, -1], k)
        return top_positions, top_distances

    def _with_boundary_ties_in_index_order(self, queries, kth: np.ndarray, k: int):
        """Top k with ties in index order: every code at distance ≤ the k-th distance, by (distance, position).

        faiss may return any of the codes tied at the k-th distance; a range search (all codes at
        distance < radius) gathers them all. Queries sharing a k-th distance share one range search.
        """
        positions = np.empty((len(queries), k), np.int64)
        distances = np.empty((len(queries), k), np.int32)
        for value in np.unique(kth):
            rows = np.flatnonzero(kth == value)
            limits, found_distances, found_positions = self.faiss_index.range_search(queries[rows], int(value) + 1)
            for row, start, stop in zip(rows, limits[:-1], limits[1:]):
                d = found_distances[start:stop].astype(np.int32)
                p = found_positions[start:stop]
                order = np.lexsort((p, d))[:k]
                positions[row], distances[row] = p[order], d[order]
        return positions, distances

    def within_radius(self, query_codes, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Hash lookup: for each query, (positions, distances) of every code within Hamming distance
        `radius`, nearest first, ties in index order (an approximate index: of those it finds)."""
        if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0:
            raise DataError(f"radius: expected an integer >= 0, received {radius!r}.")
        queries = self._packed_queries(query_codes)
        if not len(self):
            return [(np.zeros(0, np.int64), np.zeros(0, np.int32)) for _ in queries]
        limits, distances, positions = self.faiss_index.range_search(queries, int(radius) + 1)
        results = []
        for start, stop in zip(limits[:-1], limits[1:]):
            d, p = distances[start:stop].astype(np.int32), positions[start:stop]
            order = np.lexsort((p, d))
            results.append((p[order], d[order]))
        return results

    def _packed_queries(self, query_codes) -> np.ndarray:
        query_codes = check_codes(query_codes, "query codes")
        self.check_bits(query_codes.shape[1], "the query")
        return np.ascontiguousarray(pack_codes(query_codes))

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
            "codes": self.packed, "ids": self.ids, "index_type": np.array(self.index_type),
            "parameters": np.array(json.dumps(self.parameters, sort_keys=True)),
        }
        if self.index_type != "flat":
            arrays["faiss_index"] = _faiss().serialize_index_binary(self.faiss_index)
        if self.run:
            arrays["run"] = np.array(json.dumps(self.run, sort_keys=True))
        if self.shard:
            arrays["shard"] = np.array(self.shard, np.int64)
        if self.labels is not None:
            arrays["labels"] = self.labels
            if self.label_names is not None:
                arrays["label_names"] = np.array(self.label_names, dtype=str)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, path) -> "HammingIndex":
        """Read an index written by `save` (format version 1 or 2); raises `DataError` for a missing,
        damaged or foreign file."""
        path = Path(path)
        rebuild = f"encode the database again: `dcmh-tf encode RUN --output {path}`"
        if not path.is_file():
            raise DataError(f"index file {path} not found; create it with `dcmh-tf encode RUN --output {path}`.")
        if not zipfile.is_zipfile(path):  # else NumPy's message speaks of pickled data, whatever the bytes
            raise DataError(f"{path} is not an index file (.npz written by `dcmh-tf encode`): not a NumPy .npz "
                            f"(zip) archive; {rebuild}.")
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {key: f[key] for key in f.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise DataError(f"{path} is not an index file (.npz written by `dcmh-tf encode`): "
                            f"{error}; {rebuild}.") from None
        if str(arrays.get("format", "")) != FORMAT:
            raise DataError(f"{path} is not a dcmh-tf index (no format={FORMAT!r} entry); create one with "
                            f"`dcmh-tf encode RUN --output {path}`.")
        try:
            version = int(arrays["version"])
            if version > VERSION:
                raise DataError(f"{path} is an index of format version {version}; this dcmh-tf reads versions 1 "
                                f"to {VERSION}. Upgrade dcmh-tf, or {rebuild}.")
            index_type = str(arrays.get("index_type", "flat"))
            parameters = json.loads(str(arrays["parameters"])) if "parameters" in arrays else {}
            faiss_index = None
            if "faiss_index" in arrays:
                faiss_index = _faiss().deserialize_index_binary(arrays["faiss_index"])
            label_names = arrays.get("label_names")
            index = cls(
                arrays["codes"], int(arrays["bits"]), ids=arrays["ids"], modality=str(arrays["modality"]),
                dataset=str(arrays["dataset"]), labels=arrays.get("labels"),
                label_names=label_names.tolist() if label_names is not None else None,
                index_type=index_type, parameters=parameters,
                run=json.loads(str(arrays["run"])) if "run" in arrays else None,
                shard=tuple(int(x) for x in arrays["shard"]) if "shard" in arrays else None,
                faiss_index=faiss_index,
            )
        except DataError as error:
            if "encode" in str(error):
                raise
            raise DataError(f"{path}: {error} The file is damaged or was not written by dcmh-tf; {rebuild}.") from None
        except (KeyError, ValueError, TypeError, RuntimeError) as error:
            raise DataError(f"{path} is a damaged index file ({type(error).__name__}: {error}); {rebuild}.") from None
        if faiss_index is not None and faiss_index.ntotal != len(index):
            raise DataError(f"{path}: its faiss index holds {faiss_index.ntotal} codes but the file lists "
                            f"{len(index)}; {rebuild}.")
        return index


def linear_scan_search(index: HammingIndex, query_codes, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference exact top-k without faiss (the project's scan before faiss): popcount distances to
    every code in NumPy, a stable sort, ties in index order. Kept for tests and benchmarks."""
    query_codes = check_codes(query_codes, "query codes")
    index.check_bits(query_codes.shape[1], "the query")
    k = min(int(k), len(index))
    words = to_words(index.packed)
    chunk_rows = max(1, CHUNK_ELEMENTS // max(len(index), 1))
    positions, distances = [], []
    for _, chunk in iter_hamming_distances(to_words(pack_codes(query_codes)), words, index.bits, chunk_rows):
        order = np.argsort(chunk, axis=1, kind="stable")[:, :k]
        positions.append(order)
        distances.append(np.take_along_axis(chunk, order, axis=1).astype(np.int32))
    return np.concatenate(positions), np.concatenate(distances)
