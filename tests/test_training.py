import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcmh_tf.data.loading import load_dataset, make_split
from dcmh_tf.errors import RunDirectoryError, TrainingError
from dcmh_tf.models import make_encoders
from dcmh_tf.run_directory import RunDirectory
from dcmh_tf.training.trainer import DcmhTrainer, fit


class Killed(Exception):
    pass


def _checkpoint(path):
    with np.load(path / "checkpoint" / "state.npz") as state:
        arrays = {key: state[key] for key in state.files}
    image, text, _ = RunDirectory.open(path).restore_encoders()
    return arrays, image.get_weights() + text.get_weights()


def test_epoch_visits_every_point_and_updates_codes(tiny_config):
    data = load_dataset(tiny_config)
    split = make_split(tiny_config, data)
    keras.utils.set_random_seed(0)
    trainer = DcmhTrainer(tiny_config, data, split, *make_encoders(tiny_config, data.image_dim, data.text_dim))
    before_f = trainer.buffers["image"].numpy()
    before_g = trainer.buffers["text"].numpy()
    stats = trainer.train_epoch(0, progress=False)
    f, g, b = trainer.buffers["image"].numpy(), trainer.buffers["text"].numpy(), trainer.codes.numpy()
    assert (f != before_f).all(axis=1).all() and (g != before_g).all(axis=1).all()  # every row refreshed
    np.testing.assert_array_equal(b, np.where(f + g >= 0, 1, -1))  # eq. (5)
    for phase in ("image", "text"):
        assert {f"{phase}/{term}" for term in ("pairwise", "quantization", "balance", "total")} <= set(stats)
    assert sorted(trainer.shuffled_order(0, "image")) == list(range(16))
    assert not np.array_equal(trainer.shuffled_order(0, "image"), trainer.shuffled_order(1, "image"))


def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(tiny_config, tmp_path):
    straight = tmp_path / "straight"
    fit(tiny_config, straight, progress=False, echo=lambda message: None)

    interrupted = tmp_path / "interrupted"

    def kill_after_first_epoch(message):
        if message.startswith("epoch 1/"):
            raise Killed

    with pytest.raises(Killed):
        fit(tiny_config, interrupted, progress=False, echo=kill_after_first_epoch)
    assert int(np.load(interrupted / "checkpoint" / "state.npz")["epochs_done"]) == 1
    messages = []
    _, metrics = fit(RunDirectory.open(interrupted).config, interrupted, resume=True, progress=False, echo=messages.append)
    assert messages[0] == f"resuming {interrupted} after epoch 1/3"

    state_a, weights_a = _checkpoint(straight)
    state_b, weights_b = _checkpoint(interrupted)
    np.testing.assert_array_equal(state_a["B"], state_b["B"])
    np.testing.assert_allclose(state_a["F"], state_b["F"], atol=1e-6)
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert json.loads((straight / "metrics.json").read_text())["map_i2t"] == pytest.approx(metrics["map_i2t"])


def test_xla_steps_compute_what_the_plain_steps_compute(tiny_config):
    # The demo preset trains with jit=True; the other tests use plain tf.function steps (faster to build).
    results = {}
    for jit in (False, True):
        config = tiny_config.replace(jit=jit)
        data = load_dataset(config)
        split = make_split(config, data)
        keras.utils.set_random_seed(0)
        trainer = DcmhTrainer(config, data, split, *make_encoders(config, data.image_dim, data.text_dim))
        stats = trainer.train_epoch(0, progress=False)
        results[jit] = stats, trainer.buffers["image"].numpy(), trainer.buffers["text"].numpy()
    (stats_plain, f_plain, g_plain), (stats_xla, f_xla, g_xla) = results[False], results[True]
    np.testing.assert_allclose(f_xla, f_plain, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(g_xla, g_plain, rtol=1e-4, atol=1e-4)
    assert stats_xla["image/total"] == pytest.approx(stats_plain["image/total"], rel=1e-4)


def test_run_directory_contents(tiny_config, tmp_path):
    run, metrics = fit(tiny_config.replace(epochs=1), tmp_path / "run", progress=False, echo=lambda m: None)
    names = {p.name for p in run.path.iterdir()}
    assert {"config.json", "split.npz", "inputs.json", "checkpoint", "metrics.json", "logs"} <= names
    inputs = run.read_inputs()
    assert inputs["image_kind"] == "pixels" and inputs["image_size"] == 64 and inputs["image_dim"] is None
    assert inputs["text_dim"] == len(inputs["tag_vocabulary"]) == 96 and len(inputs["label_names"]) == 8
    assert {p.name for p in (run.path / "checkpoint").iterdir()} == {
        "image_encoder.weights.h5", "text_encoder.weights.h5", "state.npz"}
    saved = json.loads((run.path / "metrics.json").read_text())
    assert isinstance(saved["map_i2t"], float) and isinstance(saved["map_t2i"], float) and saved["bits"] == 8
    assert 0 <= saved["map_i2t"] <= 1
    assert list((run.path / "logs").iterdir())  # TensorBoard event file


def test_non_finite_loss_names_epoch_and_phase(tiny_config, tmp_path, monkeypatch):
    from dcmh_tf.training import trainer as training

    def load_with_nan(config):
        data = load_dataset(config)
        data.texts[:] = np.nan
        return data

    monkeypatch.setattr(training, "load_dataset", load_with_nan)
    # the inputs are checked where they enter the step: no reliance on NaN reaching the loss, which
    # oneDNN's fused ReLU (Intel and AMD with TF_ENABLE_ONEDNN_OPTS=1) turns into 0 inside a tf.function
    with pytest.raises(TrainingError, match=r"non-finite text input at epoch 1, text phase, batch 1/2: 8 of its 8 "
                                            r"rows hold NaN .*no epoch was complete"):
        fit(tiny_config, tmp_path / "run", progress=False, echo=lambda m: None)


def test_non_finite_features_are_named_by_dataset_row(tmp_path, monkeypatch, write_features_file):
    from dcmh_tf.training import trainer as training

    write_features_file(tmp_path / "f.npz")

    def load_with_inf(config):
        data = load_dataset(config)
        data.images[5, 0] = np.inf
        data.images[2, 3] = np.nan
        return data

    monkeypatch.setattr(training, "load_dataset", load_with_inf)
    with pytest.raises(TrainingError, match=r"non-finite image input at epoch 1, image phase, batch [123]/3: [12] of "
                                            r"its 16 rows hold NaN or infinite values \(dataset rows (2, 5|2|5)\)"):
        # without the standardisation, whose statistics would refuse the NaN before training starts
        fit(features_config(tmp_path / "f.npz", feature_scaling="none"), tmp_path / "run", progress=False,
            echo=lambda m: None)


def test_non_finite_loss_names_epoch_and_phase_and_the_kept_epoch(tiny_config, tmp_path, monkeypatch):
    """A diverging loss (made infinite here, so that no kernel's rounding matters) stops training and says
    which epoch the checkpoint keeps."""
    from dcmh_tf.training import trainer as training

    fit(tiny_config.replace(epochs=1), tmp_path / "run", progress=False, echo=lambda m: None)
    real_loss = training.dcmh_batch_loss

    def infinite_loss(*args, **kwargs):
        terms = real_loss(*args, **kwargs)
        return {**terms, "total": terms["total"] + np.inf}

    monkeypatch.setattr(training, "dcmh_batch_loss", infinite_loss)
    with pytest.raises(TrainingError, match=r"the loss became inf at epoch 2, image phase, batch 1/2 .*"
                                            r"the run's checkpoint keeps epoch 1\."):
        fit(tiny_config.replace(epochs=2), tmp_path / "run", resume=True, progress=False, echo=lambda m: None)


def test_output_holding_another_run_is_refused(tiny_config, tmp_path):
    fit(tiny_config.replace(epochs=1), tmp_path / "run", progress=False, echo=lambda m: None)
    with pytest.raises(RunDirectoryError, match=r"holds a different run \(bits 8 vs 16"):
        fit(tiny_config.replace(epochs=1, bits=16), tmp_path / "run", progress=False, echo=lambda m: None)
    with pytest.raises(RunDirectoryError, match="already holds a run with this configuration; continue it with"):
        fit(tiny_config.replace(epochs=1), tmp_path / "run", progress=False, echo=lambda m: None)


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RunDirectoryError, match="is not a dcmh-tf run: config.json, split.npz missing"):
        RunDirectory.open(tmp_path)


def features_config(path, **overrides):
    from dcmh_tf.config import resolve_config

    settings = dict(dataset="features", data_path=str(path), bits=8, hidden=16, epochs=2, batch_size=16, seed=3)
    return resolve_config("wiki", **{**settings, **overrides})


def test_features_run_encoders_take_raw_features_and_reproduce_the_training_codes(tmp_path, monkeypatch,
                                                                                   write_features_file):
    """Encoders rebuilt from the run directory alone, fed the file's raw features, give the codes
    of training's own evaluation: the standardisation travels inside the encoders."""
    from dcmh_tf.training import trainer as training
    from dcmh_tf.evaluation.scoring import encode_codes, encode_split, evaluate_run

    images, texts = write_features_file(tmp_path / "f.npz")
    evaluated = {}

    def evaluate_and_keep_codes(image_encoder, text_encoder, data, split, batch_size):
        evaluated.update(encode_split(image_encoder, text_encoder, data, split, batch_size))
        return training_evaluate(image_encoder, text_encoder, data, split, batch_size)

    training_evaluate = training.evaluate_encoders
    monkeypatch.setattr(training, "evaluate_encoders", evaluate_and_keep_codes)
    run, metrics = fit(features_config(tmp_path / "f.npz"), tmp_path / "run", progress=False, echo=lambda m: None)

    image, text, _ = RunDirectory.open(run.path).restore_encoders()
    for encoder, raw in ((image, images), (text, texts)):
        layer = encoder.get_layer("standardization")
        std = raw[:48].std(0, dtype=np.float64)
        std[std < 1e-12] = 1
        np.testing.assert_array_equal(layer.mean.numpy(), raw[:48].mean(0, dtype=np.float64))
        np.testing.assert_array_equal(layer.std.numpy(), std)
    assert image.get_layer("standardization").std.numpy()[3] == 1  # the constant column
    split = run.load_split()
    for part, rows in (("query", split.query), ("database", split.database)):
        np.testing.assert_array_equal(encode_codes(image, images, rows), evaluated[part, "image"])
        np.testing.assert_array_equal(encode_codes(text, texts, rows), evaluated[part, "text"])
    again = evaluate_run(run.path)
    assert (again["map_i2t"], again["map_t2i"]) == (metrics["map_i2t"], metrics["map_t2i"])


def test_resumed_features_run_keeps_the_statistics_of_its_checkpoint(tmp_path, write_features_file):
    write_features_file(tmp_path / "f.npz")
    run, _ = fit(features_config(tmp_path / "f.npz", epochs=1), tmp_path / "run", progress=False, echo=lambda m: None)
    image, _, _ = run.restore_encoders()
    before = image.get_layer("standardization").get_weights()
    write_features_file(tmp_path / "f.npz", scale=10.0)  # statistics recomputed from this would differ
    fit(features_config(tmp_path / "f.npz", epochs=2), run.path, resume=True, progress=False, echo=lambda m: None)
    image, _, epochs = RunDirectory.open(run.path).restore_encoders()
    assert epochs == 2
    for kept, restored in zip(before, image.get_layer("standardization").get_weights()):
        np.testing.assert_array_equal(kept, restored)


def test_checkpoint_of_another_architecture_is_refused_with_a_message(tiny_config, tmp_path):
    run, _ = fit(tiny_config.replace(epochs=1), tmp_path / "run", progress=False, echo=lambda m: None)
    # a config that builds wider encoders than the checkpoint holds, as after an upgrade
    RunDirectory(run.path, tiny_config.replace(epochs=1, hidden=16)).write_config()
    with pytest.raises(RunDirectoryError, match=r"image_encoder.weights.h5 does not fit the image_encoder .*Train the run again"):
        RunDirectory.open(run.path).restore_encoders()


def test_pictures_handed_as_uint8_train_exactly_as_float32_pictures(tiny_config, monkeypatch):
    # The trainer takes pictures as uint8 and casts them in its step; 0-255 are exact floats, so the
    # buffers, codes and weights after two epochs (flips included) are those of the float32 pipeline.
    from dcmh_tf.training import trainer as trainer_module

    config = tiny_config.replace(flip=True)
    data = load_dataset(config)
    split = make_split(config, data)

    def train(float32_pictures: bool):
        if float32_pictures:
            make_dataset = trainer_module.make_dataset
            monkeypatch.setattr(trainer_module, "make_dataset",
                                lambda *args, **kwargs: make_dataset(*args, **{**kwargs, "keep_uint8": False}))
        keras.utils.set_random_seed(0)
        encoders = make_encoders(config, data.image_dim, data.text_dim)
        trainer = DcmhTrainer(config, data, split, *encoders)
        _, pictures = next(iter(trainer.make_batches(0, "image")))
        for epoch in range(2):
            trainer.train_epoch(epoch, progress=False)
        arrays = [trainer.buffers["image"].numpy(), trainer.buffers["text"].numpy(), trainer.codes.numpy()]
        return pictures.dtype, arrays + encoders[0].get_weights() + encoders[1].get_weights()

    uint8_dtype, handed_uint8 = train(float32_pictures=False)
    float32_dtype, handed_float32 = train(float32_pictures=True)
    assert (uint8_dtype, float32_dtype) == (tf.uint8, tf.float32)
    for a, b in zip(handed_uint8, handed_float32):
        np.testing.assert_array_equal(a, b)
