"""DCMH with ImageNet EfficientNet-Lite0 from raw pixels against every baseline on the news photographs.

    python scripts/reproduce_news_lite.py                       # ../shared/data/web_news -> docs/results/news-lite.md
    python scripts/reproduce_news_lite.py --seeds 1 --bits 16   # a shorter run
    python scripts/reproduce_news_lite.py --report-only         # rewrite the page from --work's results

1. prepares the collection (`datasets prepare collection`, 2,000 tokens, its own split: 497 queries, 1,695
   database items = training pairs);
2. two feature settings for the baselines: hand-crafted (`datasets features --handcrafted`) and the pooled
   1280-d head of the ImageNet EfficientNet-Lite0, fixed (`datasets features --backbone efficientnet-lite0`);
3. `dcmh-tf compare` of all seven baselines on each (16/32/64 bits, --seeds seeds);
4. DCMH's validation curves (`fit --preset collection --eval-every 1`, validation queries carved from the
   database, never the query set), one per code length, at --max-epochs;
5. the epochs of the final runs: the epoch of the best validation MAP (mean of both directions) per code
   length; then DCMH's final runs (`fit --preset collection`, the whole training set, that many epochs);
6. docs/results/news-lite.md: both MAP tables with DCMH's row, the validation curves, the times.
Steps whose output exists in --work are not run again; `--deadline HH:MM` (UTC) starts no step after it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from steps import BASELINE_METHODS, Steps  # noqa: E402
from dcmh_tf.baselines.comparison import METHOD_TITLES  # noqa: E402
from dcmh_tf.baselines.paper_report import sample_std, summarize  # noqa: E402
from dcmh_tf.run_directory import best_record  # noqa: E402
SETTINGS = {"handcrafted": "hand-crafted features (HOG + HSV histogram + SIFT BoVW)",
            "lite0": "ImageNet EfficientNet-Lite0 features (pooled head, 1280-d, fixed)"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", default=str(ROOT.parent / "shared" / "data" / "web_news"))
    parser.add_argument("--work", default="/tmp/dcmh-news-lite", help="prepared file, features, runs, results")
    parser.add_argument("--output", default=str(ROOT / "docs" / "results" / "news-lite.md"))
    parser.add_argument("--bits", default="16,32,64")
    parser.add_argument("--seeds", type=int, default=3, help="DCMH's seeds")
    parser.add_argument("--baseline-seeds", type=int, default=3)
    parser.add_argument("--baseline-settings", default="lite0,handcrafted",
                        help="feature settings whose baselines run (hand-crafted ones not run: news-baselines.md's table)")
    parser.add_argument("--max-epochs", type=int, default=15, help="length of the validation curves")
    parser.add_argument("--n-validation", type=int, default=339, help="validation queries carved from the database")
    parser.add_argument("--fit-option", action="append", default=[],
                        help="extra `fit` option for every DCMH run, e.g. --fit-option=--hidden=1024 (repeatable)")
    parser.add_argument("--deadline", default=None, help="HH:MM UTC: start no step after it")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see scripts/reproduce.py
    bits = [int(b) for b in args.bits.split(",")]
    prepared = work / "prepared" / "COLLECTION.mat"
    steps = Steps(work, args.deadline)
    step = steps.run

    if not args.report_only:
        step("prepare", prepared, ["datasets", "prepare", "collection", "--raw", args.raw, "--output",
                                   str(prepared.parent), "--max-words", "2000"])
        step("hand-crafted features", work / "news-handcrafted.npz",
             ["datasets", "features", str(prepared), "--handcrafted", "--output", str(work / "news-handcrafted.npz")])
        step("Lite0 features", work / "news-lite0.npz",
             ["datasets", "features", str(prepared), "--backbone", "efficientnet-lite0", "--output",
              str(work / "news-lite0.npz")])
        fit = ["fit", "--preset", "collection", "--data-path", str(prepared), *args.fit_option]

        def validation_curve(b: int) -> None:
            step(f"DCMH validation curve {b} bits", work / "runs" / f"validation-{b}" / "metrics.json",
                 [*fit, "--bits", str(b), "--epochs", str(args.max_epochs), "--eval-every", "1",
                  "--n-validation", str(args.n_validation), "--output", str(work / "runs" / f"validation-{b}")])

        def compare(kind: str) -> None:
            if kind not in args.baseline_settings.split(","):
                return
            step(f"baselines on {kind} features", work / f"results-{kind}" / "results.json",
                 ["compare", "--data-path", str(work / f"news-{kind}.npz"), "--methods", BASELINE_METHODS, "--bits", args.bits,
                  "--seeds", str(args.baseline_seeds), "--sensitivity-values", "", "--output", str(work / f"results-{kind}")])

        def final(b: int, seed: int) -> None:
            epochs = chosen_epochs(work, bits, args.max_epochs)
            step(f"DCMH {b} bits seed {seed}", work / "runs" / f"dcmh-{b}-seed{seed}" / "metrics.json",
                 [*fit, "--bits", str(b), "--seed", str(seed), "--epochs", str(epochs), "--output",
                  str(work / "runs" / f"dcmh-{b}-seed{seed}")])

        # the most useful first: the curve that decides the epochs, DCMH's seed 0, the Lite0-feature baselines,
        # the hand-crafted baselines, DCMH's other seeds, then the curves of the other code lengths
        validation_curve(bits[0])
        for b in bits:
            final(b, 0)
        compare("lite0")
        compare("handcrafted")
        for seed in range(1, args.seeds):
            for b in bits:
                final(b, seed)
        for b in bits[1:]:
            validation_curve(b)
    write_page(work, Path(args.output), steps.times, bits, args, steps.skipped)


def validation_history(work: Path, b: int) -> list[dict]:
    path = work / "runs" / f"validation-{b}" / "metrics.json"
    return json.loads(path.read_text()).get("validation", []) if path.exists() else []


def chosen_epochs(work: Path, bits: list[int], fallback: int) -> int:
    """The epoch of the best validation MAP (mean of both directions, earliest on ties) on the first code length's
    curve (the one run before any final run; the others are run last, for the record), else `fallback`."""
    best = best_record(validation_history(work, bits[0])) if bits else None
    return int(best["epoch"]) if best is not None else fallback


def dcmh_rows(work: Path, bits: list[int]) -> dict[int, list[dict]]:
    rows = {}
    for b in bits:
        rows[b] = [json.loads(p.read_text()) for p in sorted((work / "runs").glob(f"dcmh-{b}-seed*/metrics.json"))]
    return rows


def _cell(values: list[float]):
    """(mean, sample std, n) of a cell's runs, or None."""
    import numpy as np

    if not values:
        return None
    return float(np.mean(values)), sample_std(values), len(values)


def earlier_handcrafted_table(page: Path, bits: list[int]) -> dict:
    """The baselines' cells of the first MAP table of news-baselines.md (hand-crafted features), as (mean, std, n)."""
    table, inside = {}, False
    for line in page.read_text().splitlines():
        if line.startswith("## Baselines on hand-crafted"):
            inside = True
            continue
        if inside and line.startswith("## "):
            break
        if inside and line.startswith("| ") and "±" in line and not line.startswith("| DCMH"):
            cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
            values = []
            for cell in cells[1:]:
                mean, std = (float(x) for x in cell.split("±"))
                values.append((mean, std, 1 if std == 0 and cells[0] == "SCM-seq" else 3))
            columns = [(d, b) for d in ("i2t", "t2i") for b in (16, 32, 64)]
            table[cells[0]] = {key: value for key, value in zip(columns, values) if key[1] in bits}
    return table


def write_page(work: Path, output: Path, times: dict, bits: list[int], args, skipped: list[str]) -> None:
    import numpy as np

    dcmh = dcmh_rows(work, bits)
    stamp = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
    lines = ["# News photographs: DCMH with ImageNet EfficientNet-Lite0 from raw pixels against every baseline", "",
             f"Written by `python scripts/reproduce_news_lite.py` ({stamp} UTC). The collection's own split: 497 queries, 1695 database items = training pairs; texts: 2000 "
             "character n-gram tokens; 10 labels. DCMH: `fit --preset collection`: raw 224×224 pixels into the ImageNet "
             "EfficientNet-Lite0, which stays fixed (`--freeze-stages 8`: fine-tuning stages 6–7 scored lower on the "
             "validation queries, [training.md](../training.md#how-the-collection-preset-was-chosen-news-photographs-validation-split-only)), "
             "its pooled head computed once, then BatchNorm, a 4096-wide ReLU layer and the hash layer trained with "
             "the text net (4096 wide, z-scored words) by DCMH's objective and Algorithm 1 "
             + (f"with {' '.join(args.fit_option)} " if args.fit_option else "")
             + "trained on the whole training set for the epochs its validation curve chose (below). MAP of "
             "Hamming ranking on the 497 queries, mean ± sample std over the seeds run (n per cell in brackets).", ""]
    for kind, title in SETTINGS.items():
        path = work / f"results-{kind}" / "results.json"
        table, source = {}, ""
        if path.exists():
            for method, cells in summarize(json.loads(path.read_text())).items():
                table[method] = {(d, b): cells.get((d, b)) for d in ("i2t", "t2i") for b in bits}
        elif kind == "handcrafted" and (ROOT / "docs" / "results" / "news-baselines.md").exists():
            table = earlier_handcrafted_table(ROOT / "docs" / "results" / "news-baselines.md", bits)
            source = ("Baseline rows not run again here: taken from [news-baselines.md](news-baselines.md), made by the "
                      "same `datasets features --handcrafted` and `compare` commands on the same prepared file and "
                      "split (3 seeds).")
        if not table:
            lines += [f"## Baselines on {title}", "", "not run yet", ""]
            continue
        header = "| Method | " + " | ".join(f"I→T {b}" for b in bits) + " | " + " | ".join(f"T→I {b}" for b in bits) + " |"
        lines += [f"## Baselines on {title}, and DCMH from raw pixels", ""] + ([source, ""] if source else []) + [
            header, "|---|" + "---:|" * (2 * len(bits))]
        table["DCMH (Lite0 fixed, trained head)"] = {(d, b): _cell([m[f"map_{d}"] for m in dcmh[b]]) for d in ("i2t", "t2i")
                                         for b in bits}
        best = {(d, b): max((v[(d, b)][0] for v in table.values() if v[(d, b)]), default=None)
                for d in ("i2t", "t2i") for b in bits}
        for method, cells in table.items():
            out = []
            for d in ("i2t", "t2i"):
                for b in bits:
                    cell = cells[(d, b)]
                    text = f"{cell[0]:.4f} ± {cell[1]:.4f} ({cell[2]})" if cell else "–"
                    if cell and np.isclose(cell[0], best[(d, b)]):
                        text = f"**{text}**"
                    out.append(text)
            lines.append(f"| {results_name(method)} | " + " | ".join(out) + " |")
        verdicts = []
        for d, name in (("i2t", "I→T"), ("t2i", "T→I")):
            for b in bits:
                mine = table["DCMH (Lite0 fixed, trained head)"][(d, b)]
                rivals = {m: c[(d, b)][0] for m, c in table.items() if m != "DCMH (Lite0 fixed, trained head)" and c[(d, b)]}
                if not mine or not rivals:
                    continue
                top = max(rivals, key=rivals.get)
                gap = mine[0] - rivals[top]
                verdicts.append(f"- {name} {b} bits: DCMH {'is first' if gap > 0 else 'is NOT first'} (best baseline "
                                f"{results_name(top)}, DCMH − it = {gap:+.4f})")
        lines += [""] + verdicts + [""]
    table7 = []
    for b in bits:
        seed0 = work / "runs" / f"dcmh-{b}-seed0" / "metrics.json"
        if seed0.exists():
            metrics = json.loads(seed0.read_text())
            if "i2t" not in metrics:  # fit's metrics.json holds MAP only: `dcmh-tf evaluate RUN` gives Table 7
                continue
            cells = [f"{metrics[d]['radius'][str(r)][k]:.3f}" for d in ("i2t", "t2i") for r in (0, 1, 2)
                     for k in ("precision", "recall", "f_measure")]
            table7.append(f"| DCMH (Lite0, pixels) | {b} | " + " | ".join(cells) + " |")
    if table7:
        head = " | ".join(f"{d} {k} r≤{r}" for d in ("I→T", "T→I") for r in (0, 1, 2) for k in ("P", "R", "F"))
        lines += ["## DCMH: hash lookup within Hamming radius 0, 1, 2 (seed 0; the layout of the paper's Table 7)", "",
                  f"| Method | bits | {head} |", "|---|---:|" + "---:|" * 18, *table7, ""]
        plot_pr_curves(work, output, bits[0])
        lines += [f"![precision-recall curves of hash lookup, {bits[0]} bits]({output.stem}_pr_curves.png)", ""]
    distinct = []
    for b in bits:
        for path in sorted((work / "runs").glob(f"dcmh-{b}-seed*/metrics.json")):
            codes = json.loads(path.read_text()).get("codes")
            if codes:
                distinct.append(f"{b} bits {path.parent.name.split('-')[-1]}: {codes['image']['distinct']} distinct picture "
                                f"codes and {codes['text']['distinct']} text codes among {codes['image']['items']} database "
                                f"items (largest share {codes['image']['largest_share']:.3f} / {codes['text']['largest_share']:.3f})")
    if distinct:
        lines += ["## DCMH: no collapse", "", "Codes of the database (CNN-F from scratch had 15 distinct picture codes, "
                  "[news.md](news.md)): " + "; ".join(distinct) + ".", ""]
    lines += ["## DCMH: MAP per epoch on the validation split (carved from the database; chooses the epochs)", ""]
    for b in bits:
        history = validation_history(work, b)
        if history:
            curve = ", ".join(f"{r['epoch']}: {r['map_i2t']:.3f}/{r['map_t2i']:.3f}" for r in history)
            lines.append(f"- {b} bits (I→T/T→I by epoch; chosen: {chosen_epochs(work, bits, args.max_epochs)} "
                         f"epochs): {curve}")
    lines += ["", "## Time (this 2-core CPU, shared with other jobs)", ""]
    lines += [f"- {label}: {seconds / 60:.1f} min" for label, seconds in times.items()]
    if skipped:
        lines += ["", "Not run (deadline): " + ", ".join(skipped)]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


def plot_pr_curves(work: Path, output: Path, b: int) -> None:
    """Hash-lookup precision-recall curves (radius 0..c) of DCMH seed 0 and of each baseline's seed 0 run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    metrics = json.loads((work / "runs" / f"dcmh-{b}-seed0" / "metrics.json").read_text())
    for axis, direction, name in ((axes[0], "i2t", "I→T"), (axes[1], "t2i", "T→I")):
        curve = metrics[direction]["pr_curve"]
        axis.plot(curve["recall"], curve["precision"], "k-o", markersize=3, label="DCMH (Lite0 fixed, trained head)")
        for kind, style in (("handcrafted", "--"), ("lite0", ":")):
            path = work / f"results-{kind}" / "results.json"
            if not path.exists():
                continue
            for run in json.loads(path.read_text())["runs"]:
                if run.get("bits") == b and run.get("seed") == 0 and run.get("method", "").lower() == "seph-lin" \
                        and f"pr_{direction}" in run:
                    axis.plot(run[f"pr_{direction}"]["recall"], run[f"pr_{direction}"]["precision"], style,
                              label=f"SePH-lin ({kind})")
        axis.set_title(f"{name}, {b} bits")
        axis.set_xlabel("recall")
        axis.set_ylabel("precision")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(output.parent / f"{output.stem}_pr_curves.png", dpi=100)
    plt.close(figure)


def results_name(method: str) -> str:
    return METHOD_TITLES.get(method.lower(), method)


if __name__ == "__main__":
    main()
