"""CNN-F from MatConvNet's imagenet-vgg-f.mat: both layouts, v5 and v7.3, checked against NumPy
forwards written from MatConvNet's definitions (vl_nnconv, vl_nnnormalize, vl_nnpool)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io

from dcmh_tf.data.matfile import MAT_V73_USERBLOCK, write_mat_v73_header
from dcmh_tf.errors import DataError
from dcmh_tf.models import make_cnnf
from dcmh_tf.models.cnnf import load_matconvnet_weights
from dcmh_tf.models.matconvnet import read_weight_file, save_converted

HIDDEN = 32  # full6/full7 width; the conv layers have CNN-F's real sizes
LRN_PARAM = [5.0, 1.0, 0.0001 / 5, 0.75]


def vggf_layers(seed: int = 0, hidden: int = HIDDEN) -> list[dict]:
    """The layer list of imagenet-vgg-f (names, types, strides, pads as MatConvNet has them)."""
    rng = np.random.default_rng(seed)

    def conv(name, h, c_in, c_out, stride, pad):
        filters = rng.normal(0, 1 / np.sqrt(h * h * c_in), (h, h, c_in, c_out)).astype(np.float32)
        biases = rng.normal(0, 0.1, (1, c_out)).astype(np.float32)
        return {"name": name, "type": "conv", "filters": filters, "biases": biases,
                "stride": np.array([[stride, stride]], float), "pad": np.array([[pad] * 4], float)}

    def pool(name, pad):
        return {"name": name, "type": "pool", "method": "max", "pool": np.array([[3.0, 3.0]]),
                "stride": np.array([[2.0, 2.0]]), "pad": np.array([pad], float)}

    def relu(name):
        return {"name": name, "type": "relu"}

    return [
        conv("conv1", 11, 3, 64, 4, 0), relu("relu1"), {"name": "norm1", "type": "lrn", "param": np.array([LRN_PARAM])},
        pool("pool1", [0, 1, 0, 1]),
        conv("conv2", 5, 64, 256, 1, 2), relu("relu2"), {"name": "norm2", "type": "lrn", "param": np.array([LRN_PARAM])},
        pool("pool2", [0, 0, 0, 0]),
        conv("conv3", 3, 256, 256, 1, 1), relu("relu3"), conv("conv4", 3, 256, 256, 1, 1), relu("relu4"),
        conv("conv5", 3, 256, 256, 1, 1), relu("relu5"), pool("pool5", [0, 0, 0, 0]),
        conv("fc6", 6, 256, hidden, 1, 0), relu("relu6"),
        conv("fc7", 1, hidden, hidden, 1, 0), relu("relu7"),
        conv("fc8", 1, hidden, 10, 1, 0), {"name": "prob", "type": "softmax"},
    ]


def average_image(size: int = 224) -> np.ndarray:
    """A mean image that differs along rows, columns and channels, so a transposition shows."""
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([100 + 0.3 * rows, 110 + 0.1 * cols, 90 + 0.05 * (rows + 2 * cols)], -1).astype(np.float32)


def cell(items: list) -> np.ndarray:
    """A 1×N MATLAB cell array for scipy.io.savemat."""
    array = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        array[0, i] = item
    return array


def write_vggf(path, layout: str, layers: list[dict], mean: np.ndarray) -> None:
    """imagenet-vgg-f.mat as MatConvNet saves it (v5). layout: "normalization" (old: top-level
    normalization, filters/biases fields), "normalization-weights" (old with weights = {f, b}) or
    "meta" (newer: meta.normalization, weights = {f, b}, lrn type)."""
    normalization = {"averageImage": mean, "imageSize": np.array([[224.0, 224.0, 3.0]]),
                     "keepAspect": 1.0, "border": np.array([[32.0, 32.0]]), "interpolation": "bilinear"}
    structs = []
    for layer in layers:
        layer = dict(layer)
        if layout != "normalization" and "filters" in layer:
            layer["weights"] = cell([layer.pop("filters"), layer.pop("biases")])
        if layout == "normalization" and layer["type"] == "lrn":
            layer["type"] = "normalize"
        structs.append(layer)
    contents = {"layers": cell(structs)}
    if layout == "meta":
        contents["meta"] = {"normalization": normalization, "inputs": {"name": "input"},
                            "classes": {"name": cell([f"n{i:08d}" for i in range(10)])}}
    else:
        contents["normalization"] = normalization
        contents["classes"] = {"name": cell([f"n{i:08d}" for i in range(10)])}
    scipy.io.savemat(path, contents, format="5", oned_as="row")


def write_vggf_v73(path, layers: list[dict], mean: np.ndarray) -> None:
    """The newer layout saved with `save -v7.3`: HDF5, axes reversed, structs as groups, cells and
    strings as MATLAB stores them."""

    def put(group, name, value):
        if isinstance(value, dict):
            sub = group.create_group(name)
            sub.attrs["MATLAB_class"] = np.bytes_("struct")
            for key, item in value.items():
                put(sub, key, item)
        elif isinstance(value, str):
            dataset = group.create_dataset(name, data=np.array([[ord(c)] for c in value], np.uint16))
            dataset.attrs["MATLAB_class"] = np.bytes_("char")
        elif isinstance(value, list):
            refs = []
            for i, item in enumerate(value):
                put(f["#refs#"], f"{name}_{id(value)}_{i}", item)
                refs.append(f["#refs#"][f"{name}_{id(value)}_{i}"].ref)
            dataset = group.create_dataset(name, data=np.array(refs, dtype=h5py.ref_dtype).reshape(-1, 1))
            dataset.attrs["MATLAB_class"] = np.bytes_("cell")
        else:
            value = np.asarray(value)
            dataset = group.create_dataset(name, data=np.asarray(value).T)
            dataset.attrs["MATLAB_class"] = np.bytes_("single" if value.dtype == np.float32 else "double")

    with h5py.File(path, "w", userblock_size=MAT_V73_USERBLOCK) as f:
        f.create_group("#refs#")
        structs = []
        for layer in layers:
            layer = dict(layer)
            if "filters" in layer:
                layer["weights"] = [layer.pop("filters"), layer.pop("biases")]
            structs.append(layer)
        put(f, "layers", structs)
        put(f, "meta", {"normalization": {"averageImage": mean, "imageSize": np.array([[224.0, 224.0, 3.0]])}})
    write_mat_v73_header(path)


# --- NumPy forwards from MatConvNet's definitions ---------------------------------------------
def matconvnet_conv(x: np.ndarray, filters: np.ndarray, biases: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """vl_nnconv: y(i, j, q) = b_q + Σ_{u, v, d} f(u, v, d, q) x(s·i + u − p, s·j + v − p, d)."""
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    h, w = filters.shape[:2]
    out_h, out_w = (x.shape[0] - h) // stride + 1, (x.shape[1] - w) // stride + 1
    y = np.zeros((out_h, out_w, filters.shape[3]))
    for u in range(h):
        for v in range(w):
            patch = x[u: u + stride * out_h: stride, v: v + stride * out_w: stride]  # (out_h, out_w, in)
            y += patch @ filters[u, v].astype(np.float64)
    return y + biases.ravel()


def matconvnet_lrn(x: np.ndarray, param) -> np.ndarray:
    """vl_nnnormalize: y_k = x_k (κ + α Σ_{k' ∈ G(k)} x_k'²)^−β, G(k) = [k − ⌊(N−1)/2⌋, k + ⌈(N−1)/2⌉]."""
    n, kappa, alpha, beta = param
    low, high = int((n - 1) // 2), int(np.ceil((n - 1) / 2))
    squares = x ** 2
    y = np.empty_like(x)
    for k in range(x.shape[-1]):
        y[..., k] = x[..., k] * (kappa + alpha * squares[..., max(0, k - low): k + high + 1].sum(-1)) ** -beta
    return y


def matconvnet_max_pool(x: np.ndarray, size: int, stride: int, pad) -> np.ndarray:
    """vl_nnpool (max), pad = [top bottom left right] filled with −∞."""
    top, bottom, left, right = pad
    x = np.pad(x, ((top, bottom), (left, right), (0, 0)), constant_values=-np.inf)
    out_h, out_w = (x.shape[0] - size) // stride + 1, (x.shape[1] - size) // stride + 1
    windows = [x[u: u + stride * out_h: stride, v: v + stride * out_w: stride] for u in range(size) for v in range(size)]
    return np.max(windows, axis=0)


@pytest.fixture(scope="module")
def vggf():
    return vggf_layers(), average_image()


@pytest.fixture(scope="module")
def loaded_models(vggf, tmp_path_factory):
    """A CNN-F loaded from each layout (and from the converted .npz of the newer one)."""
    layers, mean = vggf
    folder = tmp_path_factory.mktemp("vggf")
    paths = {}
    for layout in ("normalization", "normalization-weights", "meta"):
        paths[layout] = folder / f"{layout}.mat"
        write_vggf(paths[layout], layout, layers, mean)
    paths["v7.3"] = folder / "v73.mat"
    write_vggf_v73(paths["v7.3"], layers, mean)
    paths["converted"] = folder / "vggf.npz"
    save_converted(read_weight_file(paths["meta"]), paths["converted"])
    models = {}
    for name, path in paths.items():
        model = make_cnnf(bits=8, image_size=224, hidden=HIDDEN)
        notes = load_matconvnet_weights(model, path)
        models[name] = (model, notes)
    return models


LAYOUTS = ["normalization", "normalization-weights", "meta", "v7.3", "converted"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_conv1_norm1_pool1_compute_what_matconvnet_defines(vggf, loaded_models, layout):
    import keras

    layers, mean = vggf
    model, notes = loaded_models[layout]
    assert notes[1] == "  conv1 ← conv1: 11×11×3×64" and notes[6] == "  full6 ← fc6: 6×6×256×32" and notes[-1] == "  mean image: 224×224×3"
    pixels = np.random.default_rng(1).uniform(0, 255, (224, 224, 3)).astype(np.float32)
    conv1 = layers[0]
    reference = matconvnet_conv(pixels.astype(np.float64) - mean, conv1["filters"], conv1["biases"], 4, 0)
    reference = matconvnet_max_pool(matconvnet_lrn(np.maximum(reference, 0), LRN_PARAM), 3, 2, [0, 1, 0, 1])
    trunk = keras.Model(model.input, model.get_layer("pool1").output)
    np.testing.assert_allclose(trunk(pixels[None]).numpy()[0], reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_full6_and_full7_compute_the_matconvnet_convolutions(vggf, loaded_models, layout):
    layers, _ = vggf
    model, _ = loaded_models[layout]
    full6, full7 = layers[15], layers[17]
    pool5 = np.random.default_rng(2).uniform(0, 3, (6, 6, 256)).astype(np.float32)
    reference6 = np.maximum(matconvnet_conv(pool5.astype(np.float64), full6["filters"], full6["biases"], 1, 0), 0)
    assert reference6.shape == (1, 1, HIDDEN)
    reference7 = np.maximum(matconvnet_conv(reference6, full7["filters"], full7["biases"], 1, 0), 0)
    flat = model.get_layer("flatten")(pool5[None])
    out6 = model.get_layer("full6")(flat)
    np.testing.assert_allclose(out6.numpy()[0], reference6.ravel(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.get_layer("full7")(out6).numpy()[0], reference7.ravel(), rtol=1e-4, atol=1e-4)


def test_full8_stays_random_and_the_mean_image_is_not_transposed(vggf, loaded_models):
    _, mean = vggf
    model, _ = loaded_models["meta"]
    np.testing.assert_array_equal(model.get_layer("mean").mean_image.numpy(), mean)
    assert model.get_layer("full8").kernel.shape == (HIDDEN, 8)  # the 10-class fc8 of the file is not used


def test_mean_image_is_resized_for_another_input_size(vggf, tmp_path):
    layers, mean = vggf
    path = tmp_path / "vggf.mat"
    write_vggf(path, "meta", layers, mean)
    model = make_cnnf(bits=8, image_size=227, hidden=HIDDEN)  # 227 still gives pool5 6×6
    notes = load_matconvnet_weights(model, path)
    assert notes[-1] == "  mean image: 224×224×3 resized to 227×227×3"
    loaded = model.get_layer("mean").mean_image.numpy()
    # the ramps keep their ends and slopes: rows 100 → 100 + .3·223, columns 110 → 110 + .1·223
    assert loaded[0, 0, 0] == pytest.approx(100, abs=0.5) and loaded[-1, 0, 0] == pytest.approx(166.9, abs=0.5)
    assert loaded[0, -1, 1] == pytest.approx(132.3, abs=0.3) and np.ptp(loaded[:, 5, 1]) < 1e-3


def test_file_with_a_missing_layer_or_wrong_shapes_is_refused_naming_both(vggf, tmp_path):
    layers, mean = vggf
    broken = [dict(layer) for layer in layers if layer["name"] != "conv3"]  # copies: the fixture is shared
    conv2 = next(layer for layer in broken if layer["name"] == "conv2")
    conv2["filters"] = conv2["filters"][..., :128]
    conv2["biases"] = conv2["biases"][..., :128]
    path = tmp_path / "broken.mat"
    write_vggf(path, "meta", broken, mean)
    model = make_cnnf(bits=8, image_size=224, hidden=HIDDEN)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(DataError) as error:
        load_matconvnet_weights(model, path)
    message = str(error.value)
    assert "conv2: the file holds filters 5×5×64×128 and biases 128, the model expects 5×5×64×256 and 256" in message
    assert ("conv3: missing from the file (expected filters 3×3×256×256; its conv layers are conv1, conv2, conv4, "
            "conv5, fc6, fc7, fc8)") in message
    assert "'meta' layout" in message
    for old, new in zip(before, model.get_weights()):  # nothing was loaded
        np.testing.assert_array_equal(old, new)


def test_model_of_another_size_is_refused_with_both_full6_shapes(tmp_path, vggf):
    layers, mean = vggf
    path = tmp_path / "vggf.mat"
    write_vggf(path, "normalization", layers, mean)
    with pytest.raises(DataError, match=r"fc6: the file holds filters 6×6×256×32 and biases 32, "
                                        r"the model expects 1×1×256×32 and 32"):
        load_matconvnet_weights(make_cnnf(bits=8, image_size=64, hidden=HIDDEN), path)


def test_lrn_constants_are_checked(tmp_path, vggf):
    layers, mean = vggf
    changed = [dict(layer) | ({"param": np.array([[5.0, 2.0, 1e-4, 0.75]])} if layer["name"] == "norm2" else {})
               for layer in layers]
    path = tmp_path / "vggf.mat"
    write_vggf(path, "meta", changed, mean)
    with pytest.raises(DataError, match=r"norm2: the file's LRN param \[N kappa alpha beta\] is \[5.0, 2.0, 0.0001, 0.75\], "
                                        r"the model computes \[5, 1.0, 2e-05, 0.75\]"):
        load_matconvnet_weights(make_cnnf(bits=8, image_size=224, hidden=HIDDEN), path)


def test_files_without_a_mean_image_or_layers_are_refused(tmp_path):
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {"layers": cell([{"name": "conv1", "type": "conv"}]), "classes": {"name": "x"}})
    with pytest.raises(DataError, match=r"no mean image; expected it in 'normalization.averageImage' \(old"):
        read_weight_file(path)
    scipy.io.savemat(path, {"x": np.zeros(3)})
    with pytest.raises(DataError, match=r"no 'layers' in the file \(it holds x\)"):
        read_weight_file(path)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataError, match="not a MATLAB .mat file"):
        read_weight_file(tmp_path / "junk.mat")


class Killed(Exception):
    pass


def test_fit_pretrained_starts_a_new_run_from_the_file_and_resume_uses_the_checkpoint(vggf, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from dcmh_tf.training import trainer as training
    from dcmh_tf.cli import main
    from dcmh_tf.data.synthetic import make_demo_data
    from dcmh_tf.run_directory import RunDirectory

    layers, mean = vggf
    weights = tmp_path / "imagenet-vgg-f.mat"
    write_vggf(weights, "normalization", layers, mean)
    monkeypatch.setattr(training, "load_dataset", lambda config: make_demo_data(40, image_size=224, seed=0))
    run = tmp_path / "run"
    options = ["--bits", "8", "--hidden", str(HIDDEN), "--image-size", "224", "--pixel-scale", "1", "--no-jit",
               "--epochs", "2", "--batch-size", "8", "--n-query", "8", "--n-train", "16", "--no-progress",
               "--lr", "1e-9", "--lr-end", "1e-9"]

    def kill_after_first_epoch(message):
        if message.startswith("epoch 1/"):
            raise Killed
        messages.append(message)

    messages = []
    monkeypatch.setattr("click.echo", kill_after_first_epoch)
    result = CliRunner().invoke(main, ["fit", "--output", str(run), "--pretrained", str(weights), *options])
    assert isinstance(result.exception, Killed), result.output
    assert any(m.startswith("pretrained CNN-F weights from") and "'normalization' layout" in m for m in messages)
    config = RunDirectory.open(run).config
    assert config.pretrained == str(weights.resolve())
    image_encoder, _, epochs = RunDirectory.open(run).restore_encoders()
    assert epochs == 1
    # one epoch at lr 1e-9 leaves the ImageNet weights where the file put them
    np.testing.assert_allclose(image_encoder.get_layer("conv1").kernel.numpy(), layers[0]["filters"], atol=1e-6)
    np.testing.assert_array_equal(image_encoder.get_layer("mean").mean_image.numpy(), mean)

    weights.unlink()  # a resumed run reads its checkpoint, not the file
    messages.clear()
    monkeypatch.setattr("click.echo", messages.append)
    result = CliRunner().invoke(main, ["fit", "--resume", str(run), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert messages[0] == f"resuming {run} after epoch 1/2"
    assert not any(m.startswith("pretrained") for m in messages)


def test_pretrained_needs_the_cnnf_encoder():
    from dcmh_tf.config import resolve_config
    from dcmh_tf.errors import ConfigError

    with pytest.raises(ConfigError, match="pretrained holds ImageNet weights of a picture net, which the mlp image encoder cannot take"):
        resolve_config("wiki", pretrained="imagenet-vgg-f.mat")
