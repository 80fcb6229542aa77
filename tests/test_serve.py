"""`dcmh-tf serve`: the HTTP API through FastAPI's test client, on a real tiny collection run."""

from __future__ import annotations

import io

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dcmh_tf.cli import main
from test_collection import trained_collection  # noqa: F401  (a module-scoped fixture: a tiny trained collection)


@pytest.fixture(scope="module")
def client(trained_collection):  # noqa: F811
    from fastapi.testclient import TestClient

    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.searcher import Searcher
    from dcmh_tf.retrieval.service import make_app, warm_up

    searcher = Searcher(trained_collection / "run", HammingIndex.load(trained_collection / "images.npz"))
    warm_up(searcher)
    return TestClient(make_app(searcher, max_upload_bytes=200_000, max_pixels=1_000_000))


def png_bytes(size=(30, 20), colour=(200, 30, 30), format="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), colour, np.uint8)).save(buffer, format=format)
    return buffer.getvalue()


def test_health_and_openapi(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["bits"] == 8 and health["index_modality"] == "image"
    assert set(health["queries"]) == {"text", "tags", "image"} and health["has_files"]
    schema = client.get("/openapi.json").json()
    assert {"/search", "/health", "/items/{item_id}/image", "/items/{item_id}/text"} <= set(schema["paths"])


def test_a_chinese_text_finds_pictures_with_urls_that_serve_the_collection_files(client, trained_collection):
    from dcmh_tf.data.collection import read_item_sources
    from dcmh_tf.retrieval.searcher import search_index
    from dcmh_tf.retrieval.index import HammingIndex

    response = client.post("/search", data={"text": "经济增长的市场消息 Zork", "k": "5"})
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["query"] == "text" and len(found["results"]) == 5 and "zork" in found["unknown_tags"]
    # the same ranking as the one-shot library call
    expected = search_index(trained_collection / "run", HammingIndex.load(trained_collection / "images.npz"),
                            text="经济增长的市场消息 Zork", top=5)
    assert [(h["id"], h["distance"]) for h in found["results"]] == [
        (h["id"], h["distance"]) for h in expected["results"]]
    sources = read_item_sources(trained_collection / "prepared" / "COLLECTION.mat")
    hit = found["results"][0]
    assert hit["rank"] == 1 and hit["labels"] == sources[hit["id"]]["labels"]
    picture = client.get(hit["image_url"])
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    with open(sources[hit["id"]]["image"], "rb") as f:
        assert picture.content == f.read()
    text = client.get(hit["text_url"])
    assert text.status_code == 200 and text.text == sources[hit["id"]]["text"] and "新闻" in text.text
    assert "charset=utf-8" in text.headers["content-type"]


def test_radius_and_picture_queries(client):
    within = client.post("/search", data={"text": "经济增长", "radius": "8"}).json()["results"]
    assert len(within) == client.get("/health").json()["items"] == 18 and [h["distance"] for h in within] == sorted(h["distance"] for h in within)
    response = client.post("/search", files={"image": ("red.png", png_bytes(), "image/png")}, data={"k": "3"})
    assert response.status_code == 200, response.text
    assert response.json()["query"] == "image" and len(response.json()["results"]) == 3
    response = client.post("/search", data={"tags": "经济 zork"})
    assert response.status_code == 200, response.text
    assert response.json()["query"] == "tags" and response.json()["unknown_tags"] == ["zork"]


def test_paging_continues_the_ranking_and_says_when_there_is_more(client):
    whole = client.post("/search", data={"text": "经济增长", "k": "18"}).json()
    assert len(whole["results"]) == 18 and whole["has_more"] is False
    pages, offset = [], 0
    while True:
        page = client.post("/search", data={"text": "经济增长", "k": "5", "offset": str(offset)}).json()
        pages.append(page)
        offset += 5
        if not page["has_more"]:
            break
    assert [len(page["results"]) for page in pages] == [5, 5, 5, 3] and pages[0]["offset"] == 0
    assert [hit for page in pages for hit in page["results"]] == whole["results"]  # ranks, ids, distances as one list
    response = client.post("/search", data={"text": "经济增长", "offset": "-1"})
    assert response.status_code == 422 and "offset: expected 0 to 100000, received -1" in response.json()["detail"]


def test_query_labels_mark_the_results_and_give_the_precision_of_the_page(client):
    found = client.post("/search", data={"text": "足球比赛", "k": "10", "labels": "sport"}).json()
    assert found["query_labels"] == ["sport"]
    marks = [hit["shares_label"] for hit in found["results"]]
    assert marks == ["sport" in hit["labels"] for hit in found["results"]]
    assert found["precision"] == pytest.approx(sum(marks) / len(marks))
    unknown = client.post("/search", data={"text": "足球比赛"}).json()  # the query's labels unknown: nothing marked
    assert unknown["query_labels"] is None and unknown["precision"] is None
    assert not any("shares_label" in hit or "image_path" in hit for hit in unknown["results"])
    response = client.post("/search", data={"text": "足球比赛", "labels": "sport, weather"})
    assert response.status_code == 422
    assert response.json()["detail"] == "labels: expected names among economy, sport; received 'weather'."


def test_health_gives_the_collection_language_and_its_labels(client):
    health = client.get("/health").json()
    assert health["language"] == "zh" and health["pictures_note"] is None
    assert sorted(health["label_names"]) == ["economy", "sport"]


def test_a_run_without_picture_files_says_why(tmp_path, trained_collection):  # noqa: F811
    from fastapi.testclient import TestClient

    from dcmh_tf.data.collection import read_item_sources
    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.searcher import Searcher
    from dcmh_tf.retrieval.service import ItemFiles, make_app

    searcher = Searcher(trained_collection / "run", HammingIndex.load(trained_collection / "images.npz"))
    moved = [dict(source, image=str(tmp_path / "gone.jpg"))  # the raw folder moved after preparing
             for source in read_item_sources(trained_collection / "prepared" / "COLLECTION.mat")]
    health = TestClient(make_app(searcher, ItemFiles(moved))).get("/health").json()
    assert health["pictures_note"].startswith("No pictures to show: the collection's picture files are not where")
    health = TestClient(make_app(searcher, ItemFiles(None))).get("/health").json()
    assert health["pictures_note"] == ("No pictures to show: the collection dataset of this run has no picture "
                                       "files (only arrays), so results are listed by item, labels and distance.")


def bomb() -> bytes:
    # a 2000×2000 PNG of one colour compresses to a few KB but decodes to 4M pixels (limit 1M here)
    return png_bytes(size=(2000, 2000))


@pytest.mark.parametrize("request_kwargs, status, message", [
    ({"files": {"image": ("x.png", b"this is not a picture", "image/png")}}, 415, "not a PNG, JPEG, GIF or BMP"),
    ({"files": {"image": ("x.png", png_bytes(format="JPEG")[:200], "image/jpeg")}}, 400, "truncated"),
    ({"files": {"image": ("x.png", b"", "image/png")}}, 400, "empty"),
    ({"files": {"image": ("x.bmp", png_bytes(size=(300, 300), format="BMP"), "image/bmp")}}, 413, "the limit is 200000"),
    ({"files": {"image": ("x.png", bomb(), "image/png")}}, 413, "decompression bomb"),
    ({"files": {"image": ("x.tif", png_bytes(format="TIFF"), "image/tiff")}}, 415, "TIFF"),
    ({"data": {"text": "   "}}, 400, "empty"),
    ({"data": {"text": "Zork"}}, 422, "no token of the text"),
    ({"data": {"text": "经济", "k": "0"}}, 422, "k: expected 1 to 1000, received 0"),
    ({"data": {"text": "经济", "k": "5000"}}, 422, "k: expected 1 to 1000"),
    ({"data": {"text": "经济", "k": "many"}}, 422, "k"),
    ({"data": {"text": "经济", "radius": "9"}}, 422, "radius: expected 0 to 8"),
    ({"data": {"text": "经济", "tags": "x"}}, 400, "exactly one of the fields"),
    ({"data": {"k": "3"}}, 400, "received none"),
])
def test_bad_requests_get_a_clear_4xx(client, request_kwargs, status, message):
    response = client.post("/search", **request_kwargs)
    assert response.status_code == status, response.text
    assert message in str(response.json()["detail"])


def test_items_serve_only_the_collection_files(client):
    assert client.get("/items/999/image").status_code == 404
    assert client.get("/items/-1/text").status_code == 404
    for url in ("/items/..%2F..%2Fetc%2Fpasswd/image", "/items/0/image/../../../etc/passwd", "/items/1e3/text",
                "/items/%2Fetc%2Fpasswd/text"):
        response = client.get(url)  # ids are integers looked up in the sources list, never paths
        assert response.status_code in (404, 422) and "root:" not in response.text


def test_the_page_has_a_text_box_and_a_drop_zone(client):
    page = client.get("/")
    assert page.status_code == 200 and 'charset="utf-8"' in page.text
    assert 'id="query"' in page.text and 'id="drop"' in page.text and 'id="results"' in page.text


def test_help_says_it_binds_to_loopback():
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "127.0.0.1" in result.output and "loopback" in result.output


def busy_socket():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def serve_process(*arguments):
    import os
    import subprocess
    import sys
    from pathlib import Path

    environment = {key: value for key, value in os.environ.items() if key != "DCMH_TF_VERBOSE"}
    return subprocess.Popen([str(Path(sys.executable).with_name("dcmh-tf")), "serve", *map(str, arguments)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)


def test_a_busy_port_is_refused_in_one_line_before_anything_is_loaded(tmp_path):
    with busy_socket() as taken:
        port = taken.getsockname()[1]
        # RUN and --index do not exist: the port is checked first, so the message is about the port
        server = serve_process(tmp_path / "no-run", "--index", tmp_path / "no.npz", "--port", port)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"Error: port {port} on 127.0.0.1 is in use by another program; serve on another "
                               f"port with --port ")
    suggested = int(lines[0].split("--port ")[1].split()[0].rstrip("."))
    import socket

    with socket.socket() as probe:  # the suggested port is one that can be bound
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", suggested))


def test_listen_refuses_an_unknown_host_and_holds_the_port_it_announces():
    import socket

    from dcmh_tf.retrieval.listening import PortError, listen

    with pytest.raises(PortError, match=r"--host no-such-host\.invalid: expected an address of this machine"):
        listen("no-such-host.invalid", 8000)
    with busy_socket() as taken:
        free = taken.getsockname()[1]
    sock = listen("127.0.0.1", free)
    try:
        with pytest.raises(PortError, match=f"port {free} on 127.0.0.1 is in use"):
            listen("127.0.0.1", free)  # ours now: nothing else can take it between the check and the server
        with socket.create_connection(("127.0.0.1", free), timeout=5):
            pass  # and it accepts connections (the backlog) before the server runs
    finally:
        sock.close()


def test_serve_answers_on_the_port_it_checked(trained_collection):  # noqa: F811
    import httpx

    with busy_socket() as taken:
        port = taken.getsockname()[1]
    server = serve_process(trained_collection / "run", "--index", trained_collection / "images.npz", "--port", port)
    try:
        lines = []
        for line in server.stderr:  # "serving ..." is printed once the encoders are loaded, just before serving
            lines.append(line)
            if line.startswith("serving"):
                break
        assert lines and lines[-1].startswith(f"serving 18 image codes on http://127.0.0.1:{port}/"), lines
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=60).json()
        assert health["status"] == "ok" and health["items"] == 18
    finally:
        server.terminate()
        server.communicate(timeout=60)
