"""scripts/benchmark_train.py at a tiny size: it runs every variant and prints the two tables."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_train.py"


def load_script():
    spec = importlib.util.spec_from_file_location("benchmark_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# tiny nets and data: every part of the script runs in seconds
TINY = ["--batch-size", "4", "--image-size", "64", "--hidden", "16", "--bits", "8", "--pairs", "20", "--text-dim", "30",
        "--labels", "4"]


def test_benchmark_prints_hardware_and_both_tables(capsys):
    script = load_script()
    script.main(["--variants", "float32", "mixed", "--epoch-variants", "float32", "--steps", "1", "--epoch-batches", "1",
                 *TINY])
    out = capsys.readouterr().out
    assert re.search(r"^CPU: .+, \d+ cores available to this process$", out, re.M)
    assert re.search(r"^TensorFlow 2\.\d+\.\d+, Keras 3\.\d+", out, re.M)
    rows = dict(re.findall(r"^\| (float32|mixed) \| [\d.]+ \| ([\d.]+) \|$", out, re.M))
    assert set(rows) == {"float32", "mixed"} and all(float(v) > 0 for v in rows.values())
    epoch = re.search(r"^\| float32 \| ([\d.]+) \| extrapolated: 5 × \(([\d.]+) s image \+ ([\d.]+) s text batch\)", out, re.M)
    assert epoch, out
    seconds, image, text = (float(g) for g in epoch.groups())
    assert seconds >= 5 * (image + text) - 0.1  # the estimate is 5 batches of each phase plus the B update


def test_random_pixels_are_read_like_a_file():
    script = load_script()
    pixels = script.RandomPixels(10, 8)
    rows = pixels[[2, 5, 7]]
    assert rows.shape == (3, 8, 8, 3) and rows.dtype == "uint8" and len(pixels) == 10
    assert (rows == pixels[[2, 5, 7]]).all()  # the same rows give the same pictures


def test_trainer_against_bare_step_prints_one_row_per_net_with_its_targets(capsys):
    script = load_script()
    script.main(["--variants", "--epoch-variants", "--nets", "cnnf", "mlp-text", "lite0-collection", "--net-steps", "2",
                 "--feature-dim", "12", "--profile", *TINY])
    out = capsys.readouterr().out
    number = r"([\d.]+(?:e-\d+)?)"  # seconds with 4 significant digits
    seconds = r" \| ".join([number] * len(script.KINDS))
    rows = re.findall(rf"^\| (cnnf|mlp-text|lite0-collection) \| {seconds} \| [\d.]+ \| [\d.]+ \| ([\d.]+) \| (met|NOT met) \| "
                      r"([\d.]+) \| (met|NOT met) \| ([\d.]+) \|$", out, re.M)
    assert [row[0] for row in rows] == ["cnnf", "mlp-text", "lite0-collection"], out
    for name, *values in rows:
        timed = dict(zip(script.KINDS, (float(value) for value in values[:len(script.KINDS)])))
        method, method_verdict, machinery, machinery_verdict, formula = values[len(script.KINDS):]
        assert all(value > 0 for value in timed.values())
        for ratio, expected in ((method, timed["as_run"] / timed["bare"]), (machinery, timed["as_run"] / timed["bare_dcmh"]),
                                (formula, timed["bare_formula"] / timed["bare_dcmh"])):
            assert abs(float(ratio) - expected) <= 0.002 * expected + 0.001  # printed rounded
        assert (method_verdict == "met") == (float(method) <= 1.1)
        assert (machinery_verdict == "met") == (float(machinery) <= 1.1)
    assert len(re.findall(r"^load average [\d.]+ at the end$", out, re.M)) == 2 and "at the start" in out
    assert "CNN-F forward+backward" not in out  # no variants: part 1 skipped
    for name in ("cnnf", "mlp-text", "lite0-collection"):
        pieces = re.search(rf"^{name}: DCMH loss \+ its gradient ([\d.]+);   the formula by autodiff instead ([\d.]+); "
                           r".*pipeline: next batch, alone ([\d.]+)$", out, re.M)
        assert pieces and all(float(value) > 0 for value in pieces.groups()), out
