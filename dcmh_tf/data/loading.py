"""From a Config to the paired data and split of a run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dcmh_tf.config import Config
from dcmh_tf.data.paired import PairedData, Split
from dcmh_tf.data.splits import PROTOCOLS, make_split
from dcmh_tf.errors import ConfigError

DEMO_PAIRS = 2000
DEMO_DATA_SEED = 0  # the demo set is one fixed set; a run's seed changes its split and training

__all__ = ["PROTOCOLS", "load_dataset", "make_split", "PairedData", "Split"]


def load_dataset(config: Config) -> PairedData:
    """The paired data named by `config.dataset`, read from `config.data_path`."""
    if config.dataset == "demo":
        from dcmh_tf.data.synthetic import make_demo_data

        return make_demo_data(DEMO_PAIRS, image_size=config.image_size, seed=DEMO_DATA_SEED)
    if config.data_path is None:
        raise ConfigError(f"dataset {config.dataset!r} is read from a file; give its path with --data-path.")
    keys = {"images": config.images_key, "texts": config.texts_key, "labels": config.labels_key}
    if config.dataset == "features":
        from dcmh_tf.data.features import read_features

        return read_features(config.data_path, keys={**keys, "train": config.train_key, "query": config.query_key,
                                                     "orientation": config.items})
    from dcmh_tf.data.releases import RELEASES, load_release

    if config.dataset in RELEASES:
        data = load_release(RELEASES[config.dataset], config.data_path, image_size=config.image_size, keys=keys)
        if config.pixels is not None:
            from dcmh_tf.data.unpacked import open_unpacked

            images = open_unpacked(Path(config.pixels), data.images, Path(data.source["files"]["images"]))
            data = dataclasses.replace(data, images=images, source={**data.source, "pixels": str(config.pixels)})
        if config.readers > 1:
            data.images.use_readers(config.readers)
        return data
    raise ConfigError(f"unknown dataset {config.dataset!r}; expected one of demo, features, {', '.join(RELEASES)}.")
