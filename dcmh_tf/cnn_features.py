"""CNN features of pictures: the baselines' second setting in the DCMH paper (Tables 5 and 6).

There the shallow methods are trained on the full7 activations (4096-d, after ReLU) of the CNN-F
that initialises DCMH's image net, used as a fixed feature extractor. The extractor comes from
ImageNet weights (MatConvNet's `imagenet-vgg-f.mat`, `--pretrained`) when a user has them, or from
the image net of a trained DCMH run (`--run`): that net was trained on the run's training pairs, so
the features file keeps the run's split, and its queries are pictures the extractor never saw.

The result is a features file in the layout `dcmh-tf compare` and `fit --dataset features` read
(`I_tr, T_tr, L_tr` the database, `I_te, T_te, L_te` the queries; dcmh_tf/data/features.py), so the
baselines run on it unchanged.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from dcmh_tf.data.paired import PairedData, Split
from dcmh_tf.errors import ConfigError, DataError

LAYERS = ("full6", "full7")


def feature_model(image_encoder: keras.Model, layer: str = "full7") -> keras.Model:
    """The part of a CNN-F image encoder from its raw-pixel input to `layer`'s output (after ReLU)."""
    if layer not in LAYERS:
        raise ConfigError(f"layer: expected one of {', '.join(LAYERS)}, received {layer!r}.")
    try:
        output = image_encoder.get_layer(layer).output
    except ValueError:
        raise ConfigError(f"the image encoder {image_encoder.name!r} has no layer {layer!r}: CNN features need a "
                          f"CNN-F image net (a run trained on pictures, not on pre-extracted features).") from None
    return keras.Model(image_encoder.input, output, name=f"{image_encoder.name}_{layer}")


def pretrained_cnnf(path: Path, image_size: int = 224) -> tuple[keras.Model, list[str]]:
    """A CNN-F with the ImageNet weights of the MatConvNet file `path` (its first seven layers; the
    hash layer is random and unused here), and the loader's notes. full6/full7 are as wide as the
    file's (4096 in imagenet-vgg-f.mat); the loader checks every other shape."""
    from dcmh_tf.models.cnnf import PRETRAINED_LAYERS, load_matconvnet_weights, make_cnnf
    from dcmh_tf.models.matconvnet import read_weight_file

    convs = read_weight_file(path).convs
    full6 = [convs[name][0] for name in PRETRAINED_LAYERS["full6"] if name in convs]
    model = make_cnnf(16, image_size, int(full6[0].shape[-1]) if full6 else 4096)
    return model, load_matconvnet_weights(model, path)


def extract_features(model: keras.Model, images, rows: np.ndarray, *, batch_size: int = 64,
                     progress: bool = False) -> np.ndarray:
    """float32 (len(rows), d) features of `images[rows]` (pixels resized to the model's input)."""
    from dcmh_tf.evaluation import encode

    return encode(model, images, np.asarray(rows), batch_size, progress, description="CNN features").astype(np.float32)


def write_features_file(path: Path, features: np.ndarray, data: PairedData, split: Split) -> dict[str, int]:
    """Save the features of every item (`features` (n, d), row i = item i) with the texts and
    labels of `data` as a features file: database rows as the training set, queries as the test
    set. Returns the sizes written."""
    path = Path(path)
    if path.suffix != ".npz":
        raise DataError(f"--output: expected a path ending in .npz, received {str(path)!r}.")
    if not path.parent.is_dir():
        raise DataError(f"--output: the folder {str(path.parent)!r} does not exist; create it first.")
    texts, labels = np.asarray(data.texts, np.float32), np.asarray(data.labels, np.uint8)
    database, query = np.asarray(split.database), np.asarray(split.query)
    np.savez(path, I_tr=features[database], T_tr=texts[database], L_tr=labels[database],
             I_te=features[query], T_te=texts[query], L_te=labels[query])
    return {"database": len(database), "query": len(query), "dimensions": int(features.shape[1])}
