"""Encode query and database sets with trained encoders and score cross-modal retrieval."""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from dcmh_tf.data.paired import PairedData, Split
from dcmh_tf.data.pipeline import make_dataset
from dcmh_tf.hashing import code_spread, sign_codes
from dcmh_tf.evaluation.metrics import DEFAULT_TOPK, mean_average_precision, retrieval_scores

# direction -> (query modality, database modality)
DIRECTIONS = {"i2t": ("image", "text"), "t2i": ("text", "image")}

# One compiled forward pass per encoder, traced once for every batch size: a fresh tf.function
# per call would retrace at each evaluation (and TF warns about it).
_FORWARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_forward(encoder: keras.Model):
    """The encoder's inference pass as a tf.function over float32 batches of any size."""
    forward = _FORWARDS.get(encoder)
    if forward is None:
        # A weak reference, so that the cache does not keep the encoder alive.
        encoder_ref = weakref.ref(encoder)
        spec = tf.TensorSpec((None,) + tuple(encoder.input_shape[1:]), tf.float32)
        forward = tf.function(lambda x: encoder_ref()(x, training=False), input_signature=[spec])
        _FORWARDS[encoder] = forward
    return forward


def encode(encoder: keras.Model, array, rows: np.ndarray, batch_size: int = 256, progress: bool = False,
           description: str = "encoding") -> np.ndarray:
    """Real-valued outputs (len(rows), c) of `encoder` for `array[rows]`, in the order of `rows`."""
    forward = compiled_forward(encoder)
    batches = make_dataset(array, rows, np.arange(len(rows)), batch_size)
    bar = tqdm(total=len(rows), desc=description, unit="item", disable=None if progress else True, leave=False)
    outputs = []
    for _, values in batches:
        outputs.append(forward(values).numpy())
        bar.update(len(outputs[-1]))
    bar.close()
    return np.concatenate(outputs) if outputs else np.zeros((0, encoder.output_shape[-1]), np.float32)


def encode_codes(encoder: keras.Model, array, rows: np.ndarray, batch_size: int = 256, progress: bool = False,
                 description: str = "encoding") -> np.ndarray:
    """±1 codes (len(rows), c) int8 of `array[rows]`: the sign of the encoder's outputs."""
    return sign_codes(encode(encoder, array, rows, batch_size, progress, description))


def encode_split(image_encoder, text_encoder, data: PairedData, split: Split, batch_size: int = 256,
                 progress: bool = False) -> dict[tuple[str, str], np.ndarray]:
    """{(part, modality): ±1 codes} for part in ("query", "database") and modality in ("image", "text").

    Each modality is encoded in one pass over the query rows followed by the database rows.
    """
    rows = np.concatenate([split.query, split.database])
    n_query = len(split.query)
    codes = {}
    for modality, encoder, array in (("image", image_encoder, data.images), ("text", text_encoder, data.texts)):
        both = encode_codes(encoder, array, rows, batch_size, progress, f"encoding {modality}s")
        codes["query", modality], codes["database", modality] = both[:n_query], both[n_query:]
    return codes


def evaluate_encoders(image_encoder, text_encoder, data: PairedData, split: Split, batch_size: int = 256, *,
                      detailed: bool = False, topk: int | None = DEFAULT_TOPK, progress: bool = False,
                      spread: bool = True) -> dict:
    """Cross-modal retrieval scores, queries against the database, codes = sign of the encoders' outputs.

    Returns {"map_i2t", "map_t2i", "n_query", "n_database", "codes"}: I→T ranks database texts for image
    queries, T→I database images for text queries. With `detailed`, also "topk" and "i2t" / "t2i":
    `RetrievalScores.to_dict()` of each direction (MAP@topk, P@N, precision / recall / F at radius
    0, 1, 2 and the hash-lookup precision-recall curve). "codes": {"image", "text"}:
    `dcmh_tf.hashing.code_spread` of the database codes of each modality (`collapse_warning` reads it),
    left out with `spread=False` (model selection, which keeps only the MAPs).
    """
    labels = np.asarray(data.labels)
    codes = encode_split(image_encoder, text_encoder, data, split, batch_size, progress)
    query_labels, db_labels = labels[split.query], labels[split.database]
    metrics: dict = {"n_query": int(len(split.query)), "n_database": int(len(split.database))}
    if spread:  # how spread the database codes are (`hashing.code_spread`): collapsed codes read here
        metrics["codes"] = {modality: code_spread(codes["database", modality]) for modality in ("image", "text")}
    for direction, (query_modality, db_modality) in DIRECTIONS.items():
        query_codes, db_codes = codes["query", query_modality], codes["database", db_modality]
        if detailed:
            scores = retrieval_scores(query_codes, db_codes, query_labels, db_labels, topk=topk, progress=progress)
            metrics[f"map_{direction}"] = scores.map
            metrics[direction] = scores.to_dict()
            metrics["topk"] = scores.topk
        else:
            metrics[f"map_{direction}"] = mean_average_precision(query_codes, db_codes, query_labels, db_labels)
    return metrics


def evaluate_run(path, topk: int | None = DEFAULT_TOPK, progress: bool = False, encoders=None) -> dict:
    """Detailed metrics (see `evaluate_encoders`) of the run in `path` from its last checkpoint, with
    "bits", "epoch" and "dataset"; also rewrites its metrics.json. Refuses (`RunLiveError`) a run that a
    fit is training: its checkpoint moves on, and metrics.json is the fit's to write. `encoders`: (image,
    text) encoders holding the run's weights already (a model in memory), instead of restoring them."""
    from dcmh_tf.data.loading import load_dataset
    from dcmh_tf.run_directory import RunDirectory

    run = RunDirectory.open(path)
    run.refuse_live("evaluate")
    data = load_dataset(run.config)
    split = run.load_split()
    if encoders is None:
        image_encoder, text_encoder, epochs_done = run.restore_encoders()
    else:
        (image_encoder, text_encoder), epochs_done = encoders, run.kept_epoch() or run.epochs_done()
    metrics = evaluate_encoders(image_encoder, text_encoder, data, split, run.config.batch_size,
                                detailed=True, topk=topk, progress=progress)
    metrics.update(bits=run.config.bits, epoch=epochs_done, dataset=run.config.dataset)
    run.write_metrics(metrics)
    return metrics
