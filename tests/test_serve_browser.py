"""End to end: the page of `dcmh-tf serve` in a real headless chromium (Debian's, driven by Playwright),
on a tiny trained collection. Skipped, saying why, when chromium or Playwright is absent; .ci/run installs both."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

from test_collection import trained_collection  # noqa: F401

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def server(trained_collection):  # noqa: F811
    import uvicorn

    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.searcher import Searcher
    from dcmh_tf.retrieval.service import make_app, warm_up

    searcher = Searcher(trained_collection / "run", HammingIndex.load(trained_collection / "images.npz"))
    warm_up(searcher)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(searcher), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # bounded: 20 s
        if server.started:
            break
        time.sleep(0.1)
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_page_answers_a_chinese_text_with_thumbnails(server, trained_collection, tmp_path):  # noqa: F811
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (.ci/run installs it)")
    if not shutil.which("chromium") and not shutil.os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(server + "/")
            page.fill("#query", "经济增长的市场消息")
            page.click("button[type=submit]")
            page.wait_for_selector("#results .hit img", timeout=20_000)
            hits = page.locator("#results .hit")
            assert hits.count() == 12
            first = hits.nth(0).inner_text()
            assert "#1" in first and "distance" in first and "新闻" in first  # the Chinese text shows as Chinese
            assert page.evaluate("document.querySelector('#results img').naturalWidth") > 0  # the thumbnail loaded
            page.screenshot(path=str(tmp_path / "page.png"))
            # an uploaded picture (the drop zone's file input takes the same path)
            page.set_input_files("#file", str(next((trained_collection / "table" / "pics").glob("*.jpg"))))
            page.wait_for_function("document.querySelector('#summary').textContent.includes('image query')",
                                   timeout=20_000)
            assert page.locator("#results .hit img").count() == 12
        finally:
            browser.close()
