"""IAPR TC-12 from its public release, with the SAIAPR TC-12 region labels, under the DCMH protocol.

Raw layout, unpacked side by side in --raw:
- `iaprtc12/images/<NN>/<id>.jpg` and `iaprtc12/annotations_complete_eng/<NN>/<id>.eng`
  (https://www.imageclef.org/photodata): one SGML caption file per picture, Latin-1, with
  `<DESCRIPTION>`, `<TITLE>`, ... and `<IMAGE>images/NN/id.jpg</IMAGE>`;
- `saiaprtc12ok/benchmark/wlist.txt` (label number TAB name) and
  `saiaprtc12ok/benchmark/saiapr_tc-12/<NN>/labels.txt` (lines `image region label`), the region
  labels of SAIAPR TC-12 (Escalante et al. 2010).

Protocol (DCMH: 20,000 pairs, 2912-d BOW of the captions, 255 labels); the published text gives
no tokenisation, so this is what is done:
- text: the `<DESCRIPTION>` of each caption file, accents removed, lower-cased, split into runs
  of letters a-z (digits and punctuation are dropped), English stop words and one-letter words
  removed; the `words` (2912) words in the most captions (ties alphabetical) form
  the vocabulary, columns in that order;
- labels: the SAIAPR labels of the picture's regions; the columns are the labels that occur in
  the kept pictures, by label number (the SAIAPR vocabulary has 276 labels, DCMH's 255 are taken to
  be those that occur: unverified);
- pairs: every picture with a caption file and an image file, by folder and number; pictures
  without any region label are kept and counted.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from dcmh_tf.data.prepare.common import Selection
from dcmh_tf.data.prepare.raw import Problems, bag_of_words, find_folder, read_text, warn_on_stderr
from dcmh_tf.errors import DataError
from dcmh_tf.text import ENGLISH_STOP_WORDS, rank_words

WORDS = 2912
WORD = re.compile(r"[a-z]+")
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS)


def tokenize(caption: str) -> list[str]:
    """The words of `caption` that count: lower-case runs of letters with their accents removed
    ("Ñandú" is "nandu"), no stop words, no single letters."""
    plain = unicodedata.normalize("NFKD", caption).encode("ascii", "ignore").decode("ascii").lower()
    return [word for word in WORD.findall(plain) if len(word) > 1 and word not in STOP_WORDS]


def parse_caption(text: str) -> dict[str, str]:
    """The fields (DESCRIPTION, IMAGE, ...) of one .eng caption file, upper-case names. Fields hold
    no markup, so the <DOC> around them does not match."""
    return {name.upper(): value.strip() for name, value in re.findall(r"<(\w+)>([^<]*)</\1>", text)}


def read_iapr(raw, *, words: int = WORDS, warn: Callable[[str], None] = warn_on_stderr) -> Selection:
    """The IAPR TC-12 pairs of the raw releases in `raw` (see the module docstring)."""
    raw = Path(raw)
    root = find_folder(raw, ("iaprtc12", ""), "annotations_complete_eng",
                       "IAPR TC-12 release (iaprtc12/images/ and iaprtc12/annotations_complete_eng/)")
    benchmark = find_folder(raw, ("saiaprtc12ok/benchmark", "benchmark", "saiaprtc12ok"), "wlist.txt",
                            "SAIAPR TC-12 labels (saiaprtc12ok/benchmark/wlist.txt and saiapr_tc-12/NN/labels.txt)")
    problems = Problems()
    captions, image_paths = {}, {}
    caption_files = sorted((root / "annotations_complete_eng").glob("*/*.eng"), key=_folder_and_number)
    duplicated = [stem for stem, count in Counter(path.stem for path in caption_files).items() if count > 1]
    if duplicated:
        raise DataError(f"{root / 'annotations_complete_eng'}: picture number {duplicated[0]} has several caption "
                        f"files; the SAIAPR labels name pictures by number, which must be unique.")
    for path in caption_files:
        fields = parse_caption(read_text(path))
        image = root / fields.get("IMAGE", f"images/{path.parent.name}/{path.stem}.jpg")
        if "DESCRIPTION" not in fields:
            problems.add("caption files without a <DESCRIPTION> (skipped)", path)
        elif not image.is_file():
            problems.add("caption files of pictures that do not exist (skipped)", f"{path} -> {image}")
        else:
            captions[path.stem] = fields["DESCRIPTION"]
            image_paths[path.stem] = image
    if not captions:
        raise DataError(f"{root / 'annotations_complete_eng'}: no usable caption file (<NN>/<id>.eng with a "
                        f"<DESCRIPTION> and its picture); expected the IAPR TC-12 release.")
    ids = list(captions)
    described = {path.stem for path in caption_files}
    for image in sorted((root / "images").glob("*/*.jpg"), key=_folder_and_number):
        if image.stem not in described:
            problems.add("pictures without a caption file (skipped)", image)
    documents = [tokenize(captions[i]) for i in ids]
    counts = Counter(word for document in documents for word in set(document))
    vocabulary = rank_words(counts, size=words)
    if len(vocabulary) < words:
        warn(f"{root}: the captions hold {len(vocabulary)} distinct words, fewer than the {words} asked for; "
             f"the bag-of-words has {len(vocabulary)} dimensions.")
    region_labels, names = read_region_labels(benchmark, set(ids), problems)
    used = sorted({label for labels in region_labels.values() for label in labels})
    column = {label: j for j, label in enumerate(used)}
    labels = np.zeros((len(ids), len(used)), np.uint8)
    for row, i in enumerate(ids):
        labels[row, [column[label] for label in region_labels.get(i, ())]] = 1
    texts = bag_of_words(documents, vocabulary)
    protocol = {
        "caption_files": len(caption_files),
        "text_field": "DESCRIPTION",
        "distinct_words": len(counts),
        "vocabulary": len(vocabulary),
        "pairs_without_word": int((~texts.any(axis=1)).sum()),
        "saiapr_labels": len(names),
        "labels_used": len(used),
        "pairs_without_label": int((~labels.any(axis=1)).sum()),
        "pairs": len(ids),
    }
    return Selection(
        dataset="iapr-tc12", stem="IAPR-TC12",
        image_paths=[image_paths[i] for i in ids], items=[str(image_paths[i].relative_to(raw)) for i in ids],
        texts=texts, labels=labels, vocabulary=vocabulary,
        label_names=[names.get(label, str(label)) for label in used], protocol=protocol, problems=problems,
    )


def read_region_labels(benchmark: Path, ids: set[str],
                       problems: Problems) -> tuple[dict[str, set[int]], dict[int, str]]:
    """image id -> its SAIAPR label numbers (of the images in `ids`), and label number -> name."""
    names = {}
    for line_number, line in enumerate(read_text(benchmark / "wlist.txt").splitlines(), 1):
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        if not parts[0].isdigit():
            raise DataError(f"{benchmark / 'wlist.txt'}:{line_number}: expected 'number<TAB>name', received {line!r}.")
        names[int(parts[0])] = parts[1] if len(parts) > 1 else ""
    label_files = sorted((benchmark / "saiapr_tc-12").glob("*/labels.txt"))
    if not label_files:
        raise DataError(f"{benchmark / 'saiapr_tc-12'}: no <NN>/labels.txt; expected the SAIAPR TC-12 benchmark "
                        f"folders.")
    labels: dict[str, set[int]] = {}
    for path in label_files:
        for line_number, line in enumerate(read_text(path).splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                raise DataError(f"{path}:{line_number}: expected 'image region label' numbers, received {line!r}.")
            image, label = parts[0], int(parts[2])
            if label not in names:
                problems.add("region labels not in wlist.txt (skipped)", f"{path}:{line_number}")
            elif image not in ids:
                problems.add("region labels of pictures without a usable caption (skipped)", f"{path}:{line_number}")
            else:
                labels.setdefault(image, set()).add(label)
    return labels, names


def _folder_and_number(path: Path) -> tuple[str, int, str]:
    return path.parent.name, int(path.stem) if path.stem.isdigit() else -1, path.stem
