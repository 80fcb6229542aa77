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
from dcmh_tf.data.validation import check_output_file
from dcmh_tf.errors import ConfigError, DataError

LAYERS = ("full6", "full7")
POOL = "avg_pool"  # EfficientNet-Lite: the globally pooled head (1280-d), what its hash layer sees


def feature_model(image_encoder: keras.Model, layer: str = "full7") -> keras.Model:
    """The part of a CNN-F image encoder from its raw-pixel input to `layer`'s output (after ReLU); for an
    EfficientNet-Lite encoder, to its pooled head whatever `layer` says."""
    if any(candidate.name == POOL for candidate in image_encoder.layers):
        return keras.Model(image_encoder.input, image_encoder.get_layer(POOL).output, name=f"{image_encoder.name}_pool")
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

    weights = read_weight_file(path)  # read once: it sizes the model and is then loaded into it
    full6 = [weights.convs[name][0] for name in PRETRAINED_LAYERS["full6"] if name in weights.convs]
    model = make_cnnf(16, image_size, int(full6[0].shape[-1]) if full6 else 4096)
    return model, load_matconvnet_weights(model, weights)


def pretrained_efficientnet(backbone: str, weights: Path | None = None) -> tuple[keras.Model, list[str]]:
    """EfficientNet-Lite `backbone` at its own input size with ImageNet weights (the installed package's, or the
    PyTorch file `weights`), every layer frozen, and the loader's notes."""
    from dcmh_tf.models.efficientnet import load_imagenet_weights, make_efficientnet_lite

    model = make_efficientnet_lite(backbone, bits=16, freeze_stages=8)
    return model, load_imagenet_weights(model, backbone, weights)


def extract_features(model: keras.Model, images, rows: np.ndarray, *, batch_size: int = 64,
                     progress: bool = False) -> np.ndarray:
    """float32 (len(rows), d) features of `images[rows]` (pixels resized to the model's input)."""
    from dcmh_tf.evaluation.scoring import encode

    return np.asarray(encode(model, images, np.asarray(rows), batch_size, progress, description="CNN features"),
                      np.float32)  # no copy when already float32 (NUS-WIDE's full7: 3.2 GB)


def make_features_file(output: Path, *, run: Path | None = None, pretrained: Path | None = None,
                       handcrafted: bool = False, data_path: str | None = None, dataset: str | None = None,
                       layer: str = "full7", seed: int = 0, n_query: int | None = None, n_train: int | None = None,
                       pixels: str | None = None, words: int = 256, batch_size: int = 64, progress: bool = False,
                       backbone: str | None = None, note=lambda message: None) -> dict:
    """Write the features file `output` of a picture dataset with one extractor: the CNN-F of the
    DCMH `run` (on the run's dataset and split), a CNN-F of the ImageNet weights `pretrained`, or
    `handcrafted` features (both on the dataset at `data_path` with its protocol split), or the pooled
    features of the ImageNet EfficientNet-Lite `backbone` (`pretrained`: its weight file instead of the
    installed package's). Returns
    what was written: {"pictures", "dimensions", "database", "query", "train", "source", "layer"}."""
    from dcmh_tf.config import resolve_config
    from dcmh_tf.data.loading import load_dataset, make_split

    check_output_file(output, ".npz")  # before any work
    if (run is not None) + (pretrained is not None and backbone is None) + bool(handcrafted) + bool(backbone) != 1:
        raise ConfigError("give one extractor: --run RUN (a trained DCMH run), --pretrained imagenet-vgg-f.mat, "
                          "--backbone efficientnet-lite0 or --handcrafted.")
    split, model = None, None
    if run is not None:
        if dataset or n_query or n_train or data_path:
            raise ConfigError("with --run the dataset and split are the run's: drop PATH, --dataset, --n-query and "
                              "--n-train.")
        from dcmh_tf.run_directory import RunDirectory

        directory = RunDirectory.open(run)
        if directory.config.image_encoder == "mlp":
            raise DataError(f"{run} was trained on pre-extracted image features (image encoder "
                            f"{directory.config.image_encoder!r}); CNN features need a run trained on pictures.")
        config = directory.config.replace(pixels=pixels or directory.config.pixels, readers=1)
        image_encoder, _, epochs = directory.restore_encoders()
        model = feature_model(image_encoder, layer)
        split = directory.load_split()
        source = f"the image net of the DCMH run {run} (epoch {epochs}), trained on its {len(split.train)} pairs"
    else:
        option = "--backbone" if backbone else "--pretrained" if pretrained is not None else "--handcrafted"
        if data_path is None:
            raise ConfigError(f"with {option} give the dataset's PATH.")
        from dcmh_tf.data.info import detect_dataset

        config = resolve_config("paper", dataset=dataset or detect_dataset(data_path), data_path=data_path,
                                image_size=224, seed=seed, n_query=n_query, n_train=n_train, pixels=pixels)
        if backbone:
            from dcmh_tf.config import EFFICIENTNETS

            if backbone not in EFFICIENTNETS:
                raise ConfigError(f"backbone: expected one of {', '.join(EFFICIENTNETS)}, received {backbone!r}.")
            config = config.replace(image_size=EFFICIENTNETS[backbone])
            net, notes = pretrained_efficientnet(backbone, Path(pretrained) if pretrained else None)
            for line in notes:
                note(line)
            model, layer = feature_model(net), "pool"
            source = f"the ImageNet {backbone} (pooled head, fixed)"
        elif pretrained is not None:
            cnnf, notes = pretrained_cnnf(Path(pretrained))
            for line in notes:
                note(line)
            model = feature_model(cnnf, layer)
            source = f"a CNN-F of the ImageNet weights {pretrained}"
        else:
            layer, source = "hand-crafted", "HOG, HSV histogram and SIFT visual words of the training pictures"
    data = load_dataset(config)
    if data.image_kind != "pixels":
        raise DataError(f"{config.data_path} holds pre-extracted image features, not pictures.")
    split = split or make_split(config, data)
    if model is None:
        from dcmh_tf.data.picture_features import picture_features

        values = picture_features(data.images, split.train, words=words, seed=seed, progress=progress)
    else:
        values = extract_features(model, data.images, np.arange(len(data)), batch_size=batch_size, progress=progress)
    sizes = write_features_file(Path(output), values, data, split)
    return {**sizes, "pictures": len(data), "train": len(split.train), "source": source, "layer": layer}


def write_features_file(path: Path, features: np.ndarray, data: PairedData, split: Split) -> dict[str, int]:
    """Save the features of every item (`features` (n, d), row i = item i) with the texts and
    labels of `data` as a features file: database rows as the training set, queries as the test
    set. Returns the sizes written."""
    path = check_output_file(path, ".npz")
    texts, labels = np.asarray(data.texts, np.float32), np.asarray(data.labels, np.uint8)
    database, query = np.asarray(split.database), np.asarray(split.query)
    np.savez(path, I_tr=features[database], T_tr=texts[database], L_tr=labels[database],
             I_te=features[query], T_te=texts[query], L_te=labels[query])
    return {"database": len(database), "query": len(query), "dimensions": int(features.shape[1])}
