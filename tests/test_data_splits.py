"""Protocol splits: sizes, disjointness, seeds, the file's own split and splits that do not fit."""

import numpy as np
import pytest

from dcmh_tf.config import resolve_config
from dcmh_tf.data.paired import PairedData, Split
from dcmh_tf.data.splits import PROTOCOLS, make_split, subsample_split
from dcmh_tf.errors import DataError


def paired(n, file_split=None):
    return PairedData("x", np.zeros((n, 2), np.float32), np.zeros((n, 3), np.float32), np.ones((n, 1), np.uint8),
                      image_kind="features", file_split=file_split)


def test_paper_protocols():
    assert PROTOCOLS["mirflickr25k"] == PROTOCOLS["iapr-tc12"] == (2000, 10000)
    assert PROTOCOLS["nus-wide"] == (2100, 10500)


def test_mirflickr_protocol_split_is_seeded_and_disjoint():
    config = resolve_config("paper", dataset="mirflickr25k", data_path="x.mat")
    split = make_split(config, paired(20015))
    assert (len(split.query), len(split.database), len(split.train)) == (2000, 18015, 10000)
    assert not np.intersect1d(split.query, split.database).size
    assert np.isin(split.train, split.database).all()
    same = make_split(config, paired(20015))
    other = make_split(config.replace(seed=1), paired(20015))
    assert np.array_equal(split.query, same.query) and not np.array_equal(split.query, other.query)
    with pytest.raises(DataError, match=r"split larger than the data: 2000 queries \+ 10000 training pairs > 5000"):
        make_split(config, paired(5000))


def test_file_split_is_kept_or_subsampled():
    own = Split(query=np.arange(6, 9), database=np.arange(6), train=np.arange(6))
    config = resolve_config("wiki", data_path="x.mat")
    kept = make_split(config, paired(9, own))  # the wiki preset leaves the sizes to the file
    assert all(np.array_equal(getattr(kept, part), getattr(own, part)) for part in ("query", "database", "train"))
    smaller = subsample_split(own, 2, 4, seed=0)
    assert len(smaller.query) == 2 and set(smaller.query) <= {6, 7, 8}
    assert len(smaller.train) == 4 and np.array_equal(smaller.database, own.database)
    with pytest.raises(DataError, match="split larger than the data: 4 queries asked for, the file's split has 3"):
        subsample_split(own, 4, None, seed=0)


def test_split_round_trips_through_a_file(tmp_path):
    split = Split(query=np.array([4, 1]), database=np.array([0, 2, 3]), train=np.array([2]))
    split.save(tmp_path / "split.npz")
    loaded = Split.load(tmp_path / "split.npz")
    for part in ("query", "database", "train"):
        assert np.array_equal(getattr(loaded, part), getattr(split, part))
