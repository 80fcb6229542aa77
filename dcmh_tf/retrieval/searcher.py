"""Retrieval with a trained run: encode a dataset into a Hamming index, and query an index with a
picture, with tags or with a raw text.

Queries go through the run's own encoders: a picture is decoded (PNG, JPEG, GIF, BMP) and resized
(bilinear with antialiasing, no crop, as the data pipeline resizes pictures of another size) to the
run's image size; tags (separated by commas or spaces, matched exactly, as the exported `tags`
signature does) become the 0/1 bag of words over the run's tag vocabulary; a raw text goes through
the run's own tokenizer (`RUN/tokenizer.json`, runs on a prepared collection). Codes of both modalities
live in one Hamming space, so a picture can be searched against an index of texts or of images.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dcmh_tf.errors import ConfigError, DataError, DcmhError, RunDirectoryError
from dcmh_tf.retrieval.backend import as_backend
from dcmh_tf.retrieval.index import INDEX_TYPES, MODALITIES, HammingIndex
from dcmh_tf.run_directory import RunDirectory

PARTS = ("database", "query", "all")


def build_index(run_path, *, modality: str = "image", dataset: str | None = None, data_path: str | None = None,
                part: str | None = None, batch_size: int | None = None, progress: bool = False,
                index_type: str = "flat", parameters: dict | None = None,
                shard: tuple[int, int] | None = None) -> HammingIndex:
    """Codes of `modality` items of a dataset, encoded by the run in `run_path`.

    By default the run's own dataset and the database rows of its split. `dataset` / `data_path`
    read another dataset (or the same one elsewhere) with the run's configuration otherwise; its
    items must have the run's input sizes. part: "database" or "query" (rows of the run's split)
    or "all" rows; default "database" for the run's own dataset, "all" for another one.
    index_type / parameters: the faiss index (`dcmh_tf.retrieval.index.INDEX_TYPES`); shard (K, N): encode only
    the K-th of N contiguous parts of those rows (only they are read), for `ShardedIndex`.
    """
    from dcmh_tf.retrieval.shards import shard_rows

    from dcmh_tf.evaluation.scoring import encode_codes

    run, data, rows = _rows_to_encode(run_path, modality, dataset, data_path, part)
    if shard is not None:
        rows = shard_rows(rows, shard)
    if index_type not in INDEX_TYPES:
        raise DataError(f"index type: expected one of {', '.join(INDEX_TYPES)}, received {index_type!r}.")
    image_encoder, text_encoder, _ = run.restore_encoders()
    encoder, array = (image_encoder, data.images) if modality == "image" else (text_encoder, data.texts)
    codes = encode_codes(encoder, array, rows, batch_size or run.config.batch_size, progress, f"encoding {modality}s")
    return HammingIndex.from_codes(codes, ids=rows, modality=modality, dataset=data.name,
                                   labels=np.asarray(data.labels)[rows], label_names=data.label_names,
                                   index_type=index_type, parameters=parameters, run=run.identity(), shard=shard)


def _rows_to_encode(run_path, modality: str, dataset: str | None, data_path: str | None, part: str | None):
    """(run, dataset, rows) that `encode` reads: see `build_index` for the arguments."""
    from dcmh_tf.data.loading import load_dataset

    if modality not in MODALITIES:
        raise DataError(f"modality: expected one of {', '.join(MODALITIES)}, received {modality!r}.")
    run = RunDirectory.open(run_path)
    overrides = {key: value for key, value in (("dataset", dataset), ("data_path", data_path)) if value is not None}
    part = part or ("all" if overrides else "database")
    if part not in PARTS:
        raise DataError(f"part: expected one of {', '.join(PARTS)}, received {part!r}.")
    data = load_dataset(_config_for(run, overrides))
    check_inputs_match(run, data, modality)
    if part == "all":
        rows = np.arange(len(data))
    else:
        rows = getattr(run.load_split(), part)
        if len(rows) and rows.max() >= len(data):
            raise DataError(f"the run's {part} rows go up to {rows.max()}, but {data.name} has {len(data)} items; "
                            f"encode all its rows with --rows all.")
    return run, data, rows


def write_collection(run_path, uri: str, collection: str | None = None, *, modality: str = "image",
                     dataset: str | None = None, data_path: str | None = None, part: str | None = None,
                     batch_size: int | None = None, progress: bool = False, index_type: str = "flat",
                     parameters: dict | None = None, replace: bool = False, items: Sequence[int] | None = None,
                     retry_seconds: float = 120.0, chunk_rows: int | None = None):
    """Encode items like `build_index`, into the Milvus collection `collection` at `uri` (milvus://...).

    A collection that holds part of these codes (an interrupted run) is resumed: only the missing rows are
    read, encoded and inserted, so nothing is written twice. One written by another run, or of other
    codes (length, modality, dataset, rows, index type), is refused unless `replace` (dropped and
    written again). `items`: encode only these dataset rows and upsert them (an item held keeps its
    position). A server that stops answering is waited for up to `retry_seconds` per batch.
    Returns (MilvusIndex, number of codes written).
    """
    from dcmh_tf.retrieval import milvus

    from dcmh_tf.evaluation.scoring import encode_codes
    from dcmh_tf.hashing import pack_codes

    run, data, rows = _rows_to_encode(run_path, modality, dataset, data_path, part)
    if items is not None:
        rows = np.asarray(sorted(set(int(i) for i in items)), np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(data)):
            raise DataError(f"items: expected dataset rows 0 to {len(data) - 1}, received {rows.min()} … {rows.max()}.")
    collection = collection or milvus.DEFAULT_COLLECTION
    identity = run.identity()
    wanted = {"bits": run.config.bits, "modality": modality, "dataset": data.name, "index_type": index_type}
    index = None
    if milvus.collection_exists(uri, collection):
        index = milvus.MilvusIndex.open(uri, collection)
        held = {"bits": index.bits, "modality": index.modality, "dataset": index.dataset, "index_type": index.index_type}
        other_run = (index.run or {}).get("fingerprint") != identity["fingerprint"]
        differs = [f"{key} {held[key]!r} (this encode: {wanted[key]!r})" for key in wanted if held[key] != wanted[key]]
        if items is None and index.rows != len(rows):
            differs.append(f"{index.rows} rows (this encode: {len(rows)})")
        if other_run:
            differs.insert(0, f"codes of run {(index.run or {}).get('path', '?')} (weights "
                              f"{(index.run or {}).get('fingerprint')}; this run's: {identity['fingerprint']})")
        if differs and not replace:
            raise milvus.MilvusError(f"collection {collection!r} at {uri} holds {'; '.join(differs)}: writing into it "
                                     f"would mix two sets of codes. Choose another --collection, or pass --replace "
                                     f"to drop it and write it again.")
        if differs:
            index.drop()
            index = None
    elif items is not None:
        raise milvus.MilvusError(f"{uri} has no collection {collection!r} to upsert items into; write it first with "
                                 f"`dcmh-tf encode RUN --to {uri} --collection {collection}`.")
    if index is None:
        index = milvus.MilvusIndex.create(uri, collection, bits=run.config.bits, modality=modality, dataset=data.name,
                                          label_names=data.label_names, run=identity, index_type=index_type,
                                          parameters=parameters, rows=len(rows))
    labels = np.asarray(data.labels)
    image_encoder, text_encoder, _ = run.restore_encoders()
    encoder, array = (image_encoder, data.images) if modality == "image" else (text_encoder, data.texts)
    batch_size = batch_size or run.config.batch_size
    if items is not None:
        codes = encode_codes(encoder, array, rows, batch_size, False)
        index.upsert(rows, pack_codes(codes), labels[rows])
        return index, len(rows)
    missing = index.missing_positions(len(rows))
    chunk_rows = chunk_rows or milvus.BATCH_ROWS
    bar = _progress_bar(len(missing), f"writing {modality} codes to {collection}", progress)
    try:
        for start in range(0, len(missing), chunk_rows):
            positions = missing[start:start + chunk_rows]
            chunk = rows[positions]
            codes = encode_codes(encoder, array, chunk, batch_size, False)
            _insert_resuming(index, chunk, pack_codes(codes), labels[chunk], positions, retry_seconds)
            bar.update(len(chunk))
    finally:
        bar.close()
    index.wait_indexed()
    return index, len(missing)


def _insert_resuming(index, ids, packed, label_rows, positions, retry_seconds: float) -> None:
    """Insert one batch; when the server stops answering, wait for it and insert what did not land."""
    import time

    from dcmh_tf.retrieval.milvus import MilvusUnavailable

    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            held = index.held_positions(positions)
            keep = ~np.isin(positions, held)
            if keep.any():
                index.insert(ids[keep], packed[keep], label_rows[keep], positions[keep])
            return
        except MilvusUnavailable as error:
            if time.monotonic() > deadline:
                raise MilvusUnavailable(f"{error} Waited {retry_seconds:.0f} s. Run the same command again when the "
                                        f"server is up: it resumes where this one stopped.") from None
            time.sleep(1.0)


def _progress_bar(total: int, description: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="code", disable=not enabled, leave=False)


def open_index(locations: Sequence[str], collection: str | None = None):
    """The index `search` and `serve` query: a Milvus collection (one milvus:// location), or index files
    and folders of shards (`shards.load_indexes`)."""
    from dcmh_tf.retrieval.milvus import MilvusIndex, is_milvus_uri
    from dcmh_tf.retrieval.shards import load_indexes

    if len(locations) == 1 and is_milvus_uri(str(locations[0])):
        return MilvusIndex.open(str(locations[0]), collection)
    return load_indexes(locations)


def check_same_run(run: RunDirectory, index) -> None:
    """Raise `DataError` unless `index` was encoded by this run's current weights.

    Codes of two models (or of one run before and after more training) do not share a Hamming space:
    comparing them answers, but the answer means nothing. An index that names no run (format 1) passes.
    """
    recorded = (index.run or {}).get("fingerprint")
    if recorded is None:
        return
    current = run.fingerprint()
    if recorded != current:
        raise DataError(
            f"the index was encoded by run {index.run.get('path', '?')} (weights {recorded}), but run {run.path} "
            f"has weights {current}: another model, or the same run trained further since, so the codes do "
            f"not share one Hamming space. Encode it again with `dcmh-tf encode {run.path} --output INDEX`, "
            f"or pass --allow-other-run if you know the two runs' codes are comparable."
        )


def _config_for(run: RunDirectory, overrides: dict):
    """The run's configuration reading the dataset named in `overrides` (dataset, data_path)."""
    if not overrides:
        return run.config
    takes_features = run.config.image_encoder == "mlp"
    if "dataset" in overrides and (overrides["dataset"] == "features") != takes_features:
        expected = "pre-extracted image features (dataset 'features')" if takes_features else "pictures"
        raise DataError(f"run {run.path} encodes {expected}, and dataset {overrides['dataset']!r} "
                        f"{'holds pictures' if takes_features else 'holds image features'}; encode a dataset "
                        f"like the run's ({run.config.dataset}).")
    try:
        return run.config.replace(**overrides)
    except ConfigError as error:
        raise DataError(f"run {run.path} cannot read {', '.join(map(str, overrides.values()))}: {error}") from None


def check_inputs_match(run: RunDirectory, data, modality: str) -> None:
    """Raise `DataError` unless `data`'s `modality` items have the sizes the run's encoder takes."""
    inputs = run.read_inputs()
    if modality == "text":
        received, expected = f"{data.text_dim}-word bags of words", f"{inputs['text_dim']}-word bags of words"
    elif inputs["image_kind"] == "features":
        received = f"{data.image_dim}-d image features" if data.image_kind == "features" else "pictures"
        expected = f"{inputs['image_dim']}-d image features"
    else:
        received = f"{data.image_size}×{data.image_size} pictures" if data.image_kind == "pixels" else "image features"
        expected = f"{run.config.image_size}×{run.config.image_size} pictures"
    if received != expected:
        raise DataError(f"{data.name} has {received}, but the {modality} encoder of run {run.path} takes {expected}; "
                        f"encode a dataset prepared like the run's ({inputs['dataset']}).")


def read_image(path, size: int) -> np.ndarray:
    """(1, size, size, 3) float32 pixels 0–255 of the picture file at `path`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path} not found.")
    return decode_image(path.read_bytes(), size, str(path))


def decode_image(data: bytes, size: int, name: str = "the picture") -> np.ndarray:
    """(1, size, size, 3) float32 pixels 0–255 of the PNG, JPEG, GIF or BMP file bytes `data`."""
    import tensorflow as tf

    from dcmh_tf.data.pipeline import resize_pictures

    try:
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError) as error:
        raise DataError(f"could not decode {name} as a PNG, JPEG, GIF or BMP picture "
                        f"({str(error).splitlines()[0]}).") from None
    image = tf.cast(image, tf.float32)[None]
    if tuple(image.shape[1:3]) != (size, size):
        image = resize_pictures(image, size)
    return image.numpy()


def parse_tags(text: str) -> list[str]:
    """Tags of `text`, separated by commas or spaces, in order, without repeats."""
    return list(dict.fromkeys(tag for tag in re.split(r"[,\s]+", text) if tag))


def tags_to_bow(tags: Sequence[str], vocabulary: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """((1, len(vocabulary)) float32 0/1 bag of words, the tags not in the vocabulary).

    Raises `DataError` when no tag is in the vocabulary (the bag would be empty).
    """
    columns = {word: i for i, word in enumerate(vocabulary)}
    bow = np.zeros((1, len(vocabulary)), np.float32)
    unknown = [tag for tag in tags if tag not in columns]
    known = [columns[tag] for tag in tags if tag in columns]
    if not known:
        examples = ", ".join(list(vocabulary)[:8])
        raise DataError(f"none of the tags {', '.join(tags) or '(none)'} is in the run's vocabulary of "
                        f"{len(vocabulary)} tags (for example: {examples}).")
    bow[0, known] = 1.0
    return bow, unknown


def text_to_bow(tokenizer, text: str) -> tuple[np.ndarray, list[str]]:
    """((1, vocabulary) float32 0/1 bag of words of the raw `text`, its tokens not in the vocabulary).

    Raises `DataError` when no token of `text` is in the vocabulary (the bag would be empty).
    """
    bow = tokenizer.bag_of_words([text])
    unknown = tokenizer.unknown_tokens(text)
    if not bow.any():
        examples = ", ".join(list(tokenizer.vocabulary)[:8])
        raise DataError(f"no token of the text {text!r} ({', '.join(tokenizer.tokens(text)[:8]) or 'no token'}) is in "
                        f"the run's vocabulary of {len(tokenizer.vocabulary)} tokens (for example: {examples}).")
    return bow, unknown


def search_index(run_path, index: HammingIndex, *, image=None, tags: str | None = None, text: str | None = None,
                 top: int | None = None, radius: int | None = None, allow_other_run: bool = False,
                 label: str | None = None) -> dict[str, Any]:
    """Query `index` with a picture file (`image`), a tag string (`tags`) or a raw text (`text`, cut
    by the run's tokenizer, for runs on a prepared collection) through the run's encoders.

    One query: the encoders are restored for it (a service keeps a `Searcher` instead). Returns what
    `Searcher.search` returns. `index` is a `HammingIndex`, a `ShardedIndex` or a `MilvusIndex`; one
    encoded by another run is refused unless `allow_other_run`. `label`: only items with this label
    (a Milvus collection filters in the engine).
    """
    if sum(query is not None for query in (image, tags, text)) != 1:
        raise DataError("give exactly one query: a picture (--image), tags (--tags) or a text (--text).")
    searcher = Searcher(run_path, index, allow_other_run=allow_other_run)
    if image is not None:
        searcher.check_query("image")
        return searcher.search(image=read_image(image, searcher.run.config.image_size), top=top, radius=radius,
                               label=label)
    return searcher.search(tags=tags, text=text, top=top, radius=radius, label=label)


class Searcher:
    """A run's encoders and a Hamming index, loaded once, answering queries.

    The encoders are restored lazily, once per modality, and their compiled forward is kept, so a
    long-running service pays TensorFlow's start-up and tracing only on its first query.
    """

    def __init__(self, run_path, index: HammingIndex, *, allow_other_run: bool = False):
        self.run = RunDirectory.open(run_path)
        index.check_bits(self.run.config.bits, f"run {self.run.path}")
        if not allow_other_run:
            check_same_run(self.run, index)
        self.index = index
        self.backend = as_backend(index)  # the faiss index file, its shards, or a Milvus collection
        self.inputs = self.run.read_inputs()
        self.tokenizer = self.run.load_tokenizer()
        self._forwards: dict[str, Any] = {}

    def check_query(self, kind: str) -> None:
        """Raise `DataError` unless this run can take a query of `kind` ("image", "tags", "text")."""
        run, inputs = self.run, self.inputs
        tag_hint = "; query it with --tags" if inputs.get("tag_vocabulary") else ""
        if kind == "image" and inputs["image_kind"] != "pixels":
            raise DataError(f"the image encoder of run {run.path} takes pre-extracted features "
                            f"({inputs['image_dim']}-d), not pictures{tag_hint}.")
        if kind == "text" and self.tokenizer is None:
            raise DataError(f"run {run.path} has no tokenizer (it was not trained on a collection prepared by "
                            f"`dcmh-tf datasets prepare collection`), so --text cannot become its bag of words"
                            f"{tag_hint}.")
        if kind == "tags":
            vocabulary = inputs.get("tag_vocabulary")
            if not vocabulary:
                raise DataError(f"run {run.path} was trained on {inputs['dataset']}, whose texts have no tag "
                                f"vocabulary: --tags cannot be turned into its bags of words.")
            if len(vocabulary) != inputs["text_dim"]:
                raise RunDirectoryError(f"{run.path}/inputs.json: {len(vocabulary)} tags but text_dim "
                                        f"{inputs['text_dim']}.")

    def query_kinds(self) -> list[str]:
        """The kinds of query this run takes."""
        kinds = []
        for kind in ("text", "tags", "image"):
            try:
                self.check_query(kind)
            except DcmhError:
                continue
            kinds.append(kind)
        return kinds

    def forward(self, modality: str):
        """The compiled forward of the `modality` encoder (restored on first use)."""
        if modality not in self._forwards:
            from dcmh_tf.evaluation.scoring import compiled_forward

            image_encoder, text_encoder, _ = self.run.restore_encoders()
            # compiled_forward holds its encoder by a weak reference: keep the encoders alive here
            self._encoders = (image_encoder, text_encoder)
            self._forwards["image"] = compiled_forward(image_encoder)
            self._forwards["text"] = compiled_forward(text_encoder)
        return self._forwards[modality]

    def search(self, *, image: np.ndarray | None = None, tags: str | None = None, text: str | None = None,
               top: int | None = None, radius: int | None = None, label: str | None = None) -> dict[str, Any]:
        """Answer one query: `image` (1, size, size, 3) float32 pixels (`read_image`, `decode_image`),
        a tag string, or a raw text.

        Returns {"query": "image", "tags" or "text", "index_modality", "unknown_tags": [...],
        "results": [{"rank", "id", "position", "distance", "labels"}]}: the `top` nearest codes (default
        10), or with `radius` every code within that Hamming distance, or the first `top` of them when
        `top` is given (nearest first, ties in index order).
        "labels" lists label names (or column numbers) when the index holds labels; "position" is the
        code's row in the index. "unknown_tags" holds the tags, or the text's tokens, that are not in
        the run's vocabulary.
        """
        from dcmh_tf.hashing import sign_codes

        if sum(query is not None for query in (image, tags, text)) != 1:
            raise DataError("give exactly one query: a picture (--image), tags (--tags) or a text (--text).")
        kind = "image" if image is not None else "tags" if tags is not None else "text"
        self.check_query(kind)
        unknown: list[str] = []
        if kind == "image":
            query = image
        elif kind == "text":
            query, unknown = text_to_bow(self.tokenizer, text)
        else:
            query, unknown = tags_to_bow(parse_tags(tags), self.inputs["tag_vocabulary"])
        codes = sign_codes(self.forward("image" if kind == "image" else "text")(query).numpy())
        hits = self.backend.find(codes, top=top, radius=radius, label=label)[0]
        results = [
            {"rank": rank, "id": hit.id, "position": hit.position, "distance": hit.distance,
             **({"labels": hit.labels} if hit.labels is not None else {})}
            for rank, hit in enumerate(hits, 1)
        ]
        return {"query": kind, "index_modality": self.backend.modality, "unknown_tags": unknown, "results": results}
