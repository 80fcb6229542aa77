"""Export of a tiny trained run, checked through the real loaders: tf.saved_model.load,
`saved_model_cli` (the session-based loader TF Serving uses), onnx.checker and onnxruntime."""

import json
import subprocess
import sys

import keras
import numpy as np
import onnx
import onnxruntime
import pytest
import tensorflow as tf
from click.testing import CliRunner

from dcmh_tf.cli import main
from dcmh_tf.config import resolve_config
from dcmh_tf.export.heads import PackBits, SignCodes, attach_heads
from dcmh_tf.export.parity import make_sample
from dcmh_tf.export.serving import ExportedEncoder
from dcmh_tf.run_directory import RunDirectory

SAVED_MODEL_CLI = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 3-epoch demo run (64×64 CNN-F, hidden 32, 8 bits) exported in every format through the CLI."""
    from dcmh_tf.training import trainer as training

    root = tmp_path_factory.mktemp("export")
    config = resolve_config(
        "demo", bits=8, hidden=32, epochs=3, batch_size=8, n_query=8, n_train=16, lr=1e-3, lr_end=1e-4, seed=3, jit=False,
    )
    run, _ = training.fit(config, root / "run", progress=False, echo=lambda message: None)
    result = CliRunner().invoke(main, ["export", str(run.path), "--format", "all", "--output", str(root / "out"),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    image, text, _ = RunDirectory.open(run.path).restore_encoders()
    return {"run": run.path, "out": root / "out", "output": result.output, "image": image, "text": text,
            "vocabulary": run.read_inputs()["tag_vocabulary"]}


def sample(modality, n, seed=0):
    rng = np.random.default_rng(seed)
    if modality == "image":
        return rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)
    return (rng.random((n, 96)) < 0.1).astype(np.float32)


def expected_outputs(model, inputs):
    features = model(inputs.astype(np.float32), training=False).numpy()
    codes = np.where(features >= 0, 1, -1).astype(np.int8)
    return features, codes, np.packbits(codes > 0, axis=1)


def assert_matches_keras(outputs, model, inputs):
    features, codes, packed = expected_outputs(model, inputs)
    assert outputs["features"].dtype == np.float32 and outputs["features"].shape == features.shape
    np.testing.assert_allclose(outputs["features"], features, atol=1e-4, rtol=0)
    assert outputs["codes"].dtype == np.int8
    np.testing.assert_array_equal(outputs["codes"], codes)
    assert outputs["packed"].dtype == np.uint8
    np.testing.assert_array_equal(outputs["packed"], packed)


# heads ---------------------------------------------------------------------------------------
def test_heads_give_sign_codes_and_packbits_layout():
    features = np.array([[0.0, -0.1, 2.0, -3.0, 0.5, -0.0, 1e-9, -1e-9, 5.0]], np.float32)
    codes = SignCodes()(features).numpy()
    packed = PackBits()(features).numpy()
    assert codes.dtype == np.int8 and packed.dtype == np.uint8
    # sign(0) = sign(-0.0) = +1; bits 1 0 1 0 1 1 1 0 | 1 (padded with seven zeros)
    np.testing.assert_array_equal(codes, [[1, -1, 1, -1, 1, 1, 1, -1, 1]])
    np.testing.assert_array_equal(packed, [[0b10101110, 0b10000000]])
    np.testing.assert_array_equal(PackBits()(codes).numpy(), packed)  # packing the ±1 codes gives the same bytes


def test_attach_heads_shares_the_encoders_weights():
    encoder = keras.Sequential([keras.Input((5,)), keras.layers.Dense(16)])
    model = attach_heads(encoder)
    inputs = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    outputs = {key: value.numpy() for key, value in model(inputs).items()}
    assert set(outputs) == {"features", "codes", "packed"} and outputs["packed"].shape == (7, 2)
    assert_matches_keras(outputs, encoder, inputs)


# SavedModel ----------------------------------------------------------------------------------
def test_export_writes_tf_serving_layout_and_prints_parity(exported):
    out = exported["out"]
    for name in ("dcmh_image", "dcmh_text"):
        assert (out / name / "1" / "saved_model.pb").is_file()
        assert (out / "onnx" / "1" / f"{name}.onnx").is_file()
    config = (out / "models.config").read_text()
    assert 'name: "dcmh_image"' in config and 'base_path: "/models/dcmh_text"' in config
    assert config.count('model_platform: "tensorflow"') == 2
    table = exported["output"].split("parity with Keras")[1]
    assert "random inputs" in table
    rows = [line.split() for line in table.splitlines() if line.startswith("dcmh_")]
    assert [row[:2] for row in rows] == [[name, format] for name in ("dcmh_image", "dcmh_text")
                                         for format in ("savedmodel", "onnx", "keras")]
    assert all(float(row[2]) <= 1e-4 and row[3] == "100.00%" and row[4] == "ok" for row in rows)


@pytest.mark.parametrize("modality", ["image", "text"])
@pytest.mark.parametrize("batch", [1, 7])
def test_saved_model_matches_keras(exported, modality, batch):
    loaded = tf.saved_model.load(str(exported["out"] / f"dcmh_{modality}" / "1"))
    inputs = sample(modality, batch, seed=batch)
    outputs = loaded.signatures["serving_default"](**{modality: tf.constant(inputs)})
    assert_matches_keras({key: value.numpy() for key, value in outputs.items()}, exported[modality], inputs)


def test_saved_model_stores_each_weight_once(exported):
    for modality in ("image", "text"):
        weight_bytes = sum(v.numpy().nbytes for v in exported[modality].weights)
        stored = (exported["out"] / f"dcmh_{modality}" / "1" / "variables" / "variables.data-00000-of-00001")
        # one copy plus a little header; a second copy (ExportArchive.track) would double it
        assert weight_bytes <= stored.stat().st_size < 1.1 * weight_bytes + 4096


def test_image_bytes_signature_decodes_and_resizes(exported):
    loaded = tf.saved_model.load(str(exported["out"] / "dcmh_image" / "1"))
    pictures = sample("image", 3, seed=4)
    files = tf.constant([tf.io.encode_png(picture).numpy() for picture in pictures])
    outputs = loaded.signatures["image_bytes"](image_bytes=files)
    assert_matches_keras({key: value.numpy() for key, value in outputs.items()}, exported["image"], pictures)

    # another size is resized in the graph as the training pipeline does (bilinear, antialiased)
    large = np.random.default_rng(5).integers(0, 256, size=(2, 100, 80, 3), dtype=np.uint8)
    resized = tf.image.resize(large.astype(np.float32), (64, 64), antialias=True).numpy()
    outputs = loaded.signatures["serving_default"](image=tf.constant(large))
    np.testing.assert_allclose(outputs["features"].numpy(), exported["image"](resized).numpy(), atol=1e-4)


def test_tags_signature_builds_the_bag_of_words(exported):
    loaded = tf.saved_model.load(str(exported["out"] / "dcmh_text" / "1"))
    vocabulary = exported["vocabulary"]
    tags = [b"red circle", b"green,box  green", b"", b"unknownword red"]
    bow = np.zeros((4, 96), np.float32)
    bow[0, [vocabulary.index("red"), vocabulary.index("circle")]] = 1
    bow[1, [vocabulary.index("green"), vocabulary.index("box")]] = 1  # a repeated tag counts once
    bow[3, vocabulary.index("red")] = 1  # unknown tags are dropped; row 2 is all zeros
    outputs = loaded.signatures["tags"](tags=tf.constant(tags))
    assert_matches_keras({key: value.numpy() for key, value in outputs.items()}, exported["text"], bow)


def test_saved_model_cli_show_lists_the_signatures(exported):
    shown = subprocess.run([*SAVED_MODEL_CLI, "show", "--dir", str(exported["out"] / "dcmh_image" / "1"),
                            "--all"], capture_output=True, text=True, check=True).stdout
    assert "signature_def['serving_default']" in shown and "signature_def['image_bytes']" in shown
    assert "inputs['image'] tensor_info:\n        dtype: DT_UINT8\n        shape: (-1, -1, -1, 3)" in shown
    for output, dtype in (("codes", "DT_INT8"), ("features", "DT_FLOAT"), ("packed", "DT_UINT8")):
        assert f"outputs['{output}'] tensor_info:\n        dtype: {dtype}" in shown


@pytest.mark.parametrize("modality, signature, batch", [("image", "serving_default", 7), ("text", "serving_default", 1),
                                                        ("image", "image_bytes", 2), ("text", "tags", 2)])
def test_saved_model_cli_run_matches_keras(exported, tmp_path, modality, signature, batch):
    inputs = sample(modality, batch, seed=10 + batch)
    reference = inputs
    if signature == "image_bytes":
        inputs = np.array([tf.io.encode_png(picture).numpy() for picture in inputs], dtype=object)
    if signature == "tags":
        inputs = np.array([b"red circle oldphoto", b"green"], dtype=object)
        vocabulary = exported["vocabulary"]
        reference = np.zeros((2, 96), np.float32)
        reference[0, [vocabulary.index(word) for word in ("red", "circle", "oldphoto")]] = 1
        reference[1, vocabulary.index("green")] = 1
    name = {"serving_default": modality}.get(signature, signature)
    np.save(tmp_path / "inputs.npy", inputs, allow_pickle=True)
    subprocess.run([*SAVED_MODEL_CLI, "run", "--dir", str(exported["out"] / f"dcmh_{modality}" / "1"),
                    "--tag_set", "serve", "--signature_def", signature, "--inputs", f"{name}={tmp_path}/inputs.npy",
                    "--outdir", str(tmp_path / "outputs")], capture_output=True, text=True, check=True)
    outputs = {key: np.load(tmp_path / "outputs" / f"{key}.npy") for key in ("features", "codes", "packed")}
    assert_matches_keras(outputs, exported[modality], reference)


# ONNX ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("modality", ["image", "text"])
def test_onnx_is_checker_clean_with_named_dynamic_batch(exported, modality):
    model = onnx.load(str(exported["out"] / "onnx" / "1" / f"dcmh_{modality}.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert max(opset.version for opset in model.opset_import if opset.domain in ("", "ai.onnx")) >= 17
    assert [value.name for value in model.graph.input] == [modality]
    assert sorted(value.name for value in model.graph.output) == ["codes", "features", "packed"]
    for value in (*model.graph.input, *model.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"


@pytest.mark.parametrize("modality", ["image", "text"])
@pytest.mark.parametrize("batch", [1, 7])
def test_onnxruntime_matches_keras(exported, modality, batch):
    session = onnxruntime.InferenceSession(str(exported["out"] / "onnx" / "1" / f"dcmh_{modality}.onnx"),
                                           providers=["CPUExecutionProvider"])
    inputs = sample(modality, batch, seed=20 + batch)
    names = [output.name for output in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, {modality: inputs})))
    assert_matches_keras(outputs, exported[modality], inputs)


# CLI: versions and bad input -----------------------------------------------------------------
def test_existing_version_is_refused_unless_overwrite(exported):
    runner = CliRunner()
    arguments = ["export", str(exported["run"]), "--format", "savedmodel", "--output", str(exported["out"]),
                 "--no-progress"]
    before = (exported["out"] / "dcmh_text" / "1" / "saved_model.pb").stat().st_mtime_ns
    result = runner.invoke(main, arguments)
    assert result.exit_code == 1
    assert f"version 1 already exists: {exported['out'] / 'dcmh_image' / '1'}" in result.output
    assert "pass --overwrite" in result.output and "Traceback" not in result.output
    assert (exported["out"] / "dcmh_text" / "1" / "saved_model.pb").stat().st_mtime_ns == before

    result = runner.invoke(main, [*arguments, "--version", "2"])
    assert result.exit_code == 0, result.output
    assert (exported["out"] / "dcmh_image" / "2" / "saved_model.pb").is_file()
    result = runner.invoke(main, [*arguments, "--version", "2", "--overwrite"])
    assert result.exit_code == 0, result.output


def test_a_version_beside_another_runs_models_is_refused_unless_force(exported, tmp_path):
    import shutil

    out, other = tmp_path / "out", tmp_path / "other-run"
    shutil.copytree(exported["out"], out)
    shutil.copytree(exported["run"], other)
    run = RunDirectory.open(other)  # another run: another folder, other weights
    image, text, _ = run.restore_encoders()
    image.set_weights([weight + 0.01 for weight in image.get_weights()])
    run.save_checkpoint(image, text, run.check_checkpoint())
    first = json.loads((out / "dcmh_image" / "1" / "assets.extra" / "dcmh_run.json").read_text())
    arguments = ["export", str(other), "--format", "keras", "--output", str(out), "--version", "7", "--no-progress"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1, result.output
    versions = sorted(int(folder.name) for folder in (out / "dcmh_image").iterdir())  # 1, and 2 if another test made it
    listed = f"version{'s' if len(versions) > 1 else ''} {', '.join(map(str, versions))}"
    assert (f"{out} already holds dcmh_image / dcmh_text models of another run ({listed} from {first['path']} "
            f"(weights {first['fingerprint']})); this export is of {other.resolve()} (weights {run.fingerprint()})."
            in result.output.replace("\n", " ")), result.output
    assert "pass --force" in result.output and not (out / "keras" / "7").exists()
    result = CliRunner().invoke(main, [*arguments, "--force"])
    assert result.exit_code == 0, result.output
    assert (out / "keras" / "7" / "dcmh_image.keras").is_file()
    # the same run trained further (same folder, other weights) is what versions are for: no question asked
    own = ["export", str(other), "--format", "keras", "--output", str(tmp_path / "own"), "--no-progress"]
    assert CliRunner().invoke(main, [*own, "--version", "1"]).exit_code == 0
    image.set_weights([weight + 0.01 for weight in image.get_weights()])
    run.save_checkpoint(image, text, run.check_checkpoint())
    result = CliRunner().invoke(main, [*own, "--version", "2"])
    assert result.exit_code == 0, result.output


LOAD_KERAS_FILES = """
import sys
import keras
import numpy as np
import dcmh_tf.export  # registers the project's layers; nothing else of the project runs
for path, inputs, output in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    outputs = keras.saving.load_model(path)(np.load(inputs).astype(np.float32), training=False)
    np.savez(output, **{key: np.asarray(value) for key, value in outputs.items()})
"""


def test_keras_files_load_in_a_fresh_process_and_match_keras(exported, tmp_path):
    assert "dcmh_image       keras" in exported["output"]  # the CLI's parity table has the .keras rows
    arguments = []
    for modality in ("image", "text"):
        np.save(tmp_path / f"{modality}.npy", sample(modality, 5))
        arguments += [str(exported["out"] / "keras" / "1" / f"dcmh_{modality}.keras"), str(tmp_path / f"{modality}.npy"),
                      str(tmp_path / f"{modality}-out.npz")]
    subprocess.run([sys.executable, "-c", LOAD_KERAS_FILES, *arguments], check=True)
    for modality in ("image", "text"):
        with np.load(tmp_path / f"{modality}-out.npz") as outputs:
            assert_matches_keras(dict(outputs), exported[modality], sample(modality, 5))


@pytest.mark.parametrize("arguments, code, message", [
    (["--format", "tflite"], 2, "Invalid value for '--format': 'tflite' is not one of 'savedmodel', 'onnx', 'keras', 'all'"),
    (["--version", "0"], 2, "Invalid value for '--version': 0 is not in the range x>=1"),
    (["--name", "my model"], 1, "model name 'my model': expected letters, digits"),
])
def test_bad_options(exported, tmp_path, arguments, code, message):
    # a real run: the CLI refuses a folder that is not one before it looks at --name
    result = CliRunner().invoke(main, ["export", str(exported["run"]), "--output", str(tmp_path / "out"), *arguments])
    assert result.exit_code == code
    assert message in result.output and "Traceback" not in result.output


def test_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path), "--output", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"Error: {tmp_path} is not a dcmh-tf run: config.json, split.npz missing" in result.output
    assert not (tmp_path / "out").exists()


def test_feature_run_exports_take_raw_features_and_plain_signatures(tmp_path, write_features_file):
    """A trained run on pre-extracted features (raw values far from z-scores): the exported models
    take raw features and give the codes of the run's evaluation path, because the training rows'
    statistics are weights of the encoders; no image_bytes and no tags signature, said in the output."""
    from dcmh_tf.training import trainer as training
    from dcmh_tf.evaluation.scoring import encode_codes

    images, texts = write_features_file(tmp_path / "f.npz")
    config = resolve_config("wiki", dataset="features", data_path=str(tmp_path / "f.npz"), bits=12, hidden=16, epochs=2,
                            batch_size=16, seed=0)
    run, _ = training.fit(config, tmp_path / "run", progress=False, echo=lambda message: None)
    image, text, _ = RunDirectory.open(run.path).restore_encoders()

    result = CliRunner().invoke(main, ["export", str(run.path), "--output", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "no 'image_bytes' signature for dcmh_image: the image encoder takes pre-extracted features" in result.output
    assert "no 'tags' signature for dcmh_text: dataset 'features' has no tag vocabulary" in result.output
    queries = run.load_split().query
    for modality, model, raw, rows in (("image", image, images, queries[:7]), ("text", text, texts, queries[:1])):
        inputs = raw[rows]
        # by hand: z-score with the raw training rows' statistics (std 1 for a constant column), then the MLP
        mean, std = raw[:48].mean(0, dtype=np.float64), raw[:48].std(0, dtype=np.float64)
        std[std < 1e-12] = 1
        kernel1, bias1, kernel2, bias2 = (model.get_layer(name).get_weights()[k] for name in ("full1", "full2") for k in (0, 1))
        by_hand = np.maximum((inputs - mean) / std @ kernel1 + bias1, 0) @ kernel2 + bias2
        unscaled = np.maximum(inputs @ kernel1 + bias1, 0) @ kernel2 + bias2
        assert np.abs(by_hand - unscaled).max() > 0.1  # the standardisation matters on these inputs
        loaded = tf.saved_model.load(str(tmp_path / "out" / f"dcmh_{modality}" / "1"))
        assert list(loaded.signatures) == ["serving_default"]
        outputs = loaded.signatures["serving_default"](**{modality: tf.constant(inputs)})
        outputs = {key: value.numpy() for key, value in outputs.items()}
        session = onnxruntime.InferenceSession(str(tmp_path / "out" / "onnx" / "1" / f"dcmh_{modality}.onnx"))
        names = [output.name for output in session.get_outputs()]
        for exported in (outputs, dict(zip(names, session.run(names, {modality: inputs})))):
            assert_matches_keras(exported, model, inputs)
            np.testing.assert_allclose(exported["features"], by_hand, atol=1e-4)
            np.testing.assert_array_equal(exported["codes"], encode_codes(model, raw, rows))  # evaluation's codes
        assert outputs["packed"].shape == (len(inputs), 2)  # 12 bits: two bytes, the last half padding
        # the CLI's parity sample: raw features whose z-scores are standard normal, not N(0, 1) raw values
        sample = make_sample(ExportedEncoder(modality, model, "features", raw.shape[1]), 4000, seed=1)
        z_scores = model.get_layer("standardization")(sample).numpy()
        np.testing.assert_allclose(z_scores.mean(0), 0, atol=0.1)
        np.testing.assert_allclose(z_scores.std(0), 1, atol=0.1)
    assert json.loads((run.path / "inputs.json").read_text())["tag_vocabulary"] is None


def test_exports_record_the_run_that_made_them(exported):
    from dcmh_tf.retrieval.searcher import build_index

    run = RunDirectory.open(exported["run"])
    identity = {"path": str(run.path), "fingerprint": run.fingerprint()}
    assert len(identity["fingerprint"]) == 16
    for modality in ("image", "text"):
        saved = json.loads((exported["out"] / f"dcmh_{modality}" / "1" / "assets.extra" / "dcmh_run.json").read_text())
        assert saved == identity
        model = onnx.load(str(exported["out"] / "onnx" / "1" / f"dcmh_{modality}.onnx"))
        props = {entry.key: entry.value for entry in model.metadata_props}
        assert props["dcmh_run_fingerprint"] == identity["fingerprint"]
        assert props["dcmh_run_path"] == identity["path"]
    assert build_index(run.path).run == identity  # an index of the same run carries the same identity
