"""Cached frozen stages: with every stage frozen the pooled activations are cached, and training on them is
training on the map; partial freezing keeps the map; the disk cache's key follows the cached shape."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcmh_tf.data.paired import PairedData
from dcmh_tf.models.efficientnet import (
    frozen_boundary,
    make_efficientnet_lite,
    split_at_layer,
    split_at_stage,
)
from dcmh_tf.models.efficientnet.backbone import stage_output_name
from dcmh_tf.training.frozen import (
    activation_key,
    frozen_activations,
    split_encoder,
    uses_frozen_cache,
)


def pixels(n: int, size: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_with_every_stage_frozen_the_split_is_past_the_pool_and_shares_the_trained_layers():
    model = make_efficientnet_lite(bits=8, image_size=48, freeze_stages=8, hidden=32)
    assert frozen_boundary(model, 8) == "avg_pool"
    bottom, top = split_at_layer(model, "avg_pool")
    assert tuple(bottom.output.shape[1:]) == (1280,) and tuple(top.input.shape[1:]) == (1280,)
    assert [layer.name for layer in top.layers[1:]] == ["pool_bn", "full7", "hash"]
    assert {id(w) for w in top.trainable_weights} == {id(w) for w in model.trainable_weights}
    x = pixels(3).astype(np.float32)
    np.testing.assert_allclose(top(bottom(x)), model(x), rtol=1e-6, atol=1e-6)
    # without the hidden head the hash layer sits right on the pool
    assert frozen_boundary(make_efficientnet_lite(bits=8, image_size=48, freeze_stages=8), 8) == "avg_pool"


@pytest.mark.parametrize("stage", [0, 3, 5, 7])
def test_partial_freezing_keeps_the_map(stage):
    model = make_efficientnet_lite(bits=8, image_size=48, freeze_stages=stage, hidden=32)
    assert frozen_boundary(model, stage) == stage_output_name(model, stage)
    bottom, _ = split_at_layer(model, frozen_boundary(model, stage))
    assert len(bottom.output.shape) == 4


def test_the_top_on_pooled_activations_gives_the_outputs_and_gradients_of_the_top_on_the_map():
    """The pool is the same op in either place: the trained layers get the same outputs and gradients."""
    keras.utils.set_random_seed(0)
    model = make_efficientnet_lite(bits=8, image_size=64, freeze_stages=8, hidden=32)
    map_bottom, map_top = split_at_stage(model, 8)
    pooled_bottom, pooled_top = split_at_layer(model, frozen_boundary(model, 8))
    x = pixels(8, 64).astype(np.float32)
    maps, pooled = map_bottom(x).numpy(), pooled_bottom(x).numpy()
    assert maps.shape == (8, 2, 2, 1280) and pooled.shape == (8, 1280)
    np.testing.assert_allclose(pooled, maps.mean(axis=(1, 2)), rtol=1e-6, atol=1e-6)
    target = tf.constant(np.random.default_rng(1).standard_normal((8, 8)), tf.float32)

    def outputs_and_gradients(top, inputs):
        with tf.GradientTape() as tape:
            outputs = top(inputs, training=True)  # BatchNorm on batch statistics, as the training step runs
            loss = tf.reduce_sum((outputs - target) ** 2)
        return outputs.numpy(), [g.numpy() for g in tape.gradient(loss, top.trainable_variables)]

    (out_map, grads_map), (out_pooled, grads_pooled) = (outputs_and_gradients(map_top, maps),
                                                        outputs_and_gradients(pooled_top, pooled))
    np.testing.assert_allclose(out_pooled, out_map, rtol=1e-5, atol=1e-6)
    assert len(grads_map) == len(grads_pooled) == len(model.trainable_variables)
    for g_map, g_pooled in zip(grads_map, grads_pooled):
        np.testing.assert_allclose(g_pooled, g_map, rtol=1e-4, atol=1e-5)


def test_a_run_on_pooled_activations_trains_as_a_run_on_the_map_and_saves_the_whole_encoder(
        tiny_config, tmp_path, monkeypatch):
    """The same fit with the map cached (the behaviour before pooled caches) ends with the same weights up to
    float rounding; the saved full encoder takes pictures and gives the codes the pooled top gave."""
    from dcmh_tf.training import trainer

    config = tiny_config.replace(image_encoder="efficientnet-lite0", pretrained=None, freeze_stages=8,
                                 cache_frozen=True, epochs=2, image_hidden=32, eval_every=1, n_validation=4)
    assert uses_frozen_cache(config)
    seen = {}
    real_split = trainer.split_encoder

    def recording(image_encoder, config):
        bottom, top = real_split(image_encoder, config)
        seen.setdefault("shapes", []).append(tuple(bottom.output.shape[1:]))
        return bottom, top

    monkeypatch.setattr(trainer, "split_encoder", recording)
    _, pooled_metrics = trainer.fit(config, tmp_path / "pooled", progress=False, echo=lambda message: None)
    monkeypatch.setattr(trainer, "split_encoder", lambda image_encoder, config: split_at_stage(image_encoder, 8))
    _, map_metrics = trainer.fit(config, tmp_path / "map", progress=False, echo=lambda message: None)
    assert seen["shapes"] == [(1280,)]

    pooled_image = keras.saving.load_model(tmp_path / "pooled" / "image_encoder.keras")
    map_image = keras.saving.load_model(tmp_path / "map" / "image_encoder.keras")
    assert tuple(pooled_image.input_shape[1:]) == (64, 64, 3)  # pictures, not activations
    for a, b in zip(pooled_image.weights, map_image.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
    x = pixels(16, 64, seed=2).astype(np.float32)
    outputs = pooled_image(x).numpy()
    np.testing.assert_allclose(outputs, map_image(x).numpy(), rtol=1e-4, atol=1e-4)
    # the saved encoder's codes from pictures are those of its top on the pooled activations
    bottom, top = split_encoder(pooled_image, config)
    np.testing.assert_array_equal(np.where(top(bottom(x)).numpy() >= 0, 1, -1), np.where(outputs >= 0, 1, -1))
    assert pooled_metrics["map_i2t"] == pytest.approx(map_metrics["map_i2t"], abs=1e-6)
    assert pooled_metrics["map_t2i"] == pytest.approx(map_metrics["map_t2i"], abs=1e-6)
    # the validation scores of every epoch, made with the top on the cached activations
    assert len(pooled_metrics["validation"]) == 2
    for pooled_epoch, map_epoch in zip(pooled_metrics["validation"], map_metrics["validation"]):
        assert pooled_epoch["map_i2t"] == pytest.approx(map_epoch["map_i2t"], abs=1e-6)


def test_the_disk_cache_key_follows_the_cached_shape_and_a_map_is_never_read_as_pooled(tiny_config, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv("DCMH_TF_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "pictures.h5"
    source.write_bytes(b"stands for the pictures' file")
    config = tiny_config.replace(image_encoder="efficientnet-lite0", pretrained=None, freeze_stages=8,
                                 image_size=48, data_path=str(source))
    model = make_efficientnet_lite(bits=8, image_size=48, freeze_stages=8)
    map_bottom, _ = split_at_stage(model, 8)
    pooled_bottom, _ = split_encoder(model, config)
    n = 6
    assert activation_key(map_bottom, config, n) != activation_key(pooled_bottom, config, n)

    data = PairedData("pictures", pixels(n), np.zeros((n, 4), np.float32), np.eye(n, 3, dtype=np.float32))
    messages = []
    maps = frozen_activations(map_bottom, data, 8, messages.append, config).images
    assert maps.shape == (n, 2, 2, 1280) and "computed" in messages[-1]
    frozen_activations(map_bottom, data, 8, messages.append, config)
    assert "read" in messages[-1]
    # an old cache of maps stored under the pooled key (as if the key had not changed) is not taken for pooled ones
    from dcmh_tf.models.efficientnet import cache_folder

    stored = cache_folder() / "activations" / f"{activation_key(pooled_bottom, config, n)}.npy"
    np.save(stored, maps)
    pooled = frozen_activations(pooled_bottom, data, 8, messages.append, config).images
    assert pooled.shape == (n, 1280) and "computed" in messages[-1]
    np.testing.assert_allclose(pooled, maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    again = frozen_activations(pooled_bottom, data, 8, messages.append, config).images
    assert "read" in messages[-1]
    np.testing.assert_array_equal(again, pooled)
