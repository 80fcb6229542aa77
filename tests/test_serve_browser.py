"""End to end: the page of `dcmh-tf serve` in a real headless chromium (Debian's, driven by Playwright),
served by uvicorn on loopback, on tiny trained runs: a collection with long Chinese texts, and a demo run
(no picture files). Skipped, saying why, when chromium or Playwright is absent; .ci/run installs both.

What the page must do (issue 23): show the uploaded picture; open a result to its full picture and its
whole text; mark results that share the query's label and give the precision of what is shown; "more";
the collection's language on its texts; one line instead of a bare list on a run without pictures."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time

import pytest
from PIL import Image

from test_collection import WORDS, make_trained_collection

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def long_text(category: str, seed: int) -> str:
    """A headline and a body of about 100 characters: longer than the 60 the result grid shows."""
    words = WORDS[category]
    return (f"{words[seed % 3]}，{words[(seed + 1) % 3]}新闻{seed}。" + f"记者报道，{words[(seed + 2) % 3]}的消息传来，" * 6
            + f"全文完{seed}")


@pytest.fixture(scope="module")
def long_collection(tmp_path_factory):
    return make_trained_collection(tmp_path_factory.mktemp("browser"), text=long_text)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A tiny demo run (2 epochs, 8 bits) and its index: a dataset without picture files."""
    from dcmh_tf.config import resolve_config
    from dcmh_tf.retrieval.searcher import build_index
    from dcmh_tf.training.trainer import fit

    root = tmp_path_factory.mktemp("demo-browser")
    config = resolve_config("demo", bits=8, hidden=32, epochs=2, batch_size=8, n_query=8, n_train=16, lr=1e-3,
                            lr_end=1e-4, seed=3, jit=False)
    fit(config, root / "run", progress=False, echo=lambda message: None)
    build_index(root / "run", modality="image").save(root / "images.npz")
    return root


@contextlib.contextmanager
def serving(root):
    """uvicorn on 127.0.0.1 (a free port) in a thread, answering with the run and index in `root`."""
    import uvicorn

    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.searcher import Searcher
    from dcmh_tf.retrieval.service import make_app, warm_up

    searcher = Searcher(root / "run", HammingIndex.load(root / "images.npz"))
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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (.ci/run installs it)")
    if not shutil.which("chromium") and not shutil.os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def collection_page(long_collection):
    with serving(long_collection) as url:
        yield url


def sources_of(root):
    from dcmh_tf.data.collection import read_item_sources

    return read_item_sources(root / "prepared" / "COLLECTION.mat")


def text_query(page, url, text, label=""):
    page.goto(url + "/")
    page.wait_for_function("document.querySelector('#about').textContent.length > 0")
    page.fill("#query", text)
    page.select_option("#labels", label)
    page.click("button[type=submit]")
    page.wait_for_function("document.querySelector('#summary').textContent.includes('results for')", timeout=20_000)


def test_a_chinese_text_gives_thumbnails_with_texts_cut_in_the_grid_and_marked_as_chinese(browser, collection_page,
                                                                                          long_collection):
    page = browser.new_page()
    text_query(page, collection_page, "经济增长的市场消息")
    hits = page.locator("#results .hit")
    assert hits.count() == 12
    first = hits.nth(0).inner_text()
    assert "#1" in first and "distance" in first and "新闻" in first  # the Chinese text shows as Chinese
    assert page.evaluate("document.querySelector('#results img').naturalWidth") > 0  # the thumbnail loaded
    snippet = hits.nth(0).locator(".snippet")
    assert len(snippet.inner_text()) == 61 and snippet.inner_text().endswith("…")  # 60 characters and "…"
    assert snippet.get_attribute("lang") == "zh" and page.get_attribute("#query", "lang") == "zh"
    assert page.get_attribute("html", "lang") == "en"  # the page's own words are English
    assert not page.locator("#note").is_visible()  # this run has pictures: no note


def test_the_uploaded_picture_is_shown_beside_its_results(browser, collection_page, long_collection):
    page = browser.new_page()
    page.goto(collection_page + "/")
    picture = sorted((long_collection / "table" / "pics").glob("*.jpg"))[0]
    page.set_input_files("#file", str(picture))
    page.wait_for_function("document.querySelector('#summary').textContent.includes('image query')", timeout=20_000)
    shown = page.locator("#query-picture")
    assert shown.is_visible() and shown.get_attribute("src").startswith("blob:")
    width, height = page.evaluate("[document.querySelector('#query-picture').naturalWidth, "
                                  "document.querySelector('#query-picture').naturalHeight]")
    with Image.open(picture) as original:
        assert (width, height) == original.size  # the very file that was uploaded
    assert page.locator("#results .hit img").count() == 12
    page.fill("#query", "经济")  # a text query hides it again
    page.click("button[type=submit]")
    page.wait_for_function("document.querySelector('#summary').textContent.includes('text query')", timeout=20_000)
    assert not shown.is_visible()


def test_a_result_opens_to_its_full_picture_and_whole_text(browser, collection_page, long_collection):
    page = browser.new_page()
    text_query(page, collection_page, "篮球运动员")
    page.locator("#results .hit").nth(2).click()
    dialog = page.locator("#item")
    dialog.wait_for(state="visible")
    caption = page.inner_text("#item-caption")
    item = int(caption.split("item ")[1].split()[0])
    source = sources_of(long_collection)[item]
    page.wait_for_function("document.querySelector('#full-picture').complete && "
                           "document.querySelector('#full-picture').naturalWidth > 0")
    with Image.open(source["image"]) as original:
        assert page.evaluate("[document.querySelector('#full-picture').naturalWidth, "
                             "document.querySelector('#full-picture').naturalHeight]") == list(original.size)
    page.wait_for_function("document.querySelector('#full-text').textContent.length > 60")
    assert page.inner_text("#full-text") == source["text"] and len(source["text"]) > 60  # whole, not cut
    assert page.get_attribute("#full-text", "lang") == "zh"
    page.click("#close")
    dialog.wait_for(state="hidden")


def expected_precision(hits_text: list[str], label: str) -> tuple[int, int]:
    """(sharing, shown) counted from the captions the page shows ("… · sport")."""
    sharing = sum(caption.split("\n")[0].rsplit(" · ", 1)[1].split(", ").count(label) > 0 for caption in hits_text)
    return sharing, len(hits_text)


def test_results_sharing_the_query_label_are_marked_and_the_precision_of_the_page_given(browser, collection_page):
    page = browser.new_page()
    text_query(page, collection_page, "足球比赛", label="sport")
    hits = page.locator("#results .hit")
    captions = [hits.nth(i).inner_text() for i in range(hits.count())]
    sharing, shown = expected_precision(captions, "sport")
    assert 0 < sharing < shown  # both kinds on the page, so both marks are checked
    assert page.locator("#results .hit.match").count() == sharing
    assert page.locator("#results .hit.miss").count() == shown - sharing
    for i, caption in enumerate(captions):
        matches = "sport" in caption.split("\n")[0].rsplit(" · ", 1)[1]
        assert ("✓ shares the query's label" in caption) == matches
        assert ("match" in hits.nth(i).get_attribute("class")) == matches
    assert page.inner_text("#precision") == (f"precision of the {shown} shown: {sharing / shown:.2f} ({sharing} share "
                                             f"a label with the query: sport)")


def test_more_pages_on_and_the_precision_follows_what_is_shown(browser, collection_page):
    page = browser.new_page()
    page.goto(collection_page + "/")
    page.wait_for_function("document.querySelector('#about').textContent.length > 0")
    page.fill("#k", "5")
    page.fill("#query", "银行的市场")
    page.select_option("#labels", "economy")
    page.click("button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#results .hit').length === 5", timeout=20_000)
    for expected in (10, 15, 18):  # 18 pictures in the index: 5, 10, 15, then the last 3
        assert page.locator("#more").is_visible()
        page.click("#more")
        page.wait_for_function(f"document.querySelectorAll('#results .hit').length === {expected}", timeout=20_000)
    hits = page.locator("#results .hit")
    captions = [hits.nth(i).inner_text() for i in range(hits.count())]
    ranks = [int(caption.split("#")[1].split()[0]) for caption in captions]
    items = [caption.split("item ")[1].split()[0] for caption in captions]
    assert ranks == list(range(1, 19)) and len(set(items)) == 18  # pages continue, no item twice
    assert not page.locator("#more").is_visible()  # nothing more to show
    sharing, shown = expected_precision(captions, "economy")
    assert page.inner_text("#precision").startswith(f"precision of the 18 shown: {sharing / shown:.2f} ({sharing} share")


def test_an_opened_result_searches_with_its_text_and_label(browser, collection_page, long_collection):
    page = browser.new_page()
    text_query(page, collection_page, "经济")
    page.locator("#results .hit").nth(0).click()
    page.wait_for_function("document.querySelector('#full-text').textContent.length > 60")
    labels = page.inner_text("#item-caption").split("labels: ")[1].split(", ")
    page.click("#search-like")
    page.wait_for_function("document.querySelector('#precision').textContent.startsWith('precision')",
                           timeout=20_000)
    assert page.input_value("#labels") == labels[0]
    assert page.inner_text("#precision").endswith(f"share a label with the query: {labels[0]})")


def test_a_run_without_picture_files_says_so_in_one_line(browser, demo_run):
    with serving(demo_run) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_function("document.querySelector('#about').textContent.length > 0")
        note = page.locator("#note")
        assert note.is_visible()
        assert note.inner_text() == ("No pictures to show: the demo dataset of this run has no picture files (only "
                                     "arrays), so results are listed by item, labels and distance.")
        assert page.get_attribute("html", "lang") == "en" and page.get_attribute("#query", "lang") == "en"
        assert page.input_value("#kind") == "tags"
        page.fill("#query", "circle red")
        page.click("button[type=submit]")
        page.wait_for_function("document.querySelector('#summary').textContent.includes('tags query')",
                               timeout=20_000)
        assert page.locator("#results .hit").count() == 12 and page.locator("#results img").count() == 0
        assert "list" in page.get_attribute("#results", "class")  # one result a line, not an empty grid
