"""Run the MIRFLICKR-25K vocabulary and pair selection of `dcmh-tf datasets prepare` on real tags.

`raw_tags.csv` (../shared/data/mirflickr25k) holds the Flickr tags of the 25,000 MIRFLICKR images
from one public copy (not the one behind the authors' YAll). This prints what the preparation's
protocol makes of them (tags in >= 20 images, images keeping a tag), a sweep of thresholds, and the
facts of the authors' YAll / LAll that the protocol was read from. Labels are not in the csv, so
the label rule is not applied to it.

    python scripts/prepare_report.py [--csv PATH] [--yall PATH] [--lall PATH] [--min-count 20]
"""

from __future__ import annotations

import argparse
import ast
import csv
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from dcmh_tf.data.matfile import open_array_file
from dcmh_tf.data.prepare.mirflickr import MIN_COUNT, select_vocabulary
from dcmh_tf.data.prepare.raw import bag_of_words

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mirflickr25k"
PUBLISHED = {"vocabulary": 1386, "pairs": 20015}


def read_tag_csv(path: Path) -> dict[int, set[str]]:
    """image number -> its tags (lower case), from rows `row, number, path, "['tag', ...]"`."""
    with open(path, newline="", encoding="utf-8") as f:
        return {int(row[1]): {tag.lower() for tag in ast.literal_eval(row[3])} for row in csv.reader(f)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=SHARED / "raw_tags.csv")
    parser.add_argument("--yall", type=Path, default=SHARED / "mirflickr25k-yall.mat")
    parser.add_argument("--lall", type=Path, default=SHARED / "mirflickr25k-lall.mat")
    parser.add_argument("--min-count", type=int, default=MIN_COUNT)
    args = parser.parse_args()

    tags = read_tag_csv(args.csv)
    tag_sets = [tags[number] for number in sorted(tags)]
    vocabulary, counts = select_vocabulary(tag_sets, args.min_count)
    texts = bag_of_words(tag_sets, vocabulary)
    print(f"{args.csv}")
    print(f"  images                               {len(tag_sets):>6}")
    print(f"  images with at least one tag         {sum(1 for t in tag_sets if t):>6}")
    print(f"  distinct tags                        {len(counts):>6}")
    print(f"  tags in >= {args.min_count} images (vocabulary)     {len(vocabulary):>6}   "
          f"published {PUBLISHED['vocabulary']}")
    print(f"  images with a vocabulary tag         {int(texts.any(axis=1).sum()):>6}   published pairs "
          f"{PUBLISHED['pairs']} (after the label rule, which needs the annotations)")
    print(f"  most frequent: {', '.join(f'{w} {counts[w]}' for w in vocabulary[:8])}")
    print("  threshold sweep (min images per tag -> vocabulary, images with a vocabulary tag):")
    for threshold in (1, 5, 10, 11, 12, 15, 20, 25, 30):
        words, _ = select_vocabulary(tag_sets, threshold)
        kept = int(bag_of_words(tag_sets, words).any(axis=1).sum())
        print(f"    {threshold:>3} -> {len(words):>5} words, {kept:>6} images")

    with open_array_file(args.yall) as f:
        yall = f.read("YAll")
    with open_array_file(args.lall) as f:
        lall = f.read("LAll")
    columns = yall.sum(axis=0)
    print(f"{args.yall.name} / {args.lall.name} (the authors' release)")
    print(f"  pairs {len(yall)}, words {yall.shape[1]}, labels {lall.shape[1]}")
    print(f"  tags per pair min {yall.sum(axis=1).min()}, labels per pair min {lall.sum(axis=1).min()} "
          f"(every pair has a tag and a label)")
    print(f"  word columns with < {args.min_count} pairs: {int((columns < args.min_count).sum())} "
          f"(min {columns.min()}): the threshold was applied before pairs were dropped")
    rho = spearmanr(np.arange(len(columns)), columns).statistic
    print(f"  first column counts {columns[:6].tolist()}, last {columns[-6:].tolist()}; Spearman rank correlation "
          f"of column position and count {rho:.4f} (columns by falling count)")
    print(f"  label counts {lall.sum(axis=0).tolist()}")


if __name__ == "__main__":
    main()
