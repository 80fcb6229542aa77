"""Faults of a real Milvus server: killed in the middle of `encode`'s inserts, and down while `serve` answers.

The server is the one `.ci/run` starts ($DCMH_MILVUS_DATA): it is killed (SIGKILL, as a crash) and started
again on its own data by `scripts/milvus_server.py`, which records the new pid where `.ci/run` stops it.
One restart (about 25 s here) serves both faults: while the server is down, the service is asked too.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from test_collection import trained_collection  # noqa: F401  (module-scoped: a tiny trained collection run)

pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'dcmh-tf[milvus]')")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import milvus_server as server_script  # noqa: E402


def test_server_killed_mid_insert_and_under_serve(trained_collection, milvus_server, collection_name):  # noqa: F811
    from fastapi.testclient import TestClient

    from dcmh_tf.retrieval import milvus
    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.searcher import Searcher, write_collection
    from dcmh_tf.retrieval.service import make_app

    run, npz = trained_collection / "run", trained_collection / "images.npz"
    uri = "milvus://" + milvus_server["uri"]
    reference = HammingIndex.load(npz)
    # a service on a complete collection of the same codes, up before the fault
    served_name = f"{collection_name}_served"
    write_collection(run, uri, served_name)
    client = TestClient(make_app(Searcher(run, milvus.MilvusIndex.open(uri, served_name))))
    assert client.get("/health").json()["status"] == "ok"
    before = client.post("/search", data={"tags": "经济", "k": "5"}).json()["results"]
    assert len(before) == 5

    # encode in batches of 2 rows; after the 3rd insert the server is killed, and started again 2 s later
    data, port = milvus_server["data"], int(milvus_server["uri"].rsplit(":", 1)[1])
    inserts, during_outage, restarts = [], {}, []
    original_insert = milvus.MilvusIndex.insert

    def restart():
        time.sleep(2)
        server_script.start(data, port, auth=bool(os.environ.get(milvus.TOKEN_ENV)))

    def insert_then_crash(self, *args, **kwargs):
        count = original_insert(self, *args, **kwargs)
        inserts.append(count)
        if len(inserts) == 3:
            server_script.kill(data)
            health = client.get("/health")
            found = client.post("/search", data={"tags": "经济", "k": "5"})
            during_outage.update(health=(health.status_code, health.json()), search=(found.status_code, found.json()))
            restarts.append(threading.Thread(target=restart, daemon=True))
            restarts[0].start()
        return count

    started = time.monotonic()
    try:
        milvus.MilvusIndex.insert = insert_then_crash
        index, written = write_collection(run, uri, collection_name, chunk_rows=2, retry_seconds=180)
    finally:
        milvus.MilvusIndex.insert = original_insert
        for thread in restarts:
            thread.join(timeout=180)  # the new pid is in the server's folder before the test ends
    assert len(inserts) > 3 and time.monotonic() - started > 2  # it went on after the outage
    # nothing lost, nothing twice: every row once, with the code the index file holds for it
    rows = index._query("position >= 0", ["id", "position", "code"])
    assert written == len(reference) == len(rows) == len(index)
    by_position = sorted(rows, key=lambda row: row["position"])
    assert [row["id"] for row in by_position] == reference.ids.tolist()
    codes = np.array([np.frombuffer(_code_bytes(row["code"]), np.uint8) for row in by_position])
    np.testing.assert_array_equal(codes, reference.packed)

    # while the server was down, the service said so, and answered queries with 503 and a message
    status, health = during_outage["health"]
    assert status == 503 and health["status"] == "unavailable" and "does not answer" in health["detail"]
    status, body = during_outage["search"]
    assert status == 503 and "does not answer" in body["detail"] and "try again" in body["detail"]
    # and it came back without a restart of the service
    assert client.get("/health").json()["status"] == "ok"
    after = client.post("/search", data={"tags": "经济", "k": "5"})
    assert after.status_code == 200 and after.json()["results"] == before


def _code_bytes(value) -> bytes:
    """A binary vector as pymilvus returns it from a query: bytes, or a list holding them."""
    if isinstance(value, (list, tuple)):
        value = value[0]
    return bytes(value)
