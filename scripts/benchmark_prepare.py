"""Time `dcmh-tf datasets prepare mirflickr25k` on a synthetic release of MIRFLICKR-sized JPEGs.

Writes N pictures of 500×375 (the typical MIRFLICKR size; smooth gradients plus noise, JPEG
quality 90) in the layout of mirflickr25k.zip into a temporary folder, then prepares them at
224×224 with 1 and with 2 workers, and prints pictures per second, the output size, and the
time for the 20,015 pictures of the real release extrapolated from the rate.

    python scripts/benchmark_prepare.py [--pictures 400] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dcmh_tf.data.prepare import prepare_dataset
from dcmh_tf.data.prepare.mirflickr import CONCEPTS

PAIRS = 20015


def write_release(raw: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    root = raw / "mirflickr"
    (root / "meta" / "tags").mkdir(parents=True)
    y, x = np.mgrid[0:375, 0:500]
    for number in range(1, n + 1):
        base = np.stack([x * 255 // 500, y * 255 // 375, (x + y) * 255 // 875], axis=-1)
        noise = rng.integers(-30, 30, base.shape)
        pixels = np.clip(base + noise + rng.integers(0, 100), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"im{number}.jpg", quality=90)
        (root / "meta" / "tags" / f"tags{number}.txt").write_text("sky\nblue\n")
    notes = raw / "annotations"
    notes.mkdir()
    for concept in CONCEPTS:
        (notes / f"{concept}.txt").write_text("".join(f"{k}\n" for k in range(1, n + 1)) if concept == "sky" else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pictures", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "raw"
        write_release(raw, args.pictures)
        for workers in args.workers:
            output = Path(folder) / f"out{workers}"
            started = time.perf_counter()
            record = prepare_dataset("mirflickr25k", raw, output, options={"min_count": 1}, workers=workers,
                                     progress=False)
            seconds = time.perf_counter() - started
            size = (output / record["file"]).stat().st_size
            print(f"workers {workers}: {record['pairs']} pictures in {seconds:.1f} s = {record['pairs'] / seconds:.0f} "
                  f"pictures/s; {size / record['pairs'] / 1024:.0f} KiB per picture; {PAIRS} pictures would take "
                  f"~{PAIRS / (record['pairs'] / seconds) / 60:.0f} min and {size / record['pairs'] * PAIRS / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
