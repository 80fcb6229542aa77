"""Re-run the bad inputs of docs/bad-inputs.md for real and print its table rows (Markdown).

Trains a tiny demo run (2 epochs, 8 bits) into a temporary folder, damages copies of it, runs each
command as a user would (`dcmh-tf ...` in a fresh process, stderr not a terminal) and records the
last line of its output, the exit code and the wall time. To add a row: a tuple in `cases()`.

    python scripts/bad_inputs_table.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DCMH = [str(Path(sys.executable).with_name("dcmh-tf"))]  # the command of the running environment
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def damaged_copy(run: Path, name: str, damage) -> Path:
    copy = run.parent / name
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run, copy)
    damage(copy)
    return copy


def cases(run: Path, work: Path):
    """(what was tried, the command[, the start of the output line to show]) in the order of the table."""
    import numpy as np

    def garbage_state(path):
        (path / "checkpoint" / "state.npz").write_bytes(b"garbage, not an archive")

    def pickled_state(path):
        state = dict(np.load(path / "checkpoint" / "state.npz"))
        state["F"] = np.array([object()], dtype=object)
        np.savez(path / "checkpoint" / "state.npz", **state)

    def truncated_weights(path):
        weights = path / "checkpoint" / "text_encoder.weights.h5"
        weights.write_bytes(weights.read_bytes()[:3000])

    truncated = damaged_copy(run, "truncated", truncated_weights)
    yield "`fit --resume RUN`, RUN/checkpoint/state.npz overwritten with garbage", \
        ["fit", "--resume", damaged_copy(run, "garbage", garbage_state)]
    yield "`fit --resume RUN`, state.npz holding pickled (object) data", \
        ["fit", "--resume", damaged_copy(run, "pickled", pickled_state)]
    yield "`evaluate RUN`, text_encoder.weights.h5 cut to 3000 bytes", ["evaluate", truncated]
    yield "`export RUN`, the same truncated weight file", ["export", truncated, "-o", work / "exported"]
    yield "`fit --bits 100000`", ["fit", "--bits", "100000"]
    yield "`fit --resume RUN --epochs 1` on a run with 2 epochs done", ["fit", "--resume", run, "--epochs", "1"]
    yield "`fit --resume RUN --epochs 4` on a run of 2 epochs (lr 1e-3 to 1e-4)", \
        ["fit", "--resume", damaged_copy(run, "longer", lambda path: None), "--epochs", "4", "--no-progress"], \
        "learning rate"
    yield "`datasets info mirflickr25k-yall.mat` with no -iall file beside it", \
        ["datasets", "info", SHARED / "mirflickr25k" / "mirflickr25k-yall.mat"], "  images"
    yield "`export RUN -o OUT 2> log` (stderr not a terminal)", \
        ["export", damaged_copy(run, "export", lambda path: None), "-o", work / "exported-ok"]
    yield "`fit --resume runs/nonexistent`", ["fit", "--resume", "runs/nonexistent"]
    yield "`evaluate plots` (a mistyped RUN)", ["evaluate", "plots"]
    yield "`evaluate RUN`: TensorFlow's start-up lines", ["evaluate", run, "--json"]
    index = work / "images.npz"  # made by main before the cases
    query = ["search", run, "--index", index]
    yield '`search RUN --index INDEX --tags "中国队获得银牌"` (a sentence in --tags)', [*query, "--tags", "中国队获得银牌"]
    yield '`search RUN --index INDEX --image "中国队获得银牌"` (a text in --image)', [*query, "--image", "中国队获得银牌"]
    (work / "notes.jpg").write_text("中国队获得银牌\n", encoding="utf-8")
    yield "`search ... --image notes.jpg`, a text file named .jpg", [*query, "--image", work / "notes.jpg"]
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 30, 30)).save(work / "whole.jpg", quality=95)
    (work / "cut.jpg").write_bytes((work / "whole.jpg").read_bytes()[:400])
    yield "`search ... --image cut.jpg`, a JPEG cut to 400 bytes", [*query, "--image", work / "cut.jpg"]
    from dcmh_tf.retrieval.index import HammingIndex

    other = work / "other-run.npz"
    HammingIndex.load(index).save(other)  # the same codes, recorded as another run's
    with np.load(other) as f:
        arrays = {key: f[key] for key in f.files}
    arrays["run"] = np.array('{"path": "runs/mine", "fingerprint": "0123456789abcdef"}')
    np.savez_compressed(other, **arrays)
    yield "`encode RUN -o INDEX` where INDEX holds another run's index", ["encode", run, "-o", other]
    yield "`fit --dataset collection --data-path data/COLECTION.mat` (a typo)", \
        ["fit", "--dataset", "collection", "--data-path", work / "COLECTION.mat"]
    yield "`compare --data-path wikiData.mat --methods x`", \
        ["compare", "--data-path", SHARED / "wikipedia" / "wikiData.mat", "--methods", "x"]
    longer = run.parent / "longer"  # trained on to 4 epochs above: another folder, other weights
    yield "`export OTHER -o OUT --version 2`, OUT holding version 1 of RUN", \
        ["export", longer, "-o", work / "exported-ok", "--version", "2", "--format", "keras"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield f"`serve RUN --index INDEX --port {busy.getsockname()[1]}`, a port another program listens on", \
            ["serve", run, "--index", index, "--port", busy.getsockname()[1]]
    yield "`datasets prepare collection --raw ../shared/data/web_news --split-column split` (the Wikipedia layout)", \
        ["datasets", "prepare", "collection", "--raw", SHARED / "web_news", "--output", work / "prepared",
         "--split-column", "split"]
    yield "`datasets info ../shared/data/web_news` (a raw collection)", ["datasets", "info", SHARED / "web_news"]


def live_cases(run: Path, work: Path, record) -> None:
    """A real fit of a copy of `run` trained on, and what the commands that meet it say: `evaluate`,
    `export` and a second `fit --resume` while it trains, then Ctrl-C (SIGINT) once it is in epoch 4 or later
    (its epochs are short: the one it is in when frozen with SIGSTOP is read from its lock)."""
    import json
    import signal

    live = damaged_copy(run, "live", lambda path: None)
    fit = subprocess.Popen([*DCMH, "fit", "--resume", str(live), "--epochs", "500", "--no-progress"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and fit.poll() is None:
            try:
                if (json.loads((live / "fit.lock").read_text()).get("epoch") or 0) >= 4:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        fit.send_signal(signal.SIGSTOP)  # held in its epoch while the other commands run
        epoch = json.loads((live / "fit.lock").read_text())["epoch"]
        record("`evaluate RUN` while `fit --resume RUN --epochs 500` trains it", ["evaluate", live])
        record("`export RUN -o OUT` while a fit trains RUN", ["export", live, "-o", work / "exported-live"])
        record("`fit --resume RUN` while another fit trains RUN", ["fit", "--resume", live])
    finally:
        fit.send_signal(signal.SIGINT)
        fit.send_signal(signal.SIGCONT)
        started = time.perf_counter()
        out, err = fit.communicate()
    lines = [line for line in err.splitlines() if line.startswith("SIGINT")]
    record(f"`fit`, Ctrl-C (SIGINT) in epoch {epoch} (was: `Aborted!`, exit 1, metrics.json and .keras files of an "
           "older epoch)", None, result=(" / ".join(lines), fit.returncode, time.perf_counter() - started))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", default=None, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    work = Path(args.keep or tempfile.mkdtemp(prefix="dcmh-bad-inputs-"))
    work.mkdir(parents=True, exist_ok=True)
    run = work / "run"
    if not (run / "checkpoint").exists():
        subprocess.run([*DCMH, "fit", "--bits", "8", "--hidden", "32", "--epochs", "2", "--batch-size", "8",
                        "--n-query", "8", "--n-train", "16", "--lr", "1e-3", "--lr-end", "1e-4", "--no-jit",
                        "--no-progress", "-o", str(run)], check=True, capture_output=True)
    if not (work / "images.npz").exists():
        subprocess.run([*DCMH, "encode", str(run), "-o", str(work / "images.npz"), "--no-progress"], check=True,
                       capture_output=True)
    environment = {key: value for key, value in os.environ.items() if key != "DCMH_TF_VERBOSE"}
    print("| what was tried | what the user sees (last lines, stderr after stdout) | exit | time |")
    print("|---|---|---:|---:|")

    def record(what, command, *pick, result=None):
        if result is None:
            started = time.perf_counter()
            done = subprocess.run([*DCMH, *map(str, command)], capture_output=True, text=True, env=environment)
            seconds = time.perf_counter() - started
            lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
            if pick:
                shown = " / ".join(line.strip() for line in lines if pick[0] in line or line.startswith("Warning"))
            elif done.returncode == 0:
                shown = " / ".join(lines[-2:])
            else:
                shown = next((line for line in lines if line.startswith("Error")), lines[-1] if lines else "")
            code = done.returncode
            extra = ""
            if "start-up" in what:
                extra = f" (stderr: {len(done.stderr.splitlines())} lines)"
            if "2> log" in what:
                extra = f" (stderr: {len(done.stderr)} characters)"
        else:
            (shown, code, seconds), extra = result, " (time: from the signal to the exit)"
        shown = shown.replace(str(work) + "/", "").replace("|", "\\|")
        print(f"| {what} | {shown}{extra} | {code} | {seconds:.1f} s |", flush=True)

    for what, command, *pick in cases(run, work):
        record(what, command, *pick)
    live_cases(run, work, record)
    print(f"\nload average {os.getloadavg()[0]:.2f}; work folder {work}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
