"""Screenshots of the `dcmh-tf serve` page, in headless chromium: a text query with its label chosen
(results marked, the precision of the page, after one "more"), a result opened (full picture and text),
and an uploaded picture (shown beside its results).

    python scripts/screenshot_serve.py RUN --index INDEX --text "…" --label LABEL --image PICTURE \
        --output docs/ --prefix serve-news-

writes PREFIXtext-query.png, PREFIXopened-result.png and PREFIXpicture-query.png. Starts the server
on 127.0.0.1 (a free port) and stops it at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from benchmark_serve import free_port, wait_healthy

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--index", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--label", default=None, help="the query's label, to mark the results that share it")
    parser.add_argument("--output", default="docs")
    parser.add_argument("--prefix", default="serve-")
    args = parser.parse_args()
    shot = lambda name: str(Path(args.output) / f"{args.prefix}{name}.png")  # noqa: E731
    loaded = "[...document.querySelectorAll('#results img, #query-picture.shown')].every(i => i.complete && i.naturalWidth > 0)"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).with_name("dcmh-tf")), "serve", args.run, "--index",
                               args.index, "--port", str(port)])
    try:
        with httpx.Client() as client:
            wait_healthy(client, url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.goto(url + "/")
            page.wait_for_function("document.querySelector('#about').textContent.length > 0")
            page.fill("#query", args.text)
            if args.label:
                page.select_option("#labels", args.label)
            page.click("button[type=submit]")
            page.wait_for_selector("#results .hit img", timeout=120_000)
            page.click("#more")  # a second page of results
            count = 2 * int(page.input_value("#k"))
            page.wait_for_function(f"document.querySelectorAll('#results .hit').length >= {count}", timeout=120_000)
            page.wait_for_function(loaded, timeout=120_000)  # every thumbnail, not only the first requests
            page.screenshot(path=shot("text-query"), full_page=True)
            page.locator("#results .hit").nth(0).click()
            page.wait_for_function("document.querySelector('#full-picture').complete", timeout=120_000)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=shot("opened-result"))
            page.click("#close")
            page.set_input_files("#file", args.image)
            page.wait_for_function("document.querySelector('#summary').textContent.includes('image query')")
            page.wait_for_function(loaded, timeout=120_000)
            page.screenshot(path=shot("picture-query"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
