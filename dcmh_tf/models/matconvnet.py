"""MatConvNet's `imagenet-vgg-f.mat` (CNN-F on ImageNet) read into NumPy arrays.

Two "simplenn" layouts exist in the wild, and files are saved as MATLAB v5 or v7.3 (HDF5):

* old (MatConvNet before beta17): top-level `layers` (cell array of structs) and `normalization`
  (struct with `averageImage`, `imageSize`, ...); conv layers hold either `weights = {filters, biases}`
  or, older still, separate `filters` and `biases` fields;
* newer: top-level `layers` and `meta`, the mean image in `meta.normalization.averageImage`
  (code written for the old layout fails on these files with `KeyError: 'normalization'`).

A file that holds one struct `net` (saved with `save(path, 'net')`) is unwrapped first.
Filters keep MatConvNet's [height width in out] order, which is Keras' HWIO: `scipy.io.loadmat`
and the v7.3 reader below index arrays as MATLAB does (a(i, j, ...) is array[i-1, j-1, ...]), and
MatConvNet's `vl_nnconv`, like `tf.nn.conv2d`, computes a correlation (no kernel flip).

`save_converted` writes the same arrays into a small .npz (no scipy needed to read it back);
`read_weight_file` reads either kind.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from dcmh_tf.errors import DataError

CONVERTED_FORMAT = "dcmh_tf CNN-F weights from MatConvNet, v1"
CONV_TYPES = ("conv",)
LRN_TYPES = ("lrn", "normalize")  # "normalize" in files written before MatConvNet beta12


@dataclass
class MatConvNetWeights:
    """The arrays of a MatConvNet simplenn network that CNN-F needs.

    convs: layer name -> (filters (h, w, in, out) float32, biases (out,) float32), for every conv layer;
    lrn: layer name -> MatConvNet's `param` [N kappa alpha beta] of every LRN layer;
    average_image: the mean image, (H, W, 3) RGB 0–255 (or (3,) for a mean colour);
    image_size: the input size the network was trained for, (H, W), when the file says it;
    source: where the arrays came from, for messages (path and layout).
    """

    convs: dict[str, tuple[np.ndarray, np.ndarray]]
    lrn: dict[str, tuple[float, float, float, float]]
    average_image: np.ndarray
    image_size: tuple[int, int] | None = None
    source: str = ""
    layer_names: list[str] = field(default_factory=list)


def read_weight_file(path) -> MatConvNetWeights:
    """A MatConvNet .mat file (either layout, v5 or v7.3) or an .npz written by `save_converted`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected MatConvNet's imagenet-vgg-f.mat or its converted .npz.")
    if zipfile.is_zipfile(path):
        return _read_converted(path)
    tree = _read_mat_tree(path)
    return _parse_simplenn(tree, path)


def save_converted(weights: MatConvNetWeights, path) -> None:
    """Write `weights` as an .npz that `read_weight_file` reads back without scipy."""
    arrays: dict[str, np.ndarray] = {"format": np.asarray(CONVERTED_FORMAT), "average_image": weights.average_image}
    if weights.image_size is not None:
        arrays["image_size"] = np.asarray(weights.image_size, np.int64)
    for name, (filters, biases) in weights.convs.items():
        arrays[f"{name}/filters"] = filters
        arrays[f"{name}/biases"] = biases
    for name, param in weights.lrn.items():
        arrays[f"{name}/param"] = np.asarray(param, np.float64)
    np.savez(path, **arrays)


# --- the layouts ------------------------------------------------------------------------------
def _parse_simplenn(tree: dict, path: Path) -> MatConvNetWeights:
    if "layers" not in tree and isinstance(tree.get("net"), dict):
        tree = tree["net"]
    if "layers" not in tree:
        raise DataError(
            f"{path}: no 'layers' in the file (it holds {', '.join(sorted(tree)) or 'nothing'}); expected a "
            f"MatConvNet simplenn network such as imagenet-vgg-f.mat."
        )
    if "params" in tree or "vars" in tree:
        raise DataError(
            f"{path} is a MatConvNet DagNN network; expected the simplenn imagenet-vgg-f.mat "
            f"(from the MatConvNet model zoo)."
        )
    if isinstance(tree.get("meta"), dict):
        layout, normalization = "meta", tree["meta"].get("normalization")
    else:
        layout, normalization = "normalization", tree.get("normalization")
    if not isinstance(normalization, dict) or "averageImage" not in normalization:
        raise DataError(
            f"{path}: no mean image; expected it in 'normalization.averageImage' (old MatConvNet files) or "
            f"'meta.normalization.averageImage' (newer ones). The file holds {', '.join(sorted(tree))}."
        )
    layers = tree["layers"]
    if isinstance(layers, dict):  # a one-layer cell array reads as the struct itself
        layers = [layers]
    convs, lrn, names = {}, {}, []
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or "name" not in layer or "type" not in layer:
            raise DataError(f"{path}: layers{{{index + 1}}} is not a layer struct with 'name' and 'type'.")
        name, kind = str(layer["name"]), str(layer["type"])
        names.append(name)
        if kind in CONV_TYPES:
            convs[name] = _conv_arrays(layer, name, path)
        elif kind in LRN_TYPES:
            param = np.asarray(layer.get("param", []), np.float64).ravel()
            if param.size != 4:
                raise DataError(f"{path}: layer {name}: expected param [N kappa alpha beta], received {param.tolist()}.")
            lrn[name] = tuple(float(p) for p in param)
    average = np.asarray(normalization["averageImage"], np.float32)
    size = np.asarray(normalization.get("imageSize", []), np.float64).ravel()
    image_size = (int(size[0]), int(size[1])) if size.size >= 2 else None
    return MatConvNetWeights(
        convs, lrn, average, image_size, source=f"{path} (MatConvNet simplenn, '{layout}' layout)", layer_names=names
    )


def _conv_arrays(layer: dict, name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if "weights" in layer:
        weights = layer["weights"]
        if not isinstance(weights, list) or len(weights) != 2:
            raise DataError(f"{path}: layer {name}: expected weights = {{filters, biases}}, received {weights!r:.80}.")
        filters, biases = weights
    elif "filters" in layer and "biases" in layer:
        filters, biases = layer["filters"], layer["biases"]
    else:
        raise DataError(f"{path}: layer {name} is a conv layer without 'weights' or 'filters'/'biases'.")
    filters = np.asarray(filters, np.float32)
    if filters.ndim > 4:
        raise DataError(f"{path}: layer {name}: expected filters [h w in out], received shape {filters.shape}.")
    # MATLAB drops trailing singleton dimensions: an 11×11×3×1 bank is saved as 11×11×3.
    filters = filters.reshape(filters.shape + (1,) * (4 - filters.ndim))
    return filters, np.asarray(biases, np.float32).ravel()


def _read_converted(path: Path) -> MatConvNetWeights:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    if str(arrays.get("format", "")) != CONVERTED_FORMAT:
        raise DataError(
            f"{path}: an .npz, but not one written by scripts/convert_vggf.py (no format marker "
            f"{CONVERTED_FORMAT!r}); pass MatConvNet's .mat file or convert it again."
        )
    convs = {
        key[: -len("/filters")]: (arrays[key], arrays[key[: -len("/filters")] + "/biases"])
        for key in arrays
        if key.endswith("/filters")
    }
    lrn = {key[: -len("/param")]: tuple(float(p) for p in arrays[key]) for key in arrays if key.endswith("/param")}
    size = arrays.get("image_size")
    image_size = (int(size[0]), int(size[1])) if size is not None else None
    return MatConvNetWeights(
        convs, lrn, arrays["average_image"], image_size, source=f"{path} (converted)", layer_names=[*convs, *lrn]
    )


# --- MATLAB files as plain Python trees: struct -> dict, cell -> list, char -> str, else ndarray -----
def _read_mat_tree(path: Path) -> dict:
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            return {key: _from_v73(f, f[key]) for key in f if not key.startswith("#")}
    import scipy.io

    try:
        contents = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=False, chars_as_strings=True)
    except Exception as error:  # scipy's parser fails on arbitrary bytes with many error types
        raise DataError(f"{path}: not a MATLAB .mat file ({error}); expected MatConvNet's imagenet-vgg-f.mat.") from None
    return {key: _from_v5(value) for key, value in contents.items() if not key.startswith("__")}


def _from_v5(value):
    from scipy.io.matlab import mat_struct

    if isinstance(value, mat_struct):
        return {name: _from_v5(getattr(value, name)) for name in value._fieldnames}
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype == object:
        items = [_from_v5(item) for item in value.ravel(order="F")]
        is_struct = value.size > 0 and all(isinstance(item, mat_struct) for item in value.ravel())
        return items[0] if is_struct and value.size == 1 else items
    if value.dtype.kind == "U":
        return "".join(value.ravel().tolist())
    return value


def _from_v73(f: h5py.File, item):
    if isinstance(item, h5py.Group):
        return {key: _from_v73(f, item[key]) for key in item}
    kind = item.attrs.get("MATLAB_class", b"")
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if "MATLAB_empty" in item.attrs and item.attrs["MATLAB_empty"]:
        return "" if kind == "char" else ([] if kind == "cell" else np.zeros((0,)))
    data = item[()]
    if kind == "cell":
        # v7.3 stores an array with its axes reversed: C order of the stored refs is MATLAB's column order
        return [_from_v73(f, f[ref]) for ref in np.asarray(data).ravel()]
    if kind == "char":
        return "".join(chr(code) for code in np.asarray(data).T.ravel())
    return np.asarray(data).T
