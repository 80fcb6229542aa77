"""Character n-grams against a word segmenter (jieba) for the Chinese news texts, measured with the
shallow baselines (no training of networks: seconds per setting).

    pip install jieba==0.42.1                 # only for this measurement, not a dependency
    python scripts/compare_tokenizers.py      # after scripts/reproduce_news.py prepared /tmp/dcmh-news

Every setting gets the same split, the same picture features (`features.npz` of reproduce_news) and a
vocabulary of the `--max-words` tokens found in most training texts (at least 2); the texts are the
raw texts of `COLLECTION.sources.jsonl`. Prints MAP of SCM-seq and SePH-lin (16 and 32 bits, seed 0)
and the text-to-text MAP of the bags of words themselves (cosine ranking, no hashing).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="/tmp/dcmh-news")
    parser.add_argument("--max-words", type=int, default=2000)
    args = parser.parse_args(argv)
    import jieba
    import regex

    from dcmh_tf.baselines import make_baseline
    from dcmh_tf.baselines.common import zscore_columns
    from dcmh_tf.config import resolve_config
    from dcmh_tf.data.collection import read_item_sources
    from dcmh_tf.data.loading import load_dataset, make_split
    from dcmh_tf.data.prepare.raw import bag_of_words
    from dcmh_tf.text import rank_words
    from dcmh_tf.evaluation.metrics import mean_average_precision
    from dcmh_tf.text import Tokenizer

    prepared = f"{args.work}/prepared/COLLECTION.mat"
    config = resolve_config("collection", data_path=prepared)
    data = load_dataset(config)
    split = make_split(config, data)
    labels = np.asarray(data.labels)
    texts = [source["text"] for source in read_item_sources(prepared)]
    with np.load(f"{args.work}/features.npz") as f:
        images = zscore_columns(f["features"], split.train)
    jieba.setLogLevel(60)
    cutters = {
        "characters 1,2-grams": Tokenizer("characters", ngrams=(1, 2)).tokens,
        "characters 1-grams": Tokenizer("characters", ngrams=(1,)).tokens,
        "characters 2-grams": Tokenizer("characters", ngrams=(2,)).tokens,
        # jieba's words (default dictionary, accurate mode), those holding a letter (no punctuation, digits)
        "jieba words": lambda text: [w for w in jieba.lcut(text.lower()) if regex.search(r"\p{L}", w)],
    }
    print(f"{'tokens':<22} {'vocabulary':>10} {'text→text':>10} " + " ".join(
        f"{m} {b} {d}".rjust(18) for m in ("scm-seq", "seph-lin") for b in (16, 32) for d in ("I→T", "T→I")))
    for name, cut in cutters.items():
        documents = [cut(text) for text in texts]
        counts = Counter(token for row in split.train for token in set(documents[row]))
        vocabulary = rank_words(counts, min_count=2, size=args.max_words)
        bags = bag_of_words(documents, vocabulary).astype(np.float32)
        unit = bags / np.maximum(np.linalg.norm(bags, axis=1, keepdims=True), 1e-12)
        similarity = unit[split.query] @ unit[split.database].T
        text_map = ranked_map(similarity, labels[split.query], labels[split.database])
        scaled = zscore_columns(bags, split.train)
        cells = []
        for method in ("scm-seq", "seph-lin"):
            for bits in (16, 32):
                hasher = make_baseline(method, bits, seed=0).fit(images[split.train], scaled[split.train],
                                                                 labels[split.train])
                codes = {"image": hasher.encode_images(images), "text": hasher.encode_texts(scaled)}
                for query, database in (("image", "text"), ("text", "image")):
                    cells.append(mean_average_precision(codes[query][split.query], codes[database][split.database],
                                                        labels[split.query], labels[split.database]))
        print(f"{name:<22} {len(vocabulary):>10} {text_map:>10.4f} " + " ".join(f"{c:>18.4f}" for c in cells),
              flush=True)


def ranked_map(similarity: np.ndarray, query_labels: np.ndarray, db_labels: np.ndarray) -> float:
    """MAP of ranking the database by falling similarity (ties in database order)."""
    relevant = (query_labels @ db_labels.T) > 0
    order = np.argsort(-similarity, axis=1, kind="stable")
    hits = np.take_along_axis(relevant, order, axis=1)
    ranks = np.arange(1, hits.shape[1] + 1)
    precision = np.cumsum(hits, axis=1) / ranks
    counts = hits.sum(axis=1)
    return float(np.mean(np.where(counts > 0, (precision * hits).sum(axis=1) / np.maximum(counts, 1), 0.0)))


if __name__ == "__main__":
    sys.exit(main())
