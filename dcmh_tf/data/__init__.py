"""Datasets: readers, splits and tf.data pipelines."""

from __future__ import annotations

from dcmh_tf.data.paired import PairedData, Split, random_split

__all__ = ["PairedData", "Split", "random_split"]
