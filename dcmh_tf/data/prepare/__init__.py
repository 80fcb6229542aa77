"""Build the DCMH datasets from their public raw releases (`dcmh-tf datasets prepare`).

The authors' preprocessed .mat files are hard to get; the raw releases are public. Each module
reads one release under the published protocol into a `Selection` (mirflickr, nuswide, iapr);
`common.write_release` resizes its pictures and writes the file the readers take
(`dcmh_tf.data.releases`), with a record of what was done and checksums.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from dcmh_tf.data.prepare.raw import warn_on_stderr
from dcmh_tf.errors import DataError

PREPARED = ("mirflickr25k", "nus-wide", "iapr-tc12", "collection")


def read_raw_release(dataset: str, raw, *, options: dict | None = None, progress: bool = True,
                     warn: Callable[[str], None] = warn_on_stderr):
    """The `Selection` of `dataset` from the raw release in `raw`. options: min_count, tag_folder
    (mirflickr25k); concepts, drop_empty_text (nus-wide); words (iapr-tc12); those of
    `dcmh_tf.data.prepare.collection.read_collection` (collection)."""
    options = options or {}
    if dataset == "mirflickr25k":
        from dcmh_tf.data.prepare.mirflickr import read_mirflickr

        return read_mirflickr(raw, warn=warn, **options)
    if dataset == "nus-wide":
        from dcmh_tf.data.prepare.nuswide import read_nuswide

        return read_nuswide(raw, progress=progress, warn=warn, **options)
    if dataset == "iapr-tc12":
        from dcmh_tf.data.prepare.iapr import read_iapr

        return read_iapr(raw, warn=warn, **options)
    if dataset == "collection":
        from dcmh_tf.data.prepare.collection import read_collection

        return read_collection(raw, warn=warn, **options)
    raise DataError(f"dataset: expected one of {', '.join(PREPARED)}, received {dataset!r}.")


def prepare_dataset(dataset: str, raw, output, *, options: dict | None = None, image_size: int = 224,
                    workers: int | None = None, progress: bool = True,
                    warn: Callable[[str], None] = warn_on_stderr) -> dict:
    """Read the raw release of `dataset` in `raw` and write `<stem>.mat` and its companions into
    `output`; returns the record of what was written (also in `<stem>.json`)."""
    from dcmh_tf.data.prepare.common import write_release

    if Path(output).resolve() == Path(raw).resolve():
        raise DataError(f"--output {output} is the raw folder; write the prepared files elsewhere.")
    selection = read_raw_release(dataset, raw, options=options, progress=progress, warn=warn)
    return write_release(selection, output, image_size=image_size, workers=workers, progress=progress, warn=warn)
