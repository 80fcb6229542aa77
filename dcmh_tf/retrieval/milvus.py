"""Codes in a Milvus collection: the same search as a faiss index file, on an engine that scales out.

    milvus://codes.db                    embedded Milvus Lite, the database in the file codes.db
    milvus://http://host:19530           a Milvus server or cluster (https too); the token, when the server
                                         asks for one ("user:password" or an API key), from $DCMH_MILVUS_TOKEN

A collection holds one row per item: `id` (INT64 primary key: the dataset row), `position` (INT64: the
database order, 0..n−1 as `encode` wrote them, new items after), `code` (BINARY_VECTOR of the code length
rounded up to bytes, packed as `hashing.pack_codes`; the pad bits are 0 in every code, so distances do not
change) and `labels` (JSON {"names": [...]}, filtered with `json_contains` in the engine). The collection's
description is the JSON of what an index file records: format, bits, modality, dataset, label names, the run
(path and weights fingerprint), index type and parameters, and how many rows `encode` writes.

The project's promises, kept here where the engine does not keep them:
- Exact top k with ties in database order (`flat`, BIN_FLAT). Milvus returns equal distances in its own order
  and picks its own codes at the k-th distance. So each query asks for k + 1 neighbours: when the (k+1)-th is
  farther than the k-th distance d, the k found are all the codes at distance ≤ d and only their order is
  fixed (by position); otherwise every code at distance d is gathered by a range search
  (d ≤ distance < d + 1) and the first by position are kept.
- Complete radius results on flat: a range search (distance < radius + 1). A range search returns at most
  `limit` (16,384, Milvus's largest top k) codes; when it returns that many, the positions are split into
  windows (a filter on `position`) until each window's answer is complete.
- BIN_IVF_FLAT is approximate: the `nprobe` cells nearest the query are scanned, the rest are not. Its top k
  is what it found, sorted by (distance, position), and the ties at its k-th distance are the engine's pick.
  A range search on BIN_IVF_FLAT returned nothing on Milvus 2.3.5, so its radius search is the engine's
  top 16,384 kept within the radius: complete only when the cells scanned hold every code within the
  radius and there are fewer than 16,384 of them.

Milvus Lite 2.5.1 holds BIN_FLAT only (it refuses BIN_IVF_FLAT); Lite 3.x refuses BINARY_VECTOR altogether.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence
from urllib.parse import urlparse

import numpy as np

from dcmh_tf.errors import DataError
from dcmh_tf.hashing import check_codes, code_bytes, pack_codes
from dcmh_tf.retrieval.backend import Backend, Hit, label_names_of
from dcmh_tf.retrieval.index import ivf_parameters

SCHEME = "milvus://"
FORMAT = "dcmh-tf-milvus"
VERSION = 1
ENGINE_INDEX = {"flat": "BIN_FLAT", "ivf": "BIN_IVF_FLAT"}
INDEX_TYPES = tuple(ENGINE_INDEX)
TOKEN_ENV = "DCMH_MILVUS_TOKEN"
DEFAULT_COLLECTION = "dcmh_codes"
COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
LIMIT = 16_384  # Milvus's largest top k (and the most results a range search returns)
BATCH_ROWS = 10_000  # rows per insert call
TIMEOUT = 30.0  # seconds a call may take before the server counts as unreachable
INSTALL = "pip install 'dcmh-tf[milvus]'"
# Searches see every write of their own client ("Session"): "Strong" made each call wait about 300 ms on the
# server for its clock to catch up. Counts for resuming stay "Strong" (the collection's level).
SEARCH_CONSISTENCY = "Session"


class MilvusError(DataError):
    """A Milvus collection or server that cannot be used as asked (exit 1; HTTP 503 in the service)."""

    status = 503


class MilvusUnavailable(MilvusError):
    """The server does not answer (stopped, restarting, unreachable). Trying again later may work."""


def is_milvus_uri(text) -> bool:
    return isinstance(text, str) and text.startswith(SCHEME)


def parse_uri(text: str) -> tuple[str, str]:
    """("lite", absolute file path) or ("server", http(s)://host:port) for a milvus:// URI."""
    if not is_milvus_uri(text):
        raise MilvusError(f"Milvus location: expected milvus://FILE.db or milvus://http://HOST:PORT, received {text!r}.")
    target = text[len(SCHEME):]
    if target.startswith(("http://", "https://")):
        parsed = urlparse(target)
        if not parsed.hostname or parsed.path not in ("", "/"):
            raise MilvusError(f"Milvus server URI: expected http(s)://HOST:PORT, received {target!r}.")
        return "server", target.rstrip("/")
    if not target or target.endswith("/"):
        raise MilvusError(f"Milvus Lite file: expected milvus://FILE.db, received {text!r}.")
    if "://" in target:
        raise MilvusError(f"Milvus location {text!r}: expected a file path or http(s)://HOST:PORT after milvus://.")
    path = Path(target).expanduser().resolve()
    if path.suffix != ".db":  # Milvus Lite takes only names ending in .db
        raise MilvusError(f"Milvus Lite file: expected a name ending in .db, received {path.name!r}; "
                          f"for example milvus://{path.with_suffix('.db')}.")
    return "lite", str(path)


def _pymilvus():
    try:
        import pymilvus
    except ImportError:
        raise MilvusError(f"Milvus needs the client library pymilvus, which is not installed: {INSTALL}.") from None
    # pymilvus logs every failed call with a traceback on its own logger; dcmh-tf reports it in one line
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    return pymilvus


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 19530)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=3):
            return True
    except OSError:
        return False


def connect(uri: str, timeout: float = TIMEOUT):
    """A `pymilvus.MilvusClient` for a milvus:// URI; `MilvusError` with the fix when it cannot connect."""
    kind, target = parse_uri(uri)
    pymilvus = _pymilvus()
    if kind == "lite":
        try:
            import milvus_lite  # noqa: F401
        except ImportError:
            raise MilvusError(f"{uri} is a Milvus Lite file, and Milvus Lite is not installed: {INSTALL} "
                              f"(milvus-lite 2.5.1: later versions refuse binary vectors).") from None
        if not Path(target).parent.is_dir():
            raise MilvusError(f"Milvus Lite file {target}: its folder does not exist; create it first.")
        for attempt in range(3):
            try:
                return pymilvus.MilvusClient(uri=target, timeout=timeout)
            except Exception as error:  # noqa: BLE001 - Lite's failures come as several exception types
                failure = error
            # pymilvus starts one Lite process per file and keeps it; one that died, or was not ready in time
            # on a loaded machine (measured here), is forgotten and started again
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(target)
            time.sleep(1.0 + attempt)
        raise MilvusError(f"could not open the Milvus Lite file {target}: {_message(failure)}")
    token = os.environ.get(TOKEN_ENV, "")
    try:
        return pymilvus.MilvusClient(uri=target, token=token, timeout=timeout)
    except Exception as error:  # noqa: BLE001
        if not _reachable(target):
            raise MilvusUnavailable(f"no Milvus server answers at {target} (connection refused or timed out): "
                                    f"start it, or check the host and port in {uri}.") from None
        given = f"the token in ${TOKEN_ENV}" if token else f"no token (${TOKEN_ENV} is not set)"
        raise MilvusError(f"the Milvus server at {target} refused the connection with {given}: set ${TOKEN_ENV} "
                          f"to a valid user:password (or API key), and check http vs https "
                          f"({_message(error)}).") from None


def _message(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error)
    return " ".join(str(message).split())[:300]


def _unavailable(error: BaseException) -> bool:
    text = str(error).lower()
    return any(part in text for part in (
        "fail connecting", "server unavailable", "deadline", "unavailable", "connection refused",
        "empty grpc client", "no available", "not ready", "socket closed", "connection reset", "stream removed",
        "abnormal", "is not healthy",
    ))


class MilvusIndex(Backend):
    """A collection of codes written by `dcmh-tf encode --to milvus://...`. Open one with `open`,
    make one with `create`."""

    def __init__(self, client, uri: str, collection: str, meta: dict):
        self.client = client
        self.uri = uri
        self.collection = collection
        self.meta = meta
        self.bits = int(meta["bits"])
        self.modality = meta["modality"]
        self.dataset = meta.get("dataset", "")
        self.label_names = meta.get("label_names")
        self.run = meta.get("run")
        self.index_type = meta["index_type"]
        self.parameters = dict(meta.get("parameters") or {})
        self.rows = int(meta.get("rows", 0))
        self.limit = LIMIT
        self._loaded = False

    # opening and creating ------------------------------------------------------------------------
    @classmethod
    def open(cls, uri: str, collection: str | None = None, timeout: float = TIMEOUT) -> "MilvusIndex":
        """The collection `collection` at `uri` (when None: the one dcmh-tf collection there)."""
        client = connect(uri, timeout)
        if collection is None:
            names = [name for name in _call(client.list_collections, uri) if _meta_of(client, name, uri) is not None]
            if len(names) != 1:
                listing = ", ".join(names) or "none"
                raise MilvusError(f"{uri} holds {len(names)} collections of codes ({listing}); name one with "
                                  f"--collection." if names else
                                  f"{uri} holds no collection of codes; write one with `dcmh-tf encode RUN --to {uri}`.")
            collection = names[0]
        check_collection_name(collection)
        if not _call(lambda: client.has_collection(collection), uri):
            others = ", ".join(_call(client.list_collections, uri)) or "none"
            raise MilvusError(f"{uri} has no collection {collection!r} (it has: {others}); write it with "
                              f"`dcmh-tf encode RUN --to {uri} --collection {collection}`.")
        meta = _meta_of(client, collection, uri)
        if meta is None:
            raise MilvusError(f"collection {collection!r} at {uri} was not written by dcmh-tf (its description is not "
                              f"a {FORMAT} record); write one with `dcmh-tf encode RUN --to {uri} --collection NAME`.")
        if int(meta.get("version", 0)) > VERSION:
            raise MilvusError(f"collection {collection!r} at {uri} has format version {meta['version']}; this dcmh-tf "
                              f"reads version {VERSION}. Upgrade dcmh-tf.")
        return cls(client, uri, collection, meta)

    @classmethod
    def create(cls, uri: str, collection: str, *, bits: int, modality: str, dataset: str = "",
               label_names: Sequence[str] | None = None, run: dict | None = None, index_type: str = "flat",
               parameters: dict | None = None, rows: int = 0, timeout: float = TIMEOUT) -> "MilvusIndex":
        """An empty collection for `rows` codes of `bits` bits, its index built and loaded."""
        pymilvus = _pymilvus()
        DataType = pymilvus.DataType
        check_collection_name(collection)
        if index_type not in ENGINE_INDEX:
            raise MilvusError(f"Milvus index type: expected one of {', '.join(INDEX_TYPES)}, received {index_type!r}.")
        parameters = {**default_parameters(index_type, rows), **(parameters or {})}
        client = connect(uri, timeout)
        if index_type == "ivf" and parse_uri(uri)[0] == "lite":
            raise MilvusError("Milvus Lite holds exact (BIN_FLAT) collections only; use --index-type flat, or a Milvus "
                              "server (milvus://http://HOST:PORT) for ivf.")
        meta = {"format": FORMAT, "version": VERSION, "bits": int(bits), "modality": modality, "dataset": dataset or "",
                "label_names": list(label_names) if label_names is not None else None, "run": run,
                "index_type": index_type, "parameters": parameters, "rows": int(rows)}
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False, description=json.dumps(meta))
        schema.add_field("id", DataType.INT64, is_primary=True, description="item id: the dataset row")
        schema.add_field("position", DataType.INT64, description="database order: ties are answered in it")
        schema.add_field("code", DataType.BINARY_VECTOR, dim=code_bytes(bits) * 8)
        schema.add_field("labels", DataType.JSON, description='{"names": [label names]}')
        index_params = client.prepare_index_params()
        engine_parameters = {"nlist": int(parameters["nlist"])} if index_type == "ivf" else {}
        index_params.add_index("code", index_type=ENGINE_INDEX[index_type], metric_type="HAMMING",
                               params=engine_parameters)
        _call(lambda: client.create_collection(collection, schema=schema, index_params=index_params,
                                               consistency_level="Strong"), uri)
        return cls(client, uri, collection, meta)

    def drop(self) -> None:
        _call(lambda: self.client.drop_collection(self.collection), self.uri)

    # the Backend interface ----------------------------------------------------------------------------
    def __len__(self) -> int:
        result = self._retrying(lambda: self.client.query(self.collection, filter="", output_fields=["count(*)"]))
        return int(result[0]["count(*)"])

    @property
    def exact(self) -> bool:
        return self.index_type == "flat"

    def check_bits(self, bits: int, source: str) -> None:
        if int(bits) != self.bits:
            raise MilvusError(f"{source} makes {bits}-bit codes but collection {self.collection!r} at {self.uri} holds "
                              f"{self.bits}-bit codes; write a collection with this run: `dcmh-tf encode RUN --to "
                              f"{self.uri} --collection NEW_NAME`.")

    def health(self) -> dict:
        try:
            items = len(self)
        except MilvusError as error:
            return {"status": "unavailable", "detail": str(error)}
        return {"status": "ok", "items": items}

    def find(self, query_codes, *, top=None, radius=None, label=None) -> list[list[Hit]]:
        queries = self._packed_queries(query_codes)
        expr = self.label_filter(label)
        if radius is None:
            k = top or 10
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < self.limit:
                raise MilvusError(f"k: expected 1 to {self.limit - 1} for a Milvus collection, received {k!r}.")
            return [self._top(query, int(k), expr) for query in queries]
        if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0:
            raise MilvusError(f"radius: expected an integer >= 0, received {radius!r}.")
        return [self._within(query, int(radius), expr)[:top] for query in queries]

    # search ---------------------------------------------------------------------------------------
    def search(self, query_codes, k: int, label: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """As `HammingIndex.search`: (positions, distances), each (n_query, min(k, n)), ties in position order."""
        return _as_arrays(self.find(query_codes, top=k, label=label), min(int(k), len(self)))

    def within_radius(self, query_codes, radius: int, label: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """As `HammingIndex.within_radius`: per query, (positions, distances) of every code within `radius`."""
        return [(np.array([h.position for h in hits], np.int64), np.array([h.distance for h in hits], np.int32))
                for hits in self.find(query_codes, radius=radius, label=label)]

    def label_filter(self, label: str | None) -> str:
        if label is None:
            return ""
        if not self.label_names:
            raise MilvusError(f"collection {self.collection!r} holds no label names, so --label {label!r} cannot "
                              f"filter it.")
        if label not in self.label_names:
            examples = ", ".join(self.label_names[:10])
            raise MilvusError(f"label: expected one of the collection's {len(self.label_names)} labels "
                              f"({examples}{', …' if len(self.label_names) > 10 else ''}), received {label!r}.")
        return f'json_contains(labels["names"], {json.dumps(label)})'

    def _top(self, query: bytes, k: int, expr: str) -> list[Hit]:
        hits = self._search(query, limit=k + 1, expr=expr)
        hits.sort(key=_order)
        if not self.exact or len(hits) <= k:
            return hits[:k]  # flat: fewer than k + 1 codes match, so these are all of them
        d = hits[k - 1].distance
        if hits[k].distance > d:
            return hits[:k]  # every code at distance <= d is here: only their order was the engine's
        nearer = [hit for hit in hits if hit.distance < d]
        tied = self._range(query, d, d + 1, expr, need=k - len(nearer))
        return nearer + tied[:k - len(nearer)]

    def _within(self, query: bytes, radius: int, expr: str) -> list[Hit]:
        if self.exact:
            return self._range(query, 0, radius + 1, expr)
        # BIN_IVF_FLAT: a range search found nothing on Milvus 2.3.5; take the engine's top and keep the near ones
        hits = self._search(query, limit=self.limit, expr=expr)
        return sorted((hit for hit in hits if hit.distance <= radius), key=_order)

    def _range(self, query: bytes, low: int, high: int, expr: str, need: int | None = None) -> list[Hit]:
        """Every code with low <= distance < high, by (distance, position); with `need`, at least the first
        `need` of them in position order (for a single distance). Complete: windows of positions are split
        while a range search comes back full."""
        found: list[Hit] = []
        bound = self._position_bound()
        windows = [(0, bound), (bound, None)]
        while windows:
            start, stop = windows.pop(0)
            window = f"position >= {start}" + (f" and position < {stop}" if stop is not None else "")
            hits = self._search(query, limit=self.limit, expr=f"({expr}) and {window}" if expr else window,
                                radius=high, range_filter=low)
            if len(hits) >= self.limit:
                if stop is None:  # positions of upserted items beyond `bound`: bound them, then split
                    windows[:0] = [(start, max(start + 2, self._max_position() + 1))]
                    continue
                if stop - start <= 1:
                    raise MilvusError(f"collection {self.collection!r}: more than {self.limit} codes answer one range "
                                      f"search at position {start}; positions should be unique.")
                middle = (start + stop) // 2
                windows[:0] = [(start, middle), (middle, stop)]
                continue
            found.extend(hits)
            if need is not None and len(found) >= need:
                break  # windows are searched in position order: every code before `stop` is known
        found.sort(key=_order)
        return found

    def _position_bound(self) -> int:
        """A number above every position that `encode` wrote (positions of later upserts may pass it: the
        window after it catches those)."""
        return max(self.rows, 1)

    def _search(self, query: bytes, limit: int, expr: str = "", radius: int | None = None,
                range_filter: int | None = None) -> list[Hit]:
        params: dict = {}
        if self.index_type == "ivf":
            params["nprobe"] = int(self.parameters["nprobe"])
        if radius is not None:
            params["radius"], params["range_filter"] = radius, range_filter
        result = self._retrying(lambda: self.client.search(
            self.collection, data=[query], anns_field="code", limit=limit, filter=expr,
            output_fields=["position", "labels"], search_params={"metric_type": "HAMMING", "params": params},
            consistency_level=SEARCH_CONSISTENCY))
        return [Hit(int(hit["id"]), int(hit["entity"]["position"]), int(round(hit["distance"])),
                    self._names(hit["entity"].get("labels"))) for hit in result[0]]

    def _names(self, labels) -> list | None:
        if self.label_names is None:
            return None
        return list((labels or {}).get("names", []))

    def _packed_queries(self, query_codes) -> list[bytes]:
        query_codes = check_codes(query_codes, "query codes")
        self.check_bits(query_codes.shape[1], "the query")
        return [row.tobytes() for row in pack_codes(query_codes)]

    # writing ------------------------------------------------------------------------------------
    def insert(self, ids, packed, label_rows=None, positions=None) -> int:
        """Append codes: `packed` (n, bytes) uint8 as `pack_codes` makes them, their item `ids`, optional
        multi-hot `label_rows` (n, L) and `positions` (default: after every position written by `encode`).
        The caller makes sure the ids are not in the collection yet (`missing_positions`)."""
        ids = np.asarray(ids, np.int64)
        positions = np.asarray(positions, np.int64) if positions is not None else None
        rows = self._rows(ids, positions, packed, label_rows)
        return self._retrying(lambda: self.client.insert(self.collection, rows))["insert_count"]

    def upsert(self, ids, packed, label_rows=None) -> None:
        """Write codes by item id: an id already held keeps its position (its code and labels change), a new
        id goes after every position held."""
        ids = np.asarray(ids, np.int64)
        if len(np.unique(ids)) != len(ids):
            raise MilvusError("upsert: each item id once, received repeated ids.")
        held = {int(row["id"]): int(row["position"]) for row in self._query(f"id in {ids.tolist()}", ["id", "position"])}
        new = [i for i in ids.tolist() if i not in held]
        fresh = {}
        if new:  # finding the largest position costs O(log n) count queries: only when something goes after it
            next_position = self._max_position() + 1
            fresh = {item: next_position + j for j, item in enumerate(new)}
        positions = np.array([held.get(int(i), fresh.get(int(i))) for i in ids], np.int64)
        rows = self._rows(ids, positions, packed, label_rows)
        self._retrying(lambda: self.client.upsert(self.collection, rows))

    def delete(self, ids: Iterable[int]) -> int:
        """Remove the items with these ids; returns how many were held."""
        ids = [int(i) for i in ids]
        held = len(self._query(f"id in {ids}", ["id"]))
        self._retrying(lambda: self.client.delete(self.collection, ids=ids))
        return held

    def sample_packed(self, size: int = 10_000) -> np.ndarray:
        """(≤ size, bytes) uint8: packed codes of up to `size` items (the first the engine returns), for
        `hashing.code_spread` of a collection too large to read whole."""
        rows = self._retrying(lambda: self.client.query(self.collection, filter="position >= 0",
                                                        output_fields=["code"], limit=min(size, self.limit)))
        width = code_bytes(self.bits)
        return np.array([np.frombuffer(bytes(r["code"][0] if isinstance(r["code"], (list, tuple)) else r["code"]),
                                       np.uint8)[:width] for r in rows], np.uint8).reshape(-1, width)

    def held_positions(self, positions) -> np.ndarray:
        """Those of `positions` that the collection holds."""
        positions = [int(p) for p in positions]
        if not positions:
            return np.zeros(0, np.int64)
        found = self._query(f"position >= {min(positions)} and position <= {max(positions)}", ["position"])
        return np.intersect1d(np.array([int(r["position"]) for r in found], np.int64), positions)

    def missing_positions(self, rows: int, batch: int = BATCH_ROWS) -> np.ndarray:
        """The positions 0..rows−1 not held yet (what a resumed `encode` still writes), in order."""
        total = len(self)
        if total == 0:
            return np.arange(rows, dtype=np.int64)
        missing = []
        for start in range(0, rows, batch):
            stop = min(rows, start + batch)
            window = f"position >= {start} and position < {stop}"
            count = int(self._retrying(lambda: self.client.query(
                self.collection, filter=window, output_fields=["count(*)"]))[0]["count(*)"])
            if count == stop - start:
                continue
            held = set() if count == 0 else {int(r["position"]) for r in self._query(window, ["position"])}
            missing.extend(p for p in range(start, stop) if p not in held)
        return np.array(missing, np.int64)

    def wait_indexed(self, timeout: float = 600.0) -> None:
        """Flush the inserts and wait until the engine's index covers every row (BIN_IVF_FLAT builds it
        in the background; until then it scans the rows not yet indexed)."""
        if self.index_type == "flat":
            return  # BIN_FLAT scans every row, indexed or not; a flush costs seconds on the server
        self._retrying(lambda: self.client.flush(self.collection))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self._retrying(lambda: self.client.describe_index(self.collection, "code"))
            if int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", 0)) >= int(
                    info.get("total_rows", 0)):
                return
            time.sleep(0.5)

    def _rows(self, ids, positions, packed, label_rows) -> list[dict]:
        packed = np.ascontiguousarray(packed, np.uint8)
        if packed.shape != (len(ids), code_bytes(self.bits)):
            raise MilvusError(f"codes: expected ({len(ids)}, {code_bytes(self.bits)}) packed rows, received "
                              f"{packed.shape}.")
        names = self.label_names or []
        rows = []
        for j, (item, position) in enumerate(zip(ids.tolist(), positions.tolist())):
            labels = [] if label_rows is None else label_names_of(label_rows[j], names)
            rows.append({"id": item, "position": position, "code": packed[j].tobytes(), "labels": {"names": labels}})
        return rows

    def _query(self, expr: str, fields: list[str]) -> list[dict]:
        out: list[dict] = []
        offset = 0
        while True:  # at most `limit` rows a call
            page = self._retrying(lambda: self.client.query(self.collection, filter=expr, output_fields=fields,
                                                            limit=self.limit, offset=offset))
            out.extend(page)
            if len(page) < self.limit:
                return out
            offset += self.limit

    def _max_position(self) -> int:
        """The largest position held (−1 when empty): the first x with no position >= x, by doubling then halving."""
        def any_at_or_above(x: int) -> bool:
            return int(self._retrying(lambda: self.client.query(
                self.collection, filter=f"position >= {x}", output_fields=["count(*)"]))[0]["count(*)"]) > 0

        if not any_at_or_above(0):
            return -1
        low, high = 0, max(self.rows, 1)  # low: some position >= low; find high with none >= high
        while any_at_or_above(high):
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if any_at_or_above(middle) else (low, middle)
        return low

    def _retrying(self, call: Callable):
        """Run one engine call; turn a server that does not answer into `MilvusUnavailable`. After a failed
        call the client is made again: a pymilvus 3.0 client with a token did not reconnect to a restarted
        server here (a new one did)."""
        try:
            return self._loaded_call(call)
        except MilvusUnavailable:
            if parse_uri(self.uri)[0] != "server":
                raise
            try:
                client = connect(self.uri)
            except MilvusError:
                raise MilvusUnavailable(f"the Milvus server at {self.uri} does not answer: it may be stopped or "
                                        f"restarting; try again when it is up.") from None
            old, self.client, self._loaded = self.client, client, False
            try:
                old.close()
            except Exception:  # noqa: BLE001 - the old channel is broken anyway
                pass
            return self._loaded_call(call)

    def _loaded_call(self, call: Callable):
        """Run one engine call, loading the collection first (and again when a restarted server says it is
        not loaded)."""
        if not self._loaded:
            _call(lambda: self.client.load_collection(self.collection), self.uri)
            self._loaded = True
        try:
            return _call(call, self.uri)
        except MilvusError as error:
            if "not loaded" not in str(error):
                raise
        _call(lambda: self.client.load_collection(self.collection), self.uri)
        return _call(call, self.uri)


def collection_exists(uri: str, collection: str) -> bool:
    check_collection_name(collection)
    client = connect(uri)
    return bool(_call(lambda: client.has_collection(collection), uri))


def check_collection_name(name: str) -> None:
    if not COLLECTION_NAME.match(name or ""):
        raise MilvusError(f"collection name: expected a letter or _ then letters, digits or _ (at most 255), "
                          f"received {name!r}.")


def default_parameters(index_type: str, n: int) -> dict[str, int]:
    """ivf: nlist ≈ 4·√n cells (at most 65,536, Milvus's limit), nprobe = nlist/32, as the faiss IVF index."""
    if index_type != "ivf":
        return {}
    return ivf_parameters(n, 65_536)


def _call(call: Callable, uri: str):
    try:
        return call()
    except MilvusError:
        raise
    except Exception as error:  # noqa: BLE001 - pymilvus and grpc raise several types for one failure
        if _unavailable(error):
            raise MilvusUnavailable(f"the Milvus server at {uri} does not answer ({_message(error)}); it may be "
                                    f"stopped or restarting: try again when it is up.") from None
        raise MilvusError(f"Milvus at {uri}: {_message(error)}") from None


def _meta_of(client, name: str, uri: str) -> dict | None:
    description = _call(lambda: client.describe_collection(name), uri).get("description", "")
    try:
        meta = json.loads(description)
    except (TypeError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def _order(hit: Hit) -> tuple[int, int, int]:
    return hit.distance, hit.position, hit.id


def _as_arrays(found: list[list[Hit]], k: int) -> tuple[np.ndarray, np.ndarray]:
    positions = np.full((len(found), k), -1, np.int64)
    distances = np.full((len(found), k), -1, np.int32)
    for row, hits in enumerate(found):
        positions[row, :len(hits)] = [hit.position for hit in hits[:k]]
        distances[row, :len(hits)] = [hit.distance for hit in hits[:k]]
    return positions, distances
