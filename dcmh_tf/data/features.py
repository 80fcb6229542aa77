"""Reader of pre-extracted features (`--dataset features`): image features, text features and labels
in a .mat (any version), .h5 or .npz file.

Two layouts are recognised:
* one set: `I`, `T`, `L` (or `X`/`Y`, `images`/`texts`/`labels`, `IAll`/`YAll`/`LAll`, ...), split by
  the seeded protocol (`--n-query`, `--n-train`);
* train/test sets: `I_tr`, `T_tr`, `L_tr`, `I_te`, `T_te`, `L_te` (also `_train`/`_test`), as in the
  Wikipedia file `wikiData.mat`. They are stacked train first, and the file's split is kept:
  queries = the test set, database = training set = the train set.
Key names are matched ignoring case; `--images-key` etc. name the array (one set) or its stem (`I`
for `I_tr`/`I_te`). Labels may be 0/1 (one- or multi-hot) or class indices.

The features are returned raw. Scaling lives in the encoders: on a features dataset with
`feature_scaling` "standardize" (the default), each MLP starts with a `FeatureStandardization`
layer whose mean and standard deviation, computed on the run's training rows when it is created,
are weights of the encoder (dcmh_tf.models.layers), so checkpoints and exported models take raw
features too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dcmh_tf.data.matfile import ArrayFile, open_array_file
from dcmh_tf.data.paired import PairedData, Split
from dcmh_tf.data.validation import as_float_matrix, as_multi_hot, check_row_counts, warn_unlabelled
from dcmh_tf.errors import DataError

ROLES = ("images", "texts", "labels")
STEMS = {
    "images": ("I", "X", "img", "image", "images", "image_features", "img_feats", "IAll"),
    "texts": ("T", "Y", "txt", "text", "texts", "text_features", "txt_feats", "tags", "YAll"),
    "labels": ("L", "labels", "label", "gnd", "LAll", "categories"),
}
SPLIT_SUFFIXES = (("_tr", "_te"), ("_train", "_test"), ("_trn", "_tst"), ("tr", "te"))


def find_feature_keys(file: ArrayFile, keys: dict[str, str | None] | None = None) -> dict[str, tuple[str, ...]]:
    """role -> (key,) for one set or (train key, test key) for train/test sets.

    Tries train/test names first for every role, then plain names; all three roles must use the
    same layout.
    """
    keys = keys or {}
    lowered = {key.lower(): key for key in file.keys()}

    def lookup(name: str) -> str | None:
        return name if name in file else lowered.get(name.lower())

    def search(role: str, paired: bool) -> tuple[str, ...] | None:
        stems = (keys[role],) if keys.get(role) else STEMS[role]
        for stem in stems:
            if paired:
                for train_suffix, test_suffix in SPLIT_SUFFIXES:
                    train, test = lookup(stem + train_suffix), lookup(stem + test_suffix)
                    if train and test:
                        return train, test
            elif found := lookup(stem):
                return (found,)
        return None

    for paired in (True, False):
        found = {role: search(role, paired) for role in ROLES}
        if all(found.values()):
            return found
    layout_hint = "I_tr/I_te, T_tr/T_te, L_tr/L_te or I, T, L"
    missing = [role for role in ROLES if not (search(role, True) or search(role, False))]
    raise DataError(
        f"{file.path}: cannot find the {', '.join(missing) or 'images, texts and labels of one layout'} arrays "
        f"(expected {layout_hint}); the file holds "
        f"{', '.join(f'{k} ({v})' for k, v in file.describe().items()) or 'no arrays'}. "
        f"Name them with --images-key, --texts-key and --labels-key."
    )


def read_features(path, keys: dict[str, str | None] | None = None) -> PairedData:
    """The raw pairs of a features file; `keys` (role -> name or stem) override the detection."""
    path = Path(path)
    with open_array_file(path) as file:
        found = find_feature_keys(file, keys)
        parts = len(found["images"])
        arrays: dict[str, list[np.ndarray]] = {role: [] for role in ROLES}
        for k in range(parts):
            read = {role: file.read(found[role][k]) for role in ROLES}
            rows = {role: len(read[role]) if read[role].ndim else 0 for role in ROLES}
            if read["labels"].ndim == 2 and read["labels"].shape[0] == 1 and read["labels"].shape[1] == rows["images"]:
                read["labels"] = read["labels"][0]  # MATLAB row vector of class indices
                rows["labels"] = len(read["labels"])
            check_row_counts(f"{path} ({', '.join(found[role][k] for role in ROLES)})", **rows)
            for role in ROLES:
                arrays[role].append(read[role])
        file_format = file.format
    where = {role: f"{path}: {'/'.join(found[role])}" for role in ROLES}
    images = as_float_matrix(np.concatenate(arrays["images"]), where["images"])
    texts = as_float_matrix(np.concatenate(arrays["texts"]), where["texts"])
    labels, classes = as_multi_hot(_stack_labels(arrays["labels"], where["labels"]), where["labels"])
    warn_unlabelled(labels, where["labels"])
    file_split = None
    if parts == 2:
        train = np.arange(len(arrays["images"][0]))
        file_split = Split(query=np.arange(len(train), len(images)), database=train, train=train)
    return PairedData(
        name="features",
        images=images,
        texts=texts,
        labels=labels,
        image_kind="features",
        label_names=[str(c) for c in classes] if classes is not None else None,
        file_split=file_split,
        source={"files": {role: str(path) for role in ROLES}, "keys": found, "formats": {role: file_format for role in ROLES}},
    )


def _stack_labels(parts: list[np.ndarray], where: str) -> np.ndarray:
    """Concatenate the label parts, which must use one encoding (both class indices or both 0/1 of one width)."""
    squeezed = [p[:, 0] if p.ndim == 2 and p.shape[1] == 1 else p for p in parts]
    if len({p.ndim for p in squeezed}) != 1 or len({p.shape[1:] for p in squeezed}) != 1:
        raise DataError(f"{where}: the train and test labels differ in shape "
                        f"({' vs '.join(str(p.shape) for p in parts)}); expected one encoding for both.")
    return np.concatenate(squeezed)


def column_statistics(matrix) -> tuple[np.ndarray, np.ndarray]:
    """float64 (mean, std) of every column of `matrix` (n, d); a constant column gets std 1, so
    z-scoring only centres it instead of dividing by zero. The encoders' `FeatureStandardization`
    and the baselines' inputs share this rule, so DCMH and the baselines see the same features."""
    matrix = np.asarray(matrix)
    mean = matrix.mean(axis=0, dtype=np.float64)
    std = matrix.std(axis=0, dtype=np.float64)
    std[std < 1e-12] = 1.0
    return mean, std
