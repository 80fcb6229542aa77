"""Readers of the DCMH authors' MATLAB releases: MIRFLICKR-25K, IAPR TC-12 and NUS-WIDE.

A release comes either as one file holding images, tags and labels (`FLICKR-25K.mat`:
`images`, `YAll`, `LAll`) or as three files side by side (`mirflickr25k-iall.mat` with `IAll`,
`-yall.mat` with `YAll`, `-lall.mat` with `LAll`). Both MATLAB v7.3 (HDF5, read lazily with h5py)
and older .mat versions are read. The images stay on disk as a `PixelStack`; tags become a float32
bag-of-words matrix and labels a 0/1 matrix in memory.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from dcmh_tf.data.images import open_pixel_stack
from dcmh_tf.data.matfile import ArrayFile, open_array_file
from dcmh_tf.data.paired import PairedData
from dcmh_tf.data.validation import as_float_matrix, as_multi_hot, check_row_counts, warn_unlabelled
from dcmh_tf.errors import DataError

ROLES = ("images", "texts", "labels")
# role -> key names of the authors' files, tried in order (case-insensitive)
KEYS = {"images": ("images", "IAll", "I"), "texts": ("YAll", "tags", "texts", "Y"), "labels": ("LAll", "labels", "L")}
# "<prefix>-iall.mat": the part files of a release split into three
PART_FILE = re.compile(r"^(?P<prefix>.*)-(?P<part>iall|yall|lall)\.mat$", re.IGNORECASE)
PARTS = {"iall": "images", "yall": "texts", "lall": "labels"}


@dataclass(frozen=True)
class Release:
    """One of the authors' datasets: its file names, published sizes and protocol split."""

    name: str  # the --dataset value
    title: str
    combined_files: tuple[str, ...]  # single-file releases
    part_prefixes: tuple[str, ...]  # "<prefix>-iall.mat" ...
    pairs: tuple[int, ...]  # published pair counts (for `datasets info`)
    text_dim: int
    n_labels: tuple[int, ...]
    n_query: int
    n_train: int
    source: str  # where the files come from


MIRFLICKR25K = Release(
    name="mirflickr25k", title="MIRFLICKR-25K", combined_files=("FLICKR-25K.mat",),
    part_prefixes=("mirflickr25k",), pairs=(20015,), text_dim=1386, n_labels=(24,), n_query=2000, n_train=10000,
    source="the DCMH authors' release (https://github.com/jiangqy/DCMH-CVPR2017, data links in its README), built "
           "from MIRFLICKR-25K (https://press.liacs.nl/mirflickr/)",
)
IAPR_TC12 = Release(
    name="iapr-tc12", title="IAPR TC-12", combined_files=("IAPR-TC12.mat",),
    part_prefixes=("iapr-tc12", "iaprtc12", "iapr"), pairs=(20000,), text_dim=2912, n_labels=(255,),
    n_query=2000, n_train=10000,
    source="the DCMH authors' release (https://github.com/jiangqy/DCMH-CVPR2017), built from IAPR TC-12 "
           "(https://www.imageclef.org/photodata)",
)
NUS_WIDE = Release(
    name="nus-wide", title="NUS-WIDE", combined_files=("NUS-WIDE-TC10.mat", "NUS-WIDE-TC21.mat", "NUS-WIDE.mat"),
    part_prefixes=("nus-wide-tc10", "nus-wide-tc21", "nus-wide", "nuswide"), pairs=(186577, 195834), text_dim=1000,
    n_labels=(10, 21), n_query=2100, n_train=10500,
    source="the DCMH authors' release (https://github.com/jiangqy/DCMH-CVPR2017), built from NUS-WIDE "
           "(https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/nuswide/NUS-WIDE.html)",
)
# Your own pictures and texts, prepared by `dcmh-tf datasets prepare collection` (its own split, in
# <stem>.split.txt, is kept: queries = test, database = training set = train).
COLLECTION = Release(
    name="collection", title="prepared collection", combined_files=("COLLECTION.mat",), part_prefixes=(),
    pairs=(), text_dim=0, n_labels=(), n_query=0, n_train=0,
    source="your own collection, prepared by `dcmh-tf datasets prepare collection`",
)
RELEASES = {release.name: release for release in (MIRFLICKR25K, IAPR_TC12, NUS_WIDE, COLLECTION)}


def locate_release_files(path, release: Release, *, partial: bool = False) -> dict[str, Path]:
    """role -> file for a release given as one file, as one of its part files (the other parts are
    looked for beside it), or as the folder that holds them. With `partial`, the part files found
    (missing parts are left out) instead of an error."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; expected the {release.title} .mat file(s), e.g. "
                        f"{release.combined_files[0]}"
                        + (f" or {release.part_prefixes[0]}-iall.mat." if release.part_prefixes else "."))
    if path.is_dir():
        for name in release.combined_files:
            if (path / name).is_file():
                return {role: path / name for role in ROLES}
        parts = [p for p in sorted(path.iterdir()) if PART_FILE.match(p.name)]
        if not parts:
            raise DataError(f"{path}: no {release.title} file in this folder; expected one of "
                            f"{', '.join(release.combined_files)} or the part files <name>-iall.mat, -yall.mat, "
                            f"-lall.mat. It holds {', '.join(p.name for p in sorted(path.iterdir())[:10]) or 'nothing'}.")
        path = parts[0]
    match = PART_FILE.match(path.name)
    if match is None:
        return {role: path for role in ROLES}
    found = {}
    for part, role in PARTS.items():
        candidates = [p for p in path.parent.iterdir()
                      if (m := PART_FILE.match(p.name)) and m["part"].lower() == part
                      and m["prefix"].lower() == match["prefix"].lower()]
        if candidates:
            found[role] = candidates[0]
    missing = [f"{match['prefix']}-{part}.mat" for part, role in PARTS.items() if role not in found]
    if missing and not partial:
        raise DataError(f"{path}: the release is split into three files and {', '.join(missing)} is missing "
                        f"from {path.parent}; put the -iall, -yall and -lall files side by side.")
    return found


def find_key(file: ArrayFile, candidates, role: str, option: str) -> str:
    """The first of `candidates` that `file` holds (exact name first, then ignoring case)."""
    keys = file.keys()
    lowered = {key.lower(): key for key in keys}
    for candidate in candidates:
        if candidate in keys:
            return candidate
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    raise DataError(f"{file.path}: no {role} array; looked for {', '.join(candidates)}, the file holds "
                    f"{', '.join(f'{k} ({v})' for k, v in file.describe().items()) or 'no arrays'}. "
                    f"Name the array with {option}.")


def read_release(
    release: Release,
    images,
    texts=None,
    labels=None,
    *,
    image_size: int | None = None,
    keys: dict[str, str | None] | None = None,
) -> PairedData:
    """The pairs of `release` from the file(s) `images`, `texts`, `labels` (one path for all three
    when they are together). `image_size`: the size the pipeline resizes pictures to (None: as
    stored). `keys`: role -> array name, overriding the detection."""
    paths = {"images": Path(images), "texts": Path(texts or images), "labels": Path(labels or images)}
    keys = keys or {}
    files: dict[Path, ArrayFile] = {}
    for path in paths.values():
        if path not in files:
            files[path] = open_array_file(path)
    found = {role: find_key(files[paths[role]], (keys[role],) if keys.get(role) else KEYS[role], role,
                            f"--{role}-key") for role in ROLES}
    where = {role: f"{paths[role]}: {found[role]!r}" for role in ROLES}
    text_matrix = as_float_matrix(files[paths["texts"]].read(found["texts"]), where["texts"])
    label_matrix, _ = as_multi_hot(files[paths["labels"]].read(found["labels"]), where["labels"])
    image_shape = files[paths["images"]].shape(found["images"])
    # (224, 224, 3, N) holds the items last, (N, 3, 224, 224) and (N, 224, 224, 3) first
    image_rows = image_shape[-1] if len(image_shape) == 4 and image_shape[-2] == 3 else image_shape[0]
    check_row_counts(release.title, images=image_rows, texts=len(text_matrix), labels=len(label_matrix))
    pixels = open_pixel_stack(files[paths["images"]], found["images"], len(text_matrix), output_size=image_size)
    warn_unlabelled(label_matrix, where["labels"])
    from dcmh_tf.data.collection import read_file_split, read_tokenizer

    return PairedData(
        name=release.name,
        images=pixels,
        texts=text_matrix,
        labels=label_matrix,
        image_kind="pixels",
        tag_vocabulary=read_column_names(paths["texts"], ".vocabulary.txt", text_matrix.shape[1]),
        label_names=read_column_names(paths["labels"], ".labels.txt", label_matrix.shape[1]),
        tokenizer=read_tokenizer(paths["texts"]),
        file_split=read_file_split(paths["labels"], len(label_matrix)),
        source={"files": {role: str(path) for role, path in paths.items()}, "keys": found,
                "formats": {role: files[paths[role]].format for role in ROLES}},
    )


def read_column_names(path: Path, suffix: str, columns: int) -> list[str] | None:
    """The names of a matrix's columns from the text file beside `path` that `dcmh-tf datasets prepare`
    writes (`FLICKR-25K.mat` -> `FLICKR-25K.vocabulary.txt`, one name a line), or None without one.
    The authors' own files come without names. A file whose line count does not match is ignored
    with a warning rather than pairing names with the wrong columns."""
    names_path = path.with_suffix(suffix)
    if not names_path.is_file():
        return None
    names = names_path.read_text(encoding="utf-8").splitlines()
    if len(names) != columns:
        print(f"Warning: {names_path}: {len(names)} names for {columns} columns of {path.name}; names ignored.",
              file=sys.stderr)
        return None
    return names


def load_release(release: Release, path, *, image_size: int | None = None,
                 keys: dict[str, str | None] | None = None) -> PairedData:
    """`read_release` on the file(s) found from `path` (a file of the release or its folder)."""
    files = locate_release_files(path, release)
    return read_release(release, files["images"], files["texts"], files["labels"], image_size=image_size, keys=keys)
