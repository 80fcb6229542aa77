"""Your own collection of pictures and texts, in one of three layouts, to the prepared file.

Layouts (`layout`, detected when "auto"):
- "table": a CSV, TSV or JSON Lines file, one item a row: a picture path, a text (inline, or the
  path of a text file), one or more labels (separated by `label_separator`, or a JSON list), an
  optional split ("train"/"database" or "test"/"query") and id. Relative paths are relative to the
  table's folder. Column names are options.
- "wikipedia": `trainset_txt_img_cat.list` and `testset_txt_img_cat.list` (`text_id<TAB>image_id<TAB>
  label number`), `categories.list` (label k = line k), `texts/<text_id>.txt` (or `.xml` with a
  `<text>` element), `images/[<category>/]<image_id>.jpg`: the Wikipedia cross-modal dataset's layout.
- "folders": one sub-folder per label holding pictures, each with its text beside it (same name, `.txt`).

Split: the collection's own (table split column, Wikipedia lists) when it has one: queries = test,
database = training set = train. Otherwise a seeded split (`seed`, `query_fraction` of the items
as queries). The vocabulary comes from the database rows only (`dcmh_tf.text.Tokenizer.build`).

Pictures as they come: the format is the one in the file's bytes (Pillow reads them so; a file named
`.jpg` that is PNG or BMP is counted in the record), every colour mode becomes RGB (alpha laid on
white), resized as every prepared file (`common.load_resized`). Irregular items are skipped and
counted (warning, and `skipped` in the `.json` with their row and path): a missing or unreadable or
truncated picture, a picture found only up to stray spaces in its name (used, and counted), the same
picture bytes listed again under other labels (a repeat under the same labels is a real pair with
another text: kept, and counted), a row without text or label.
A malformed table or list (a missing column, a label number out of range, a bad split value) is
refused with its row.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dcmh_tf.data.collection import SOURCES_SUFFIX, SPLIT_SUFFIX, TOKENIZER_SUFFIX
from dcmh_tf.data.prepare.common import Selection
from dcmh_tf.data.prepare.raw import Problems, read_lines, read_text, warn_on_stderr
from dcmh_tf.errors import ConfigError, DataError
from dcmh_tf.text import MODES, Tokenizer, make_tokenizer

LAYOUTS = ("auto", "table", "wikipedia", "folders")
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SPLIT_NAMES = {"train": "database", "training": "database", "database": "database", "db": "database",
               "test": "query", "query": "query", "queries": "query"}
QUERY_FRACTION = 0.2
MIN_COUNT = 2
MAX_WORDS = 10000
# reasons (plural phrases that read after a count)
MISSING_PICTURE = "rows whose picture does not exist (skipped)"
STRAY_SPACES = "pictures found only up to stray spaces in the file name (used)"
REPEATED_PICTURE = "rows whose picture repeats, byte for byte, an earlier row's picture under other labels (skipped)"
SAME_PICTURE = "rows whose picture repeats, byte for byte, an earlier row's picture under the same labels (kept)"
OTHER_LABEL_COPY = "unlisted copies of a listed picture in another label's folder (ignored)"
NO_TEXT = "rows without text (skipped)"
NO_LABEL = "rows without label (skipped)"
WRONG_EXTENSION = "pictures whose format is not what the file extension says (read as their real format)"
UNLISTED = "pictures in the folders that no list names (ignored)"


@dataclass
class Item:
    """One candidate pair, before the checks."""

    where: str  # "table.csv row 3", for the messages
    id: str
    picture: Path
    text: str
    text_path: Path | None
    labels: list[str]
    split: str | None  # "query", "database" or None


@dataclass(frozen=True)
class TableColumns:
    image: str = "image"
    text: str | None = "text"
    text_file: str | None = None
    label: str = "label"
    split: str | None = None
    id: str | None = None
    label_separator: str = ";"


def read_collection(raw, *, layout: str = "auto", columns: TableColumns | None = None, tokenizer: str = "auto",
                    ngrams=(1, 2), stop_words=(), min_count: int = MIN_COUNT, max_words: int | None = MAX_WORDS,
                    seed: int = 0, query_fraction: float = QUERY_FRACTION, stem: str = "COLLECTION",
                    warn: Callable[[str], None] = warn_on_stderr) -> Selection:
    """The `Selection` of the collection in `raw` (a table file or a folder; module docstring)."""
    raw = Path(raw)
    if not raw.exists():
        raise DataError(f"--raw {raw}: no such file or folder; expected a table (.csv, .tsv, .jsonl) or a folder "
                        f"in the Wikipedia or label-folder layout.")
    layout = detect_layout(raw) if layout == "auto" else layout
    if layout not in LAYOUTS[1:]:
        raise DataError(f"layout: expected one of {', '.join(LAYOUTS)}, received {layout!r}.")
    if layout != "table" and columns is not None and columns != TableColumns():
        given = [f"--{name.replace('_', '-')}{'' if name == 'label_separator' else '-column'}"
                 for name in TableColumns.__dataclass_fields__ if getattr(columns, name) != getattr(TableColumns(), name)]
        where = ("its split comes from trainset_/testset_txt_img_cat.list" if layout == "wikipedia"
                 else "its labels are the folder names and its split is drawn with --seed")
        raise ConfigError(f"{', '.join(given)} name columns of a table; --raw {raw} is in the {layout} layout "
                          f"({where}), which has no columns. Drop {', '.join(given)}, or give a table file.")
    problems = Problems()
    if layout == "table":
        items, label_names = read_table(raw, columns or TableColumns(), problems)
        root = raw.parent
    elif layout == "wikipedia":
        items, label_names = read_wikipedia(raw, problems)
        root = raw
    else:
        items, label_names = read_label_folders(raw, problems)
        root = raw
    items = check_items(items, problems)
    if not items:
        raise DataError(f"{raw}: no usable item ({sum(len(p) for p in problems.found.values())} skipped: "
                        f"{', '.join(problems.found) or 'none listed'}).")
    split = assign_split(items, seed, query_fraction)
    database_texts = [item.text for item, part in zip(items, split) if part == "database"]
    if tokenizer == "auto":
        tokenizer = detect_tokenizer_mode(database_texts)
    if tokenizer not in MODES:
        raise DataError(f"tokenizer: expected auto or one of {', '.join(MODES)}, received {tokenizer!r}.")
    cutter = make_tokenizer(tokenizer, ngrams=ngrams, stop_words=stop_words).build(
        database_texts, min_count=min_count, max_words=max_words)
    texts = cutter.bag_of_words([item.text for item in items]).astype(np.uint8)
    column = {name: j for j, name in enumerate(label_names)}
    labels = np.zeros((len(items), len(label_names)), np.uint8)
    for row, item in enumerate(items):
        labels[row, [column[name] for name in item.labels]] = 1
    formats = [picture_format(item.picture) for item in items]
    used = labels.any(axis=0)  # label names no kept item carries are dropped from the columns
    labels, label_names = labels[:, used], [name for name, keep in zip(label_names, used) if keep]
    protocol = {
        "layout": layout,
        "split": "the collection's own" if any(item.split for item in items) else
                 f"seeded (seed {seed}, {query_fraction:g} of the items as queries)",
        "queries": int(sum(part == "query" for part in split)),
        "database": int(sum(part == "database" for part in split)),
        "tokenizer": {"mode": cutter.mode, "ngrams": list(cutter.ngrams), "stop_words": len(cutter.stop_words),
                      "min_count": min_count, "max_words": max_words},
        "vocabulary": len(cutter.vocabulary),
        "pairs_without_word": int((~texts.any(axis=1)).sum()),
        "picture_formats": dict(Counter(format or "unreadable" for format, _ in formats)),
        "picture_modes": dict(Counter(mode or "unreadable" for _, mode in formats)),
        "pairs": len(items),
    }
    sources = [json.dumps({"id": item.id, "image": str(item.picture.resolve()), "text": item.text,
                           "text_path": str(item.text_path.resolve()) if item.text_path else None,
                           "labels": item.labels, "split": part}, ensure_ascii=False)
               for item, part in zip(items, split)]
    return Selection(
        dataset="collection", stem=stem, image_paths=[item.picture for item in items],
        items=[_relative(item.picture, root) for item in items], texts=texts, labels=labels,
        vocabulary=list(cutter.vocabulary), label_names=label_names, protocol=protocol, problems=problems,
        row_files={SPLIT_SUFFIX: split, SOURCES_SUFFIX: sources},
        files={TOKENIZER_SUFFIX: json.dumps(cutter.to_dict(), ensure_ascii=False, indent=1) + "\n"},
    )


def detect_layout(raw: Path) -> str:
    if raw.is_file():
        if raw.suffix.lower() in TABLE_SUFFIXES:
            return "table"
        raise DataError(f"--raw {raw}: a file, but not a table ({', '.join(TABLE_SUFFIXES)}); give a table or a "
                        f"folder.")
    if (raw / "trainset_txt_img_cat.list").is_file() or (raw / "testset_txt_img_cat.list").is_file():
        return "wikipedia"
    if any(path.is_dir() for path in raw.iterdir()):
        return "folders"
    raise DataError(f"--raw {raw}: cannot tell the layout; expected trainset_txt_img_cat.list (Wikipedia layout) "
                    f"or one sub-folder per label. Use --layout, or give the table file itself.")


def detect_tokenizer_mode(texts: list[str]) -> str:
    """"characters" when most letters of `texts` are Han, Hiragana or Katakana, else "words"."""
    import regex

    letters = sum(len(regex.findall(r"\p{L}", text)) for text in texts)
    unspaced = sum(len(regex.findall(r"[\p{Han}\p{Hiragana}\p{Katakana}]", text)) for text in texts)
    return "characters" if letters and unspaced / letters > 0.5 else "words"


# layouts -------------------------------------------------------------------------------------------
def read_table(path: Path, columns: TableColumns, problems: Problems) -> tuple[list[Item], list[str]]:
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: expected a table ending in {', '.join(TABLE_SUFFIXES)}, received {path.suffix!r}.")
    rows = _table_rows(path, kind)
    if not rows:
        raise DataError(f"{path}: the table has no rows.")
    needed = {"--image-column": columns.image, "--label-column": columns.label}
    if columns.text_file:
        needed["--text-file-column"] = columns.text_file
    else:
        needed["--text-column"] = columns.text
    for option in ("split", "id"):
        if getattr(columns, option):
            needed[f"--{option}-column"] = getattr(columns, option)
    present = set().union(*(row.keys() for _, row in rows))
    missing = [f"{name!r} ({option})" for option, name in needed.items() if name not in present]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)}; the table has columns "
                        f"{', '.join(map(repr, sorted(present)))}. Name the columns with the options.")
    items, names = [], []
    for number, row in rows:
        where = f"{path.name} row {number}"
        labels = row.get(columns.label)
        if isinstance(labels, list):
            labels = [str(label).strip() for label in labels]
        else:
            labels = [label.strip() for label in str(labels or "").split(columns.label_separator)]
        labels = list(dict.fromkeys(label for label in labels if label))
        names.extend(labels)
        text_path = None
        if columns.text_file:
            value = str(row.get(columns.text_file) or "").strip()
            text_path = path.parent / value if value else None
            text = read_text(text_path) if text_path and text_path.is_file() else ""
        else:
            text = str(row.get(columns.text) or "")
        picture = str(row.get(columns.image) or "").strip()
        split = None
        if columns.split:
            value = str(row.get(columns.split) or "").strip().lower()
            if value not in SPLIT_NAMES:
                raise DataError(f"{where}: split {row.get(columns.split)!r}; expected one of "
                                f"{', '.join(SPLIT_NAMES)} in column {columns.split!r}.")
            split = SPLIT_NAMES[value]
        items.append(Item(where=where, id=str(row.get(columns.id)) if columns.id else str(number),
                          picture=path.parent / picture if picture else Path(), text=text, text_path=text_path,
                          labels=labels, split=split))
    return items, sorted(set(names))


def _table_rows(path: Path, kind: str) -> list[tuple[int, dict]]:
    """(row number as a person counts them, the row as a dict) of a table; rows numbered from 1
    after the header line for CSV / TSV, line numbers for JSON Lines."""
    text = read_text(path)
    if kind == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path.name} line {number}: not JSON ({error}).") from None
            if not isinstance(row, dict):
                raise DataError(f"{path.name} line {number}: expected a JSON object, received {type(row).__name__}.")
            rows.append((number, row))
        return rows
    reader = csv.DictReader(text.splitlines(), delimiter="\t" if kind == "tsv" else ",")
    rows = []
    for number, row in enumerate(reader, 1):
        if None in row:
            raise DataError(f"{path.name} row {number}: more fields than the header has columns; quote fields "
                            f"that hold the separator.")
        rows.append((number, row))
    return rows


def read_wikipedia(raw: Path, problems: Problems) -> tuple[list[Item], list[str]]:
    categories_path = raw / "categories.list"
    if not categories_path.is_file():
        raise DataError(f"{raw}: categories.list missing; the Wikipedia layout names label k on its line k.")
    categories = read_lines(categories_path)
    texts, images = raw / "texts", raw / "images"
    for folder in (texts, images):
        if not folder.is_dir():
            raise DataError(f"{raw}: no {folder.name}/ folder; the Wikipedia layout has texts/ and images/.")
    pictures = picture_files(images)
    items, listed = [], set()
    for list_name, split in (("trainset_txt_img_cat.list", "database"), ("testset_txt_img_cat.list", "query")):
        list_path = raw / list_name
        if not list_path.is_file():
            if split == "query":
                raise DataError(f"{raw}: {list_name} missing; the Wikipedia layout has both lists.")
            continue
        for number, line in enumerate(read_text(list_path).splitlines(), 1):
            if not line.strip():
                continue
            fields = line.strip().split("\t") if "\t" in line else line.split()
            if len(fields) != 3 or not fields[2].strip().isdigit():
                raise DataError(f"{list_name} line {number}: expected 'text_id<TAB>image_id<TAB>label number', "
                                f"received {line!r}.")
            text_id, image_id, label = fields[0].strip(), fields[1].strip(), int(fields[2])
            if not 1 <= label <= len(categories):
                raise DataError(f"{list_name} line {number}: label {label}, but categories.list has "
                                f"{len(categories)} lines (labels 1 to {len(categories)}).")
            category = categories[label - 1]
            where = f"{list_name} line {number}"
            picture = find_picture(pictures, image_id, category, where, problems)
            listed.add(picture)
            text_path = find_text(texts, text_id)
            text = read_wikipedia_text(text_path) if text_path else ""
            items.append(Item(where=where, id=text_id, picture=picture or images / f"{category}/{image_id}.jpg",
                              text=text, text_path=text_path, labels=[category], split=split))
    for stem_pictures in pictures.values():
        for path in stem_pictures:
            if path not in listed:
                problems.add(UNLISTED if not _copy_of_listed(path, listed) else OTHER_LABEL_COPY, path)
    return items, categories


def picture_files(images: Path) -> dict[str, list[Path]]:
    """File stem with spaces removed -> the picture files under `images` (sorted)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(images.rglob("*")):
        if path.is_file() and path.suffix.lower().strip() in PICTURE_SUFFIXES:
            found.setdefault(path.stem.replace(" ", ""), []).append(path)
    return found


def find_picture(pictures: dict[str, list[Path]], image_id: str, category: str, where: str,
                 problems: Problems) -> Path | None:
    """The picture of `image_id`: the one in its category's folder if any, else the only one;
    a name matching only without its spaces is counted."""
    candidates = pictures.get(image_id.replace(" ", ""), [])
    in_category = [path for path in candidates if path.parent.name == category]
    chosen = (in_category or (candidates if len(candidates) == 1 else []) or [None])[0]
    if chosen is not None and chosen.stem != image_id:
        problems.add(STRAY_SPACES, f"{where}: {chosen}")
    return chosen


def find_text(texts: Path, text_id: str) -> Path | None:
    for suffix in (".txt", ".xml"):
        if (texts / f"{text_id}{suffix}").is_file():
            return texts / f"{text_id}{suffix}"
    return None


def read_wikipedia_text(path: Path) -> str:
    """The text of a Wikipedia-layout text file: the `<text>` element of an .xml file, a .txt whole."""
    text = read_text(path)
    if path.suffix == ".xml":
        match = re.search(r"<text>(.*?)</text>", text, re.DOTALL | re.IGNORECASE)
        text = html.unescape(match.group(1) if match else re.sub(r"<[^>]+>", " ", text))  # &amp; is "&"
    return text.strip()


def read_label_folders(raw: Path, problems: Problems) -> tuple[list[Item], list[str]]:
    items = []
    folders = sorted(path for path in raw.iterdir() if path.is_dir() and not path.name.startswith("."))
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in PICTURE_SUFFIXES:
                continue
            text_path = path.with_suffix(".txt")
            text = read_text(text_path) if text_path.is_file() else ""
            items.append(Item(where=f"{folder.name}/{path.name}", id=f"{folder.name}/{path.stem}", picture=path,
                              text=text, text_path=text_path if text_path.is_file() else None,
                              labels=[folder.name], split=None))
    if not items:
        raise DataError(f"{raw}: no picture ({', '.join(PICTURE_SUFFIXES)}) in its sub-folders; the label-folder "
                        f"layout has one sub-folder per label with the pictures and their .txt texts.")
    return items, [folder.name for folder in folders]


# checks --------------------------------------------------------------------------------------------
def check_items(items: list[Item], problems: Problems) -> list[Item]:
    """The items that pass the checks of the module docstring, in order; the others recorded."""
    kept, seen = [], {}
    for item in items:
        if item.picture.name and not item.picture.is_file() and (near := spaced_name(item.picture)) is not None:
            problems.add(STRAY_SPACES, f"{item.where}: {near}")
            item.picture = near
        if not item.picture.name or not item.picture.is_file():
            problems.add(MISSING_PICTURE, f"{item.where}: {item.picture}")
            continue
        if not item.text.strip():
            problems.add(NO_TEXT, f"{item.where}: {item.text_path or '(empty text)'}")
            continue
        if not item.labels:
            problems.add(NO_LABEL, f"{item.where}: {item.picture}")
            continue
        digest = hashlib.sha256(item.picture.read_bytes()).hexdigest()
        earlier = seen.setdefault(digest, item)
        if earlier is not item:
            same = set(earlier.labels) == set(item.labels)
            problems.add(SAME_PICTURE if same else REPEATED_PICTURE,
                         f"{item.where}: {item.picture} (labels {', '.join(item.labels)}) repeats {earlier.where}: "
                         f"{earlier.picture} (labels {', '.join(earlier.labels)})")
            if not same:
                continue
        real, _ = picture_format(item.picture)
        if real and not _extension_fits(item.picture, real):
            problems.add(WRONG_EXTENSION, f"{item.picture} is {real}")
        kept.append(item)
    return kept


def spaced_name(path: Path) -> Path | None:
    """The one file beside `path` whose name is `path`'s up to spaces ("22 .jpg" for "22.jpg"), or None."""
    if not path.parent.is_dir():
        return None
    wanted = path.name.replace(" ", "")
    found = [other for other in path.parent.iterdir() if other.name.replace(" ", "") == wanted and other.is_file()]
    return found[0] if len(found) == 1 else None


def picture_format(path: Path) -> tuple[str | None, str | None]:
    """(format, colour mode) that Pillow reads from the file's first bytes; (None, None) if it cannot
    tell (the resizing step then records the picture as unreadable)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.format, image.mode
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None, None


EXTENSIONS = {"JPEG": (".jpg", ".jpeg"), "PNG": (".png",), "BMP": (".bmp",), "GIF": (".gif",),
              "TIFF": (".tif", ".tiff"), "WEBP": (".webp",)}


def _extension_fits(path: Path, real: str) -> bool:
    return path.suffix.lower().strip() in EXTENSIONS.get(real, (path.suffix.lower(),))


def _copy_of_listed(path: Path, listed: set) -> bool:
    """Whether an unlisted picture file is a byte-for-byte copy of a listed one with its name."""
    same_name = [other for other in listed if other is not None and other.name.replace(" ", "") ==
                 path.name.replace(" ", "")]
    return any(other.read_bytes() == path.read_bytes() for other in same_name)


def assign_split(items: list[Item], seed: int, query_fraction: float) -> list[str]:
    """"query" / "database" per item: the collection's own split, or a seeded one."""
    given = [item.split for item in items]
    if any(given):
        if not all(given):
            first = next(item for item in items if not item.split)
            raise DataError(f"{first.where}: no split value, while other rows have one; give every row one.")
        if "query" not in given or "database" not in given:
            raise DataError(f"the collection's split has only {given[0]!r} rows; it needs both test (queries) and "
                            f"train (database) rows.")
        return given
    if not 0 < query_fraction < 1:
        raise DataError(f"query fraction: expected a number between 0 and 1, received {query_fraction!r}.")
    n_query = max(1, round(query_fraction * len(items)))
    if n_query >= len(items):
        raise DataError(f"{len(items)} items are too few to split into queries and a database.")
    query = set(np.random.default_rng(seed).permutation(len(items))[:n_query].tolist())
    return ["query" if row in query else "database" for row in range(len(items))]


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
