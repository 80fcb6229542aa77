"""Frozen lower stages computed once: the activations at the top of the frozen part, for every item.

With `freeze_stages` N and `cache_frozen`, an EfficientNet-Lite's stem and stages 1..N never change during a
run (weights and BatchNorm statistics frozen), so their output for a picture is the same at every epoch.
Computing it once and training the layers above on it gives the same gradients as the full net on the
same pictures, at the cost of the top layers only. Pictures are not flipped then (a flip would change
the cached input); the full model, which shares the top's layers, is what the run saves and exports.
"""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np

from dcmh_tf.config import EFFICIENTNETS, Config
from dcmh_tf.data.paired import PairedData
from dcmh_tf.data.pipeline import make_dataset


def uses_frozen_cache(config: Config) -> bool:
    return (config.image_encoder in EFFICIENTNETS and config.freeze_stages > 0 and config.cache_frozen
            and config.strategy == "default" and not config.mixed_precision)


def split_encoder(image_encoder: keras.Model, config: Config) -> tuple[keras.Model, keras.Model]:
    """(bottom, top) of the image encoder at the end of its frozen stages; they share its layers."""
    from dcmh_tf.models.efficientnet import split_at_stage

    return split_at_stage(image_encoder, config.freeze_stages)


def frozen_activations(bottom: keras.Model, data: PairedData, batch_size: int, echo=print) -> PairedData:
    """`data` with its pictures replaced by `bottom`'s float32 outputs (n, h, w, channels), in row order."""
    started = time.perf_counter()
    n = len(data)
    rows = np.arange(n)
    shape = tuple(int(s) for s in bottom.output.shape[1:])
    out = np.empty((n,) + shape, np.float32)
    for positions, values in make_dataset(data.images, rows, rows, max(batch_size, 64)):
        out[positions.numpy()] = keras.ops.convert_to_numpy(bottom(values, training=False))
    seconds = time.perf_counter() - started
    echo(f"frozen stages: activations {'×'.join(map(str, shape))} of {n} pictures computed once in {seconds:.1f} s "
         f"({n / seconds:.1f} pictures/s, {out.nbytes / 2**20:.0f} MiB)")
    return dataclasses.replace(data, images=out, image_kind="features")
