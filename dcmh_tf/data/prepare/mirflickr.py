"""MIRFLICKR-25K from its public release, under the DCMH protocol.

Raw layout (https://press.liacs.nl/mirflickr/): `mirflickr25k.zip` unpacks to `mirflickr/` with
`im1.jpg` … `im25000.jpg` and `meta/tags/tags1.txt` … (one Flickr tag per line, lower case, spaces
removed; `meta/tags_raw/` has them as typed); `mirflickr25k_annotations_v080.zip` holds one file
per concept listing the numbers of the images that show it: 24 "potential" labels (`animals.txt`
… `water.txt`) and, for 14 of them, stricter "relevant" ones (`baby_r1.txt` …), and a README.txt.
--raw is the folder holding `mirflickr/` (or `mirflickr/` itself); the annotation files are looked
for in `annotations/` or `mirflickr25k_annotations_v080/` beside it (or inside it).

Protocol (DCMH: "pairs whose textual tags appear at least 20 times", 1386-d BOW, 24 labels,
20,015 pairs), as read here:
- vocabulary: the tags that occur in at least `min_count` (20) of the 25,000 images, counted once
  per image, over all images before any is dropped; columns by falling count, ties alphabetical.
  (The columns of the authors' YAll fall roughly in this order, and 22 of them occur in fewer than
  20 of the 20,015 kept pairs: the threshold was applied before images were dropped.)
- labels: the 24 potential-label files in alphabetical order; the `_r1` files are not used (each
  relevant label should be a subset of its potential label; any image where it is not is reported).
- pairs: the images with at least one vocabulary tag and at least one label, by image number.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from dcmh_tf.data.prepare.common import Selection
from dcmh_tf.data.prepare.raw import Problems, bag_of_words, find_folder, read_lines, warn_on_stderr
from dcmh_tf.errors import DataError
from dcmh_tf.text import rank_words

CONCEPTS = ("animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor", "lake", "male",
            "night", "people", "plant_life", "portrait", "river", "sea", "sky", "structures", "sunset", "transport",
            "tree", "water")
TAG_FOLDERS = ("tags", "tags_raw")
MIN_COUNT = 20
IMAGE_NAME = re.compile(r"^im(\d+)\.jpg$")
TAG_NAME = re.compile(r"^tags(\d+)\.txt$")


def select_vocabulary(tag_sets: list[set[str]], min_count: int = MIN_COUNT) -> tuple[list[str], Counter]:
    """The tags occurring in at least `min_count` of `tag_sets` (one set per image), by falling
    count (ties alphabetical), and the count of every tag."""
    counts = Counter(tag for tags in tag_sets for tag in set(tags))
    return rank_words(counts, min_count=min_count), counts


def keep_pairs(texts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n,) bool: the images with at least one vocabulary tag and at least one label."""
    return texts.any(axis=1) & labels.any(axis=1)


def read_mirflickr(raw, *, min_count: int = MIN_COUNT, tag_folder: str = "tags",
                   warn: Callable[[str], None] = warn_on_stderr) -> Selection:
    """The MIRFLICKR-25K pairs of the raw release in `raw` (see the module docstring)."""
    if tag_folder not in TAG_FOLDERS:
        raise DataError(f"tag folder: expected one of {', '.join(TAG_FOLDERS)}, received {tag_folder!r}.")
    raw = Path(raw)
    root = find_folder(raw, ("mirflickr", "", "mirflickr25k"), f"meta/{tag_folder}", "MIRFLICKR-25K release "
                       f"(mirflickr25k.zip: mirflickr/im*.jpg and mirflickr/meta/{tag_folder}/)")
    notes = find_folder(raw, ("annotations", "mirflickr25k_annotations_v080", "mirflickr/annotations",
                              "mirflickr/mirflickr25k_annotations_v080"), f"{CONCEPTS[0]}.txt",
                        "MIRFLICKR-25K annotations (mirflickr25k_annotations_v080.zip)")
    problems = Problems()
    images = _numbered_files(root, IMAGE_NAME)
    if not images:
        raise DataError(f"{root}: no picture named im<number>.jpg; expected the 25,000 pictures of mirflickr25k.zip.")
    tag_files = _numbered_files(root / "meta" / tag_folder, TAG_NAME)
    for number in sorted(set(tag_files) - set(images)):
        problems.add("tag files of images that do not exist (skipped)", tag_files[number])
    for number in sorted(set(images) - set(tag_files)):
        problems.add("images without a tag file (taken as untagged)", images[number])
    numbers = sorted(images)
    tag_sets = [{tag.lower() for tag in read_lines(tag_files[n])} if n in tag_files else set() for n in numbers]
    labels = read_labels(notes, numbers, problems, warn)
    vocabulary, _ = select_vocabulary(tag_sets, min_count)
    texts = bag_of_words(tag_sets, vocabulary)
    keep = keep_pairs(texts, labels)
    rows = np.flatnonzero(keep)
    protocol = {
        "images": len(numbers),
        "images_with_tags": sum(1 for tags in tag_sets if tags),
        "distinct_tags": len({tag for tags in tag_sets for tag in tags}),
        "tag_folder": f"meta/{tag_folder}",
        "min_count": min_count,
        "vocabulary": len(vocabulary),
        "images_without_vocabulary_tag": int((~texts.any(axis=1)).sum()),
        "images_without_label": int((~labels.any(axis=1)).sum()),
        "pairs": len(rows),
        "labels": "the 24 potential labels (annotations/<concept>.txt), _r1 files unused",
    }
    return Selection(
        dataset="mirflickr25k", stem="FLICKR-25K",
        image_paths=[images[numbers[i]] for i in rows],
        items=[str(images[numbers[i]].relative_to(raw)) for i in rows],
        texts=texts[rows], labels=labels[rows], vocabulary=vocabulary, label_names=list(CONCEPTS),
        protocol=protocol, problems=problems,
    )


def read_labels(folder: Path, numbers: list[int], problems: Problems, warn: Callable[[str], None]) -> np.ndarray:
    """(len(numbers), 24) uint8: the potential labels of the images `numbers`, from `folder`."""
    missing = [f"{concept}.txt" for concept in CONCEPTS if not (folder / f"{concept}.txt").is_file()]
    if missing:
        raise DataError(f"{folder}: the annotation files {', '.join(missing)} are missing; expected the 24 concept "
                        f"files of mirflickr25k_annotations_v080.zip ({', '.join(CONCEPTS)}).")
    known = {f"{concept}{suffix}.txt" for concept in CONCEPTS for suffix in ("", "_r1")} | {"README.txt"}
    ignored = sorted(path.name for path in folder.glob("*.txt") if path.name not in known)
    if ignored:
        warn(f"{folder}: {len(ignored)} files that are not MIRFLICKR-25K concepts are ignored: {', '.join(ignored)}.")
    row = {number: i for i, number in enumerate(numbers)}
    labels = np.zeros((len(numbers), len(CONCEPTS)), np.uint8)
    for column, concept in enumerate(CONCEPTS):
        for line, number in _image_numbers(folder / f"{concept}.txt"):
            if number in row:
                labels[row[number], column] = 1
            else:
                problems.add("annotations of images that do not exist (skipped)", f"{folder / concept}.txt:{line}")
        relevant = folder / f"{concept}_r1.txt"
        if relevant.is_file():
            for line, number in _image_numbers(relevant):
                if number in row and not labels[row[number], column]:
                    problems.add("relevant (_r1) labels without the potential label (the _r1 label is not used)",
                                 f"{relevant}:{line}")
    return labels


def _image_numbers(path: Path) -> list[tuple[int, int]]:
    """(line number, image number) of an annotation file, one image number a line."""
    numbers = []
    for line_number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        if not line.strip().isdigit():
            raise DataError(f"{path}:{line_number}: expected an image number, received {line.strip()[:40]!r}.")
        numbers.append((line_number, int(line)))
    return numbers


def _numbered_files(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    return {int(match[1]): path for path in folder.iterdir() if (match := pattern.match(path.name))}
