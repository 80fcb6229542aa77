"""The paper's retrieval protocols: which items are queries, which form the database, which train.

MIRFLICKR-25K and IAPR TC-12: 2,000 random queries, the rest is the database, 10,000 training
pairs drawn from the database; NUS-WIDE: 2,100 queries and 10,500 training pairs. Sets that come
with their own train/test split (the Wikipedia features) keep it: queries = test, database =
training set = train. Everything is seeded by the run's seed; the run directory saves the indices.
"""

from __future__ import annotations

import numpy as np

from dcmh_tf.config import Config
from dcmh_tf.data.paired import PairedData, Split, random_split
from dcmh_tf.errors import ConfigError, DataError

# dataset -> (queries, training pairs) of its published protocol
PROTOCOLS: dict[str, tuple[int, int]] = {
    "demo": (200, 1000),
    "mirflickr25k": (2000, 10000),
    "iapr-tc12": (2000, 10000),
    "nus-wide": (2100, 10500),
}


def protocol_sizes(dataset: str) -> tuple[int | None, int | None]:
    """(queries, training pairs) of the dataset's protocol; (None, None) when it has none."""
    return PROTOCOLS.get(dataset, (None, None))


def make_split(config: Config, data: PairedData) -> Split:
    """The protocol split of `data`: the file's own split when it has one (sub-sampled when
    --n-query / --n-train ask for fewer), else a seeded random split of the protocol's sizes."""
    if data.file_split is not None:
        return subsample_split(data.file_split, config.n_query, config.n_train, config.seed)
    default_query, default_train = protocol_sizes(config.dataset)
    n_query = config.n_query or default_query
    n_train = config.n_train or default_train
    if n_query is None or n_train is None:
        raise ConfigError(f"dataset {config.dataset!r} has no default split and the file defines none; "
                          f"set --n-query and --n-train.")
    return random_split(len(data), n_query, n_train, seed=config.seed)


def subsample_split(split: Split, n_query: int | None, n_train: int | None, seed: int) -> Split:
    """`split` with `n_query` of its queries and `n_train` of its training items, drawn at random
    (seeded); None keeps them all. The database stays whole."""
    rng = np.random.default_rng(seed)
    query, train = split.query, split.train
    for name, rows, wanted in (("queries", query, n_query), ("training pairs", train, n_train)):
        if wanted is not None and wanted > len(rows):
            raise DataError(f"split larger than the data: {wanted} {name} asked for, the file's split has "
                            f"{len(rows)}; lower --n-query / --n-train.")
    if n_query is not None:
        query = np.sort(rng.choice(query, size=n_query, replace=False))
    if n_train is not None:
        train = np.sort(rng.choice(train, size=n_train, replace=False))
    return Split(query=query, database=split.database, train=train)
