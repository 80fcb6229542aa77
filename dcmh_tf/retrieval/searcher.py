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
from dcmh_tf.retrieval.backend import FaissBackend, Hit, as_backend, label_names_of
from dcmh_tf.retrieval.index import INDEX_TYPES, MODALITIES, HammingIndex
from dcmh_tf.run_directory import RunDirectory

PARTS = ("database", "query", "all")
ENCODER_BACKENDS = ("auto", "onnx", "tensorflow")


def build_index(run_path, *, modality: str = "image", dataset: str | None = None, data_path: str | None = None,
                part: str | None = None, batch_size: int | None = None, progress: bool = False,
                index_type: str = "flat", parameters: dict | None = None,
                shard: tuple[int, int] | None = None, encoders: str = "auto") -> HammingIndex:
    """Codes of `modality` items of a dataset, encoded by the run in `run_path`.

    By default the run's own dataset and the database rows of its split. `dataset` / `data_path`
    read another dataset (or the same one elsewhere) with the run's configuration otherwise; its
    items must have the run's input sizes. part: "database" or "query" (rows of the run's split)
    or "all" rows; default "database" for the run's own dataset, "all" for another one.
    index_type / parameters: the faiss index (`dcmh_tf.retrieval.index.INDEX_TYPES`); shard (K, N): encode only
    the K-th of N contiguous parts of those rows (only they are read), for `ShardedIndex`.
    encoders: "onnx" (the run's ONNX encoders in onnxruntime, RUN/onnx; `DataError` when it is not
    fresh) or "tensorflow" (Keras' compiled forward over tf.data); "auto" is TensorFlow, which encoded
    2–5× more pictures and texts per second than onnxruntime on this project's CPU (AMD EPYC with
    oneDNN; onnxruntime won only on the demo's 96-word text MLP, milliseconds either way:
    `scripts/benchmark_encode.py`, docs/benchmarks.md). Both give the same codes (tests/test_query_path.py).
    """
    from dcmh_tf.retrieval.shards import shard_rows

    from dcmh_tf.evaluation.scoring import encode_codes

    run, data, rows = _rows_to_encode(run_path, modality, dataset, data_path, part)
    if shard is not None:
        rows = shard_rows(rows, shard)
    if index_type not in INDEX_TYPES:
        raise DataError(f"index type: expected one of {', '.join(INDEX_TYPES)}, received {index_type!r}.")
    array = data.images if modality == "image" else data.texts
    batch_size = batch_size or run.config.batch_size
    onnx = _open_onnx(run, "tensorflow" if encoders == "auto" else encoders)
    if onnx is not None:
        codes = encode_arrays(onnx.forward(modality), array, rows, batch_size, progress, f"encoding {modality}s")
    else:
        image_encoder, text_encoder, _ = run.restore_encoders()
        encoder = image_encoder if modality == "image" else text_encoder
        codes = encode_codes(encoder, array, rows, batch_size, progress, f"encoding {modality}s")
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


def _open_onnx(run: RunDirectory, encoders: str, fingerprint: str | None = None):
    """The run's `OnnxEncoders` for `encoders` "auto" (None when RUN/onnx is not fresh) or "onnx"
    (`DataError` when it is not), None for "tensorflow"."""
    from dcmh_tf.retrieval.onnx_encoders import OnnxEncoders

    if encoders not in ENCODER_BACKENDS:
        raise DataError(f"encoders: expected one of {', '.join(ENCODER_BACKENDS)}, received {encoders!r}.")
    onnx = None if encoders == "tensorflow" else OnnxEncoders.open(run, fingerprint)
    if encoders == "onnx" and onnx is None:
        raise DataError(f"run {run.path} has no ONNX encoders of its current weights in {run.onnx_path}; write "
                        f"them with dcmh_tf.export.run_onnx.write_run_onnx (`dcmh-tf search` does it on its first "
                        f"query), or use encoders='tensorflow'.")
    return onnx


def encode_arrays(forward, array, rows: np.ndarray, batch_size: int, progress: bool = False,
                  description: str = "encoding") -> np.ndarray:
    """±1 codes (len(rows), c) int8 of `array[rows]` through `forward` (NumPy float32 batch → features),
    read and resized as the tf.data pipeline does (`dcmh_tf.data.pipeline.make_dataset`: uint8 pixels
    to float32, resized to the array's `output_size` when it differs, here by
    `dcmh_tf.data.pictures.resize_antialiased`)."""
    from tqdm.auto import tqdm

    from dcmh_tf.data.pictures import resize_antialiased
    from dcmh_tf.data.pipeline import is_pixel_array, read_rows
    from dcmh_tf.hashing import sign_codes

    rows = np.asarray(rows)
    pixels = is_pixel_array(array)
    size = getattr(array, "output_size", None) if pixels else None
    resize = size is not None and tuple(array.shape[1:3]) != (size, size)
    bar = tqdm(total=len(rows), desc=description, unit="item", disable=None if progress else True, leave=False)
    codes = []
    for start in range(0, len(rows), batch_size):
        values = read_rows(array, rows[start:start + batch_size], np.uint8 if pixels else np.float32)
        values = values.astype(np.float32)
        if resize:
            values = np.stack([resize_antialiased(picture, size) for picture in values])
        codes.append(sign_codes(forward(values)))
        bar.update(len(values))
    bar.close()
    return np.concatenate(codes) if codes else np.zeros((0, 0), np.int8)


def check_output_index(path, run: RunDirectory, force: bool = False) -> None:
    """Raise `DataError` when `path` exists and is not an index of this run's current weights (another
    run's index, an index of this run before more training, or another file), unless `force`:
    `encode` would otherwise replace an index that another run's searches still use. Reads only the
    file's "format" and "run" entries, without faiss."""
    import json
    import zipfile

    path = Path(path)
    if force or not path.exists():
        return
    if path.is_dir():
        raise DataError(f"--output {path}: expected an index file (.npz), received a folder.")
    fix = "choose another --output (one index file per run), or pass --force to replace it."
    try:
        with np.load(path, allow_pickle=False) as f:
            is_index = "format" in f.files and str(f["format"]) == "dcmh-tf-index"
            recorded = json.loads(str(f["run"])) if is_index and "run" in f.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        is_index, recorded = False, None
    if not is_index:
        raise DataError(f"--output {path}: expected a new file or an index of run {run.path}, received a file that "
                        f"is not a dcmh-tf index; {fix}")
    if recorded is None or recorded.get("fingerprint") != run.fingerprint():
        owner = f"run {recorded.get('path', '?')} (weights {recorded.get('fingerprint')})" if recorded else \
            "a run it does not name"
        raise DataError(f"--output {path}: expected a new file or an index of run {run.path} (weights "
                        f"{run.fingerprint()}), received an index encoded by {owner}; {fix}")


def check_same_run(run: RunDirectory, index, fingerprint: str | None = None) -> None:
    """Raise `DataError` unless `index` was encoded by this run's current weights.

    Codes of two models (or of one run before and after more training) do not share a Hamming space:
    comparing them answers, but the answer means nothing. An index that names no run (format 1) passes.
    """
    recorded = (index.run or {}).get("fingerprint")
    if recorded is None:
        return
    current = fingerprint or run.fingerprint()
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
    """(1, size, size, 3) float32 pixels 0–255 of the picture file at `path` (`dcmh_tf.data.pictures`)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path}: expected a picture file, received a path that is "
                        f"{'a folder' if path.is_dir() else 'not a file'}; to search by a text, give it with --text.")
    return decode_image(path.read_bytes(), size, str(path))


def decode_image(data: bytes, size: int, name: str = "the picture") -> np.ndarray:
    """(1, size, size, 3) float32 pixels 0–255 of the PNG, JPEG, GIF or BMP file bytes `data`, resized
    (bilinear with antialiasing, no crop) when not size × size. Pillow and NumPy: no TensorFlow."""
    from dcmh_tf.data.pictures import read_picture_pixels

    return read_picture_pixels(data, size, name)


def parse_tags(text: str) -> list[str]:
    """Tags of `text`, separated by commas or spaces, in order, without repeats."""
    return list(dict.fromkeys(tag for tag in re.split(r"[,\s]+", text) if tag))


def tags_to_bow(tags: Sequence[str], vocabulary: Sequence[str], takes_text: bool = False) -> tuple[np.ndarray, list[str]]:
    """((1, len(vocabulary)) float32 0/1 bag of words, the tags not in the vocabulary).

    Raises `DataError` when no tag is in the vocabulary (the bag would be empty); when the tags look
    like a sentence (`looks_like_text`) the message points to --text, which a run that `takes_text`
    (it has a tokenizer) can answer.
    """
    columns = {word: i for i, word in enumerate(vocabulary)}
    bow = np.zeros((1, len(vocabulary)), np.float32)
    unknown = [tag for tag in tags if tag not in columns]
    known = [columns[tag] for tag in tags if tag in columns]
    if not known:
        examples = ", ".join(list(vocabulary)[:8])
        hint = ""
        if looks_like_text(" ".join(tags)):
            hint = (" They look like a sentence: search it with --text instead of --tags." if takes_text else
                    " They look like a sentence, but tags are single words separated by commas or spaces "
                    "(this run has no tokenizer for --text).")
        raise DataError(f"none of the tags {', '.join(tags) or '(none)'} is in the run's vocabulary of "
                        f"{len(vocabulary)} tags (for example: {examples}).{hint}")
    bow[0, known] = 1.0
    return bow, unknown


def looks_like_text(tags: str) -> bool:
    """Whether a --tags value reads as a sentence rather than tags: a run of 4 or more characters of a
    script written without spaces (Chinese, Japanese), or 5 or more words and no comma."""
    import regex

    from dcmh_tf.text import UNSPACED

    return bool(regex.search(f"[{UNSPACED}]{{4,}}", tags)) or ("," not in tags and len(tags.split()) >= 5)


def text_to_bow(tokenizer, text: str) -> tuple[np.ndarray, list[str]]:
    """((1, vocabulary) float32 0/1 bag of words of the raw `text`, its words not in the vocabulary
    (`Tokenizer.unknown_words`)).

    Raises `DataError` when no token of `text` is in the vocabulary (the bag would be empty).
    """
    bow = tokenizer.bag_of_words([text])
    unknown = tokenizer.unknown_words(text)
    if not bow.any():
        examples = ", ".join(list(tokenizer.vocabulary)[:8])
        raise DataError(f"no token of the text {text!r} ({', '.join(tokenizer.unknown_words(text)[:8]) or 'no word'}) is in "
                        f"the run's vocabulary of {len(tokenizer.vocabulary)} tokens (for example: {examples}).")
    return bow, unknown


def search_index(run_path, index: HammingIndex, *, image=None, tags: str | None = None, text: str | None = None,
                 top: int | None = None, radius: int | None = None, allow_other_run: bool = False,
                 labels: Sequence[str] | None = None, encoders: str = "auto",
                 label: str | None = None) -> dict[str, Any]:
    """Query `index` with a picture file (`image`), a tag string (`tags`) or a raw text (`text`, cut
    by the run's tokenizer, for runs on a prepared collection) through the run's encoders.

    One query: the encoders are opened for it (a service keeps a `Searcher` instead), and an exact
    (flat) index is scanned with NumPy, which gives faiss's answer without faiss's import. Returns
    what `Searcher.search` returns. `index` is a `HammingIndex`, a `ShardedIndex` or a `MilvusIndex`; one
    encoded by another run is refused unless `allow_other_run`. labels: the query's label names, when known.
    encoders: as `Searcher`. label: only items with this label (a Milvus collection filters in the engine).
    """
    if sum(query is not None for query in (image, tags, text)) != 1:
        raise DataError("give exactly one query: a picture (--image), tags (--tags) or a text (--text).")
    searcher = Searcher(run_path, index, allow_other_run=allow_other_run, encoders=encoders, scan=True)
    if image is not None:
        searcher.check_query("image")
        return searcher.search(image=read_image(image, searcher.run.config.image_size), top=top, radius=radius,
                               labels=labels, image_path=image, label=label)
    return searcher.search(tags=tags, text=text, top=top, radius=radius, labels=labels, label=label)


class Searcher:
    """A run's encoders and a Hamming index, loaded once, answering queries.

    encoders: "onnx" runs the run's ONNX encoders (RUN/onnx, `dcmh_tf.retrieval.onnx_encoders`)
    through onnxruntime, without TensorFlow; "tensorflow" the Keras encoders; "auto" (the default)
    the ONNX ones when RUN/onnx is fresh (converted from the run's current weights), else Keras. The
    encoders are opened lazily, once per modality, so a long-running service pays the start-up only
    on its first query (or in `dcmh_tf.retrieval.service.warm_up`). scan: answer exact (flat)
    `HammingIndex` queries with a NumPy scan instead of faiss (for one-shot queries: the same answer,
    without importing faiss).
    """

    def __init__(self, run_path, index: HammingIndex, *, allow_other_run: bool = False, encoders: str = "auto",
                 scan: bool = False):
        self.run = RunDirectory.open(run_path)
        index.check_bits(self.run.config.bits, f"run {self.run.path}")
        fingerprint = None  # found once, and only when something is checked against it
        if not allow_other_run:
            from dcmh_tf.retrieval.onnx_encoders import current_fingerprint

            fingerprint = current_fingerprint(self.run)
            check_same_run(self.run, index, fingerprint)
        self.index = index
        self.engine = as_backend(index)  # what holds the codes: a faiss index file, its shards, a Milvus collection
        self.inputs = self.run.read_inputs()
        self.tokenizer = self.run.load_tokenizer()
        self.onnx = _open_onnx(self.run, encoders, fingerprint)
        self.backend = "onnx" if self.onnx is not None else "tensorflow"
        self.scan = scan and isinstance(index, HammingIndex) and index.index_type == "flat"
        self._forwards: dict[str, Any] = {}
        self._spread: dict | None = None
        self._sources: list | None | bool = False  # False: not read yet

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
        """The `modality` encoder as a function of a float32 NumPy batch to its float32 NumPy features
        (onnxruntime, or Keras' compiled forward; opened on first use)."""
        if modality not in self._forwards:
            if self.onnx is not None:
                self._forwards[modality] = self.onnx.forward(modality)
            else:
                from dcmh_tf.evaluation.scoring import compiled_forward

                if not hasattr(self, "_encoders"):
                    # compiled_forward holds its encoder by a weak reference: keep the encoders alive here
                    image_encoder, text_encoder, _ = self.run.restore_encoders()
                    self._encoders = {"image": image_encoder, "text": text_encoder}
                compiled = compiled_forward(self._encoders[modality])
                self._forwards[modality] = lambda inputs: compiled(np.asarray(inputs, np.float32)).numpy()
        return self._forwards[modality]

    def code_spread(self) -> dict:
        """`dcmh_tf.hashing.code_spread` of the index's codes (computed once)."""
        if self._spread is None:
            from dcmh_tf.hashing import code_spread

            packed = getattr(self.index, "packed", None)
            if hasattr(self.index, "sample_packed"):  # a Milvus collection: a sample of its codes
                packed = self.index.sample_packed()
            elif packed is None:  # a ShardedIndex
                packed = np.concatenate([shard.packed for shard in self.index.shards])
            self._spread = code_spread(packed)
        return self._spread

    def sources(self) -> list[dict] | None:
        """The sources of the run's prepared collection (picture path, text, labels of each dataset
        row), or None when its dataset has none; read once."""
        if self._sources is False:
            from dcmh_tf.data.collection import read_item_sources

            self._sources = None
            data_path = self.run.config.data_path
            if data_path and self.index.dataset == self.inputs.get("dataset"):
                try:
                    self._sources = read_item_sources(data_path)
                except DcmhError:
                    self._sources = None
        return self._sources

    def search(self, *, image: np.ndarray | None = None, tags: str | None = None, text: str | None = None,
               top: int | None = None, radius: int | None = None, labels: Sequence[str] | None = None,
               image_path=None, label: str | None = None) -> dict[str, Any]:
        """Answer one query: `image` (1, size, size, 3) float32 pixels (`read_image`, `decode_image`),
        a tag string, or a raw text.

        Returns {"query": "image", "tags" or "text", "index_modality", "unknown_tokens": [...],
        "unknown_tags" (the same list, its former name), "query_labels", "codes", "warning",
        "results": [{"rank", "id", "position", "distance", "labels", "shares_label", "image_path", "text"}]}:
        the `top` nearest codes (default 10), or with `radius` every code within that Hamming distance,
        or the first `top` of them when `top` is given (nearest first, ties in index order).

        "labels" lists label names (or column numbers) when the index holds labels; "position" is the
        code's row in the index. "unknown_tokens" holds the tags, or the words of the text, that are not
        in the run's vocabulary (`dcmh_tf.text.Tokenizer.unknown_words`). "query_labels": the query's
        label names, from `labels`, else those of the collection item whose picture (`image_path`) or
        text the query is, else the tags that are label names; None when unknown. "shares_label" (with
        query labels and labelled results): whether the result has one of them. "image_path" and
        "text" (with the collection's sources): the result's picture file and text. "codes":
        `dcmh_tf.hashing.code_spread` of the index with "query_share_radius0", the share of the items
        within radius 0 of the query; "warning": `dcmh_tf.hashing.collapse_warning` of those, or None.
        """
        from dcmh_tf.hashing import collapse_warning, sign_codes

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
            query, unknown = tags_to_bow(parse_tags(tags), self.inputs["tag_vocabulary"], self.tokenizer is not None)
        codes = sign_codes(self.forward("image" if kind == "image" else "text")(query))
        index = self.index
        if isinstance(self.engine, FaissBackend):
            if label is not None:
                self.engine.find(codes, label=label)  # refused: an index file has no label filter
            positions, distances, at_zero = self._find(codes, top, radius)
            hits = [Hit(int(index.ids[p]), int(p), int(d),
                        label_names_of(index.labels[p], index.label_names) if index.labels is not None else None)
                    for p, d in zip(positions, distances)]
            spread = dict(self.code_spread(), query_share_radius0=at_zero / max(len(index), 1))
        else:  # another engine (Milvus) answers, ties in database order and the label filter included
            hits = self.engine.find(codes, top=top, radius=radius, label=label)[0]
            spread = dict(self.code_spread(), query_share_radius0=None)  # a sample's spread, no whole count
        query_labels = self._query_labels(labels, tags, text, image_path)
        results = []
        for rank, found in enumerate(hits, 1):
            hit = {"rank": rank, "id": found.id, "position": found.position, "distance": found.distance}
            if found.labels is not None:
                hit["labels"] = found.labels
                if query_labels is not None:
                    hit["shares_label"] = bool(set(map(str, hit["labels"])) & set(query_labels))
            hit.update(self._item_source(hit["id"]))
            results.append(hit)
        return {"query": kind, "index_modality": index.modality, "unknown_tokens": unknown, "unknown_tags": unknown,
                "query_labels": query_labels, "encoders": self.backend, "codes": spread, "label": label,
                "warning": collapse_warning(spread, spread["query_share_radius0"]), "results": results}

    def _find(self, codes: np.ndarray, top: int | None, radius: int | None):
        """(positions, distances) of the answer, and the number of items at distance 0."""
        index = self.index
        if self.scan:
            from dcmh_tf.hashing import pack_codes, packed_hamming_distances, to_words

            index.check_bits(codes.shape[1], "the query")
            distances = packed_hamming_distances(to_words(pack_codes(codes)), to_words(index.packed), index.bits)[0]
            positions = rank_by_distance(distances, top if radius is not None else (top or 10), radius)
            return positions, distances[positions], int(np.count_nonzero(distances == 0))
        exact = index.index_type == "flat"  # a ShardedIndex of flat shards is exact too
        if radius is None:
            k = top or 10
            positions, distances = index.search(codes, k)
            positions, distances = positions[0], distances[0]
            at_zero = int(np.count_nonzero(distances == 0))
            if exact and len(distances) == k and distances[-1] == 0:  # zeros may go on past the k-th
                at_zero = len(index.within_radius(codes, 0)[0][0])
        else:
            positions, distances = index.within_radius(codes, radius)[0]
            every_zero = int(np.count_nonzero(distances == 0))  # exact: all codes at 0 are within radius ≥ 0
            positions, distances = positions[:top], distances[:top]  # top=None keeps them all
            at_zero = every_zero if exact else int(np.count_nonzero(distances == 0))
        found = positions >= 0  # an approximate index may find fewer than `top`
        return positions[found], distances[found], at_zero

    def _query_labels(self, labels, tags, text, image_path) -> list[str] | None:
        if labels is not None:
            return [str(label) for label in labels]
        sources = self.sources()
        if sources is not None and (text is not None or image_path is not None):
            wanted = text.strip() if text is not None else Path(image_path).resolve()
            for source in sources:
                if text is not None and (source.get("text") or "").strip() == wanted:
                    return list(source.get("labels") or [])
                if image_path is not None and source.get("image") and Path(source["image"]).resolve() == wanted:
                    return list(source.get("labels") or [])
        names = self.index.label_names
        if tags is not None and names:
            named = [tag for tag in parse_tags(tags) if tag in names]
            return named or None
        return None

    def _item_source(self, row: int) -> dict:
        sources = self.sources()
        if sources is None or not 0 <= row < len(sources):
            return {}
        source = sources[row]
        return {"image_path": source.get("image"), "text": source.get("text")}


def rank_by_distance(distances: np.ndarray, top: int | None, radius: int | None) -> np.ndarray:
    """Positions of the answer from all distances: the `top` nearest, or those within `radius` (the first
    `top` of them when given), nearest first and ties in index order (a stable sort's order, in O(n))."""
    if radius is not None:
        chosen = np.flatnonzero(distances <= radius)
    else:
        k = min(int(top), len(distances))
        if k == 0:
            return np.zeros(0, np.int64)
        kth = np.partition(distances, k - 1)[k - 1]
        nearer = np.flatnonzero(distances < kth)
        chosen = np.concatenate([nearer, np.flatnonzero(distances == kth)[:k - len(nearer)]])
    positions = chosen[np.argsort(distances[chosen], kind="stable")]
    return positions[:top] if top is not None else positions
