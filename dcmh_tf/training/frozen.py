"""Frozen lower stages computed once: the activations at the top of the frozen part, for every item.

With `freeze_stages` N and `cache_frozen`, an EfficientNet-Lite's stem and stages 1..N never change during a
run (weights and BatchNorm statistics frozen), so their output for a picture is the same at every epoch.
Computing it once and training the layers above on it gives the same gradients as the full net on the
same pictures, at the cost of the top layers only. With every stage frozen (`freeze_stages` 8) what is
cached is the global pool's output, (n, 1280) for Lite0, not the 7×7×1280 map under it: the pool has no
weights, so the trained layers see the same numbers, and the cache is 49× smaller. Pictures are not flipped then (a flip would change
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

# activations up to this size are also kept on disk (cache folder/activations), so the next run on the same
# pictures with the same frozen stages reads them instead of computing them again
DISK_CACHE_LIMIT = 2 * 2**30


def activation_key(bottom: keras.Model, config: Config, n: int) -> str:
    """What the cached activations depend on: the frozen weights, the net's input size, the pictures' file and
    the activations' shape (the map of the head and the pool over it come from the same weights)."""
    import hashlib
    import os

    digest = hashlib.sha256()
    for weight in bottom.weights:
        digest.update(weight.path.encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    for path in (config.data_path, config.pixels):
        if path and os.path.exists(path):
            stat = os.stat(path)
            digest.update(f"{os.path.realpath(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    shape = tuple(int(s) for s in bottom.output.shape[1:])
    digest.update(f"{config.dataset}|{config.image_size}|{n}|{shape}".encode())
    return digest.hexdigest()[:24]


def uses_frozen_cache(config: Config) -> bool:
    return (config.image_encoder in EFFICIENTNETS and config.freeze_stages > 0 and config.cache_frozen
            and config.strategy == "default" and not config.mixed_precision)


def split_encoder(image_encoder: keras.Model, config: Config) -> tuple[keras.Model, keras.Model]:
    """(bottom, top) of the image encoder at the end of its frozen stages (past the global pool when every stage
    is frozen: `frozen_boundary`); they share its layers."""
    from dcmh_tf.models.efficientnet import frozen_boundary, split_at_layer

    return split_at_layer(image_encoder, frozen_boundary(image_encoder, config.freeze_stages))


def frozen_activations(bottom: keras.Model, data: PairedData, batch_size: int, echo=print,
                       config: Config | None = None) -> PairedData:
    """`data` with its pictures replaced by `bottom`'s float32 outputs, in row order: (n, h, w, channels), or
    (n, channels) when `bottom` ends with the global pool.

    With `config` (and the demo data excepted, which is made in memory), arrays up to `DISK_CACHE_LIMIT` are
    kept in the cache folder under a key of the frozen weights and the pictures' file, and read from there
    by the next run that has the same key."""
    started = time.perf_counter()
    n = len(data)
    rows = np.arange(n)
    shape = tuple(int(s) for s in bottom.output.shape[1:])
    nbytes = n * int(np.prod(shape)) * 4
    stored = None
    if config is not None and config.data_path and nbytes <= DISK_CACHE_LIMIT:
        from dcmh_tf.models.efficientnet import cache_folder

        stored = cache_folder() / "activations" / f"{activation_key(bottom, config, n)}.npy"
        if stored.is_file():
            try:
                out = np.load(stored)
            except (OSError, ValueError):
                out = None
            if out is not None and out.shape == (n,) + shape and out.dtype == np.float32:
                echo(f"frozen stages: activations {'×'.join(map(str, shape))} of {n} pictures read from {stored} "
                     f"({time.perf_counter() - started:.1f} s)")
                return dataclasses.replace(data, images=out, image_kind="features")
    out = np.empty((n,) + shape, np.float32)
    for positions, values in make_dataset(data.images, rows, rows, max(batch_size, 64)):
        out[positions.numpy()] = keras.ops.convert_to_numpy(bottom(values, training=False))
    seconds = time.perf_counter() - started
    echo(f"frozen stages: activations {'×'.join(map(str, shape))} of {n} pictures computed once in {seconds:.1f} s "
         f"({n / seconds:.1f} pictures/s, {out.nbytes / 2**20:.0f} MiB)")
    if stored is not None:
        try:
            stored.parent.mkdir(parents=True, exist_ok=True)
            partial = stored.with_name(stored.stem + f".{__import__('os').getpid()}.partial.npy")
            np.save(partial, out)
            partial.replace(stored)
        except OSError as error:  # a cache is a convenience: the run goes on without it
            echo(f"frozen stages: could not keep the activations in {stored.parent} ({error})")
    return dataclasses.replace(data, images=out, image_kind="features")
