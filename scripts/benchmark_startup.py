"""Start-up of every `dcmh-tf` command, cold (a fresh process each time), as a user meets it.

For each command: `--help`, a bad option (exit 2), and a real call (its whole work, on small inputs).
`serve` is timed until GET /health answers. Each cell runs `--repeats` times (the query rows
`--query-repeats` times); the table gives the minimum and the median wall time, the load average
before the row, and whether TensorFlow was imported (a line printed at exit).
"Cold" means a new interpreter each time; the files stay in the OS page cache, as after a first use.

    python scripts/benchmark_startup.py --run RUN --index INDEX --text-run RUN2 --text-index INDEX2 \\
        --picture PICTURE --data FILE --features wikipedia/wikiData.mat

RUN: a demo run and INDEX its index (tags and picture queries); RUN2 / INDEX2: a run on a prepared
collection (text queries). Target: a query (`search`) under 1.5 s, and every mistake (a bad option, a
missing file) under 1 s; the last lines say whether the medians met them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_eval import cpu_model  # noqa: E402  (one reading of /proc/cpuinfo for every benchmark)

QUERY_TARGET = 1.5
MISTAKE_TARGET = 1.0
REPOSITORY = Path(__file__).resolve().parents[1]


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("run", "index", "text-run", "text-index", "picture", "data", "features"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--query-repeats", type=int, default=10)
    parser.add_argument("--only", nargs="*", default=None, help="commands to time (default: all)")
    return parser.parse_args()


# `python -m dcmh_tf.cli` plus one line on stderr at exit saying whether TensorFlow was imported
RUNNER = ("import atexit, sys\n"
          "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr))\n"
          "from dcmh_tf.cli import main\n"
          "main(sys.argv[1:], prog_name='dcmh-tf')")


def command_line(arguments) -> list[str]:
    return [sys.executable, "-c", RUNNER, *map(str, arguments)]


def time_command(arguments, environment) -> tuple[float, int, bool]:
    started = time.perf_counter()
    completed = subprocess.run(command_line(arguments), capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - started
    return seconds, completed.returncode, "tensorflow imported: True" in completed.stderr


def time_serve(arguments, environment) -> tuple[float, int, bool]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen(command_line([*arguments, "--port", port]), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=environment)
    try:
        while process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    return seconds, 0 if process.returncode in (0, -15) else process.returncode, "tensorflow imported: True" in stderr


def rows(args, work: Path):
    """(command, what, arguments, repeats, kind) in the order of the table; kind: query, mistake or work."""
    run, index, text_run, text_index = args.run, args.index, args.text_run, args.text_index
    r, q = args.repeats, args.query_repeats
    tiny = ["--bits", "8", "--hidden", "32", "--epochs", "1", "--batch-size", "8", "--n-query", "8", "--n-train", "16",
            "--no-jit", "--no-progress"]
    return [
        ("(group)", "--help", ["--help"], q, "mistake"),
        ("search", "--help", ["search", "--help"], q, "mistake"),
        ("search", "bad option (--top 0)", ["search", run, "--index", index, "--tags", "red", "--top", "0"], q, "mistake"),
        ("search", "--image with a text", ["search", run, "--index", index, "--image", "中国队获得银牌"], q, "mistake"),
        ("search", "--tags (demo run)", ["search", run, "--index", index, "--tags", "circle,red"], q, "query"),
        ("search", "--image (demo run)", ["search", run, "--index", index, "--image", args.picture], q, "query"),
        ("search", "--text (news run, --json)", ["search", text_run, "--index", text_index, "--text",
                                                 "中国队获得银牌", "--json"], q, "query"),
        ("evaluate", "--help", ["evaluate", "--help"], r, "mistake"),
        ("evaluate", "a mistyped RUN", ["evaluate", "plots"], r, "mistake"),
        ("evaluate", "RUN (demo run)", ["evaluate", run, "--no-progress"], r, "work"),
        ("encode", "--help", ["encode", "--help"], r, "mistake"),
        ("encode", "bad option (--shard 4/3)", ["encode", run, "-o", work / "x.npz", "--shard", "4/3"], r, "mistake"),
        ("encode", "RUN (demo run, pictures)", ["encode", run, "-o", work / "images.npz", "--force", "--no-progress"],
         r, "work"),
        ("encode", "RUN --modality text (demo run)", ["encode", run, "-o", work / "texts.npz", "--modality", "text",
                                                      "--force", "--no-progress"], r, "work"),
        ("serve", "--help", ["serve", "--help"], r, "mistake"),
        ("serve", "bad option (--port 0)", ["serve", run, "--index", index, "--port", "0"], r, "mistake"),
        ("serve", "until /health answers (demo run)", ["serve", run, "--index", index], r, "serve"),
        ("export", "--help", ["export", "--help"], r, "mistake"),
        ("export", "bad option (--format x)", ["export", run, "-o", work / "e", "--format", "x"], r, "mistake"),
        ("export", "RUN --format onnx (demo run)", ["export", run, "-o", work / "exported", "--format", "onnx",
                                                    "--overwrite", "--no-progress"], r, "work"),
        ("datasets", "--help", ["datasets", "--help"], r, "mistake"),
        ("datasets", "info: a missing file", ["datasets", "info", work / "missing.mat"], r, "mistake"),
        ("datasets", "info FILE", ["datasets", "info", args.data], r, "work"),
        ("fit", "--help", ["fit", "--help"], r, "mistake"),
        ("fit", "bad option (--bits 0)", ["fit", "--bits", "0"], r, "mistake"),
        ("fit", "a typo in --data-path", ["fit", "--dataset", "collection", "--data-path", work / "COLECTION.mat"],
         r, "mistake"),
        ("fit", "1 epoch of a tiny demo run", ["fit", *tiny, "-o", work / "fit"], r, "work"),
        ("compare", "--help", ["compare", "--help"], r, "mistake"),
        ("compare", "bad option (--methods x)", ["compare", "--data-path", args.features, "--methods", "x"], r,
         "mistake"),
        ("compare", "CCA-ITQ, 16 bits, 1 seed (Wikipedia)", ["compare", "--data-path", args.features, "--bits", "16",
                                                             "--seeds", "1", "--methods", "cca-itq",
                                                             "--sensitivity-values", "", "-o", work / "compare",
                                                             "--no-progress"], r, "work"),
    ]


def main() -> None:
    args = parse_arguments()
    environment = {key: value for key, value in os.environ.items() if key != "DCMH_TF_VERBOSE"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), environment.get("PYTHONPATH")]))
    work = Path(tempfile.mkdtemp(prefix="dcmh-startup-"))
    print(f"CPU {cpu_model()}, {os.cpu_count()} cores; Python {sys.version.split()[0]}; `python -m dcmh_tf.cli`")
    print("\n| command | call | exit | TF imported | min s | median s | runs | load before |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    medians: dict[str, list[tuple[str, float]]] = {"query": [], "mistake": []}
    try:
        for command, what, arguments, repeats, kind in rows(args, work):
            if args.only and command not in args.only:
                continue
            load = os.getloadavg()[0]
            timer = time_serve if kind == "serve" else time_command
            results = []
            for _ in range(repeats):
                if command == "fit" and kind == "work":
                    shutil.rmtree(work / "fit", ignore_errors=True)
                results.append(timer(arguments, environment))
            times = [seconds for seconds, _, _ in results]
            code, tensorflow = results[-1][1], results[-1][2]
            median = statistics.median(times)
            if kind in medians:
                medians[kind].append((f"{command} {what}", median))
            print(f"| {command} | {what} | {code} | {'yes' if tensorflow else 'no'} | {min(times):.2f} | "
                  f"{median:.2f} | {repeats} | {load:.1f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    for kind, target in (("query", QUERY_TARGET), ("mistake", MISTAKE_TARGET)):
        slow = [f"{name} ({median:.2f} s)" for name, median in medians[kind] if median >= target]
        print(f"target ({kind} median under {target} s): {'met' if not slow else 'NOT met: ' + ', '.join(slow)}")


if __name__ == "__main__":
    main()
