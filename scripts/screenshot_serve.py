"""Screenshots of the `dcmh-tf serve` page answering a text and a picture, in headless chromium.

    python scripts/screenshot_serve.py RUN --index INDEX --text "…" --image PICTURE --output docs/

Starts the server on 127.0.0.1 (a free port) and stops it at the end.
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
    parser.add_argument("--output", default="docs")
    args = parser.parse_args()
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
            page.fill("#query", args.text)
            page.click("button[type=submit]")
            page.wait_for_selector("#results .hit img", timeout=120_000)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(Path(args.output) / "serve-text-query.png"), full_page=True)
            page.set_input_files("#file", args.image)
            page.wait_for_function("document.querySelector('#summary').textContent.includes('image query')")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(Path(args.output) / "serve-picture-query.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
