"""Every baseline on the real news photographs, on hand-crafted and on CNN features (Tables 3–6).

    python scripts/reproduce_news_baselines.py                 # ../shared/data/web_news -> docs/results/news-baselines.md
    python scripts/reproduce_news_baselines.py --report-only   # rewrite the page from --work's results

The paper's two settings for the shallow methods, on the pictures DCMH itself trains on:
1. prepares the collection (`dcmh-tf datasets prepare collection`, 2,000 tokens, its own split: 497
   queries, 1,695 database items = training pairs) and its unpacked copy (`datasets unpack`);
2. hand-crafted features of the pictures (`dcmh-tf datasets features --handcrafted`: HOG + HSV
   histogram + 256 SIFT visual words from the training pictures only);
3. CNN features: full7 of the CNN-F image net of a DCMH run (`dcmh-tf fit --preset collection`,
   16 bits, seed 0, 15 epochs, as docs/results/news.md), extracted with `datasets features --run`.
   No ImageNet weights can be had here, so the CNN is DCMH's own net trained from scratch on the
   1,695 training pictures (the queries never seen), not the paper's ImageNet CNN-F;
4. `dcmh-tf compare` of every baseline on each features file (16/32/64 bits, 3 seeds), and this page
   with both tables and DCMH's own rows (from raw pixels) from docs/results/news_results.json.
Steps whose output exists in --work are not run again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from steps import BASELINE_METHODS, Steps  # noqa: E402
SETTINGS = {"handcrafted": "hand-crafted features (HOG + HSV histogram + SIFT BoVW, 708-d)",
            "cnn": "CNN features (full7 of DCMH's CNN-F trained from scratch on the news pictures, 1024-d)"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", default=str(ROOT.parent / "shared" / "data" / "web_news"))
    parser.add_argument("--work", default="/tmp/dcmh-news-baselines", help="prepared file, features, runs, results")
    parser.add_argument("--output", default=str(ROOT / "docs" / "results" / "news-baselines.md"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15, help="of the DCMH run whose CNN-F gives the CNN features")
    parser.add_argument("--report-only", action="store_true", help="write the page from --work's results only")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see scripts/reproduce.py
    prepared, copy = work / "prepared" / "COLLECTION.mat", work / "prepared" / "COLLECTION.pixels.npy"
    run = work / "runs" / "dcmh-16bits-seed0"
    steps = [
        ("prepare", prepared, ["datasets", "prepare", "collection", "--raw", args.raw, "--output", str(prepared.parent),
                               "--max-words", "2000"]),
        ("unpack", copy, ["datasets", "unpack", str(prepared)]),
        ("DCMH run (CNN-F for the features)", run / "metrics.json",
         ["fit", "--dataset", "collection", "--preset", "collection", "--data-path", str(prepared), "--pixels",
          str(copy), "--bits", "16", "--seed", "0", "--epochs", str(args.epochs), "--output", str(run)]),
        ("CNN features", work / "news-cnn.npz",
         ["datasets", "features", "--run", str(run), "--output", str(work / "news-cnn.npz")]),
        ("hand-crafted features", work / "news-handcrafted.npz",
         ["datasets", "features", str(prepared), "--handcrafted", "--output", str(work / "news-handcrafted.npz")]),
        *[(f"compare on {kind} features", work / f"results-{kind}" / "results.json",
           ["compare", "--data-path", str(work / f"news-{kind}.npz"), "--methods", BASELINE_METHODS, "--bits", "16,32,64",
            "--seeds", str(args.seeds), "--sensitivity-values", "", "--output", str(work / f"results-{kind}")])
          for kind in SETTINGS],
    ]
    runner = Steps(work)
    for label, done, command in ([] if args.report_only else steps):
        runner.run(label, done, command)
    write_page(work, Path(args.output), runner.times)


def write_page(work: Path, output: Path, times: dict) -> None:
    from dcmh_tf.baselines.paper_report import format_table

    news = json.loads((ROOT / "docs" / "results" / "news_results.json").read_text())
    dcmh_runs = [run for run in news["runs"] if run["method"] == "dcmh"]
    extractor = json.loads((work / "runs" / "dcmh-16bits-seed0" / "metrics.json").read_text())
    lines = ["# Every baseline on the real news photographs: hand-crafted and CNN features", "",
             "Written by `python scripts/reproduce_news_baselines.py`; what it shows: [results](../results.md). "
             f"The collection's own split: {news['split']['n_query']} queries, {news['split']['n_database']} "
             f"database items = training pairs; texts: {news['plan']['max_words']} character n-gram tokens; 10 "
             f"labels. Each table is `dcmh-tf compare` on one features file; the DCMH row (CNN-F from raw "
             f"pixels, end to end, preset `collection`, 15 epochs) is [news.md](news.md)'s, on the same split "
             f"and texts, added for comparison (seeds per cell there: 2/2/1; its hash lookup is 0 within radius 2 "
             f"in news.md too: recall 0 there means that no query's code lies within 2 bits of a relevant item's code).", ""]
    for kind, title in SETTINGS.items():
        results = json.loads((work / f"results-{kind}" / "results.json").read_text())
        config = results["dcmh_config"]  # so that the table takes DCMH's rows as its main runs
        results["runs"] += [{**run, "gamma": config["gamma"], "eta": config["eta"]} for run in dcmh_runs]
        lines += [f"## Baselines on {title}", "", format_table(results), ""]
        seconds = {}
        for run in results["runs"]:
            if run["method"] != "dcmh":
                seconds.setdefault(run["method"], []).append(run["seconds"])
        lines.append("Training and encoding time per run (mean over code lengths and seeds): " + ", ".join(
            f"{method} {sum(s) / len(s):.1f} s" for method, s in seconds.items()) + ".")
        lines += ["", *radius_table(results, news), ""]
        figure = output.parent / f"news_baselines_{kind}_pr_curves.png"
        shutil.copyfile(work / f"results-{kind}" / "pr_curves.png", figure)
        lines += [f"![precision-recall curves, {kind}]({figure.name})", ""]
    lines += ["## Where the CNN features come from", "",
              f"`dcmh-tf datasets features --run RUN` on the DCMH run trained for this page (16 bits, seed 0, "
              f"{extractor['epochs_trained']} epochs; its own MAP I→T {extractor['map_i2t']:.4f}, T→I "
              f"{extractor['map_t2i']:.4f}): full7 after ReLU, 1024-d (the `collection` preset's width). "
              "The paper's Tables 5–6 use ImageNet's CNN-F, which cannot be downloaded here; with "
              "`--pretrained imagenet-vgg-f.mat` the same command gives those (tested on a synthetic file of "
              "the real layout only). So this table measures features of a net that saw 1,695 pictures, "
              "not ImageNet's 1.2 million.", "",
              "Times of the steps on the 2-core machine (s): " + ", ".join(f"{step} {seconds}" for step, seconds
                                                                        in times.items()) + ".",
              ""]
    output.write_text("\n".join(lines))
    print(f"wrote {output}")


def radius_table(results: dict, news: dict) -> list[str]:
    """Precision / recall / F of hash lookup within Hamming radius 0, 1, 2 (the paper's Table 7) at
    the figure's code length, seed 0: the first points of each method's PR curve (pr_curves.png);
    DCMH's from news_results.json."""
    from dcmh_tf.baselines.comparison import METHOD_TITLES
    from dcmh_tf.evaluation.metrics import precision_recall_f

    bits = results["plan"]["figure_bits"]
    curves = {**results["pr_curves"], **{"dcmh": news["pr_curves"][str(bits)]["dcmh"]}}
    header = "| Method | " + " | ".join(f"{d} {m} r≤{r}" for d in ("I→T", "T→I") for r in range(3)
                                       for m in ("P", "R", "F")) + " |"
    lines = [f"Hash lookup within Hamming radius 0, 1, 2 at {bits} bits, seed 0 (the layout of Table 7):", "",
             header, "|---|" + "---:|" * 18]
    for method in (m for m in METHOD_TITLES if m in curves):
        cells = []
        for direction in ("i2t", "t2i"):
            for r in range(3):
                scores = precision_recall_f(curves[method][direction]["precision"][r],
                                            curves[method][direction]["recall"][r])
                cells += [f"{scores[key]:.3f}" for key in ("precision", "recall", "f_measure")]
        lines.append(f"| {METHOD_TITLES[method]} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
