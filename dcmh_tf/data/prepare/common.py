"""From a selection of pairs to the file the readers take: resized pictures, bag-of-words and labels.

Output: `<stem>.mat`, a MATLAB v7.3 file (HDF5 with MATLAB's header) laid out like the DCMH
authors' `FLICKR-25K.mat`: `images` (224, 224, 3, N) uint8 as MATLAB sees it (HDF5 (N, 3, W, H),
one chunk per picture, uncompressed), `YAll` (N, d) and `LAll` (N, L) uint8 0/1. `dcmh-tf fit
--dataset NAME --data-path` takes the file or its folder. Beside it: `<stem>.vocabulary.txt` and
`<stem>.labels.txt` (the names of the YAll and LAll columns), `<stem>.items.txt` (the source of each
row), `<stem>.json` (protocol, counts, everything skipped) and `<stem>.sha256` (checksums of all of
them, in the format `sha256sum -c` reads).

Resizing: the whole picture to 224×224 without cropping (aspect ratio not kept), as the authors'
MATLAB `imresize(im, [224 224])` did; PIL's bicubic filter widens its kernel when shrinking
(antialiasing), as MATLAB's default bicubic does. Grey, CMYK and palette pictures become RGB;
the EXIF orientation is not applied (MATLAB's imread ignores it).

The pictures are resized in shards of a few hundred by a pool of processes, each shard written
to a work folder atomically (temporary name, then rename), so a re-run after an interruption
resizes only the shards not yet there; the .mat file is assembled from the shards one at a time
(never all pictures in memory) and the work folder removed at the end. A re-run whose output is
complete and was made with the same inputs and options does nothing. Disk: the shards and the
.mat file are both there while the .mat is written, twice the output's size at the peak
(147 KiB per 224×224 picture: ~2.8 GiB for MIRFLICKR-25K, ~27 GiB for NUS-WIDE TC-21).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
from tqdm.auto import tqdm

from dcmh_tf.data.matfile import MAT_V73_USERBLOCK, matlab_storage_shape, tag_matlab_class, write_mat_v73_header
from dcmh_tf.data.prepare.raw import Problems, warn_on_stderr
from dcmh_tf.data.pictures import as_rgb
from dcmh_tf.errors import DataError

FORMAT_VERSION = 2  # bump when the output of the same inputs changes
RESIZE_METHOD = "PIL bicubic (antialiased when shrinking), whole picture, no crop"
SHARD_SIZE = 256  # pictures per shard: ~38 MB of 224×224 pixels in a worker's memory
UNREADABLE = "pictures that cannot be read (pairs skipped)"


@dataclass
class Selection:
    """The pairs a release yields under its protocol, in output order."""

    dataset: str  # the --dataset value that reads the output
    stem: str  # output file name without ".mat"
    image_paths: list[Path]
    items: list[str]  # where each row comes from (image path relative to the raw folder)
    texts: np.ndarray  # (n, d) uint8 0/1 bag-of-words
    labels: np.ndarray  # (n, L) uint8 0/1
    vocabulary: list[str]  # names of the text columns
    label_names: list[str]
    protocol: dict  # the protocol's parameters and counts, for the record
    problems: Problems = field(default_factory=Problems)
    # more companions: suffix -> one line per row (written for the kept rows), suffix -> whole text
    row_files: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        rows = {len(self.image_paths), len(self.items), len(self.texts), len(self.labels),
                *(len(lines) for lines in self.row_files.values())}
        columns_named = self.texts.shape[1] == len(self.vocabulary) and self.labels.shape[1] == len(self.label_names)
        if len(rows) != 1 or not columns_named:
            raise DataError(f"{self.stem}: inconsistent selection (rows {sorted(rows)}, text columns "
                            f"{self.texts.shape[1]} for {len(self.vocabulary)} words, label columns "
                            f"{self.labels.shape[1]} for {len(self.label_names)} names).")
        if not self.image_paths:
            counts = ", ".join(f"{key} {value}" for key, value in self.protocol.items() if isinstance(value, int))
            raise DataError(f"{self.stem}: no pair is left under the protocol ({counts}); check the release in "
                            f"--raw and the protocol's options.")


def load_resized(path, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the whole picture at `path` resized without cropping."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = as_rgb(image)
    return np.asarray(rgb.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def resize_shard(paths: list[str], size: int, destination: str) -> None:
    """Resize `paths` into the .npz file `destination`: `pixels` (n, size, size, 3), `ok` (n,) and
    `failures` (JSON [path, reason] pairs of the pictures that could not be read, left black)."""
    from PIL import Image

    pixels = np.zeros((len(paths), size, size, 3), np.uint8)
    ok = np.zeros(len(paths), bool)
    failures = []
    for i, path in enumerate(paths):
        try:
            pixels[i] = load_resized(path, size)
            ok[i] = True
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:  # PIL's decoding errors
            failures.append([path, f"{type(error).__name__}: {error}"])
    temporary = f"{destination}.tmp{os.getpid()}"
    with open(temporary, "wb") as f:
        np.savez(f, pixels=pixels, ok=ok, failures=np.array(json.dumps(failures)))
    os.replace(temporary, destination)  # atomic: a shard file is either whole or absent


def fingerprint(values) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True)
class Outputs:
    """The files of one prepared dataset in `folder`."""

    folder: Path
    stem: str

    def path(self, suffix: str) -> Path:
        return self.folder / f"{self.stem}{suffix}"

    @property
    def mat(self) -> Path:
        return self.path(".mat")

    @property
    def record(self) -> Path:
        return self.path(".json")

    @property
    def checksums(self) -> Path:
        return self.path(".sha256")

    @property
    def work(self) -> Path:
        return self.folder / f".{self.stem}.parts"


def write_release(
    selection: Selection,
    output,
    *,
    image_size: int = 224,
    workers: int | None = None,
    shard_size: int = SHARD_SIZE,
    progress: bool = True,
    warn: Callable[[str], None] = warn_on_stderr,
) -> dict:
    """Write `selection` into the folder `output` (see the module docstring); return the record
    (also saved as `<stem>.json`). Resumes an interrupted run; does nothing when the same output
    is already complete."""
    outputs = Outputs(Path(output), selection.stem)
    outputs.folder.mkdir(parents=True, exist_ok=True)
    paths = [str(path) for path in selection.image_paths]
    shard_key = fingerprint({"version": FORMAT_VERSION, "paths": paths, "size": image_size, "shard_size": shard_size,
                             "resize": RESIZE_METHOD})
    full_key = fingerprint({"shards": shard_key, "items": selection.items, "texts": _digest(selection.texts),
                            "labels": _digest(selection.labels), "vocabulary": selection.vocabulary,
                            "label_names": selection.label_names, "row_files": selection.row_files,
                            "files": selection.files})
    done = _finished_record(outputs, full_key)
    if done is not None:
        done["resumed"] = "complete already: nothing done"
        return done
    selection.problems.report(warn)  # before the long part, so that a wrong --raw shows at once
    started = time.perf_counter()
    shards = make_shards(paths, image_size, outputs.work, shard_key, workers=workers, shard_size=shard_size,
                         progress=progress)
    failures, kept = assemble(selection, shards, outputs, image_size, progress=progress)
    unreadable = Problems()
    for path, reason in failures:
        unreadable.add(UNREADABLE, f"{path} ({reason})")
    unreadable.report(warn)
    record = {
        "dataset": selection.dataset,
        "file": outputs.mat.name,
        "pairs": int(kept.sum()),
        "text_dim": len(selection.vocabulary),
        "labels": len(selection.label_names),
        "image_size": image_size,
        "resize": RESIZE_METHOD,
        "layout": "images (H, W, 3, N) uint8, YAll (N, d) uint8, LAll (N, L) uint8, MATLAB v7.3",
        "protocol": selection.protocol,
        "skipped": {**selection.problems.as_record(), **unreadable.as_record()},
        "fingerprint": full_key,
        "seconds": round(time.perf_counter() - started, 1),
        "format_version": FORMAT_VERSION,
    }
    _write_lines(outputs.path(".vocabulary.txt"), selection.vocabulary)
    _write_lines(outputs.path(".labels.txt"), selection.label_names)
    _write_lines(outputs.path(".items.txt"), [item for item, keep in zip(selection.items, kept) if keep])
    for suffix, lines in selection.row_files.items():
        _write_lines(outputs.path(suffix), [line for line, keep in zip(lines, kept) if keep])
    for suffix, text in selection.files.items():
        outputs.path(suffix).write_text(text, encoding="utf-8")
    outputs.record.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    write_checksums(outputs, [*selection.row_files, *selection.files])
    shutil.rmtree(outputs.work)
    return record


def make_shards(paths: list[str], image_size: int, work: Path, key: str, *, workers: int | None,
                shard_size: int, progress: bool) -> list[Path]:
    """Resize `paths` into shard files under `work`, skipping the shards already there from an
    earlier run with the same `key`; return the shard files in order."""
    plan = work / "plan.json"
    if work.exists() and (not plan.exists() or json.loads(plan.read_text()).get("key") != key):
        shutil.rmtree(work)  # made from other pictures or options: none of it can be reused
    work.mkdir(parents=True, exist_ok=True)
    plan.write_text(json.dumps({"key": key}))
    for leftover in work.glob("*.tmp*"):  # a shard being written when the last run stopped
        leftover.unlink()
    starts = range(0, len(paths), shard_size)
    shards = [work / f"shard-{i:05d}.npz" for i in range(len(starts))]
    todo = [(shard, paths[start:start + shard_size]) for shard, start in zip(shards, starts) if not shard.exists()]
    bar = tqdm(total=len(paths), initial=len(paths) - sum(len(chunk) for _, chunk in todo), unit="picture",
               desc="resizing", disable=None if progress else True)
    with bar:
        if (workers or os.cpu_count() or 1) == 1 or len(todo) <= 1:
            for shard, chunk in todo:
                resize_shard(chunk, image_size, str(shard))
                bar.update(len(chunk))
        else:
            _resize_in_pool(todo, image_size, workers, bar)
    return shards


def _resize_in_pool(todo, image_size: int, workers: int | None, bar) -> None:
    # "spawn": the caller may have started TensorFlow's threads, which a forked child would inherit locked.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(resize_shard, chunk, image_size, str(shard)): len(chunk) for shard, chunk in todo}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
                    bar.update(pending.pop(future))
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def assemble(selection: Selection, shards: list[Path], outputs: Outputs, image_size: int, *,
             progress: bool) -> tuple[list, np.ndarray]:
    """Write `<stem>.mat` from the shards, one shard in memory at a time, leaving out the pictures
    that could not be read. Returns their (path, reason) pairs and the (n,) mask of kept rows."""
    masks, failures = [], []
    for shard in shards:
        with np.load(shard) as contents:
            masks.append(contents["ok"])
            failures.extend(json.loads(str(contents["failures"])))
    kept = np.concatenate(masks)
    n = int(kept.sum())
    if n == 0:
        raise DataError(f"{outputs.mat}: none of the {len(kept)} pictures could be read (first: {failures[0][0]}: "
                        f"{failures[0][1]}); check the release's image files.")
    partial = outputs.path(".mat.partial")
    with h5py.File(partial, "w", userblock_size=MAT_V73_USERBLOCK) as f:
        # MATLAB (H, W, 3, N) is HDF5 (N, 3, W, H): each picture one contiguous chunk
        images = f.create_dataset("images", shape=matlab_storage_shape((image_size, image_size, 3, n)), dtype=np.uint8,
                                  chunks=(1, 3, image_size, image_size))
        tag_matlab_class(images, np.uint8)
        row = 0
        for shard in tqdm(shards, desc="writing", unit="shard", disable=None if progress else True):
            with np.load(shard) as contents:
                pixels = contents["pixels"][contents["ok"]]
            images[row:row + len(pixels)] = np.transpose(pixels, (0, 3, 2, 1))
            row += len(pixels)
        for key, matrix in (("YAll", selection.texts[kept]), ("LAll", selection.labels[kept])):
            dataset = f.create_dataset(key, data=np.ascontiguousarray(matrix.T), compression="gzip")
            tag_matlab_class(dataset, np.uint8)
    write_mat_v73_header(partial)
    os.replace(partial, outputs.mat)
    return failures, kept


def write_checksums(outputs: Outputs, more_suffixes=()) -> None:
    """`<stem>.sha256`: the SHA-256 of every output file, as `sha256sum` writes them."""
    suffixes = (".vocabulary.txt", ".labels.txt", ".items.txt", *more_suffixes, ".json")
    files = [outputs.mat] + [outputs.path(s) for s in suffixes]
    outputs.checksums.write_text("".join(f"{sha256_of(path)}  {path.name}\n" for path in files))


def _finished_record(outputs: Outputs, key: str) -> dict | None:
    """The record of a complete earlier output made from the same inputs, else None."""
    if not (outputs.record.is_file() and outputs.checksums.is_file() and outputs.mat.is_file()):
        return None
    record = json.loads(outputs.record.read_text())
    if record.get("fingerprint") != key:
        return None
    names = [line.split("  ", 1)[1] for line in outputs.checksums.read_text().splitlines() if "  " in line]
    return record if all((outputs.folder / name).is_file() for name in names) else None


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes() + str(array.shape).encode()).hexdigest()


def _write_lines(path: Path, lines) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
