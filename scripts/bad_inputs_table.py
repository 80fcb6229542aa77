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
    index = work / "images.npz"
    if not index.exists():
        subprocess.run([*DCMH, "encode", str(run), "-o", str(index), "--no-progress"], check=True, capture_output=True)
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
    environment = {key: value for key, value in os.environ.items() if key != "DCMH_TF_VERBOSE"}
    print("| what was tried | what the user sees (last lines, stderr after stdout) | exit | time |")
    print("|---|---|---:|---:|")
    for what, command, *pick in cases(run, work):
        started = time.perf_counter()
        result = subprocess.run([*DCMH, *map(str, command)], capture_output=True, text=True, env=environment)
        seconds = time.perf_counter() - started
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        if pick:
            shown = " / ".join(line.strip() for line in lines if pick[0] in line or line.startswith("Warning"))
        elif result.returncode == 0:
            shown = " / ".join(lines[-2:])
        else:
            shown = next((line for line in lines if line.startswith("Error")), lines[-1] if lines else "")
        shown = shown.replace(str(work) + "/", "").replace("|", "\\|")
        extra = ""
        if "start-up" in what:
            extra = f" (stderr: {len(result.stderr.splitlines())} lines)"
        if "2> log" in what:
            extra = f" (stderr: {len(result.stderr)} characters)"
        print(f"| {what} | {shown}{extra} | {result.returncode} | {seconds:.1f} s |")
    print(f"\nload average {os.getloadavg()[0]:.2f}; work folder {work}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
