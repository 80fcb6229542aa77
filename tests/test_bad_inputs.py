"""Bad inputs, as a user meets them: every case ends with a message that names what was wrong and a
non-zero exit code, never a traceback (docs/bad-inputs.md lists them with what the user sees).

To add a case: a row in CASES (arguments, how to damage a copy of the trained run, exit code, a
regular expression of the message); cases where the start-up itself matters run in a subprocess.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmh_tf.cli import main
from dcmh_tf.cli.startup import drop_start_up_noise
from dcmh_tf.config import resolve_config
from dcmh_tf.errors import ConfigError, DcmhError
from dcmh_tf.training.memory import check_training_memory
from dcmh_tf.run_directory import IMAGE_WEIGHTS, STATE, TEXT_WEIGHTS, RunDirectory

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny demo run of 2 epochs (8 bits), trained once for the module; cases damage copies of it."""
    from dcmh_tf.training.trainer import fit

    config = resolve_config("demo", bits=8, hidden=32, epochs=2, batch_size=8, n_query=8, n_train=16, lr=1e-3,
                            lr_end=1e-4, seed=3, jit=False)
    path = tmp_path_factory.mktemp("runs") / "run"
    fit(config, path, progress=False, echo=lambda message: None)
    return path


def write_garbage_state(run):
    (run / "checkpoint" / STATE).write_bytes(b"garbage, not an archive")


def write_pickled_state(run):
    state = dict(np.load(run / "checkpoint" / STATE))
    state["F"] = np.array([object()], dtype=object)
    np.savez(run / "checkpoint" / STATE, **state)


def write_state_of_another_shape(run):
    state = dict(np.load(run / "checkpoint" / STATE))
    state["G"] = state["G"][:, :4]
    np.savez(run / "checkpoint" / STATE, **state)


def truncate(name):
    def damage(run):
        path = run / "checkpoint" / name
        path.write_bytes(path.read_bytes()[:3000])
    return damage


# (case, arguments with RUN for the damaged copy, damage, exit code, message pattern)
CASES = [
    ("state.npz not an archive", ["fit", "--resume", "RUN"], write_garbage_state, 1,
     r"checkpoint/state.npz is damaged: not a NumPy \.npz \(zip\) archive .*no earlier epoch is kept"),
    ("state.npz with pickled data", ["evaluate", "RUN"], write_pickled_state, 1,
     # checked from the .npy header before anything is read: an object array is not numbers
     r"checkpoint/state.npz is damaged or from another run: 'F' should be numbers .*received object \(1,\)"),
    ("state.npz of another run", ["fit", "--resume", "RUN"], write_state_of_another_shape, 1,
     r"state.npz is damaged or from another run: 'G' should be numbers of shape \(16, 8\) .*received float32 \(16, 4\)"),
    ("truncated text weights, evaluate", ["evaluate", "RUN"], truncate(TEXT_WEIGHTS), 1,
     r"text_encoder.weights.h5 is damaged or truncated \(OSError: .*truncated file.*\)\. The checkpoint of epoch 2 "
     r"cannot be restored"),
    ("truncated image weights, export", ["export", "RUN", "-o", "OUT"], truncate(IMAGE_WEIGHTS), 1,
     r"image_encoder.weights.h5 is damaged or truncated"),
    ("missing weights", ["encode", "RUN", "-o", "OUT/index.npz"],
     lambda run: (run / "checkpoint" / TEXT_WEIGHTS).unlink(), 1, r"text_encoder.weights.h5 is missing"),
    ("code length beyond the limit", ["fit", "--bits", "100000"], None, 2,
     r"Invalid value for '--bits': 100000 is not in the range 1<=x<=4096"),
    ("resume to fewer epochs than done", ["fit", "--resume", "RUN", "--epochs", "1"], None, 2,
     r"RUN has done 2 epochs, so --epochs 1 cannot be reached by training more; give --epochs 2 or more"),
    ("resume of a missing folder", ["fit", "--resume", "runs/nonexistent"], None, 1,
     r"runs/nonexistent is not a folder; expected a run directory"),
    ("evaluate of a folder that is not a run", ["evaluate", "plots"], None, 1, r"plots is not a folder"),
    ("evaluate of a run without checkpoint", ["evaluate", "RUN"],
     lambda run: shutil.rmtree(run / "checkpoint"), 1, r"has no checkpoint yet"),
    # a lock naming a live process (this one) stands for a fit training the run; tests/test_interrupt.py uses real fits
    ("evaluate of a run a fit is training", ["evaluate", "RUN"], lambda run: hold_lock(run), 1,
     r"^Error: RUN is being trained right now \(fit pid \d+, epoch 3/4 in progress, started [\d:\- ]+\): `dcmh-tf "
     r"evaluate` needs a run that no fit is training\. Wait for the fit to end, or stop it with Ctrl-C \(kill -INT "
     r"\d+: it keeps its last complete epoch\), then run it again\.\n$"),
    ("export of a run a fit is training", ["export", "RUN", "-o", "OUT"], lambda run: hold_lock(run), 1,
     r"`dcmh-tf export` needs a run that no fit is training"),
    ("a second fit of a run a fit is training", ["fit", "--resume", "RUN"], lambda run: hold_lock(run), 1,
     r"`dcmh-tf fit --resume` needs a run that no fit is training"),
    ("evaluate of a run whose fit was killed (stale lock)", ["evaluate", "RUN", "--json"], lambda run: stale_lock(run),
     0, r'"map_i2t"'),
    ("table options on the Wikipedia layout", ["datasets", "prepare", "collection", "--raw", "WIKI", "--output", "OUT",
                                               "--split-column", "split"], None, 2,
     r"--split-column name columns of a table; --raw \S+ is in the wikipedia layout"),
    ("info of a raw collection", ["datasets", "info", "WIKI"], None, 1,
     r"a raw collection \(the Wikipedia layout: .*prepare it with `dcmh-tf datasets prepare collection --raw"),
]


def hold_lock(run):
    """RUN/fit.lock of this (live) process, in epoch 3 of 4: what a fit writes while it trains."""
    from dcmh_tf.run_directory import LOCK, FitLock

    FitLock(run / LOCK, 4).__enter__().update(3)  # never released: the test's copy is thrown away


def stale_lock(run):
    from dcmh_tf.run_directory import LOCK

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # a fit killed with SIGKILL leaves its lock and a pid that no longer runs
    (run / LOCK).write_text(json.dumps({"pid": ended.pid, "host": os.uname().nodename, "epoch": 2, "epochs": 2}))


@pytest.mark.parametrize("case, arguments, damage, code, message", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gives_a_clear_message_and_exit_code(case, arguments, damage, code, message, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    config_before = (run / "config.json").read_text()
    if damage is not None:
        damage(run)
    wiki = SHARED_DATA / "web_news"  # a raw collection in the Wikipedia layout
    if "WIKI" in arguments and not wiki.is_dir():
        pytest.skip(f"real data not found at {wiki}")
    arguments = [a.replace("RUN", str(run)).replace("OUT", str(tmp_path / "out")).replace("WIKI", str(wiki))
                 for a in arguments]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == code, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert re.search(message.replace("RUN", re.escape(str(run))), result.output), result.output
    assert (run / "config.json").read_text() == config_before  # a refused command changes nothing


def test_resume_with_more_epochs_keeps_the_schedule_and_says_so(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    result = CliRunner().invoke(main, ["fit", "--resume", str(run), "--epochs", "4", "--no-progress"])
    assert result.exit_code == 0, result.output
    # the run was planned for 2 epochs (1e-3 to 1e-4): epochs 3 and 4 keep its last rate, no jump back up
    assert "learning rate: epochs 3-4 stay at its last rate 1.00e-04" in result.output
    assert "epoch 3/4: " in result.output and "lr 1.00e-04" in result.output
    config = json.loads((run / "config.json").read_text())
    assert (config["epochs"], config["lr_decay_epochs"]) == (4, 2)
    assert json.loads((run / "metrics.json").read_text())["epoch"] == 4


def test_schedule_of_a_resumed_run_follows_the_planned_one():
    config = resolve_config("wiki", epochs=50)
    longer = config.with_epochs(80)
    assert [longer.learning_rate(e) for e in range(50)] == [config.learning_rate(e) for e in range(50)]
    assert longer.learning_rate(79) == longer.learning_rate(49) == pytest.approx(config.lr_end)
    assert longer.describe_schedule(30) == ("learning rate: epochs 31-50 follow the run's schedule of 50 epochs "
                                            f"({config.learning_rate(30):.2e} to 1.00e-05), epochs 51-80 stay at "
                                            f"its last rate 1.00e-05")
    assert longer.with_epochs(90).lr_decay_epochs == 50  # a second extension keeps the first plan


def test_memory_estimate_refuses_before_allocation():
    config = resolve_config("demo", bits=4096)
    with pytest.raises(ConfigError, match=r"--bits 4096 needs at least 0\.\d GiB .*more than the 0\.1 GiB available"):
        check_training_memory(config, n_train=1000, n_items=1200, available=2**30 // 10)
    check_training_memory(config, n_train=1000, n_items=1200, available=2**40)


def test_datasets_info_on_one_part_file_inspects_what_exists(shared_data, tmp_path):
    # the texts alone, as the README's example file (copied, so that its -lall neighbour is absent too)
    shutil.copy(shared_data / "mirflickr25k" / "mirflickr25k-yall.mat", tmp_path)
    result = CliRunner().invoke(main, ["datasets", "info", str(tmp_path / "mirflickr25k-yall.mat")])
    assert result.exit_code == 0, result.output
    assert "pairs            20015" in result.output and "text dimensions  1386" in result.output
    assert "images           missing (mirflickr25k-iall.mat, mirflickr25k-lall.mat not found)" in result.output
    assert "`dcmh-tf fit` needs the -iall, -yall and -lall files side by side" in result.output


def test_datasets_info_on_texts_and_labels_without_images(shared_data):
    result = CliRunner().invoke(main, ["datasets", "info", str(shared_data / "mirflickr25k" / "mirflickr25k-yall.mat"),
                                       "--json"])
    assert result.exit_code == 0, result.output
    description = json.loads(result.output[:result.output.rindex("}") + 1])
    assert (description["pairs"], description["text_dim"], description["labels"]) == (20015, 1386, 24)
    assert description["labels_per_item"] == {"min": 1, "mean": 3.779, "max": 14}
    assert description["missing"] == ["mirflickr25k-iall.mat"]


def test_fit_help_shows_each_presets_defaults():
    text = CliRunner().invoke(main, ["fit", "--help"], terminal_width=200).output
    assert "Outer iterations of Algorithm 1. [collection: 40, demo: 30, paper: 500, wiki: 50]" in text
    assert "Code length c. [default: 16]" in text


# start-up: subprocesses, since TensorFlow is imported only once per process ------------------------

def run_cli(*arguments, env=None):
    code = "import sys; from dcmh_tf.cli import main\ntry:\n    main(sys.argv[1:])\nfinally:\n" \
           "    print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr)"
    environment = {**os.environ, **(env or {})}
    environment.pop("DCMH_TF_VERBOSE", None) if env is None or "DCMH_TF_VERBOSE" not in env else None
    return subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True, env=environment,
                          timeout=300)


@pytest.mark.parametrize("arguments", [["fit", "--resume", "runs/nonexistent"], ["evaluate", "plots"],
                                       ["fit", "--dataset", "collection", "--data-path", "data/COLECTION.mat"],
                                       ["fit", "--bits", "100000"], ["search", "plots", "--index", "x.npz"]])
def test_fast_failures_come_before_tensorflow_is_imported(arguments):
    result = run_cli(*arguments)
    assert result.returncode in (1, 2) and "Error: " in result.stderr, result.stderr
    assert "tensorflow imported: False" in result.stderr


@pytest.mark.skipif(platform.machine() != "x86_64", reason="oneDNN's start-up line is printed on x86-64")
def test_cli_is_quiet_by_default_and_verbose_on_request(trained_run):
    oneDNN = {"TF_ENABLE_ONEDNN_OPTS": "1"}  # the line TF_CPP_MIN_LOG_LEVEL does not silence
    # a real command that imports TensorFlow, then fails on the dataset it is given: the start-up is all it
    # costs (`search` no longer imports TensorFlow at all once the run has its ONNX encoders)
    command = ("encode", str(trained_run), "-o", str(trained_run / "missing.npz"), "--dataset", "features")
    quiet = run_cli(*command, env=oneDNN)
    assert quiet.returncode == 1 and "holds image features" in quiet.stderr, quiet.stderr
    assert "tensorflow imported: True" in quiet.stderr
    assert "port.cc" not in quiet.stderr and "absl::InitializeLog" not in quiet.stderr, quiet.stderr
    verbose = run_cli(*command, env={**oneDNN, "DCMH_TF_VERBOSE": "1"})
    assert verbose.returncode == 1 and "holds image features" in verbose.stderr
    assert verbose.stderr.count("oneDNN custom operations are on") == 2  # once per copy of TSL's start-up code


def test_start_up_filter_keeps_warnings_and_errors():
    text = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            "I0000 00:00:1796248921.544159   14474 port.cc:153] oneDNN custom operations are on.\n"
            "I0000 00:00:1796248921.602620   14474 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
            "To enable the following instructions: AVX2 FMA, rebuild TensorFlow.\n"
            "/lib/x.py:3: UserWarning: something real\n"
            "  warnings.warn(message)\n"
            "W0000 00:00:1796248921.7   14474 gpu_device.cc:2] Cannot dlopen some GPU libraries.\n"
            "E0000 00:00:1796248921.8   14474 cuda.cc:9] failed call to cuInit\n")
    assert drop_start_up_noise(text) == ("/lib/x.py:3: UserWarning: something real\n  warnings.warn(message)\n"
                                         "W0000 00:00:1796248921.7   14474 gpu_device.cc:2] Cannot dlopen some GPU "
                                         "libraries.\nE0000 00:00:1796248921.8   14474 cuda.cc:9] failed call to cuInit\n")


# fuzz: the checkpoint reader on damaged bytes ------------------------------------------------------

def mutate(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    """`data` cut to `cut` bytes, then each (position, xor) flip applied."""
    damaged = bytearray(data[:cut])
    for position, xor in flips:
        if damaged:
            damaged[position % len(damaged)] ^= xor
    return bytes(damaged)


DAMAGE = st.tuples(st.floats(0, 1), st.lists(st.tuples(st.integers(0, 2**31), st.integers(1, 255)), max_size=4))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=DAMAGE)
def test_fuzz_damaged_state_gives_a_clear_error_or_the_saved_state(damage, trained_run, tmp_path):
    """60 fixed cases (derandomized): cut anywhere, up to four bytes flipped."""
    original = (trained_run / "checkpoint" / STATE).read_bytes()
    with np.load(trained_run / "checkpoint" / STATE) as saved:
        expected = {key: saved[key] for key in saved.files}
    run = tmp_path / "fuzz-run"
    if not run.exists():
        shutil.copytree(trained_run, run)
    fraction, flips = damage
    (run / "checkpoint" / STATE).write_bytes(mutate(original, round(fraction * len(original)), flips))
    try:
        state = RunDirectory.open(run)._read_state()
    except DcmhError as error:
        assert "state.npz is damaged" in str(error)
        return
    assert state.keys() == expected.keys()  # the damage missed the data (zip's CRC guards it)
    for key in expected:
        np.testing.assert_array_equal(state[key], expected[key])


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(0, 0.999), header_flips=st.lists(st.tuples(st.integers(0, 511), st.integers(1, 255)),
                                                           max_size=3))
def test_fuzz_damaged_weights_give_a_clear_error(fraction, header_flips, trained_run, tmp_path):
    """25 fixed cases: the text encoder's weight file cut short, and bytes of its HDF5 superblock and
    first object headers (the first 512 bytes) flipped: a clear error or the saved weights. Flips in the weight values themselves go unseen:
    HDF5 keeps no checksum of them (docs/bad-inputs.md)."""
    import keras

    original = (trained_run / "checkpoint" / TEXT_WEIGHTS).read_bytes()
    run = tmp_path / "fuzz-run"
    if not run.exists():
        shutil.copytree(trained_run, run)
    damaged = bytearray(original[:round(fraction * len(original))])
    for position, xor in header_flips:
        if position < len(damaged):
            damaged[position] ^= xor
    (run / "checkpoint" / TEXT_WEIGHTS).write_bytes(bytes(damaged))
    keras.utils.set_random_seed(0)
    try:
        _, text_encoder, _ = RunDirectory.open(run).restore_encoders()
    except DcmhError as error:
        assert re.search(r"text_encoder.weights.h5 (is damaged|does not fit)", str(error)), error
        return
    _, saved_encoder, _ = RunDirectory.open(trained_run).restore_encoders()  # the flips missed what is read
    for loaded, saved in zip(text_encoder.get_weights(), saved_encoder.get_weights()):
        np.testing.assert_array_equal(loaded, saved)


def test_export_draws_no_progress_bar_when_stderr_is_not_a_terminal(trained_run, tmp_path):
    """`dcmh-tf export ... 2> log` used to write its bar into the log (CliRunner's stderr is no terminal)."""
    result = CliRunner().invoke(main, ["export", str(trained_run), "--format", "savedmodel", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "savedmodel" in result.stdout and result.stderr == "", result.stderr
