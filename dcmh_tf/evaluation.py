"""Encode query and database sets with trained encoders and score cross-modal retrieval."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from dcmh_tf.data.paired import PairedData, Split
from dcmh_tf.data.pipeline import make_dataset
from dcmh_tf.hashing import sign_codes
from dcmh_tf.metrics import mean_average_precision


def encode(encoder: keras.Model, array, rows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Real-valued outputs (len(rows), c) of `encoder` for `array[rows]`, in the order of `rows`."""
    forward = tf.function(lambda x: encoder(x, training=False), reduce_retracing=True)
    batches = make_dataset(array, rows, np.arange(len(rows)), batch_size)
    outputs = [forward(values).numpy() for _, values in batches]
    return np.concatenate(outputs) if outputs else np.zeros((0, encoder.output_shape[-1]), np.float32)


def evaluate_encoders(image_encoder, text_encoder, data: PairedData, split: Split, batch_size: int = 256) -> dict:
    """MAP of Hamming ranking, queries against the database, codes = sign of the encoders' outputs.

    Returns {"map_i2t", "map_t2i", "n_query", "n_database"}: I→T ranks database texts for image
    queries, T→I database images for text queries.
    """
    labels = np.asarray(data.labels)
    codes = {}
    for part in ("query", "database"):
        rows = getattr(split, part)
        codes[part, "image"] = sign_codes(encode(image_encoder, data.images, rows, batch_size))
        codes[part, "text"] = sign_codes(encode(text_encoder, data.texts, rows, batch_size))
    query_labels, db_labels = labels[split.query], labels[split.database]
    return {
        "map_i2t": mean_average_precision(codes["query", "image"], codes["database", "text"], query_labels, db_labels),
        "map_t2i": mean_average_precision(codes["query", "text"], codes["database", "image"], query_labels, db_labels),
        "n_query": int(len(split.query)),
        "n_database": int(len(split.database)),
    }


def evaluate_run(path) -> dict:
    """Metrics of the run in `path` from its last checkpoint; also rewrites its metrics.json."""
    from dcmh_tf.data.loading import load_dataset
    from dcmh_tf.run_directory import RunDirectory

    run = RunDirectory.open(path)
    data = load_dataset(run.config)
    split = run.load_split()
    image_encoder, text_encoder, epochs_done = run.restore_encoders()
    metrics = evaluate_encoders(image_encoder, text_encoder, data, split, run.config.batch_size)
    metrics.update(bits=run.config.bits, epoch=epochs_done, dataset=run.config.dataset)
    run.write_metrics(metrics)
    return metrics
