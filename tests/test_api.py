"""The Python API (docs/python-api.md): dcmh_tf.DCMH on arrays and tf.data, and its runs read by the CLI
and the other way round. Real graphs, real run directories, the real `dcmh-tf` commands (CliRunner)."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import dcmh_tf
from dcmh_tf.cli import main
from dcmh_tf.errors import ConfigError, DataError, DcmhError, RunDirectoryError

# A configuration that trains in seconds (the tiny_config fixture's sizes, the collection preset otherwise).
TINY = dict(bits=8, image_encoder="cnnf", hidden=32, epochs=2, batch_size=8, seed=5, jit=False)


def tiny_arrays(n: int = 48, seed: int = 0, size: int = 64, vocabulary: int = 12):
    """n pairs of 3 classes: pictures tinted by class, bags of words with the class's word, labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    colours = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])
    images = np.clip(colours[labels][:, None, None, :] + rng.integers(-40, 40, (n, size, size, 3)), 0, 255)
    texts = (rng.random((n, vocabulary)) < 0.1).astype(np.float32)
    texts[np.arange(n), labels * 4] = 1.0
    return images.astype(np.uint8), texts, labels


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A model fitted on arrays without an output folder (a temporary run), then saved (the run moves
    to the saved folder); its history and arrays, and the temporary folder it trained in."""
    images, texts, labels = tiny_arrays()
    model = dcmh_tf.DCMH(text_dim=12, **TINY)
    history = model.fit(images, texts, labels, validation=0.25, verbose=0)
    temporary = model.run.path
    model.save(tmp_path_factory.mktemp("fitted") / "mine")
    return model, history, (images, texts, labels), temporary


def test_fit_on_arrays_returns_a_keras_history_of_the_loss_terms_and_validation_map(fitted):
    model, history, _, _ = fitted
    assert isinstance(history, keras.callbacks.History)
    logs = history.history
    for key in ("loss", "image_loss", "text_loss", "image_pairwise", "text_quantization", "lr", "val_map_i2t",
                "val_map_t2i", "val_map"):
        assert len(logs[key]) == 2, key
    assert logs["val_map"] == pytest.approx([(a + b) / 2 for a, b in zip(logs["val_map_i2t"], logs["val_map_t2i"])])
    # the run's validation curve is the same one, and its last record is the final query score (no other query set)
    curve = json.loads((model.run.path / "validation.json").read_text())
    assert [record["map_i2t"] for record in curve] == logs["val_map_i2t"]
    assert model.metrics["map_i2t"] == pytest.approx(logs["val_map_i2t"][-1])
    assert isinstance(model.image_encoder, keras.Model) and isinstance(model.text_encoder, keras.Model)
    assert model.image_encoder.output_shape == (None, 8)


def test_round_trip_fit_save_load_gives_the_same_codes(fitted, tmp_path):
    model, _, (images, texts, labels), temporary = fitted
    image_codes, text_codes = model.encode_images(images), model.encode_texts(texts)
    assert image_codes.shape == (48, 8) and image_codes.dtype == np.int8 and set(np.unique(image_codes)) <= {-1, 1}
    packed = model.encode_images(images, packed=True)
    assert packed.shape == (48, 1) and packed.dtype == np.uint8
    assert np.array_equal(np.unpackbits(packed, axis=1).astype(int) * 2 - 1, image_codes)
    evaluated = model.evaluate(query=(images[:12], texts[:12], labels[:12]), database=(images[12:], texts[12:], labels[12:]))

    assert not temporary.exists() and model.run.path.name == "mine"  # the fixture's save moved the run
    saved = model.save(tmp_path / "again")  # a copy of a saved run
    assert saved == tmp_path / "again" and model.run.path.name == "mine"
    loaded = dcmh_tf.DCMH.load(saved)
    # the copy reads its own copy of the arrays; everything else is the same configuration
    assert loaded.config.data_path == str(saved / "arrays.npz")
    assert loaded.config.replace(data_path=None) == model.config.replace(data_path=None)
    assert np.array_equal(loaded.encode_images(images), image_codes)
    assert np.array_equal(loaded.encode_texts(texts), text_codes)
    again = loaded.evaluate(query=(images[:12], texts[:12], labels[:12]), database=(images[12:], texts[12:], labels[12:]))
    assert again["map_i2t"] == evaluated["map_i2t"] and again["map_t2i"] == evaluated["map_t2i"]
    assert set(evaluated) >= {"i2t", "t2i", "n_query", "n_database", "bits", "topk"}


def test_a_model_saved_from_python_is_read_by_dcmh_tf_evaluate_and_encode(fitted, tmp_path):
    model, _, (images, _, _), _ = fitted
    run = tmp_path / "copy"
    model.save(run)  # a copy: the model stays with its own run
    assert model.run.path != run
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", str(run), "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.stdout)
    in_python = model.evaluate()  # the run's own query set against its database
    assert from_cli["map_i2t"] == in_python["map_i2t"] and from_cli["map_t2i"] == in_python["map_t2i"]
    assert from_cli["n_query"] == 12 and from_cli["n_database"] == 36

    result = runner.invoke(main, ["encode", str(run), "-o", str(tmp_path / "images.npz"), "--no-progress"])
    assert result.exit_code == 0, result.output
    from dcmh_tf.retrieval.index import HammingIndex

    index = HammingIndex.load(tmp_path / "images.npz")
    database = dcmh_tf.DCMH.load(run).run.load_split().database
    assert np.array_equal(index.ids, database)
    assert np.array_equal(index.codes(), model.encode_images(images[database]))


def test_fit_from_a_tf_data_dataset_equals_fit_from_the_same_arrays(fitted):
    model, history, (images, texts, labels), _ = fitted
    dataset = tf.data.Dataset.from_tensor_slices((images, texts, labels)).batch(7)
    other = dcmh_tf.DCMH(text_dim=12, **TINY)
    other_history = other.fit(dataset, validation=0.25, verbose=0)
    assert other_history.history == history.history
    assert np.array_equal(other.encode_images(images), model.encode_images(images))
    assert np.array_equal(other.encode_texts(texts), model.encode_texts(texts))


def test_a_run_made_by_dcmh_tf_fit_loads_in_python_and_continues(tmp_path):
    run = tmp_path / "cli-run"
    options = ["--bits", "8", "--hidden", "32", "--epochs", "1", "--batch-size", "8", "--n-query", "8",
               "--n-train", "16", "--no-jit", "--seed", "3", "--no-progress"]
    result = CliRunner().invoke(main, ["fit", "--output", str(run), *options])
    assert result.exit_code == 0, result.output
    fitted_metrics = json.loads((run / "metrics.json").read_text())

    model = dcmh_tf.DCMH.load(run)
    assert model.config.bits == 8 and model.text_dim == model.text_encoder.input_shape[-1]
    assert model.evaluate()["map_i2t"] == fitted_metrics["map_i2t"]
    result = CliRunner().invoke(main, ["encode", str(run), "-o", str(tmp_path / "ix.npz"), "--no-progress"])
    assert result.exit_code == 0, result.output
    from dcmh_tf.data.loading import load_dataset
    from dcmh_tf.retrieval.index import HammingIndex

    data = load_dataset(model.config)
    database = model.run.load_split().database
    assert np.array_equal(HammingIndex.load(tmp_path / "ix.npz").codes(), model.encode_images(data.images[database]))

    history = model.fit(epochs=2, verbose=0)  # fit --resume --epochs 2
    assert model.run.epochs_done() == 2 and len(history.history["loss"]) == 1


def test_raw_texts_and_picture_files(tmp_path):
    images, _, labels = tiny_arrays(n=40, seed=1)
    words = np.array(["red apple", "green leaf", "blue sky"])
    texts = [f"{words[label]} photo {i % 5}" for i, label in enumerate(labels)]
    model = dcmh_tf.DCMH(**TINY)
    model.fit(images, texts, labels, validation=0.2, verbose=0)
    assert model.tokenizer is not None and "apple" in model.tokenizer.vocabulary
    bags = model.tokenizer.bag_of_words(texts[:4])
    assert np.array_equal(model.encode_texts(texts[:4]), model.encode_texts(bags))
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(tf.io.encode_png(images[i]).numpy())
    assert np.array_equal(model.encode_images([str(f) for f in files]), model.encode_images(images[:3]))
    loaded = dcmh_tf.DCMH.load(model.save(tmp_path / "run"))
    assert np.array_equal(loaded.encode_texts(["red apple"]), model.encode_texts(["red apple"]))
    # the CLI searches the saved run with a raw text through the same tokenizer
    index = tmp_path / "ix.npz"
    assert CliRunner().invoke(main, ["encode", str(tmp_path / "run"), "-o", str(index), "--no-progress"]).exit_code == 0
    result = CliRunner().invoke(main, ["search", str(tmp_path / "run"), "--index", str(index), "--text", "red apple"])
    assert result.exit_code == 0, result.output


def test_image_features_train_the_mlp_image_net(tmp_path):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 40)
    features = (rng.normal(size=(3, 20))[labels] + rng.normal(size=(40, 20))).astype(np.float32)
    _, texts, _ = tiny_arrays(n=40, seed=2)
    model = dcmh_tf.DCMH(**{**TINY, "image_encoder": "mlp"})
    model.fit(features, texts, labels, validation=(features[:8], texts[:8], labels[:8]), verbose=0)
    assert model.config.dataset == "features" and model.image_dim == 20
    assert model.encode_images(features).shape == (40, 8)
    result = CliRunner().invoke(main, ["evaluate", str(model.save(tmp_path / "run")), "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_query"] == 8


class StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.seen = sorted(logs)
        self.model.stop_training = True


def test_keras_callbacks_stop_training_and_tensorboard_writes(tmp_path):
    images, texts, labels = tiny_arrays(n=32)
    stopper = StopAfterFirstEpoch()
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "board"), write_graph=False)
    model = dcmh_tf.DCMH(text_dim=12, **{**TINY, "epochs": 3})
    history = model.fit(images, texts, labels, callbacks=[stopper, board], output=tmp_path / "run", verbose=0)
    assert len(history.history["loss"]) == 1 and model.run.epochs_done() == 1
    assert "val_map" in stopper.seen and "image_quantization" in stopper.seen
    assert list((tmp_path / "board").rglob("events.out.tfevents*"))


@pytest.mark.parametrize("call, error, message", [
    (lambda m, i, t, l: m.fit(i.astype(np.float32), t, l), DataError, "expected uint8 pixels 0-255, received float32"),
    (lambda m, i, t, l: m.fit(i, np.where(t > 0, np.nan, t), l), DataError, "NaN or infinite values"),
    (lambda m, i, t, l: m.fit(i, t[:-1], l), DataError, "images 48, texts 47, labels 48 rows"),
    (lambda m, i, t, l: m.fit(i, t, None), DataError, "expected labels"),
    (lambda m, i, t, l: m.fit(i, t, np.zeros((48, 3))), DataError, "none of the"),
    (lambda m, i, t, l: m.fit(i, t[:, :10], l), DataError, "expected bags of 12 words"),
    (lambda m, i, t, l: m.fit(i[:, :, :, 0], t, l), DataError, "expected pictures as an (N, H, W, 3) uint8 array"),
    (lambda m, i, t, l: m.fit(i, t, l, validation=0), DataError, "expected a share of the arrays in (0, 1)"),
    (lambda m, i, t, l: m.fit(i, t, l, epochs=0), ConfigError, "epochs: expected a positive integer, received 0"),
    (lambda m, i, t, l: m.fit(i, t, l, callbacks=[keras.callbacks.EarlyStopping(restore_best_weights=True)]),
     ConfigError, "use DCMH(..., keep_best=True)"),
    (lambda m, i, t, l: m.encode_texts("one text"), DataError, "received one string; wrap it in a list"),
    (lambda m, i, t, l: m.index(np.ones((2, 8), np.int8), backend="milvus"), ConfigError,
     "backend: expected one of faiss, received 'milvus'"),
    (lambda m, i, t, l: m.evaluate(query=(i, t, l)), DataError, "expected both query"),
    (lambda m, i, t, l: m.save("x"), RunDirectoryError, "has not been fitted"),
])
def test_bad_input_is_a_dcmh_error_that_says_what_was_expected(call, error, message):
    images, texts, labels = tiny_arrays()
    model = dcmh_tf.DCMH(text_dim=12, **TINY)
    with pytest.raises(error) as raised:
        call(model, images, texts, labels)
    assert message in str(raised.value)
    assert isinstance(raised.value, DcmhError)


def test_unknown_options_and_encoders_are_config_errors():
    with pytest.raises(ConfigError, match="unknown config field"):
        dcmh_tf.DCMH(bits=8, epoch=3)
    with pytest.raises(ConfigError, match="image_encoder must be one of"):
        dcmh_tf.DCMH(image_encoder="resnet")
    with pytest.raises(ConfigError, match="give text_dim"):
        dcmh_tf.DCMH(bits=8).image_encoder


def test_import_dcmh_tf_does_not_import_tensorflow():
    code = ("import sys, dcmh_tf, dcmh_tf.errors\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert dcmh_tf.DataError is dcmh_tf.errors.DataError and 'DCMH' in dir(dcmh_tf)\n"
            "assert 'tensorflow' not in sys.modules\n"
            "model_class = dcmh_tf.DCMH\n"
            "assert 'tensorflow' in sys.modules and model_class.__module__ == 'dcmh_tf.api.model'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
