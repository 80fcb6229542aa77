"""What a dataset file holds, for `dcmh-tf datasets info`: which dataset it is, pairs, dimensions,
labels per item and the split a run would use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dcmh_tf.data.features import find_feature_keys, read_features
from dcmh_tf.data.matfile import open_array_file
from dcmh_tf.data.paired import PairedData
from dcmh_tf.data.collection import SPLIT_SUFFIX
from dcmh_tf.data.releases import KEYS, PART_FILE, PARTS, RELEASES, ROLES, find_key, load_release, locate_release_files
from dcmh_tf.data.splits import protocol_sizes
from dcmh_tf.data.validation import as_float_matrix, as_multi_hot, check_row_counts
from dcmh_tf.errors import DataError


def detect_dataset(path, keys: dict[str, str | None] | None = None) -> str:
    """The --dataset value that reads `path`: a release by its file names or label count, else
    'features' when the file has the feature layouts."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    names = [p.name for p in path.iterdir()] if path.is_dir() else [path.name]
    if path.is_file() and path.with_suffix(SPLIT_SUFFIX).is_file():
        return "collection"  # a prepared collection under a name of its own
    for release in RELEASES.values():
        combined = {name.lower() for name in release.combined_files}
        if any(name.lower() in combined for name in names):
            return release.name
        for name in names:
            match = PART_FILE.match(name)
            if match and match["prefix"].lower() in release.part_prefixes:
                return release.name
    raw = raw_collection_layout(path)
    if raw is not None:
        raise DataError(f"{path}: a raw collection ({raw}), not a prepared dataset; prepare it with `dcmh-tf datasets "
                        f"prepare collection --raw {path} --output data`, then `dcmh-tf datasets info "
                        f"data/COLLECTION.mat`.")
    if path.is_dir():
        raise DataError(f"{path}: no known dataset file in this folder; name the dataset with --dataset.")
    with open_array_file(path) as file:
        try:
            find_feature_keys(file, keys)
            if not any(len(file.shape(key)) == 4 for key in file.keys()):
                return "features"
        except DataError:
            pass
        n_labels = {file.shape(key)[-1] for key in file.keys() if key.lower() in ("lall", "labels")}
    for release in RELEASES.values():
        if n_labels & set(release.n_labels):
            return release.name
    raise DataError(f"{path}: cannot tell which dataset this file holds; name it with --dataset "
                    f"(mirflickr25k, iapr-tc12, nus-wide or features).")


def raw_collection_layout(path: Path) -> str | None:
    """How `path` is laid out when it is a collection before `datasets prepare collection` (a table
    file, the Wikipedia layout, or one folder of pictures per label), else None."""
    from dcmh_tf.data.prepare.collection import TABLE_SUFFIXES, detect_layout

    if path.is_file() and path.suffix.lower() not in TABLE_SUFFIXES:
        return None
    try:
        layout = detect_layout(path)
    except DataError:
        return None
    if layout == "folders":  # a folder of sub-folders is a collection only when they hold pictures
        pictures = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
        if not any(child.suffix.lower() in pictures for folder in path.iterdir() if folder.is_dir()
                   for child in folder.iterdir()):
            return None
    return {"table": f"a {path.suffix} table", "wikipedia": "the Wikipedia layout: trainset_txt_img_cat.list, "
            "texts/, images/", "folders": "one folder of pictures per label"}[layout]


def describe_dataset(path, dataset: str | None = None, keys: dict[str, str | None] | None = None) -> dict[str, Any]:
    """A JSON-able description of the dataset in `path` (read with the reader of `dataset`, detected
    when None). Raises `DataError` saying why the file cannot be read."""
    dataset = dataset or detect_dataset(path, keys)
    if dataset == "features":
        data = read_features(path, keys=keys)
        with open_array_file(path) as file:  # every array, struct fields as dotted names
            arrays = file.describe()
        return {**describe_data(data, dataset), "arrays": arrays,
                **({"split_keys": data.source["split_keys"]} if "split_keys" in data.source else {})}
    elif dataset in RELEASES:
        files = locate_release_files(path, RELEASES[dataset], partial=True)
        if set(files) != set(ROLES):  # inspect the parts that exist; training needs all three
            return describe_release_parts(RELEASES[dataset], files, keys or {})
        data = load_release(RELEASES[dataset], path, keys=keys)
    else:
        raise DataError(f"unknown dataset {dataset!r}; expected features or one of {', '.join(RELEASES)}.")
    return describe_data(data, dataset)


def describe_data(data: PairedData, dataset: str) -> dict[str, Any]:
    labels = np.asarray(data.labels)
    per_item = labels.sum(axis=1)
    info: dict[str, Any] = {
        "dataset": dataset,
        "files": data.source.get("files", {}),
        "keys": {role: list(key) if isinstance(key, tuple) else key for role, key in data.source.get("keys", {}).items()},
        "formats": data.source.get("formats", {}),
        "pairs": len(data),
        "image_kind": data.image_kind,
        "image_shape": list(data.images.shape[1:]),
        "text_dim": data.text_dim,
        "labels": int(labels.shape[1]),
        "labels_per_item": {"min": int(per_item.min()), "mean": round(float(per_item.mean()), 3),
                            "max": int(per_item.max())},
        "items_without_label": int(np.sum(per_item == 0)),
    }
    if data.file_split is not None:
        split = data.file_split
        info["split"] = {"source": "file", "query": len(split.query), "database": len(split.database),
                         "train": len(split.train)}
    else:
        n_query, n_train = protocol_sizes(dataset)
        if n_query is None:
            info["split"] = {"source": "none: set --n-query and --n-train"}
        else:
            if n_query + n_train > len(data):  # no sizes to show: the database would have negative size
                info["split"] = {"source": "protocol", "problem": (
                    f"the protocol's {n_query} queries + {n_train} training pairs exceed {len(data)} pairs; "
                    f"lower --n-query / --n-train")}
            else:
                info["split"] = {"source": "protocol", "query": n_query, "database": len(data) - n_query,
                                 "train": n_train}
    return info


def describe_release_parts(release, files: dict[str, Path], keys: dict[str, str | None]) -> dict[str, Any]:
    """The description of the part files of a release that exist (`files`: role -> path, some roles
    missing): their arrays, rows, text dimension and labels, and which parts a run still needs."""
    prefix = PART_FILE.match(next(iter(files.values())).name)["prefix"]
    missing = [f"{prefix}-{part}.mat" for part, role in PARTS.items() if role not in files]
    info: dict[str, Any] = {"dataset": release.name, "files": {}, "keys": {}, "formats": {}, "missing": missing,
                            "image_kind": None, "image_shape": None, "text_dim": None, "labels": None}
    rows = {}
    for role, path in files.items():
        with open_array_file(path) as file:
            key = find_key(file, (keys[role],) if keys.get(role) else KEYS[role], role, f"--{role}-key")
            info["files"][role], info["keys"][role], info["formats"][role] = str(path), key, file.format
            where = f"{path}: {key!r}"
            if role == "texts":
                texts = as_float_matrix(file.read(key), where)
                rows[role], info["text_dim"] = len(texts), int(texts.shape[1])
            elif role == "labels":
                labels, _ = as_multi_hot(file.read(key), where)
                per_item = labels.sum(axis=1)
                rows[role], info["labels"] = len(labels), int(labels.shape[1])
                info["labels_per_item"] = {"min": int(per_item.min()), "mean": round(float(per_item.mean()), 3),
                                           "max": int(per_item.max())}
                info["items_without_label"] = int(np.sum(per_item == 0))
            else:
                shape = file.shape(key)
                info["image_kind"], info["image_shape"] = "pixels", list(shape)
                rows[role] = shape[-1] if len(shape) == 4 and shape[-2] == 3 else shape[0]
    info["pairs"] = check_row_counts(release.title, **rows)
    info["split"] = {"source": "none", "problem": (
        f"{', '.join(missing)} missing beside {next(iter(files.values())).parent}: `dcmh-tf fit` needs the -iall, "
        f"-yall and -lall files side by side; the parts above can be inspected")}
    return info
