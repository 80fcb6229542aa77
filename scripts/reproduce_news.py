"""DCMH from raw pixels against the shallow baselines on real news photographs (Chinese texts).

    python scripts/reproduce_news.py                    # ../shared/data/web_news -> docs/results/news*
    python scripts/reproduce_news.py --seeds 1 --epochs 5 --work /tmp/news-quick --output /tmp/out

1. prepares the collection (`dcmh-tf datasets prepare collection`, its own train/test split:
   queries = test, database = training set = train; the vocabulary from the training texts only);
2. hand-crafted features of the same prepared pictures (HOG, HSV colour histogram, SIFT bag of
   visual words with OpenCV: `dcmh_tf.data.picture_features`) for CCA-ITQ, CMFH, SCM-seq and
   SePH-lin, which get the same bag-of-words texts, z-scored with the training rows' statistics;
3. DCMH (preset `collection`: CNN-F from scratch on 64×64 pictures) on the pixels and the same texts;
4. MAP-per-epoch curves of DCMH on a validation split drawn from the database (20% of it as
   validation queries, the rest as database and training set): the queries are never looked at
   while training, and nothing is chosen on them;
5. writes docs/results/news.md (MAP in the layout of the paper's Tables 3-6, precision / recall / F
   at Hamming radius 0, 1, 2 as in Table 7), news_results.json, news_pr_curves.png and
   news_validation_map.png, after every job, so an interrupted run leaves what it finished.

Jobs run in this order so that the most useful finish first: baselines (all seeds), DCMH seed 0 at the
first code length, its validation curve, DCMH seed 0 at the other code lengths, the diagnostic runs,
DCMH's other seeds, then the other validation curves. `--deadline HH:MM` (UTC) skips the jobs that
would start after it (listed at the end of news.md). `--reuse` keeps the baseline runs of an earlier
news_results.json (seed 0's missing ones run first, the other seeds' after DCMH's seed 0).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see scripts/reproduce.py

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from steps import past_deadline  # noqa: E402

BASELINES = ("cca-itq", "cmfh", "scm-seq", "seph-lin")
DETERMINISTIC = ("scm-seq",)  # its seed is not used: one run per code length
DIRECTIONS = {"i2t": ("image", "text"), "t2i": ("text", "image")}
VALIDATION_FRACTION = 0.2


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", default=str(ROOT.parent / "shared" / "data" / "web_news"))
    parser.add_argument("--work", default="/tmp/dcmh-news", help="prepared file, features, runs")
    parser.add_argument("--output", default=str(ROOT / "docs" / "results"))
    parser.add_argument("--bits", default="16,32,64")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--max-words", type=int, default=2000,
                        help="text vocabulary (the baselines solve d×d systems in the text dimension)")
    parser.add_argument("--validation-bits", default="16,32,64")
    parser.add_argument("--deadline", default=None, help="HH:MM UTC: start no job after it")
    parser.add_argument("--reuse", default=None,
                        help="an earlier news_results.json: its baseline runs are kept, not run again")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite news.md and the plots from --output's news_results.json, train nothing")
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads((Path(args.output) / "news_results.json").read_text())
        write_report(results, Path(args.output), time.perf_counter() - results["seconds"],
                     load=results["load_average"])
        return
    bits = [int(b) for b in args.bits.split(",")]
    validation_bits = [int(b) for b in args.validation_bits.split(",") if b]
    work, output = Path(args.work), Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = {"runs": [], "pr_curves": {}, "validation": {}, "timing": {}, "plan": {
        "bits": bits, "seeds": args.seeds, "epochs": args.epochs, "figure_bits": bits[0], "max_words": args.max_words,
        "data_path": str(Path(args.raw).name)}}

    from dcmh_tf.data.prepare import prepare_dataset

    step = time.perf_counter()
    record = prepare_dataset("collection", args.raw, work / "prepared", options={"max_words": args.max_words},
                             image_size=224, workers=2, progress=False)
    results["timing"]["prepare_s"] = round(time.perf_counter() - step, 1)
    results["prepared"] = {key: record[key] for key in ("pairs", "text_dim", "labels", "protocol", "skipped")}
    results["prepared"]["skipped"] = {reason: entry["count"] for reason, entry in record["skipped"].items()}
    data_path = str(work / "prepared" / record["file"])
    config = dcmh_config(data_path, bits[0], 0, args.epochs)
    from dcmh_tf.data.loading import load_dataset, make_split

    data = load_dataset(config)
    split = make_split(config, data)
    labels = np.asarray(data.labels)
    results["split"] = {"n_query": len(split.query), "n_database": len(split.database), "n_train": len(split.train)}
    results["dcmh_config"] = config.to_dict()
    log(f"prepared {record['pairs']} pairs ({results['timing']['prepare_s']} s): {results['split']}")

    step = time.perf_counter()
    features = cached_features(work / "features.npz", data, split)
    results["timing"]["features_s"] = round(time.perf_counter() - step, 1)
    log(f"picture features {features.shape} ({results['timing']['features_s']} s)")

    from dcmh_tf.baselines import make_baseline
    from dcmh_tf.baselines.common import zscore_columns

    images, texts = zscore_columns(features, split.train), zscore_columns(data.texts, split.train)
    if args.reuse:
        earlier = json.loads(Path(args.reuse).read_text())
        results["runs"] += [run for run in earlier["runs"] if run["method"] in BASELINES]
        for b, curves in earlier["pr_curves"].items():
            for method in BASELINES:
                if method in curves:
                    results["pr_curves"].setdefault(b, {})[method] = curves[method]
        results["timing"]["reused_baseline_runs"] = len(results["runs"])
    done = {(run["method"], run["bits"], run["seed"]) for run in results["runs"]}
    baseline_jobs = [(method, b, seed) for b in bits for seed in range(args.seeds) for method in BASELINES
                     if not (seed and method in DETERMINISTIC) and (method, b, seed) not in done]

    def run_baselines(jobs) -> None:
        for method, b, seed in jobs:
            if past_deadline(args.deadline):
                results.setdefault("not_run", []).append(f"{method} {b} bits seed {seed}")
                continue
            step = time.perf_counter()
            hasher = make_baseline(method, b, seed=seed).fit(images[split.train], texts[split.train],
                                                             labels[split.train])
            codes = {(part, modality): encode(features_[rows])
                     for part, rows in (("query", split.query), ("database", split.database))
                     for modality, encode, features_ in (("image", hasher.encode_images, images),
                                                         ("text", hasher.encode_texts, texts))}
            add_run(results, method, b, seed, codes, labels, split, time.perf_counter() - step)
            write_report(results, output, started)

    # seed 0 of every baseline first; with --reuse, the missing ones after DCMH's main runs
    run_baselines([job for job in baseline_jobs if not args.reuse or job[2] == 0])

    features_file = work / "news_features.npz"  # for the diagnostic: DCMH's MLP image net on the same features
    np.savez(features_file, I_tr=features[split.database], T_tr=data.texts[split.database],
             L_tr=labels[split.database], I_te=features[split.query], T_te=data.texts[split.query],
             L_te=labels[split.query])
    jobs = [("final", bits[0], 0), ("validation", validation_bits[0], 0)] if validation_bits else []
    jobs += [("final", b, 0) for b in bits[1 if validation_bits else 0:]]
    jobs += [("baselines", 0, 0)]
    jobs += [("features", b, 0) for b in bits]
    jobs += [("final", b, seed) for seed in range(1, args.seeds) for b in bits]
    jobs += [("validation", b, 0) for b in validation_bits[1:]]
    for kind, b, seed in jobs:
        if kind == "baselines":
            run_baselines([job for job in baseline_jobs if args.reuse and job[2] != 0])
            continue
        if past_deadline(args.deadline):
            log(f"deadline {args.deadline} UTC passed: DCMH {kind} {b} bits seed {seed} not run")
            results.setdefault("not_run", []).append(f"DCMH {kind} {b} bits seed {seed}")
            continue
        step = time.perf_counter()
        if kind == "final":
            codes = train_dcmh(dcmh_config(data_path, b, seed, args.epochs), work / f"runs/dcmh-{b}bits-seed{seed}",
                               data, split)
            add_run(results, "dcmh", b, seed, codes, labels, split, time.perf_counter() - step)
        elif kind == "features":
            from dcmh_tf.config import resolve_config
            from dcmh_tf.data.loading import load_dataset as load

            config_ = resolve_config("wiki", data_path=str(features_file), bits=b, seed=seed)
            features_data = load(config_)
            codes = train_dcmh(config_, work / f"runs/dcmh-features-{b}bits-seed{seed}", features_data, split_of(
                features_data))
            scores = score_codes(codes, labels, split)
            results.setdefault("dcmh_on_features", []).append(
                {"bits": b, "seed": seed, **scores, "seconds": round(time.perf_counter() - step, 1),
                 "preset": "wiki", "epochs": config_.epochs})
            log(f"DCMH (MLP on the picture features) {b} bits: {scores}")
        else:
            curve = validation_curve(dcmh_config(data_path, b, seed, args.epochs, eval_every=1),
                                     work / f"runs/validation-{b}bits-seed{seed}", data, split)
            results["validation"][str(b)] = {**curve, "seconds": round(time.perf_counter() - step, 1)}
            log(f"validation curve {b} bits: {curve}")
        write_report(results, output, started)
    log(f"done in {(time.perf_counter() - started) / 60:.1f} min")


def dcmh_config(data_path: str, bits: int, seed: int, epochs: int, **changes):
    from dcmh_tf.config import resolve_config

    return resolve_config("collection", data_path=data_path, bits=bits, seed=seed, epochs=epochs, **changes)


def cached_features(path: Path, data, split) -> np.ndarray:
    from dcmh_tf.data.picture_features import picture_features

    if path.exists():
        with np.load(path) as f:
            if len(f["features"]) == len(data):
                return f["features"]
    features = picture_features(data.images, split.train, seed=0)
    np.savez(path, features=features)
    return features


def train_dcmh(config, path: Path, data, split):
    """Train (or finish) the run in `path`; its codes of queries and database."""
    from dcmh_tf.evaluation.scoring import encode_split
    from dcmh_tf.run_directory import RunDirectory
    from dcmh_tf.training.trainer import fit

    resume = (path / "config.json").exists()
    if not (resume and (path / "metrics.json").exists()
            and RunDirectory.open(path).read_metrics().get("epoch") == config.epochs):
        fit(config, path, resume=resume, progress=False, echo=log)
    image_encoder, text_encoder, _ = RunDirectory.open(path).restore_encoders()
    return encode_split(image_encoder, text_encoder, data, split, config.batch_size)


def validation_curve(config, path: Path, data, split) -> dict:
    """MAP per epoch on validation queries drawn from the database (never the queries)."""
    from dcmh_tf.data.paired import Split
    from dcmh_tf.training.trainer import fit

    rng = np.random.default_rng(config.seed)
    database = split.database
    held_out = np.sort(rng.choice(database, size=round(VALIDATION_FRACTION * len(database)), replace=False))
    rest = np.setdiff1d(database, held_out)
    curve = {"epoch": [], "map_i2t": [], "map_t2i": [], "n_validation": len(held_out), "n_train": len(rest)}
    epoch = [0]

    def record(message: str) -> None:
        log(message)
        if match := re.match(r"epoch (\d+)/", message):
            epoch[0] = int(match[1])
        if match := re.search(r"MAP I→T ([\d.]+)\s+T→I ([\d.]+)", message):
            curve["epoch"].append(epoch[0])
            curve["map_i2t"].append(float(match[1]))
            curve["map_t2i"].append(float(match[2]))

    if (path / "config.json").exists():
        import shutil

        shutil.rmtree(path)  # a curve needs every epoch's evaluation: start it again
    _, metrics = fit(config, path, progress=False, echo=record, split=Split(query=held_out, database=rest, train=rest))
    curve["epoch"].append(config.epochs)
    curve["map_i2t"].append(metrics["map_i2t"])
    curve["map_t2i"].append(metrics["map_t2i"])
    return curve


def split_of(data):
    """The features file's own split (queries = test = the news queries, in the same order)."""
    return data.file_split


def score_codes(codes, labels, split) -> dict:
    from dcmh_tf.evaluation.metrics import mean_average_precision

    return {f"map_{d}": mean_average_precision(codes["query", q], codes["database", b], labels[split.query],
                                               labels[split.database]) for d, (q, b) in DIRECTIONS.items()}


def add_run(results: dict, method: str, bits: int, seed: int, codes, labels, split, seconds: float) -> None:
    from dcmh_tf.evaluation.metrics import retrieval_scores

    run = {"method": method, "bits": bits, "seed": seed, "seconds": round(seconds, 1),
           "gamma": results["dcmh_config"]["gamma"] if method == "dcmh" else None,
           "eta": results["dcmh_config"]["eta"] if method == "dcmh" else None}
    for direction, (query, database) in DIRECTIONS.items():
        scores = retrieval_scores(codes["query", query], codes["database", database], labels[split.query],
                                  labels[split.database])
        run[f"map_{direction}"] = scores.map
        run[f"radius_{direction}"] = {str(r): scores.at_radius(r) for r in (0, 1, 2)}
        if seed == 0:
            results["pr_curves"].setdefault(str(bits), {}).setdefault(method, {})[direction] = {
                "precision": scores.lookup_precision.tolist(), "recall": scores.lookup_recall.tolist()}
    results["runs"].append(run)
    log(f"{method} {bits} bits seed {seed}: MAP I→T {run['map_i2t']:.4f} T→I {run['map_t2i']:.4f} ({seconds:.1f} s)")


def write_report(results: dict, output: Path, started: float, load=None) -> None:
    from dcmh_tf.baselines.paper_report import format_table, plot_pr_curves

    results["seconds"] = round(time.perf_counter() - started, 1)
    results["load_average"] = load or os.getloadavg()
    (output / "news_results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    lines = [f"# Real news photographs ({results['plan']['data_path']}): DCMH from raw pixels against the baselines",
             "", f"Written by `python scripts/reproduce_news.py` (docs/collections.md). {describe(results)}", "",
             "## MAP of Hamming ranking (mean ± sample std over the seeds run; n = seeds)", "",
             format_table({**results, "plan": {**results["plan"], "bits": complete_bits(results)}}), "",
             "Seeds per cell (a std of 0 with 1 seed is no spread, just one run): " + seed_counts(results) + ". "
             "SCM-seq is deterministic (its seed is not used): one run per code length.", "",
             "## Hash lookup within Hamming radius 0, 1, 2 (seed 0; the layout of the paper's Table 7)", ""]
    lines += radius_table(results)
    lines += ["", "## DCMH: MAP per epoch on the validation split (drawn from the database)", ""]
    for b, curve in results["validation"].items():
        pairs = ", ".join(f"{e}: {i:.3f}/{t:.3f}" for e, i, t in zip(curve["epoch"], curve["map_i2t"], curve["map_t2i"]))
        lines.append(f"- {b} bits ({curve['n_validation']} validation queries, {curve['n_train']} training pairs, "
                     f"{curve['seconds'] / 60:.1f} min), epoch: I→T/T→I: {pairs}")
    if results.get("dcmh_on_features"):
        lines += ["", "## Diagnostic: DCMH's objective with the MLP image net on the baselines' picture features",
                  "", "Preset `wiki` (50 epochs), seed 0, the same split, texts and features as the baselines: "
                  "whether DCMH's loss can use these pictures at all once the image side is not learnt from raw "
                  "pixels.", "", "| bits | I→T | T→I | min |", "|---:|---:|---:|---:|"]
        lines += [f"| {r['bits']} | {r['map_i2t']:.4f} | {r['map_t2i']:.4f} | {r['seconds'] / 60:.1f} |"
                  for r in results["dcmh_on_features"]]
    lines += ["", "## Time", ""] + [f"- {line}" for line in timing_lines(results)]
    if results.get("not_run"):
        lines += ["", "Not run (deadline): " + "; ".join(results["not_run"])]
    (output / "news.md").write_text("\n".join(lines) + "\n")
    for b, curves in results["pr_curves"].items():
        plot_pr_curves({"pr_curves": curves, "plan": {"figure_bits": int(b)}}, output / f"news_pr_curves_{b}bits.png")
    if results["validation"]:
        plot_validation(results, output / "news_validation_map.png")


def seed_counts(results: dict) -> str:
    from dcmh_tf.baselines.comparison import METHOD_TITLES

    cells = []
    for method in METHOD_TITLES:
        counts = [sum(r["method"] == method and r["bits"] == b for r in results["runs"]) for b in results["plan"]["bits"]]
        if any(counts):
            cells.append(f"{METHOD_TITLES[method]} {'/'.join(map(str, counts))}")
    return f"{', '.join(cells)} (at {'/'.join(map(str, results['plan']['bits']))} bits)"


def complete_bits(results: dict) -> list[int]:
    """The code lengths every method run so far has (the MAP table needs each cell)."""
    methods = {run["method"] for run in results["runs"]}
    return [b for b in results["plan"]["bits"]
            if all(any(r["method"] == m and r["bits"] == b for r in results["runs"]) for m in methods)]


def describe(results: dict) -> str:
    config, split, prepared = results["dcmh_config"], results["split"], results["prepared"]
    return (f"{prepared['pairs']} pairs kept ({', '.join(f'{n} {r}' for r, n in prepared['skipped'].items())}); "
            f"{split['n_query']} queries (the collection's test list), {split['n_database']} database items = "
            f"training pairs; texts: {prepared['text_dim']} tokens ({prepared['protocol']['tokenizer']['mode']} "
            f"n-grams {prepared['protocol']['tokenizer']['ngrams']}, from the training texts); {prepared['labels']} "
            f"labels. DCMH: preset `collection`, CNN-F from scratch on {config['image_size']}×{config['image_size']} "
            f"pictures, {config['epochs']} epochs, hidden {config['hidden']}, {config['optimizer']} lr {config['lr']:g} → "
            f"{config['lr_end']:g}, batch {config['batch_size']}, γ = {config['gamma']:g}, η = {config['eta']:g}, "
            f"flips {config['flip']}. Baselines: HOG + HSV histogram + SIFT BoVW (256 words) picture features, the "
            f"same bag-of-words texts, both z-scored with the training rows' statistics.")


def radius_table(results: dict) -> list[str]:
    from dcmh_tf.baselines.comparison import METHOD_TITLES

    lines = ["| Method | bits | " + " | ".join(f"{d} {m} r≤{r}" for d in ("I→T", "T→I") for r in (0, 1, 2)
                                                for m in ("P", "R", "F")) + " |",
             "|---|---:|" + "---:|" * 18]
    for run in sorted((r for r in results["runs"] if r["seed"] == 0),
                      key=lambda r: (r["bits"], list(METHOD_TITLES).index(r["method"]))):
        cells = [f"{run[f'radius_{d}'][str(r)][k]:.3f}" for d in ("i2t", "t2i") for r in (0, 1, 2)
                 for k in ("precision", "recall", "f_measure")]
        lines.append(f"| {METHOD_TITLES[run['method']]} | {run['bits']} | " + " | ".join(cells) + " |")
    return lines


def timing_lines(results: dict) -> list[str]:
    from dcmh_tf.baselines.comparison import METHOD_TITLES

    lines = [f"prepare {results['timing'].get('prepare_s')} s, picture features {results['timing'].get('features_s')} s"]
    for method in METHOD_TITLES:
        runs = [r for r in results["runs"] if r["method"] == method]
        if runs:
            lines.append(f"{METHOD_TITLES[method]}: {len(runs)} runs, {sum(r['seconds'] for r in runs) / 60:.1f} min "
                         f"in all (training + encoding)")
    for b, curve in results["validation"].items():
        lines.append(f"validation curve {b} bits: {curve['seconds'] / 60:.1f} min")
    load = ", ".join(f"{x:.1f}" for x in results["load_average"])
    lines.append(f"total {results['seconds'] / 60:.1f} min so far; load average at the last write {load} "
                 f"(2-core machine shared with other jobs)")
    return lines


def plot_validation(results: dict, path: Path) -> None:
    """DCMH's validation MAP per epoch; for scale, the query MAP of the best baseline at the same
    code length (seed 0) as dotted lines (another set of queries: a reference, not a comparison)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.4), dpi=110)
    axes = figure.add_subplot(1, 1, 1)
    for b, curve in results["validation"].items():
        axes.plot(curve["epoch"], curve["map_i2t"], marker="o", markersize=3, label=f"DCMH I→T {b} bits")
        axes.plot(curve["epoch"], curve["map_t2i"], marker="s", markersize=3, linestyle="--", label=f"DCMH T→I {b} bits")
        baselines = [r for r in results["runs"] if r["method"] != "dcmh" and r["bits"] == int(b) and r["seed"] == 0]
        for direction, colour in (("i2t", "tab:blue"), ("t2i", "tab:orange")):
            if baselines:
                best = max(baselines, key=lambda r: r[f"map_{direction}"])
                axes.axhline(best[f"map_{direction}"], color=colour, linestyle=":", linewidth=1,
                             label=f"{best['method']} {direction.replace('2', '→').upper()} (queries)")
    axes.set_ylim(0, 0.8)
    axes.set(title="DCMH on news photographs: MAP on the validation split", xlabel="epoch", ylabel="MAP")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(str(path))


def log(message: str) -> None:
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
