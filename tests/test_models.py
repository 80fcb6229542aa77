import keras
import numpy as np
import pytest
import tensorflow as tf

from dcmh_tf.config import resolve_config
from dcmh_tf.models import adapt_standardization, make_cnnf, make_encoders, make_mlp
from dcmh_tf.models.layers import FeatureStandardization, LocalResponseNormalization


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


def make_standardized_mlp():
    model = make_mlp(input_dim=30, bits=8, hidden=32, standardize=True)
    features = np.random.default_rng(4).normal(100, 20, size=(10, 30))
    adapt_standardization(model, features, np.arange(10))
    return model


@pytest.mark.parametrize("build", [
    lambda: make_cnnf(bits=8, image_size=64, hidden=32, pixel_scale=1 / 64),
    lambda: make_mlp(input_dim=30, bits=8, hidden=32),
    make_standardized_mlp,
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
        if hasattr(layer, "scale") or hasattr(layer, "depth_radius") or hasattr(layer, "dim"):  # the custom layers
            assert loaded.get_layer(layer.name).get_config() == layer.get_config()
            for saved, restored in zip(layer.get_weights(), loaded.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(saved, restored)


def test_cnnf_refuses_too_small_images():
    with pytest.raises(ValueError, match="expected at least 59"):
        make_cnnf(bits=8, image_size=32)


def test_smallest_cnnf_input_builds():
    assert make_cnnf(bits=4, image_size=59, hidden=8)(tf.zeros((1, 59, 59, 3))).shape == (1, 4)


def test_feature_standardization_uses_the_training_rows_and_keeps_constant_columns_finite():
    matrix = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 7.0]], np.float32)
    layer = FeatureStandardization(2)
    np.testing.assert_array_equal(layer(matrix).numpy(), matrix)  # the identity until adapted
    layer.adapt(matrix[[0, 1]])
    np.testing.assert_array_equal(layer.mean.numpy(), [2, 5])
    np.testing.assert_array_equal(layer.std.numpy(), [1, 1])  # std 1 for the constant column: only centred
    np.testing.assert_allclose(layer(matrix).numpy(), [[-1, 0], [1, 0], [98, 2]])
    layer.adapt(np.array([[0.01, 2.0], [0.03, 2.0], [0.05, 2.0]]))
    np.testing.assert_allclose(layer.std.numpy(), [np.std([0.01, 0.03, 0.05]), 1.0], rtol=1e-6)
    np.testing.assert_allclose(layer(np.array([[0.03, 4.0]], np.float32)).numpy(), [[0.0, 2.0]], atol=1e-6)


def test_feature_standardization_gives_the_float32_rounding_of_float64_z_scores():
    # bit for bit what z-scoring in NumPy float64 gives (the reader did that before the layer existed)
    features = (0.01 * np.random.default_rng(5).random((50, 40)) + 0.003).astype(np.float32)
    layer = FeatureStandardization(40)
    layer.adapt(features[:30])
    mean, std = features[:30].mean(0, dtype=np.float64), features[:30].std(0, dtype=np.float64)
    outputs = layer(features).numpy()
    assert outputs.dtype == np.float32
    np.testing.assert_array_equal(outputs, ((features - mean) / std).astype(np.float32))


@pytest.mark.parametrize("make, message", [
    (lambda: FeatureStandardization(0), r"dim: expected a positive integer, received 0"),
    (lambda: FeatureStandardization(2.5), r"dim: expected a positive integer, received 2.5"),
    (lambda: FeatureStandardization(3)(np.zeros((1, 4), np.float32)), r"expected inputs of 3 features, received shape \(1, 4\)"),
    (lambda: FeatureStandardization(3).adapt(np.zeros((2, 4))), r"expected a non-empty \(n, 3\) matrix .* received shape \(2, 4\)"),
    (lambda: FeatureStandardization(3).adapt(np.zeros((0, 3))), r"received shape \(0, 3\)"),
    (lambda: FeatureStandardization(1).adapt(np.array([[np.nan]])), "expected finite features, received NaN"),
])
def test_feature_standardization_refuses_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("overrides, standardized", [
    (dict(dataset="features", data_path="f.npz"), True),
    (dict(dataset="features", data_path="f.npz", feature_scaling="none"), False),
    (dict(), False),  # demo: CNN-F and a bag-of-words text net, no feature statistics
])
def test_encoders_standardize_features_when_the_config_asks(overrides, standardized):
    config = resolve_config("demo", bits=4, hidden=8, **overrides)
    image, text = make_encoders(config, 6 if config.image_encoder == "mlp" else None, 5)
    for encoder in (image, text) if config.image_encoder == "mlp" else (text,):
        kinds = [type(layer) for layer in encoder.layers]
        assert (FeatureStandardization in kinds) == standardized
        if standardized:
            assert kinds.index(FeatureStandardization) == 1  # first, right after the input
