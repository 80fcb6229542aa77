"""From a Config to the paired data and split of a run."""

from __future__ import annotations

from dcmh_tf.config import Config
from dcmh_tf.data.paired import PairedData, Split, random_split
from dcmh_tf.errors import ConfigError

DEMO_PAIRS = 2000
DEMO_DATA_SEED = 0  # the demo set is one fixed set; a run's seed changes its split and training

# dataset -> (queries, training pairs) of its published protocol
PROTOCOLS = {
    "demo": (200, 1000),
}


def load_dataset(config: Config) -> PairedData:
    """The paired data named by `config.dataset`."""
    if config.dataset == "demo":
        from dcmh_tf.data.synthetic import make_demo_data

        return make_demo_data(DEMO_PAIRS, image_size=config.image_size, seed=DEMO_DATA_SEED)
    raise ConfigError(f"unknown dataset {config.dataset!r}; expected one of {', '.join(PROTOCOLS)}.")


def make_split(config: Config, data: PairedData) -> Split:
    """The protocol split of `data`, sizes from the config or the dataset's protocol, seeded by the run."""
    default_query, default_train = PROTOCOLS.get(config.dataset, (None, None))
    n_query = config.n_query or default_query
    n_train = config.n_train or default_train
    if n_query is None or n_train is None:
        raise ConfigError(f"dataset {config.dataset!r} has no default split; set --n-query and --n-train.")
    return random_split(len(data), n_query, n_train, seed=config.seed)
