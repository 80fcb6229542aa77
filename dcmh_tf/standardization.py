"""The z-scoring rule of pre-extracted features, shared by the encoders' `FeatureStandardization` layer
and the shallow baselines' inputs, so that DCMH and the baselines see the same features."""

from __future__ import annotations

import numpy as np


def column_statistics(matrix) -> tuple[np.ndarray, np.ndarray]:
    """float64 (mean, std) of every column of `matrix` (n, d); a constant column gets std 1, so
    z-scoring only centres it instead of dividing by zero. The encoders' `FeatureStandardization`
    and the baselines' inputs share this rule, so DCMH and the baselines see the same features."""
    matrix = np.asarray(matrix)
    mean = matrix.mean(axis=0, dtype=np.float64)
    std = matrix.std(axis=0, dtype=np.float64)
    std[std < 1e-12] = 1.0
    return mean, std
