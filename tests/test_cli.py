import json

import pytest
from click.testing import CliRunner

from dcmh_tf.cli import main

TINY = ["--bits", "8", "--hidden", "32", "--epochs", "1", "--batch-size", "8", "--n-query", "8", "--n-train", "16", "--no-jit",
        "--no-progress"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize("args, message", [
    (["--bits", "0"], "Invalid value for '--bits': 0 is not in the range 1<=x<=4096"),
    (["--batch-size", "-1"], "Invalid value for '--batch-size': -1 is not in the range x>=1"),
    (["--preset", "fast"], "Invalid value for '--preset': 'fast' is not one of 'collection', 'demo', 'paper'"),
])
def test_bad_options_exit_2_with_a_message(runner, args, message):
    result = runner.invoke(main, ["fit", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_resume_on_a_folder_that_is_not_a_run(runner, tmp_path):
    result = runner.invoke(main, ["fit", "--resume", str(tmp_path)])
    assert result.exit_code == 1
    assert f"Error: {tmp_path} is not a dcmh-tf run: config.json, split.npz missing" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_resume_with_other_options_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["fit", "--resume", str(tmp_path), "--bits", "32"])
    assert result.exit_code == 2
    assert "drop --bits (only --epochs, --pixels and --readers may change)" in result.output


def test_fit_prints_map_and_run_directory_then_evaluate_json(runner, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(main, ["fit", "--output", str(run), *TINY])
    assert result.exit_code == 0, result.output
    assert "MAP I→T" in result.output and "MAP T→I" in result.output
    assert f"run directory: {run}" in result.output

    result = runner.invoke(main, ["evaluate", str(run), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)  # stderr may warn that the codes of this tiny run have collapsed
    assert isinstance(metrics["map_i2t"], float) and isinstance(metrics["map_t2i"], float)
    assert metrics["bits"] == 8
    assert metrics == {**json.loads((run / "metrics.json").read_text())}

    # the same folder again, with another configuration
    result = runner.invoke(main, ["fit", "--output", str(run), *TINY[:-1], "--bits", "16", "--no-progress"])
    assert result.exit_code == 1
    assert "holds a different run (bits 8 vs 16" in result.output


def test_help_lists_the_options(runner):
    result = runner.invoke(main, ["fit", "--help"])
    assert result.exit_code == 0
    for option in ("--output", "--bits", "--epochs", "--batch-size", "--gamma", "--eta", "--lr", "--seed",
                   "--preset", "--resume"):
        assert option in result.output
