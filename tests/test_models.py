import keras
import numpy as np
import pytest
import tensorflow as tf

from dcmh_tf.models import make_cnnf, make_mlp
from dcmh_tf.models.layers import LocalResponseNormalization


def test_cnnf_224_has_the_layers_and_sizes_of_table_1():
    model = make_cnnf(bits=32, image_size=224)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv1"] == (54, 54, 64)
    assert shapes["pool1"] == (27, 27, 64)  # MatConvNet's pool1 pads bottom/right by one: 54 -> 27
    assert shapes["conv2"] == (27, 27, 256)
    assert shapes["pool2"] == (13, 13, 256)
    assert shapes["conv5"] == (13, 13, 256)
    assert shapes["pool5"] == (6, 6, 256)
    assert shapes["full6"] == (4096,) and shapes["full7"] == (4096,) and shapes["full8"] == (32,)
    kernels = {layer.name: tuple(layer.kernel.shape) for layer in model.layers if hasattr(layer, "kernel")}
    assert kernels["conv1"] == (11, 11, 3, 64) and kernels["conv2"] == (5, 5, 64, 256)
    assert kernels["conv3"] == kernels["conv4"] == (3, 3, 256, 256) == kernels["conv5"]
    assert kernels["full6"] == (6 * 6 * 256, 4096)
    assert model.get_layer("full8").activation.__name__ == "linear"
    assert model.get_layer("full7").activation.__name__ == "relu"


def test_lrn_matches_matconvnet_formula():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 9)).astype(np.float32) * 40
    layer = LocalResponseNormalization()
    y = layer(x).numpy()
    # vl_nnnormalize: y_k = x_k / (kappa + alpha * sum_{|k'-k| <= 2} x_k'^2)^beta, kappa=1, alpha=2e-5, beta=.75
    squares = x.astype(np.float64) ** 2
    expected = np.empty_like(y)
    for k in range(9):
        window = squares[..., max(0, k - 2): k + 3].sum(-1)
        expected[..., k] = x[..., k] / (1 + 2e-5 * window) ** 0.75
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    assert np.abs(y - x).max() > 1e-2  # the normalisation changes the values at this scale


def test_mlp_shapes_and_activations():
    model = make_mlp(input_dim=20, bits=16, hidden=64)
    assert model.output_shape == (None, 16)
    assert model.get_layer("full1").activation.__name__ == "relu"
    assert model.get_layer("full2").activation.__name__ == "linear"


@pytest.mark.parametrize("build", [
    lambda: make_cnnf(bits=8, image_size=64, hidden=32, pixel_scale=1 / 64),
    lambda: make_mlp(input_dim=30, bits=8, hidden=32),
])
def test_keras_file_round_trip_gives_identical_outputs(tmp_path, build):
    keras.utils.set_random_seed(1)
    model = build()
    x = np.random.default_rng(2).uniform(0, 255, size=(3,) + model.input_shape[1:]).astype(np.float32)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for layer in model.layers:
        if hasattr(layer, "scale") or hasattr(layer, "depth_radius"):  # the custom layers
            assert loaded.get_layer(layer.name).get_config() == layer.get_config()


def test_cnnf_refuses_too_small_images():
    with pytest.raises(ValueError, match="expected at least 59"):
        make_cnnf(bits=8, image_size=32)


def test_smallest_cnnf_input_builds():
    assert make_cnnf(bits=4, image_size=59, hidden=8)(tf.zeros((1, 59, 59, 3))).shape == (1, 4)
