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

import sys
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


SPLIT_STEMS = {
    "train": ("ind_train", "train_ind", "train_idx", "idx_train", "trainInd", "ind_tr", "train_index", "trainset"),
    "query": ("ind_test", "test_ind", "test_idx", "idx_test", "testInd", "ind_te", "test_index", "ind_query",
              "query_idx", "testset"),
}
ORIENTATIONS = ("auto", "rows", "columns")


def _lookup_table(file: ArrayFile) -> dict[str, str]:
    """lower-cased name -> key, for full names and, where unique, for the last field of dotted names
    (`data.X1` is found as `X1`)."""
    table = {key.lower(): key for key in file.keys()}
    last: dict[str, list[str]] = {}
    for key in file.keys():
        if "." in key:
            last.setdefault(key.rsplit(".", 1)[1].lower(), []).append(key)
    for name, keys in last.items():
        if len(keys) == 1:
            table.setdefault(name, keys[0])
    return table


def _holds(file: ArrayFile) -> str:
    return ", ".join(f"{k} ({v})" for k, v in file.describe().items()) or "no arrays"


def find_feature_keys(file: ArrayFile, keys: dict[str, str | None] | None = None) -> dict[str, tuple[str, ...]]:
    """role -> (key,) for one set or (train key, test key) for train/test sets.

    Tries train/test names first for every role, then plain names; all three roles must use the
    same layout. Names may be dotted fields of MATLAB structs (`data.X1`); a struct field is also
    found by its last name when that is unique.
    """
    keys = keys or {}
    lowered = _lookup_table(file)

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
    missing = [role for role in ROLES if not (search(role, True) or search(role, False))]
    named = [role for role in missing if keys.get(role)]
    if named:  # the user's own names: say which of them is not in the file, not the advice they followed
        listed = ", ".join(f"--{role}-key {keys[role]!r}" for role in named)
        raise DataError(f"{file.path}: no array matches {listed} (as a name, a struct field such as data.X1, or "
                        f"a stem with _tr/_te); the file holds {_holds(file)}.")
    layout_hint = "I_tr/I_te, T_tr/T_te, L_tr/L_te or I, T, L"
    raise DataError(
        f"{file.path}: cannot find the {', '.join(missing) or 'images, texts and labels of one layout'} arrays "
        f"(expected {layout_hint}); the file holds {_holds(file)}. "
        f"Name them with --images-key, --texts-key and --labels-key (struct fields as data.X1)."
    )


def find_split_keys(file: ArrayFile, keys: dict[str, str | None]) -> dict[str, str] | None:
    """{"train": key, "query": key} of index vectors kept in the file, named (`train` / `query` in
    `keys`) or detected by name; None when the file holds none."""
    lowered = _lookup_table(file)
    found = {}
    for part in ("train", "query"):
        name = keys.get(part)
        if name:
            key = name if name in file else lowered.get(name.lower())
            if key is None:
                raise DataError(f"{file.path}: no array matches --{part}-key {name!r}; the file holds {_holds(file)}.")
            found[part] = key
        else:
            found[part] = next((lowered[s.lower()] for s in SPLIT_STEMS[part] if s.lower() in lowered), None)
    if found["train"] and found["query"]:
        return found
    if any(keys.get(part) for part in ("train", "query")):
        raise DataError(f"{file.path}: give both --train-key and --query-key (the file's training and query "
                        f"indices), or neither.")
    return None


def split_from_indices(file: ArrayFile, keys: dict[str, str], n: int) -> Split:
    """The file's own split from 0- or 1-based index vectors, checked against the item count `n`.

    The base: 0-based if any index is 0, 1-based if any index is n; otherwise MATLAB's 1-based for a
    .mat file and 0-based for any other, said on stderr.
    """
    where = f"{file.path}: {keys['train']} / {keys['query']}"
    parts = {}
    for part, key in keys.items():
        values = np.asarray(file.read(key)).reshape(-1)
        if not np.issubdtype(values.dtype, np.number) or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise DataError(f"{file.path}: {key}: split indices must be whole numbers, received {values[:4].tolist()}.")
        parts[part] = values.astype(np.int64)
    every = np.concatenate(list(parts.values()))
    if not len(parts["train"]) or not len(parts["query"]):
        raise DataError(f"{where}: an empty training or query index list.")
    if (every == 0).any() and (every == n).any():
        raise DataError(f"{where}: indices run from 0 to {n}, one more than {n} items allow in either base.")
    if (every == 0).any():
        base = 0
    elif (every == n).any() or file.format.startswith("MATLAB"):
        base = 1
        if not (every == n).any():
            print(f"Warning: {where}: indices read as MATLAB's 1-based (no index is 0 or {n}).", file=sys.stderr)
    else:
        base = 0
    parts = {part: values - base for part, values in parts.items()}
    for part, values in parts.items():
        if values.min() < 0 or values.max() >= n:
            raise DataError(f"{where}: {part} index {int(values.max() + base)} is outside the {n} items "
                            f"({'1-based' if base else '0-based'}); the indices do not fit the arrays.")
        if len(np.unique(values)) != len(values):
            raise DataError(f"{where}: the {part} indices repeat items.")
    if np.intersect1d(parts["train"], parts["query"]).size:
        raise DataError(f"{where}: the same items are in the training and the query indices; a query must not "
                        f"be trained on.")
    return Split(query=parts["query"], database=parts["train"], train=parts["train"])


def orient_items(arrays: dict[str, np.ndarray], orientation: str, where: str) -> dict[str, np.ndarray]:
    """The arrays with items in rows. MATLAB code often stores one item per column (128 × 2866):
    "auto" finds the item count on which all three arrays agree (rows first), "rows" / "columns"
    say it. Label vectors (class indices) are taken as they are."""
    if orientation not in ORIENTATIONS:
        raise DataError(f"items orientation: expected one of {', '.join(ORIENTATIONS)}, received {orientation!r}.")
    matrices = {role: a for role, a in arrays.items() if a.ndim == 2 and not (role == "labels" and 1 in a.shape)}
    if orientation == "columns":
        return {role: a.T if role in matrices else a for role, a in arrays.items()}
    if orientation == "rows":
        return arrays
    vectors = [len(a.reshape(-1)) for role, a in arrays.items() if role not in matrices]
    candidates = set.intersection(*[set(a.shape) for a in matrices.values()], *[{v} for v in vectors]) \
        if matrices else set()
    if not candidates:
        return arrays  # no item count fits every array: check_row_counts names the disagreement
    # the item count that leaves the most arrays as they are (rows first, so a square array keeps its rows)
    n = min(candidates, key=lambda c: (sum(a.shape[0] != c for a in matrices.values()), -c))
    return {role: a.T if role in matrices and a.shape[0] != n else a for role, a in arrays.items()}


def read_features(path, keys: dict[str, str | None] | None = None) -> PairedData:
    """The raw pairs of a features file; `keys` (role -> name or stem; also "train" / "query": index
    vectors of the file's split, "orientation": auto / rows / columns) override the detection."""
    path = Path(path)
    keys = keys or {}
    with open_array_file(path) as file:
        found = find_feature_keys(file, keys)
        split_keys = find_split_keys(file, keys) if len(found["images"]) == 1 else None
        parts = len(found["images"])
        arrays: dict[str, list[np.ndarray]] = {role: [] for role in ROLES}
        for k in range(parts):
            read = {role: np.asarray(file.read(found[role][k])) for role in ROLES}
            if read["labels"].ndim == 2 and read["labels"].shape[0] == 1:
                read["labels"] = read["labels"][0]  # MATLAB row vector of class indices
            read = orient_items(read, keys.get("orientation") or "auto", str(path))
            rows = {role: len(read[role]) if read[role].ndim else 0 for role in ROLES}
            check_row_counts(f"{path} ({', '.join(found[role][k] for role in ROLES)})", **rows)
            for role in ROLES:
                arrays[role].append(read[role])
        if parts == 2:
            for role in ("images", "texts"):
                widths = [a.shape[1:] for a in arrays[role]]
                if widths[0] != widths[1]:
                    raise DataError(f"{path}: {found[role][0]} and {found[role][1]} must have the same width "
                                    f"(one feature vector per item); received {' and '.join(map(str, widths))}. "
                                    f"The train and test sets come from different feature extractions.")
        file_format = file.format
        file_split = split_from_indices(file, split_keys, len(arrays["images"][0])) if split_keys else None
    where = {role: f"{path}: {'/'.join(found[role])}" for role in ROLES}
    images = as_float_matrix(np.concatenate(arrays["images"]), where["images"])
    texts = as_float_matrix(np.concatenate(arrays["texts"]), where["texts"])
    labels, classes = as_multi_hot(_stack_labels(arrays["labels"], where["labels"]), where["labels"])
    warn_unlabelled(labels, where["labels"])
    if parts == 2:
        train = np.arange(len(arrays["images"][0]))
        file_split = Split(query=np.arange(len(train), len(images)), database=train, train=train)
    label_names = [str(c) for c in classes] if classes is not None else None
    named = category_names(path, labels.shape[1])
    if named is not None:
        label_names = named
    return PairedData(
        name="features",
        images=images,
        texts=texts,
        labels=labels,
        image_kind="features",
        label_names=label_names,
        file_split=file_split,
        source={"files": {role: str(path) for role in ROLES}, "keys": found, "formats": {role: file_format for role in ROLES},
                **({"split_keys": split_keys} if split_keys else {})},
    )


def category_names(path: Path, n_labels: int) -> list[str] | None:
    """The label names of `categories.list` beside the features file (the Wikipedia dataset's list:
    one name a line, label k on line k), when it names exactly the file's label columns."""
    listing = Path(path).with_name("categories.list")
    if not listing.is_file():
        return None
    names = [line.strip() for line in listing.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if len(names) != n_labels:
        print(f"Warning: {listing} names {len(names)} categories but {path} has {n_labels} label columns; "
              f"labels are shown as numbers.", file=sys.stderr)
        return None
    return names


def _stack_labels(parts: list[np.ndarray], where: str) -> np.ndarray:
    """Concatenate the label parts, which must use one encoding (both class indices or both 0/1 of one width)."""
    squeezed = [p[:, 0] if p.ndim == 2 and p.shape[1] == 1 else p for p in parts]
    if len({p.ndim for p in squeezed}) != 1 or len({p.shape[1:] for p in squeezed}) != 1:
        raise DataError(f"{where}: the train and test labels differ in shape "
                        f"({' vs '.join(str(p.shape) for p in parts)}); expected one encoding for both.")
    return np.concatenate(squeezed)
