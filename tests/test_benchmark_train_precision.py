"""Mixed precision (--mixed-precision): float16 compute in conv/dense layers, float32 outputs, buffers and loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from dcmh_tf.models import make_cnnf, make_mlp
from dcmh_tf.models.precision import with_mixed_precision
from dcmh_tf.training.trainer import fit


@pytest.mark.parametrize("build", [
    lambda: make_cnnf(bits=8, image_size=64, hidden=32, pixel_scale=1 / 64),
    lambda: make_mlp(input_dim=30, bits=8, hidden=32),
])
def test_mixed_copy_computes_heavy_layers_in_float16_and_outputs_float32(build):
    keras.utils.set_random_seed(0)
    model = build()
    mixed = with_mixed_precision(model)
    assert mixed.name == model.name and [layer.name for layer in mixed.layers] == [layer.name for layer in model.layers]
    dtypes = {layer.name: layer.compute_dtype for layer in mixed.layers}
    heavy = [layer.name for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert all(dtypes[name] == "float16" for name in heavy[:-1]) and dtypes[heavy[-1]] == "float32"
    assert all(dtypes[name] == "float32" for name in dtypes if name not in heavy)  # LRN, mean image, pools
    assert all(weight.dtype == "float32" for weight in mixed.weights)
    for a, b in zip(model.get_weights(), mixed.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(1).uniform(0, 255, (4,) + model.input_shape[1:]).astype(np.float32)
    out, out_mixed = model(x).numpy(), mixed(x)
    assert out_mixed.dtype == tf.float32
    # float16 keeps about 3 significant digits
    np.testing.assert_allclose(out_mixed.numpy(), out, rtol=0, atol=2e-2 * np.abs(out).max())
    assert not np.array_equal(out_mixed.numpy(), out)  # float16 compute really happened


def test_mixed_precision_run_trains_keeps_float32_state_and_resumes(tiny_config, tmp_path):
    config = tiny_config.replace(mixed_precision=True, epochs=2, jit=False)
    run, metrics = fit(config, tmp_path / "run", progress=False, echo=lambda m: None)
    with np.load(run.path / "checkpoint" / "state.npz") as state:
        assert state["F"].dtype == state["G"].dtype == np.float32 and np.isfinite(state["F"]).all()
        assert set(np.unique(state["B"])) == {-1, 1}
        image_optimizer = [key for key in state.files if key.startswith("optimizer/image/")]
    keras.utils.set_random_seed(0)
    plain_optimizer_variables = len(keras.optimizers.Adam().variables)
    assert len(image_optimizer) > plain_optimizer_variables  # the loss scale and its step counter are kept
    assert 0 <= metrics["map_i2t"] <= 1
    _, again = fit(config.replace(epochs=3), tmp_path / "run", resume=True, progress=False, echo=lambda m: None)
    assert again["epoch"] == 3


def test_mixed_precision_is_a_boolean(tiny_config):
    from dcmh_tf.errors import ConfigError

    with pytest.raises(ConfigError, match="mixed_precision must be true or false, received 'yes'"):
        tiny_config.replace(mixed_precision="yes")
