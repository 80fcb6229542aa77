"""NUS-WIDE from its public release, under the DCMH protocol.

Raw layout (https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/nuswide/NUS-WIDE.html),
the archives unpacked side by side in --raw:
- `ImageList/Imagelist.txt`: the 269,648 pictures, one a line, as `C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg`
  (the last two parts, folder and file, are what counts);
- `Flickr/<folder>/<file>.jpg`: the pictures (distributed separately);
- `NUS_WID_Tags/AllTags1k.txt` (269,648 lines of 1,000 0/1 values) and `NUS_WID_Tags/TagList1k.txt`
  (the 1,000 tags);
- `Groundtruth/AllLabels/Labels_<concept>.txt`: 81 files of 269,648 lines of 0/1.
All the line-per-picture files follow the order of Imagelist.txt.

Protocol (DCMH: the pairs of the 21 most frequent concepts, 195,834 of them; other papers: 10
concepts, 186,577 pairs; 1000-d tag BOW):
- concepts: the `concepts` (21 or 10) concepts with the most pictures over the whole list (ties
  alphabetical), label columns in that order;
- pairs: the pictures with at least one of them, in list order; texts: their rows of AllTags1k.txt
  (found to equal the authors' text data by others; TagList1k.txt names the columns). Pictures with
  no tag among the 1,000 are kept (the published counts are those of the concept rule alone), unless
  `drop_empty_text`. Pictures missing from Flickr/ are skipped and reported (copies of the image
  archive in circulation lack a few).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from dcmh_tf.data.prepare.common import Selection
from dcmh_tf.data.prepare.raw import Problems, find_folder, read_lines, warn_on_stderr
from dcmh_tf.errors import DataError

CONCEPT_CHOICES = (10, 21)
TAGS = 1000
ZERO, ONE = ord("0"), ord("1")
ALLOWED = np.frombuffer(b"01 \t\r\n", np.uint8)  # the characters of a line of AllTags1k.txt


def rank_concepts(label_columns: dict[str, np.ndarray], k: int) -> list[str]:
    """The `k` concepts with the most pictures (ties alphabetical)."""
    counts = {name: int(column.sum()) for name, column in label_columns.items()}
    return sorted(counts, key=lambda name: (-counts[name], name))[:k]


def read_nuswide(raw, *, concepts: int = 21, drop_empty_text: bool = False, progress: bool = True,
                 warn: Callable[[str], None] = warn_on_stderr) -> Selection:
    """The NUS-WIDE pairs of the raw release in `raw` (see the module docstring)."""
    if concepts not in CONCEPT_CHOICES:
        raise DataError(f"concepts: expected 10 or 21 (the published protocols), received {concepts!r}.")
    raw = Path(raw)
    image_list = find_folder(raw, ("ImageList", ""), "Imagelist.txt", "NUS-WIDE image list (ImageList.zip)")
    image_list = image_list / "Imagelist.txt"
    tag_folder = find_folder(raw, ("NUS_WID_Tags", ""), "AllTags1k.txt", "NUS-WIDE tags (NUS_WID_Tags.zip)")
    label_folder = find_folder(raw, ("Groundtruth/AllLabels", "AllLabels"), "Labels_sky.txt",
                               "NUS-WIDE ground truth (Groundtruth.zip: Groundtruth/AllLabels/Labels_<concept>.txt)")
    picture_folder = find_folder(raw, ("Flickr", "images"), "", "NUS-WIDE pictures (Flickr/<folder>/<file>.jpg)")
    names = [line.replace("\\", "/").split("/")[-2:] for line in read_lines(image_list)]
    if any(len(parts) != 2 for parts in names):
        raise DataError(f"{image_list}: expected lines like C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg "
                        f"(folder and file name), received {next(p for p in names if len(p) != 2)}.")
    items = ["/".join(parts) for parts in names]
    n = len(items)
    label_columns = {path.name[len("Labels_"):-len(".txt")]: _read_column(path, n, image_list)
                     for path in sorted(label_folder.glob("Labels_*.txt"))}
    chosen = rank_concepts(label_columns, concepts)
    if len(chosen) < concepts:
        raise DataError(f"{label_folder}: {len(chosen)} concept files (Labels_*.txt), fewer than the {concepts} "
                        f"the protocol takes; expected the 81 of Groundtruth.zip.")
    labels = np.stack([label_columns[name] for name in chosen], axis=1)
    keep = labels.any(axis=1)
    problems = Problems()
    for i in np.flatnonzero(keep):
        if not (picture_folder / items[i]).is_file():
            problems.add("pictures missing from the release (pairs skipped)", picture_folder / items[i])
            keep[i] = False
    vocabulary = read_lines(tag_folder / "TagList1k.txt") if (tag_folder / "TagList1k.txt").is_file() else None
    if vocabulary is None or len(vocabulary) != TAGS:
        raise DataError(f"{tag_folder / 'TagList1k.txt'}: expected the {TAGS} tag names of NUS_WID_Tags.zip, "
                        f"found {'no file' if vocabulary is None else f'{len(vocabulary)} lines'}.")
    texts = read_tag_rows(tag_folder / "AllTags1k.txt", n, keep, progress=progress)
    empty = ~texts.any(axis=1)
    if drop_empty_text:
        keep[np.flatnonzero(keep)[empty]] = False
        texts = texts[~empty]
    rows = np.flatnonzero(keep)
    protocol = {
        "pictures": n,
        "concepts": chosen,
        "concept_counts": {name: int(label_columns[name].sum()) for name in chosen},
        "with_a_concept": int(labels.any(axis=1).sum()),
        "missing_pictures": problems.count("pictures missing from the release (pairs skipped)"),
        "without_tag": int(empty.sum()),
        "without_tag_dropped": drop_empty_text,
        "pairs": len(rows),
        "texts": "rows of NUS_WID_Tags/AllTags1k.txt, columns named by TagList1k.txt",
    }
    return Selection(
        dataset="nus-wide", stem=f"NUS-WIDE-TC{concepts}",
        image_paths=[picture_folder / items[i] for i in rows], items=[items[i] for i in rows],
        texts=texts, labels=labels[rows], vocabulary=vocabulary, label_names=chosen, protocol=protocol,
        problems=problems,
    )


def read_tag_rows(path: Path, n: int, keep: np.ndarray, *, progress: bool = True) -> np.ndarray:
    """(keep.sum(), 1000) uint8: the rows `keep` of AllTags1k.txt, streamed line by line (the file
    is ~540 MB of text; only the kept rows are held)."""
    texts = np.zeros((int(keep.sum()), TAGS), np.uint8)
    out = 0
    line_number = 0
    with open(path, "rb") as f:
        lines = tqdm(f, total=n, desc="tags", unit="line", disable=None if progress else True)
        for line_number, line in enumerate(lines):
            if line_number >= n:
                raise DataError(f"{path}: more than the {n} lines of the image list; the files do not belong together.")
            if not keep[line_number]:
                continue
            characters = np.frombuffer(line, np.uint8)
            digits = characters[(characters == ZERO) | (characters == ONE)]
            if len(digits) != TAGS or not np.isin(characters, ALLOWED).all():
                raise DataError(f"{path}:{line_number + 1}: expected {TAGS} values 0 or 1 separated by blanks, "
                                f"received {line[:40].decode(errors='replace')!r}... ({len(line.split())} values).")
            texts[out] = digits - ZERO
            out += 1
    if line_number + 1 != n:
        raise DataError(f"{path}: {line_number + 1} lines, expected {n} (one per line of the image list).")
    return texts


def _read_column(path: Path, n: int, image_list: Path) -> np.ndarray:
    """(n,) uint8 of a Labels_<concept>.txt file, refusing any other length or value."""
    values = np.array(path.read_bytes().split())
    if len(values) != n:
        raise DataError(f"{path}: {len(values)} values, expected {n} (one per line of {image_list}).")
    bad = ~np.isin(values, (b"0", b"1"))
    if bad.any():
        line = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}:{line + 1}: expected 0 or 1 on every line, received "
                        f"{values[line].decode(errors='replace')!r}.")
    return (values == b"1").astype(np.uint8)
