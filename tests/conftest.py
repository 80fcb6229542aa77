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
        "demo", bits=8, hidden=32, epochs=3, batch_size=8, n_query=8, n_train=16, lr=1e-3, lr_end=1e-4, seed=3,
        jit=False,  # XLA compilation costs more than these tiny runs; test_training covers the jit path
    )


@pytest.fixture
def shared_data():
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def write_features_file():
    """Writes a train/test features file (48 train, 12 test pairs, 4 classes) with raw values far
    from z-scores: SIFT-like image features around 0.05 with one constant column (3), text features
    around -7 with spread 3, all multiplied by `scale`. Returns (images, texts) as stored, train first."""
    import numpy as np

    def write(path, scale: float = 1.0):
        rng = np.random.default_rng(7)
        labels = rng.integers(0, 4, 60)
        images = 0.01 * (rng.normal(size=(4, 20))[labels] + rng.normal(size=(60, 20))) + 0.05
        images[:, 3] = 0.02
        texts = 3.0 * (rng.normal(size=(4, 6))[labels] + rng.normal(size=(60, 6))) - 7
        images, texts = (scale * images).astype(np.float32), (scale * texts).astype(np.float32)
        np.savez(path, I_tr=images[:48], I_te=images[48:], T_tr=texts[:48], T_te=texts[48:],
                 L_tr=labels[:48], L_te=labels[48:])
        return images, texts

    return write


# Milvus ------------------------------------------------------------------------------------------
# A real Milvus server (PyPI `milvus`, started by `scripts/milvus_server.py`; `.ci/run` starts one) is found
# through $DCMH_MILVUS_DATA, the server's folder (milvus.uri, milvus.pid), and its token in $DCMH_MILVUS_TOKEN.
MILVUS_SKIP = ("no Milvus server: start one with `unshare --net` and `python scripts/milvus_server.py start --data "
               "DIR --auth`, then set DCMH_MILVUS_DATA=DIR and DCMH_MILVUS_TOKEN=root:Milvus (.ci/run does this)")


@pytest.fixture(scope="session")
def milvus_server():
    """{"uri": "http://127.0.0.1:PORT", "data": Path} of the test server; skipped without one, failed in CI."""
    import socket
    from urllib.parse import urlparse

    pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'dcmh-tf[milvus]')")
    data = os.environ.get("DCMH_MILVUS_DATA")
    reason = MILVUS_SKIP
    if data and (Path(data) / "milvus.uri").is_file():
        uri = (Path(data) / "milvus.uri").read_text().strip()
        parsed = urlparse(uri)
        try:
            socket.create_connection((parsed.hostname, parsed.port), timeout=3).close()
            return {"uri": uri, "data": Path(data)}
        except OSError as error:
            reason = f"the Milvus server of DCMH_MILVUS_DATA={data} does not answer at {uri}: {error}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must test against a real Milvus server: {reason}")
    pytest.skip(reason)


@pytest.fixture(params=["lite", "server"])
def milvus_uri(request, tmp_path):
    """A milvus:// location, once embedded Milvus Lite (a file under tmp_path), once the real server."""
    if request.param == "lite":
        pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'dcmh-tf[milvus]')")
        return f"milvus://{tmp_path}/codes.db"
    return "milvus://" + request.getfixturevalue("milvus_server")["uri"]


@pytest.fixture
def collection_name(request):
    """A collection name of this test, unique on the shared server."""
    import re
    import uuid

    return "t_" + re.sub(r"\W", "_", request.node.name)[:60] + "_" + uuid.uuid4().hex[:8]
