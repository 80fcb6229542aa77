"""A fit survives an interrupt: real `dcmh-tf fit` processes, real signals, the run folder as the only clock.

The signal is sent once RUN/fit.lock says that epoch k is in progress (never after a guessed sleep); the
epochs are long enough (a few hundred steps' worth of pairs) that the signal lands inside epoch k.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dcmh_tf.errors import FitInterrupted
from dcmh_tf.run_directory import LOCK, FitLock, RunDirectory, RunLiveError

DCMH = str(Path(sys.executable).with_name("dcmh-tf"))
# 192 training pairs in batches of 8: 48 steps an epoch, long enough for a signal to land inside one
TINY = ["--bits", "8", "--hidden", "32", "--batch-size", "8", "--n-query", "8", "--n-train", "192", "--lr", "1e-3",
        "--lr-end", "1e-4", "--seed", "5", "--no-jit", "--no-progress"]
WAIT = 240  # seconds: an upper bound for a loaded machine, never a guess of when something happens


def start_fit(*arguments) -> subprocess.Popen:
    environment = {key: value for key, value in os.environ.items() if key != "DCMH_TF_VERBOSE"}
    return subprocess.Popen([DCMH, "fit", *map(str, arguments)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment)


def run_command(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run([DCMH, *map(str, arguments)], capture_output=True, text=True, timeout=WAIT)


def wait_for_epoch(process: subprocess.Popen, run: Path, epoch: int) -> dict:
    """The lock's values once it says that `epoch` is in progress (polled; bounded by WAIT)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"fit ended (code {process.returncode}) before epoch {epoch}: {process.communicate()}")
        try:
            values = json.loads((run / LOCK).read_text())
        except (OSError, ValueError):
            values = {}
        if values.get("epoch") == epoch:
            return values
        time.sleep(0.02)
    raise AssertionError(f"epoch {epoch} never started within {WAIT} s")


def codes(path: Path) -> dict:
    """The run's training codes B and the ±1 codes of its query and database items, both modalities."""
    from dcmh_tf.data.loading import load_dataset
    from dcmh_tf.evaluation.scoring import encode_split

    run = RunDirectory.open(path)
    image_encoder, text_encoder, _ = run.restore_encoders()
    found = {"/".join(key): value for key, value in encode_split(
        image_encoder, text_encoder, load_dataset(run.config), run.load_split()).items()}
    with np.load(path / "checkpoint" / "state.npz") as state:
        found["B"] = state["B"]
    return found


def stop_in_epoch(process: subprocess.Popen, run: Path, epoch: int) -> dict:
    """Freeze the fit (SIGSTOP) once `epoch` is in progress; the lock is read again after the freeze, so
    the epoch is known to be the one in progress while the process stands still."""
    wait_for_epoch(process, run, epoch)
    process.send_signal(signal.SIGSTOP)
    lock = json.loads((run / LOCK).read_text())
    assert lock["epoch"] == epoch, f"the fit went past epoch {epoch} before it was frozen: {lock}"
    return lock


def test_sigint_in_epoch_2_then_resume_gives_the_codes_of_an_uninterrupted_run(tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    fit = start_fit(*TINY, "--epochs", "3", "-o", stopped)
    lock = stop_in_epoch(fit, stopped, 2)
    assert lock["pid"] == fit.pid and lock["epochs"] == 3
    fit.send_signal(signal.SIGINT)  # what Ctrl-C sends; pending until the process runs again
    fit.send_signal(signal.SIGCONT)
    out, err = fit.communicate(timeout=WAIT)
    assert fit.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err
    assert f"SIGINT: stopped during epoch 2/3; the checkpoint, metrics.json and the .keras files hold epoch 1. " \
           f"Continue with `dcmh-tf fit --resume {stopped}`." in err
    # every file of the run speaks of epoch 1, and no lock is left behind
    assert RunDirectory.open(stopped).epochs_done() == 1
    metrics = json.loads((stopped / "metrics.json").read_text())
    assert metrics["epoch"] == 1 and metrics["interrupted"] == "SIGINT"
    assert (stopped / "image_encoder.keras").is_file() and (stopped / "text_encoder.keras").is_file()
    assert not (stopped / LOCK).exists()

    resumed = run_command("fit", "--resume", stopped)  # exactly the command it printed
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {stopped} after epoch 1/3" in resumed.stdout
    done = run_command("fit", *TINY, "--epochs", "3", "-o", straight)
    assert done.returncode == 0, done.stderr

    expected, found = codes(straight), codes(stopped)
    assert expected.keys() == found.keys()
    for key in expected:
        np.testing.assert_array_equal(found[key], expected[key], err_msg=key)
    final = json.loads((stopped / "metrics.json").read_text())
    assert final["epoch"] == 3 and "interrupted" not in final
    assert final["map_i2t"] == pytest.approx(json.loads((straight / "metrics.json").read_text())["map_i2t"])


def test_a_live_run_in_its_first_epoch_is_refused_and_a_stop_there_says_so(tmp_path):
    run = tmp_path / "run"
    fit = start_fit(*TINY, "--epochs", "2", "-o", run)
    try:
        lock = stop_in_epoch(fit, run, 1)  # live, frozen in epoch 1: no checkpoint yet
        evaluated = run_command("evaluate", run)
        exported = run_command("export", run, "-o", tmp_path / "exported")
        again = run_command("fit", "--resume", run)
        assert not (run / "checkpoint").exists() and not (run / "metrics.json").exists()
    finally:
        fit.send_signal(signal.SIGTERM)
        fit.send_signal(signal.SIGCONT)
        out, err = fit.communicate(timeout=WAIT)
    expected = (f"Error: {run} is being trained right now (fit pid {fit.pid}, epoch 1/2 in progress, started "
                f"{lock['started']}): `dcmh-tf evaluate` needs a run that no fit is training. Wait for the fit to end, "
                f"or stop it with Ctrl-C (kill -INT {fit.pid}: it keeps its last complete epoch), then run it again.")
    assert evaluated.returncode == 1 and evaluated.stderr.strip() == expected, evaluated.stderr
    assert exported.returncode == 1
    assert exported.stderr.strip() == expected.replace("`dcmh-tf evaluate`", "`dcmh-tf export`")
    assert again.returncode == 1
    assert again.stderr.strip() == expected.replace("`dcmh-tf evaluate`", "`dcmh-tf fit --resume`")
    assert not (tmp_path / "exported").exists()

    assert fit.returncode == 128 + signal.SIGTERM, err
    assert (f"SIGTERM: stopped during epoch 1/2 before any epoch was complete, so nothing is saved but the run's "
            f"configuration and split; `dcmh-tf fit --resume {run}` starts it again from epoch 1.") in err
    assert not (run / LOCK).exists() and not (run / "metrics.json").exists()
    # not live any more: evaluate tells the truth about a run without a complete epoch
    evaluated = run_command("evaluate", run)
    assert evaluated.returncode == 1 and "stopped before its first epoch ended" in evaluated.stderr
    resumed = run_command("fit", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{run} has no complete epoch (its fit stopped during epoch 1): training starts again from epoch 1" \
        in resumed.stdout
    assert "epoch 2/2" in resumed.stdout and json.loads((run / "metrics.json").read_text())["epoch"] == 2


def test_sigterm_in_process_ends_the_fit_with_consistent_files(tiny_config, tmp_path):
    """The Python API gets the same mechanism: a signal after epoch 1 ends the fit with epoch 1 kept."""
    from dcmh_tf.training.trainer import fit

    def signal_after_epoch_1(message):
        if message.startswith("epoch 1/"):
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(FitInterrupted) as stopped:
        fit(tiny_config, tmp_path / "run", progress=False, echo=signal_after_epoch_1)
    assert signal.getsignal(signal.SIGTERM) is previous  # the handlers are put back
    assert stopped.value.epochs_done == 1 and stopped.value.exit_code == 143 and stopped.value.signal_name == "SIGTERM"
    assert stopped.value.resume == f"dcmh-tf fit --resume {tmp_path / 'run'}"
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epoch"] == 1
    assert not (tmp_path / "run" / LOCK).exists()


def test_a_stale_lock_is_ignored_and_replaced_and_a_live_one_refused(tiny_config, tmp_path):
    from dcmh_tf.training.trainer import fit

    run_path = tmp_path / "run"
    fit(tiny_config.replace(epochs=1), run_path, progress=False, echo=lambda message: None)
    run = RunDirectory.open(run_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid whose process has ended: a fit killed with SIGKILL leaves such a lock
    (run_path / LOCK).write_text(json.dumps({"pid": gone.pid, "host": os.uname().nodename, "epoch": 1, "epochs": 1}))
    assert run.live_fit() is None
    run.refuse_live("evaluate")  # no error
    with FitLock(run_path / LOCK, 2) as lock:  # the stale lock is replaced
        assert json.loads((run_path / LOCK).read_text())["pid"] == os.getpid()
        lock.update(2)
        assert run.live_fit()["epoch"] == 2
        with pytest.raises(RunLiveError, match=r"is already being trained \(fit pid \d+, epoch 2/2 in progress"):
            FitLock(run_path / LOCK, 2).__enter__()
    assert not (run_path / LOCK).exists()
    # a live pid that was reused by another process (another start time) is not a fit
    (run_path / LOCK).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename,
                                             "process_start": 1, "epoch": 1, "epochs": 1}))
    assert run.live_fit() is None


def test_with_cached_frozen_stages_a_stop_and_the_end_write_the_whole_image_encoder(tiny_config, tmp_path):
    """With frozen stages cached the trainer holds only the image net's top; the checkpoint, the .keras
    files and a stop's wrap-up must still be the whole encoder, which takes pictures."""
    import keras

    from dcmh_tf.training.trainer import fit

    config = tiny_config.replace(image_encoder="efficientnet-lite0", pretrained=None, freeze_stages=3,
                                 cache_frozen=True, epochs=2, hidden=32)

    def signal_after_epoch_1(message):
        if message.startswith("epoch 1/"):
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(FitInterrupted) as stopped:
        fit(config, tmp_path / "run", progress=False, echo=signal_after_epoch_1)
    assert stopped.value.epochs_done == 1
    image = keras.saving.load_model(tmp_path / "run" / "image_encoder.keras")
    assert tuple(image.input_shape[1:]) == (64, 64, 3)  # pictures, not the frozen stages' activations
    _, metrics = fit(config, tmp_path / "run", resume=True, progress=False, echo=lambda message: None)
    assert metrics["epoch"] == 2
    image = keras.saving.load_model(tmp_path / "run" / "image_encoder.keras")
    assert tuple(image.input_shape[1:]) == (64, 64, 3)


def test_ctrl_c_outside_the_training_loop_says_what_is_kept(tmp_path, monkeypatch):
    """While the data loads or the query set is scored, Ctrl-C is Python's KeyboardInterrupt: the CLI says
    whether the run folder can be resumed and exits with 130, not click's `Aborted!` and 1."""
    from click.testing import CliRunner

    from dcmh_tf.cli import main
    from dcmh_tf.training import trainer

    def interrupted(config, output, **kwargs):
        if kwargs.get("resume") is False and output.name == "made":
            output.mkdir()
            (output / "config.json").write_text(config.to_json())
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "fit", lambda config, output, **kwargs: interrupted(config, Path(output), **kwargs))
    result = CliRunner().invoke(main, ["fit", "--epochs", "1", "-o", str(tmp_path / "made")])
    assert result.exit_code == 130
    assert f"interrupted (Ctrl-C) outside the training loop; `dcmh-tf fit --resume {tmp_path / 'made'}` continues " \
           f"it." in result.output
    result = CliRunner().invoke(main, ["fit", "--epochs", "1", "-o", str(tmp_path / "none")])
    assert result.exit_code == 130
    assert "interrupted (Ctrl-C) outside the training loop; nothing was written." in result.output
