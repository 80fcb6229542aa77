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


# automatic validation size (config.n_validation None with eval_every > 0): this share of the database, at most
AUTO_VALIDATION_SHARE, AUTO_VALIDATION_MAX = 0.1, 1000


def make_split(config: Config, data: PairedData) -> Split:
    """The protocol split of `data`: the file's own split when it has one (sub-sampled when
    --n-query / --n-train ask for fewer), else a seeded random split of the protocol's sizes;
    then the validation queries carved from its database (`carve_validation`)."""
    split = _protocol_split(config, data)
    return carve_validation(split, validation_size(config, len(split.database)), config.seed)


def validation_size(config: Config, n_database: int) -> int:
    """Validation queries of a run: `config.n_validation`, or when it is None and the run evaluates
    during training (eval_every > 0), 10 % of the database (at most 1,000); else none."""
    if config.n_validation is not None:
        return config.n_validation
    if not config.eval_every:
        return 0
    return max(1, min(AUTO_VALIDATION_MAX, round(AUTO_VALIDATION_SHARE * n_database)))


def carve_validation(split: Split, n_validation: int, seed: int) -> Split:
    """`split` with `n_validation` validation queries drawn (seeded) from its database, never from
    its queries: database rows outside the training set first (the training set then stays whole,
    as with MIRFLICKR's 10,000 of 18,015); when there are too few (Wikipedia, whose database is its
    training set) the rest are drawn from the training set and leave it, so that the model never
    trains on the items it is selected with. The database itself stays whole."""
    if n_validation == 0:
        return split
    spare = np.setdiff1d(split.database, split.train)
    if n_validation >= len(split.database) or n_validation > len(spare) + len(split.train) - 1:
        raise DataError(f"validation split larger than the data: {n_validation} validation queries asked for, the "
                        f"database has {len(split.database)} rows ({len(split.train)} of them training pairs, at least "
                        f"one of which must stay); lower --n-validation.")
    rng = np.random.default_rng([seed, 2])
    from_spare = rng.choice(spare, size=min(n_validation, len(spare)), replace=False)
    from_train = rng.choice(split.train, size=n_validation - len(from_spare), replace=False)
    validation = np.sort(np.concatenate([from_spare, from_train]).astype(split.database.dtype))
    return Split(query=split.query, database=split.database, train=np.setdiff1d(split.train, from_train),
                 validation=validation)


def _protocol_split(config: Config, data: PairedData) -> Split:
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
