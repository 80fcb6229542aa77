"""Load benchmark of `dcmh-tf serve` on loopback: queries/s and p50/p99 latency of text (or tags) and
picture queries at 1 and 8 concurrent clients, from this process against a server in a second one.

    python scripts/benchmark_serve.py RUN --index INDEX [--requests 200] [--text "..."|--tags "..."]
    python scripts/benchmark_serve.py RUN --random-codes 1000000      # a 1M-code random index of the run's length

The server is started on 127.0.0.1 on a free port and stopped at the end; every loop is bounded.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(client, url: str, process, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with code {process.returncode}")
        try:
            return client.get(url + "/health", timeout=5).json()
        except Exception:  # noqa: BLE001  (not up yet)
            time.sleep(0.5)
    raise SystemExit("the server did not answer /health in time")


def measure(url: str, request, n: int, clients: int) -> dict:
    import httpx

    def one(_):
        with httpx.Client() as client:  # one connection per worker, kept alive
            times = []
            for _ in range(n // clients):
                start = time.perf_counter()
                response = request(client, url)
                times.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise SystemExit(f"{response.status_code}: {response.text}")
            return times

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        times = [t for chunk in pool.map(one, range(clients)) for t in chunk]
    wall = time.perf_counter() - start
    ms = np.array(times) * 1000
    return {"qps": len(times) / wall, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def main() -> None:
    import httpx
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--index", help="index file (default: a random one with --random-codes)")
    parser.add_argument("--random-codes", type=int, default=None, help="build a random index of this many codes")
    parser.add_argument("--text", default=None)
    parser.add_argument("--tags", default=None)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        index_path = args.index
        if index_path is None:
            from dcmh_tf.retrieval.index import HammingIndex
            from dcmh_tf.run_directory import RunDirectory

            bits = RunDirectory.open(args.run).config.bits
            codes = np.where(np.random.default_rng(0).random((args.random_codes, bits)) < 0.5, 1, -1).astype(np.int8)
            index_path = HammingIndex.from_codes(codes).save(Path(tmp) / "random.npz")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(Path(sys.executable).with_name("dcmh-tf")), "serve", args.run, "--index",
                                   str(index_path), "--port", str(port)], stderr=subprocess.DEVNULL)
        try:
            with httpx.Client() as client:
                health = wait_healthy(client, url, server)
            field = ("text", args.text) if args.text else ("tags", args.tags or health.get("example", "circle red"))
            buffer = io.BytesIO()
            Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 400, 3), np.uint8)).save(buffer, "JPEG")
            picture = buffer.getvalue()
            kinds = {f"{field[0]}": lambda c, u: c.post(u + "/search", data={field[0]: field[1], "k": "10"}),
                     "picture (400×300 JPEG)": lambda c, u: c.post(
                         u + "/search", files={"image": ("q.jpg", picture, "image/jpeg")}, data={"k": "10"})}
            if "image" not in health["queries"]:
                kinds.pop("picture (400×300 JPEG)")
            print(f"index: {health['items']} {health['index_modality']} codes of {health['bits']} bits; "
                  f"{args.requests} requests per row; load average before: {os.getloadavg()}")
            print("| query | clients | queries/s | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|")
            for name, request in kinds.items():
                measure(url, request, 16, 1)  # warm
                for clients in (1, 8):
                    r = measure(url, request, args.requests, clients)
                    print(f"| {name} | {clients} | {r['qps']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} |", flush=True)
            print(f"load average after: {os.getloadavg()}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
