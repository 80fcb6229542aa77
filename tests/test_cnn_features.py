"""CNN features of pictures (`dcmh-tf datasets features`): full7 of a run's or ImageNet's CNN-F, as a
features file the baselines train on."""

import numpy as np
import pytest
from click.testing import CliRunner

from dcmh_tf.cli import main
from dcmh_tf.baselines.cnn_features import extract_features, feature_model
from dcmh_tf.data.images import to_matlab_layout
from dcmh_tf.data.matfile import write_mat_v73
from dcmh_tf.errors import ConfigError
from dcmh_tf.models import make_cnnf, make_mlp
from dcmh_tf.run_directory import RunDirectory

N = 40
TINY = ["--bits", "8", "--hidden", "32", "--epochs", "1", "--batch-size", "8", "--no-jit", "--no-progress"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny DCMH run on NUS-WIDE part files of 40 random pictures."""
    folder = tmp_path_factory.mktemp("nuswide")
    rng = np.random.default_rng(0)
    write_mat_v73(folder / "nus-wide-tc10-iall.mat",
                  {"IAll": to_matlab_layout(rng.integers(0, 256, (N, 20, 16, 3), dtype=np.uint8))})
    write_mat_v73(folder / "nus-wide-tc10-yall.mat", {"YAll": (rng.random((N, 10)) < 0.3).astype(np.uint8)})
    write_mat_v73(folder / "nus-wide-tc10-lall.mat", {"LAll": np.eye(4, dtype=np.uint8)[rng.integers(0, 4, N)]})
    run = folder / "run"
    result = CliRunner().invoke(main, ["fit", "--dataset", "nus-wide", "--data-path", str(folder), "--n-query", "8",
                                       "--n-train", "24", "--image-size", "64", "--output", str(run), *TINY])
    assert result.exit_code == 0, result.output
    return folder, run


def test_full7_features_are_what_the_hash_layer_reads():
    encoder = make_cnnf(8, image_size=64, hidden=32)
    model = feature_model(encoder)
    pictures = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3)).astype(np.float32)
    features = model(pictures).numpy()
    assert features.shape == (5, 32) and features.min() >= 0  # after full7's ReLU
    kernel, bias = (w.numpy() for w in encoder.get_layer("full8").weights)
    np.testing.assert_allclose(features @ kernel + bias, encoder(pictures).numpy(), rtol=1e-4, atol=1e-4)
    assert feature_model(encoder, "full6").output.shape[-1] == 32
    with pytest.raises(ConfigError, match="has no layer 'full7': CNN features need a CNN-F image net"):
        feature_model(make_mlp(12, 8, 16, name="image_encoder", input_name="image"))
    with pytest.raises(ConfigError, match="expected one of full6, full7, received 'conv5'"):
        feature_model(encoder, "conv5")


def test_features_of_a_run_keep_its_split_and_feed_the_baselines(trained_run, tmp_path):
    folder, run = trained_run
    output = tmp_path / "cnn.npz"
    runner = CliRunner()
    result = runner.invoke(main, ["datasets", "features", "--run", str(run), "--output", str(output), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "full7 features of 40 pictures (32-d)" in result.output and "32 database, 8 queries" in result.output
    assert "Warning: the file's training set is the whole database" in result.output  # 24 of 32 train
    split = RunDirectory.open(run).load_split()
    image_encoder, _, _ = RunDirectory.open(run).restore_encoders()
    from dcmh_tf.config import resolve_config
    from dcmh_tf.data.loading import load_dataset

    data = load_dataset(resolve_config("demo", dataset="nus-wide", data_path=str(folder), image_size=64))
    expected = extract_features(feature_model(image_encoder), data.images, split.query)
    with np.load(output) as f:
        np.testing.assert_allclose(f["I_te"], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(f["T_tr"], data.texts[split.database])
        np.testing.assert_array_equal(f["L_te"], data.labels[split.query])
        assert f["I_tr"].shape == (32, 32)
    result = runner.invoke(main, ["compare", "--data-path", str(output), "--methods", "cca-itq,seph-lin", "--bits", "8",
                                  "--seeds", "1", "--sensitivity-values", "", "--figure-bits", "8",
                                  "--output", str(tmp_path / "cmp"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "SePH-lin" in (tmp_path / "cmp" / "table.md").read_text()


def test_features_with_imagenet_weights_and_bad_requests(trained_run, tmp_path):
    from tests.test_pretrained import average_image, vggf_layers, write_vggf

    folder, run = trained_run
    weights = tmp_path / "imagenet-vgg-f.mat"
    write_vggf(weights, "meta", vggf_layers(), average_image())
    runner = CliRunner()
    result = runner.invoke(main, ["datasets", "features", str(folder), "--pretrained", str(weights), "--n-query", "8", "--n-train", "24",
                                  "--output", str(tmp_path / "f.npz"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "from a CNN-F of the ImageNet weights" in result.output
    with np.load(tmp_path / "f.npz") as f:
        assert f["I_te"].shape == (8, 32) and f["I_tr"].shape == (32, 32) and f["I_tr"].min() >= 0
    result = runner.invoke(main, ["datasets", "features", str(folder), "--handcrafted", "--words", "4", "--n-query", "8",
                                  "--n-train", "24", "--output", str(tmp_path / "h.npz"), "--no-progress"])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "h.npz") as f:  # HOG 324 + HSV 128 + 4 visual words
        assert f["I_te"].shape == (8, 456) and np.isfinite(f["I_tr"]).all()
    for args, message in (
        (["--output", "x.npz"], "give one extractor: --run RUN"),
        (["--run", str(run), "--handcrafted", "--output", "x.npz"], "give one extractor"),
        (["--run", str(run), str(folder), "--output", "x.npz"], "with --run the dataset and split are the run's"),
        (["--pretrained", str(weights), "--output", "x.npz"], "with --pretrained give the dataset's PATH"),
    ):
        result = runner.invoke(main, ["datasets", "features", *args])
        assert result.exit_code == 2 and message in result.output, result.output
    result = runner.invoke(main, ["datasets", "features", "--run", str(run), "--output", str(tmp_path / "f.txt")])
    assert result.exit_code == 1 and "expected a path ending in .npz" in result.output
    assert "Traceback" not in result.output
