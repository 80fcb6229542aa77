"""Reading the public raw releases: finding their folders, decoding their text files, ranking
words, and reporting what had to be skipped.

Every irregularity of a release (a tag file for an image that does not exist, an unreadable
picture, an annotation naming an unknown image) is either fatal (`DataError` naming the path) or
recorded in `Problems`, which warns with a count and the first paths and goes into the record of
the prepared files. Nothing is dropped silently.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from dcmh_tf.errors import DataError

EXAMPLES_SHOWN = 3  # paths quoted in a warning; the record keeps all of them


def warn_on_stderr(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


@dataclass
class Problems:
    """Irregularities of a release that were skipped: reason -> the paths concerned. A reason is a
    plural phrase that reads after a count, e.g. "tag files of images that do not exist (skipped)"."""

    found: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, path) -> None:
        self.found.setdefault(reason, []).append(str(path))

    def count(self, reason: str) -> int:
        return len(self.found.get(reason, []))

    def report(self, warn: Callable[[str], None]) -> None:
        """One warning per reason: the count and the first few paths."""
        for reason, paths in self.found.items():
            shown = ", ".join(paths[:EXAMPLES_SHOWN]) + (", ..." if len(paths) > EXAMPLES_SHOWN else "")
            warn(f"{len(paths)} {reason}: {shown}")

    def as_record(self) -> dict[str, dict]:
        return {reason: {"count": len(paths), "paths": paths} for reason, paths in self.found.items()}


def find_folder(raw: Path, candidates: Iterable[str], marker: str, what: str) -> Path:
    """The first `raw / candidate` that holds `marker` (a file or folder); `DataError` listing the
    places looked at when none does."""
    raw = Path(raw)
    if not raw.is_dir():
        raise DataError(f"{raw}: no such folder; expected the unpacked {what}.")
    tried = []
    for candidate in candidates:
        folder = raw / candidate if candidate else raw
        if (folder / marker).exists():
            return folder
        tried.append(str(folder / marker))
    raise DataError(f"{raw}: cannot find the {what}; looked for {', '.join(tried)}. Unpack the archive there "
                    f"as it comes (keep its folders) or point --raw at the folder that holds it.")


def read_text(path: Path) -> str:
    """A text file of a release: UTF-8, or Latin-1 where it is not (the IAPR TC-12 captions and a few
    Flickr tag files are Latin-1); Latin-1 decodes any bytes, so nothing is lost or replaced."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of a text file, stripped."""
    return [line.strip() for line in read_text(path).splitlines() if line.strip()]




def bag_of_words(documents: list[Iterable[str]], vocabulary: list[str]) -> np.ndarray:
    """(n, len(vocabulary)) uint8 0/1: word j occurs in document i. Words outside the vocabulary are ignored."""
    column = {word: j for j, word in enumerate(vocabulary)}
    matrix = np.zeros((len(documents), len(vocabulary)), np.uint8)
    for i, words in enumerate(documents):
        matrix[i, [column[w] for w in set(words) if w in column]] = 1
    return matrix
