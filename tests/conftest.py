"""Shared fixtures: tiny configurations and the path of the real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def tiny_config():
    """A demo configuration that trains in seconds: tiny heads, 16 training pairs, 8 queries."""
    from dcmh_tf.config import resolve_config

    return resolve_config(
        "demo", bits=8, hidden=32, epochs=3, batch_size=8, n_query=8, n_train=16, lr=1e-3, lr_end=1e-4, seed=3
    )


@pytest.fixture
def shared_data():
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA
