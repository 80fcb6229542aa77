"""The companions of a prepared collection (`dcmh-tf datasets prepare collection`), read back.

Beside `<stem>.mat` (the readers' usual images / YAll / LAll) a collection has, one line per row of
the file (row i of the dataset = line i + 1):

- `<stem>.split.txt`: "query" or "database" (the collection's own train/test split, or the seeded
  one made when it had none); the readers turn it into the file's split (queries = test, database =
  training set = train, the Wikipedia protocol);
- `<stem>.sources.jsonl`: where the row came from, one JSON object a line: `id` (the collection's
  own item id), `image` (absolute path of the original picture file), `text` (the raw text),
  `text_path` (absolute path of the text file, or null for inline text), `labels` (names), `split`;
- and once: `<stem>.tokenizer.json` (`dcmh_tf.text.Tokenizer`): how raw text becomes the YAll columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dcmh_tf.errors import DataError

SPLIT_SUFFIX = ".split.txt"
SOURCES_SUFFIX = ".sources.jsonl"
TOKENIZER_SUFFIX = ".tokenizer.json"
SPLIT_VALUES = ("query", "database")


def read_item_sources(prepared_path) -> list[dict]:
    """The sources of every row of the prepared file `prepared_path` (`<stem>.mat`, or the
    `.sources.jsonl` itself): a list whose item i describes dataset row i (see the module docstring)."""
    path = Path(prepared_path)
    if path.suffix != ".jsonl":
        path = path.with_suffix(SOURCES_SUFFIX)
    if not path.is_file():
        raise DataError(f"{path}: no such file; item sources are written by `dcmh-tf datasets prepare collection` "
                        f"beside the prepared .mat file.")
    sources = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            sources.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not a JSON object ({error}).") from None
    return sources


def read_file_split(prepared_path, rows: int):
    """The `Split` of `<stem>.split.txt` beside `prepared_path`, or None without one. Raises
    `DataError` when its lines are not one "query" / "database" per row."""
    from dcmh_tf.data.paired import Split

    path = Path(prepared_path).with_suffix(SPLIT_SUFFIX)
    if not path.is_file():
        return None
    values = path.read_text(encoding="utf-8").splitlines()
    if len(values) != rows or not set(values) <= set(SPLIT_VALUES):
        bad = sorted(set(values) - set(SPLIT_VALUES))[:3]
        raise DataError(f"{path}: expected one line 'query' or 'database' for each of the {rows} rows, received "
                        f"{len(values)} lines{', values ' + ', '.join(map(repr, bad)) if bad else ''}. Prepare the "
                        f"collection again.")
    marks = np.asarray(values)
    query, database = np.flatnonzero(marks == "query"), np.flatnonzero(marks == "database")
    if not len(query) or not len(database):
        raise DataError(f"{path}: {len(query)} queries and {len(database)} database rows; both must be there.")
    return Split(query=query, database=database, train=database)


def read_tokenizer(prepared_path):
    """The `Tokenizer` beside `prepared_path`, or None without one."""
    from dcmh_tf.text import Tokenizer

    path = Path(prepared_path).with_suffix(TOKENIZER_SUFFIX)
    return Tokenizer.load(path) if path.is_file() else None
