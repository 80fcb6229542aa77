"""`dcmh-tf compare`, scripts/reproduce.py and the paper-style report, on a tiny features file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dcmh_tf.baselines import BASELINES
from dcmh_tf.baselines.paper_report import dcmh_beats_every_baseline, format_table, sensitivity_points
from dcmh_tf.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY_DCMH = ["--epochs", "1", "--hidden", "8", "--no-progress"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def features_file(tmp_path_factory):
    """Wikipedia's layout (I_tr, T_tr, L_tr, I_te, ...) in an .npz: 40 train and 12 test pairs of 3 classes."""
    rng = np.random.default_rng(0)
    image_centres, text_centres = rng.standard_normal((3, 10)) * 2, rng.standard_normal((3, 5)) * 2
    arrays = {}
    for part, n in (("tr", 40), ("te", 12)):
        classes = np.arange(n) % 3
        arrays[f"I_{part}"] = (image_centres[classes] + rng.standard_normal((n, 10))).astype(np.float32)
        arrays[f"T_{part}"] = (text_centres[classes] + rng.standard_normal((n, 5))).astype(np.float32)
        arrays[f"L_{part}"] = np.eye(3, dtype=np.uint8)[classes]
    path = tmp_path_factory.mktemp("features") / "tiny.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture
def runner():
    return CliRunner()


def test_compare_writes_the_table_curves_and_sensitivity_and_reuses_runs(runner, features_file, tmp_path):
    output, runs = tmp_path / "results", tmp_path / "runs"
    arguments = ["compare", "--data-path", str(features_file), "--bits", "8", "--figure-bits", "8", "--seeds", "2",
                 "--sensitivity-values", "0.01,1", "--output", str(output), "--runs-dir", str(runs), *TINY_DCMH]
    result = runner.invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "[1/18] CCA-ITQ 8 bits, seed 0" in result.output and "total time" in result.output
    for name in ("table.md", "results.json", "pr_curves.png", "sensitivity_gamma.png", "sensitivity_eta.png"):
        assert (output / name).exists(), name
        if name.endswith(".png"):
            assert (output / name).read_bytes()[:8] == PNG_SIGNATURE
    results = json.loads((output / "results.json").read_text())
    # 2 seeds × (7 baselines + DCMH), then DCMH with γ = 1 and with η = 1 (γ = η = 0.01 is the table's run)
    assert len(results["runs"]) == 18
    assert sorted((r["gamma"], r["eta"]) for r in results["runs"] if r["method"] == "dcmh") == [
        (0.01, 0.01), (0.01, 0.01), (0.01, 1.0), (1.0, 0.01)]
    assert results["split"] == {"n_query": 12, "n_database": 40, "n_train": 40}
    assert set(results["pr_curves"]) == {*BASELINES, "dcmh"}
    assert {"seph-rnd", "seph-km", "stmh"} <= set(BASELINES)
    assert "| SePH-rnd |" in result.output and "| SePH-km |" in result.output and "| STMH |" in result.output
    assert len(results["pr_curves"]["dcmh"]["i2t"]["precision"]) == 9  # radius 0..8
    table = (output / "table.md").read_text()
    scm = [r["map_t2i"] for r in results["runs"] if r["method"] == "scm-seq"]
    assert f"{np.mean(scm):.4f} ± {np.std(scm, ddof=1):.4f}" in table
    gamma_one = next(r for r in results["runs"] if r["method"] == "dcmh" and r["gamma"] == 1.0)
    assert "DCMH at 8 bits against γ (η = 0.01; mean ± sample std over 1 seed)" in table
    assert f"{gamma_one['map_t2i']:.4f} ± 0.0000 |" in table.split("against γ")[1].split("against η")[0]
    assert sorted(os.listdir(runs)) == ["dcmh-8bits-seed0-gamma0.01-eta0.01", "dcmh-8bits-seed0-gamma0.01-eta1",
                                        "dcmh-8bits-seed0-gamma1-eta0.01", "dcmh-8bits-seed1-gamma0.01-eta0.01"]

    # A second comparison finds the complete runs and only encodes them again: the same MAP.
    again = runner.invoke(main, [*arguments, "--methods", "dcmh"])
    assert again.exit_code == 0, again.output
    rerun = json.loads((output / "results.json").read_text())["runs"]
    assert all(r["reused"] for r in rerun) and len(rerun) == 4
    first = {(r["seed"], r["gamma"], r["eta"]): r["map_i2t"] for r in results["runs"] if r["method"] == "dcmh"}
    assert {(r["seed"], r["gamma"], r["eta"]): r["map_i2t"] for r in rerun} == first

    # A run directory of another configuration is refused, not overwritten.
    refused = runner.invoke(main, [*arguments[:-len(TINY_DCMH)], "--epochs", "2", "--hidden", "8", "--no-progress",
                                   "--methods", "dcmh", "--sensitivity-values", ""])
    assert refused.exit_code == 1
    assert "holds a DCMH run of another configuration (differs in epochs)" in refused.output


def test_baseline_options_reach_the_baseline_and_the_report(runner, features_file, tmp_path):
    from dcmh_tf.cli.compare import parse_baseline_options

    assert parse_baseline_options(("stmh.iterations=3", "stmh.lam=0.25", "seph-rnd.anchors=7",
                                   "stmh.hash_functions=regression", "x.flag=True")) == {
        "stmh": {"iterations": 3, "lam": 0.25, "hash_functions": "regression"}, "seph-rnd": {"anchors": 7},
        "x": {"flag": True}}
    maps = {}
    for name, extra in (("default", []), ("regression", ["--baseline-option", "stmh.hash_functions=regression"])):
        output = tmp_path / name
        result = runner.invoke(main, ["compare", "--data-path", str(features_file), "--methods", "stmh", "--bits", "4",
                                      "--figure-bits", "4", "--seeds", "1", "--sensitivity-values", "",
                                      "--output", str(output), "--no-progress", *extra])
        assert result.exit_code == 0, result.output
        results = json.loads((output / "results.json").read_text())
        maps[name] = [(r["map_i2t"], r["map_t2i"]) for r in results["runs"]]
    assert results["plan"]["baseline_options"] == {"stmh": {"hash_functions": "regression"}}
    assert "STMH: hash_functions = regression." in (tmp_path / "regression" / "table.md").read_text()
    assert "hash_functions" not in (tmp_path / "default" / "table.md").read_text()
    # the option changes STMH's hash functions, not its training codes: the scores differ
    assert maps["regression"] != maps["default"]


@pytest.mark.parametrize("options, message", [
    (["--methods", "stmh", "--baseline-option", "stmh.foo=1"], "stmh: unknown option foo; its options are"),
    (["--methods", "stmh", "--baseline-option", "cmfh.lam=1"], "baseline options for 'cmfh': expected a baseline"),
    (["--methods", "stmh", "--baseline-option", "stmh"], "expected METHOD.NAME=VALUE"),
    (["--methods", "stmh", "--baseline-option", "stmh.hash_functions=x"], "hash_functions must be one of"),
    (["--methods", "stmh", "--baseline-option", "stmh.lam=abc"], "stmh: lam expects a number (default 0.5), received 'abc'"),
    (["--methods", "stmh", "--baseline-option", "stmh.hash_functions=3"], "hash_functions expects a text (default 'topics')"),
    (["--bits", "16,x"], "expected comma-separated int values"),
    (["--bits", "16", "--figure-bits", "32"], "figure_bits 32 must be one of the code lengths [16]"),
    (["--methods", "cca,dcmh"], "methods: expected some of cca-itq"),
])
def test_bad_options_exit_with_code_2(runner, features_file, options, message):
    result = runner.invoke(main, ["compare", "--data-path", str(features_file), *options])
    assert result.exit_code == 2
    assert message in result.output


def test_help_and_validation_name_every_method(runner, features_file):
    # The help text is written out (importing the baselines would load SciPy for every command);
    # white space removed, as click may wrap it inside a name ("scm-\nseq").
    help_text = "".join(runner.invoke(main, ["compare", "--help"]).output.split())
    result = runner.invoke(main, ["compare", "--data-path", str(features_file), "--methods", "sph"])
    assert result.exit_code == 2
    for name in (*BASELINES, "dcmh"):
        assert f"{name}," in help_text, name
        assert name in result.output, name


def test_reproduce_script_runs_the_comparison(features_file, tmp_path):
    # baselines only: DCMH inside the comparison is tested above, and TensorFlow would start in vain
    output = tmp_path / "out"
    command = [sys.executable, str(ROOT / "scripts" / "reproduce.py"), "--data-path", str(features_file),
               "--bits", "4", "--figure-bits", "4", "--seeds", "1", "--methods", "cca-itq,scm-seq",
               "--sensitivity-values", "", "--output", str(output), "--no-progress"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "| CCA-ITQ |" in completed.stdout and "| SCM-seq |" in completed.stdout
    assert sorted(p.name for p in output.iterdir()) == ["pr_curves.png", "results.json", "table.md"]


def fake_results(maps: dict[str, list[tuple[float, float]]]) -> dict:
    """Results of one code length (16 bits), one (I→T, T→I) pair per seed for each method."""
    runs = [{"method": method, "bits": 16, "seed": seed, "gamma": 0.01 if method == "dcmh" else None,
             "eta": 0.01 if method == "dcmh" else None, "map_i2t": i2t, "map_t2i": t2i}
            for method, pairs in maps.items() for seed, (i2t, t2i) in enumerate(pairs)]
    return {"runs": runs, "plan": {"bits": [16], "figure_bits": 16, "sensitivity_seeds": 1,
                                   "sensitivity_values": [0.01, 1.0]},
            "dcmh_config": {"gamma": 0.01, "eta": 0.01}}


def test_table_has_mean_and_sample_std_bolds_the_best_and_says_who_wins():
    results = fake_results({"cca-itq": [(0.2, 0.3), (0.4, 0.3)], "dcmh": [(0.5, 0.2), (0.7, 0.2)]})
    table = format_table(results)
    lines = table.splitlines()
    assert lines[0] == "| Method | I→T 16 bits | T→I 16 bits |"
    # CCA-ITQ I→T: mean 0.3, sample std √((0.1² + 0.1²)/1) = 0.1414
    assert lines[2] == "| CCA-ITQ | 0.3000 ± 0.1414 | **0.3000 ± 0.0000** |"
    assert lines[3] == "| DCMH | **0.6000 ± 0.1414** | 0.2000 ± 0.0000 |"
    assert "- I→T 16 bits: DCMH beats every baseline (best baseline CCA-ITQ, DCMH − it = +0.3000)" in table
    assert "- T→I 16 bits: DCMH does NOT beat every baseline (best baseline CCA-ITQ, DCMH − it = -0.1000)" in table
    assert not dcmh_beats_every_baseline(results)
    assert dcmh_beats_every_baseline(fake_results({"cmfh": [(0.2, 0.3)], "dcmh": [(0.5, 0.4)]}))


def test_sensitivity_points_follow_one_parameter_with_the_other_at_its_setting():
    results = fake_results({"dcmh": [(0.5, 0.6)]})
    results["runs"] += [
        {"method": "dcmh", "bits": 16, "seed": 0, "gamma": 1.0, "eta": 0.01, "map_i2t": 0.1, "map_t2i": 0.2},
        {"method": "dcmh", "bits": 16, "seed": 0, "gamma": 0.01, "eta": 1.0, "map_i2t": 0.3, "map_t2i": 0.4},
        {"method": "dcmh", "bits": 32, "seed": 0, "gamma": 1.0, "eta": 0.01, "map_i2t": 0.9, "map_t2i": 0.9},
    ]
    assert sensitivity_points(results, "gamma") == {0.01: {"i2t": [0.5], "t2i": [0.6]}, 1.0: {"i2t": [0.1], "t2i": [0.2]}}
    assert sensitivity_points(results, "eta") == {0.01: {"i2t": [0.5], "t2i": [0.6]}, 1.0: {"i2t": [0.3], "t2i": [0.4]}}
