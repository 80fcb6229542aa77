"""Honest model selection: validation queries from the database, --keep-best, early stopping, .keras files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dcmh_tf.config import resolve_config
from dcmh_tf.data.paired import Split
from dcmh_tf.data.splits import carve_validation
from dcmh_tf.errors import ConfigError, DataError
from dcmh_tf.run_directory import RunDirectory
from dcmh_tf.training.selection import ModelSelection, best_record
from dcmh_tf.training.trainer import fit


def test_validation_comes_from_the_database_outside_training_first():
    split = Split(query=np.arange(0, 10), database=np.arange(10, 60), train=np.arange(10, 40))
    carved = carve_validation(split, 15, seed=0)
    assert len(carved.validation) == 15 and set(carved.validation) <= set(range(40, 60))  # the 20 spare rows
    np.testing.assert_array_equal(carved.train, split.train)  # the training set stays whole
    np.testing.assert_array_equal(carved.database, split.database)

    carved = carve_validation(split, 25, seed=0)  # 20 spare rows, 5 more taken out of training
    assert set(range(40, 60)) <= set(carved.validation) and len(carved.validation) == 25
    assert len(carved.train) == 25 and not set(carved.train) & set(carved.validation)
    protocol = carved.validation_protocol()
    np.testing.assert_array_equal(protocol.query, carved.validation)
    assert not set(protocol.database) & set(carved.validation) and not set(protocol.database) & set(split.query)
    assert len(protocol.database) == 25

    with pytest.raises(DataError, match="validation split larger than the data: 50 validation queries"):
        carve_validation(split, 50, seed=0)
    assert carve_validation(split, 0, seed=0) is split


def test_selection_options_need_an_evaluation_on_validation(tiny_config):
    with pytest.raises(ConfigError, match="keep_best and patience choose among the evaluations of eval_every"):
        tiny_config.replace(keep_best=True)
    with pytest.raises(ConfigError, match="eval_every evaluates on the validation split, and n_validation is 0"):
        tiny_config.replace(eval_every=2, n_validation=0)


class _History:
    """The part of a run directory that model selection reads and writes."""

    def __init__(self):
        self.history, self.saved = [], 0

    def read_validation(self):
        return self.history

    def write_validation(self, history):
        self.history = history


@pytest.mark.parametrize("scores, patience, stops", [
    ([0.1, 0.3, 0.2, 0.25], 2, True),  # two evaluations after the best (epoch 2) without beating it
    ([0.1, 0.3, 0.2, 0.35], 2, False),
    ([0.1, 0.3, 0.3], 1, True),  # an equal score is not better
    ([0.1, 0.3, 0.2, 0.25], 0, False),  # patience 0: never
])
def test_early_stopping_counts_evaluations_since_the_best(tiny_config, scores, patience, stops):
    config = tiny_config.replace(eval_every=1, patience=patience)
    split = Split(query=np.arange(4), database=np.arange(4, 20), train=np.arange(4, 12), validation=np.arange(12, 16))
    selection = ModelSelection(_History(), config, None, split)
    selection.history = [{"epoch": k + 1, "map_i2t": s, "map_t2i": s} for k, s in enumerate(scores)]
    assert selection.should_stop() is stops
    assert selection.best["epoch"] == 1 + int(np.argmax(scores))  # the earliest of equal scores


LOAD_KERAS = textwrap.dedent("""
    import sys
    import keras
    import numpy as np
    import dcmh_tf.models  # registers the custom layers; nothing else of the project is used
    inputs = np.load(sys.argv[2])
    model = keras.saving.load_model(sys.argv[1])
    np.save(sys.argv[3], model.predict(inputs, verbose=0))
""")


def test_keep_best_ends_with_the_best_validation_epoch_and_writes_loadable_keras_files(tmp_path, write_features_file):
    """On a features file whose database is its training set: validation rows leave training, the
    run ends with the weights of its best validation MAP (recomputed here from the run directory),
    the query MAP is of those weights, and the .keras files give the same codes outside the project."""
    from dcmh_tf.data.loading import load_dataset
    from dcmh_tf.evaluation.scoring import encode, evaluate_encoders

    write_features_file(tmp_path / "features.npz")
    config = resolve_config("wiki", data_path=str(tmp_path / "features.npz"), bits=8, hidden=32, epochs=8,
                            batch_size=8, eval_every=1, n_validation=8, keep_best=True, patience=2, seed=1)
    messages = []
    run, metrics = fit(config, tmp_path / "run", progress=False, echo=messages.append)
    split = run.load_split()
    assert len(split.validation) == 8 and len(split.train) == 40  # 48 training pairs, 8 held out for validation
    assert not set(split.validation) & set(split.train) and not set(split.validation) & set(split.query)

    history = json.loads((run.path / "validation.json").read_text())
    best = best_record(history)
    assert [r["epoch"] for r in history] == list(range(1, metrics["epochs_trained"] + 1))
    after_best = sum(r["epoch"] > best["epoch"] for r in history)
    assert after_best <= 2 and (metrics["epochs_trained"] == 8 or after_best == 2)  # early stopping
    assert metrics["epoch"] == best["epoch"] and metrics["validation"] == history
    assert f"kept the encoders of epoch {best['epoch']} (best validation MAP)" in messages

    data = load_dataset(config)
    image, text, epoch = RunDirectory.open(run.path).restore_encoders()
    assert epoch == best["epoch"]
    again = evaluate_encoders(image, text, data, split.validation_protocol(), config.batch_size)
    assert (again["map_i2t"], again["map_t2i"]) == (best["map_i2t"], best["map_t2i"])
    final = evaluate_encoders(image, text, data, split, config.batch_size)
    assert (final["map_i2t"], final["map_t2i"]) == (metrics["map_i2t"], metrics["map_t2i"])

    for modality, encoder, array in (("image", image, data.images), ("text", text, data.texts)):
        inputs = np.asarray(array)[split.query]
        np.save(tmp_path / "inputs.npy", inputs)
        subprocess.run([sys.executable, "-c", LOAD_KERAS, str(run.path / f"{modality}_encoder.keras"),
                        str(tmp_path / "inputs.npy"), str(tmp_path / "outputs.npy")], check=True)
        loaded = np.load(tmp_path / "outputs.npy")
        expected = encode(encoder, array, split.query)
        np.testing.assert_allclose(loaded, expected, atol=1e-5)
        clear = np.abs(expected) > 1e-4  # a sign can only differ where an output is ~0
        np.testing.assert_array_equal(np.where(loaded >= 0, 1, -1)[clear], np.where(expected >= 0, 1, -1)[clear])
        assert clear.mean() > 0.99


@pytest.mark.parametrize("arguments, message", [
    (["--keep-best"], "--keep-best and --patience choose among the evaluations of --eval-every"),
    (["--patience", "3"], "--keep-best and --patience choose among the evaluations of --eval-every"),
    (["--eval-every", "5", "--n-validation", "0"], "--eval-every scores the validation split, and --n-validation is 0"),
])
def test_fit_refuses_selection_without_a_validation_evaluation(tmp_path, arguments, message):
    from click.testing import CliRunner

    from dcmh_tf.cli import main

    result = CliRunner().invoke(main, ["fit", "--output", str(tmp_path / "run"), *arguments])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
