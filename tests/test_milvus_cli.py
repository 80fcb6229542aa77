"""`encode --to milvus://...`, `search --index milvus://...` on a real tiny run, against Milvus Lite and a real
server (`milvus_uri`), and the mistakes a user can make with them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from dcmh_tf.cli import main
from test_collection import trained_collection  # noqa: F401  (module-scoped: a tiny trained collection run)

pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'dcmh-tf[milvus]')")


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def searched(result):
    assert result.exit_code == 0, result.output
    return [(hit["id"], hit["distance"]) for hit in json.loads(result.stdout)["results"]]


def test_encode_to_milvus_then_search_answers_as_the_index_file(trained_collection, milvus_uri,  # noqa: F811
                                                                 collection_name):
    run, npz = trained_collection / "run", trained_collection / "images.npz"
    result = run_cli("encode", run, "--to", milvus_uri, "--collection", collection_name, "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"wrote 18 image codes of 8 bits into collection {collection_name}" in result.output
    for query in (["--tags", "经济"], ["--text", "经济增长的市场消息"]):
        for shape in (["--top", "7"], ["--radius", "8"]):
            from_file = searched(run_cli("search", run, "--index", npz, *query, *shape, "--json"))
            from_milvus = searched(run_cli("search", run, "--index", milvus_uri, "--collection", collection_name,
                                           *query, *shape, "--json"))
            assert from_milvus == from_file and from_file
    # a re-run resumes: nothing is missing, nothing is written twice
    again = run_cli("encode", run, "--to", milvus_uri, "--collection", collection_name, "--no-progress")
    assert again.exit_code == 0 and "wrote 0 image codes" in again.output and "18 held" in again.output
    # the label filter, done by the engine
    from dcmh_tf.data.collection import read_item_sources

    sources = read_item_sources(trained_collection / "prepared" / "COLLECTION.mat")
    label = sources[json.loads(run_cli("search", run, "--index", milvus_uri, "--collection", collection_name,
                                       "--tags", "经济", "--json").stdout)["results"][-1]["id"]]["labels"][0]
    found = run_cli("search", run, "--index", milvus_uri, "--collection", collection_name, "--tags", "经济",
                    "--label", label, "--top", "18", "--json")
    hits = json.loads(found.stdout)["results"]
    assert hits and all(label in hit["labels"] for hit in hits)
    from dcmh_tf.retrieval.index import HammingIndex

    database = HammingIndex.load(npz).ids
    assert len(hits) == sum(label in sources[row]["labels"] for row in database) < 18


def test_upsert_items_and_refusals(trained_collection, tmp_path, collection_name):  # noqa: F811
    """On Lite only: the refusals are the project's code, the same for a server (whose delete and upsert
    tests/test_milvus_backend.py runs), and each collection made on the server costs seconds."""
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'dcmh-tf[milvus]')")
    from dcmh_tf.retrieval.milvus import MilvusIndex

    milvus_uri = f"milvus://{tmp_path}/codes.db"

    run = trained_collection / "run"
    assert run_cli("encode", run, "--to", milvus_uri, "--collection", collection_name, "--no-progress").exit_code == 0
    index = MilvusIndex.open(milvus_uri, collection_name)
    item = int(index.find(np.ones((1, 8), np.int8), top=1)[0][0].id)
    deleted = run_cli("encode", run, "--to", milvus_uri, "--collection", collection_name, "--delete", f"{item},99999")
    assert deleted.exit_code == 0 and "deleted 1 of 2 items" in deleted.output and "(17 held)" in deleted.output
    assert len(index) == 17
    upsert = run_cli("encode", run, "--to", milvus_uri, "--collection", collection_name, "--items", "0,1,2")
    assert upsert.exit_code == 0, upsert.output
    assert "upserted 3 image codes" in upsert.output
    # a collection of another run is refused for writing (unless --replace) and for searching (unless
    # --allow-other-run); one of another code length always
    other = f"{collection_name}_other"
    MilvusIndex.create(milvus_uri, other, bits=8, modality="image", dataset="COLLECTION",
                       run={"path": "elsewhere", "fingerprint": "0" * 16}, rows=18)
    refused = run_cli("encode", run, "--to", milvus_uri, "--collection", other)
    assert refused.exit_code == 1 and "codes of run elsewhere" in refused.output and "--replace" in refused.output
    searched_other = run_cli("search", run, "--index", milvus_uri, "--collection", other, "--tags", "经济")
    assert searched_other.exit_code == 1 and "--allow-other-run" in searched_other.output
    assert run_cli("search", run, "--index", milvus_uri, "--collection", other, "--tags", "经济",
                   "--allow-other-run").exit_code == 0
    replaced = run_cli("encode", run, "--to", milvus_uri, "--collection", other, "--replace", "--no-progress")
    assert replaced.exit_code == 0 and "wrote 18" in replaced.output
    wide = f"{collection_name}_16"
    MilvusIndex.create(milvus_uri, wide, bits=16, modality="image", rows=1)
    result = run_cli("search", run, "--index", milvus_uri, "--collection", wide, "--tags", "经济")
    assert result.exit_code == 1 and "makes 8-bit codes but collection" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_to_without_the_milvus_scheme_is_refused_before_anything_is_read(tmp_path):
    """Encoding and deleting alike: exit 2 and the form expected, whatever the run (not read yet)."""
    for extra in ((), ("--delete", "1"), ("--items", "1")):
        result = run_cli("encode", tmp_path / "no-run", "--to", "milvus.db", *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert "expected milvus://FILE.db or milvus://http://HOST:PORT, received 'milvus.db'" in result.output
        assert "Traceback" not in result.output


def test_unreachable_server_wrong_token_and_bad_options(trained_collection, milvus_server, monkeypatch):  # noqa: F811
    run, npz = trained_collection / "run", trained_collection / "images.npz"
    for args, status, message in [
        (("search", run, "--index", "milvus://http://127.0.0.1:9", "--tags", "经济"), 1, "no Milvus server answers"),
        (("encode", run, "--to", "milvus://http://127.0.0.1:9"), 1, "no Milvus server answers"),
        (("encode", run, "--to", "milvus.db"), 2, "expected milvus://FILE.db"),
        (("encode", run, "--to", "milvus://x.db", "--collection", "1-bad"), 2, "expected a letter"),
        (("encode", run, "--to", "milvus://x.db", "--index-type", "hnsw"), 2, "flat (BIN_FLAT) or ivf"),
        (("encode", run, "--to", "milvus://x.db", "--output", "x.npz"), 2, "exactly one of --output"),
        (("encode", run, "--output", "x.npz", "--collection", "c"), 2, "--collection goes with --to"),
        (("encode", run, "--to", "milvus://x.db", "--delete", "a,b"), 2, "expected dataset rows"),
        (("search", run, "--index", npz, "--label", "sports", "--tags", "经济"), 2, "--label goes with --index milvus"),
    ]:
        result = run_cli(*args)
        assert result.exit_code == status, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    monkeypatch.setenv("DCMH_MILVUS_TOKEN", "root:wrong")
    result = run_cli("search", run, "--index", "milvus://" + milvus_server["uri"], "--tags", "经济")
    assert result.exit_code == 1 and "refused the connection with the token in $DCMH_MILVUS_TOKEN" in result.output
    assert len(result.output.strip().splitlines()) == 1
