"""The results of `comparison.run_comparison` as the paper shows them: a markdown table of MAP in the
layout of Tables 3–6 (rows = methods, columns = I→T and T→I at each code length, mean ± standard
deviation over seeds), hash-lookup precision-recall curves (Figure 2) and DCMH's sensitivity to γ
and η (Figures 6 and 7) as PNG files, and results.json with every figure behind them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dcmh_tf.baselines.comparison import DCMH, METHOD_TITLES

DIRECTION_TITLES = {"i2t": "Image → Text", "t2i": "Text → Image"}
SHORT_DIRECTIONS = {"i2t": "I→T", "t2i": "T→I"}


def table_runs(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of the table: every baseline run, and DCMH's at its configured γ and η."""
    config = results["dcmh_config"]
    return [run for run in results["runs"]
            if run["method"] != DCMH or (run["gamma"], run["eta"]) == (config["gamma"], config["eta"])]


def summarize(results: dict[str, Any]) -> dict[str, dict[tuple[str, int], tuple[float, float, int]]]:
    """{method: {(direction, bits): (mean MAP, sample standard deviation (0 for one seed), seeds)}}."""
    values: dict[str, dict[tuple[str, int], list[float]]] = {}
    for run in table_runs(results):
        for direction in DIRECTION_TITLES:
            values.setdefault(run["method"], {}).setdefault((direction, run["bits"]), []).append(run[f"map_{direction}"])
    return {method: {key: (float(np.mean(v)), sample_std(v), len(v)) for key, v in cells.items()}
            for method, cells in values.items()}


def sample_std(values) -> float:
    """The sample standard deviation of `values` (ddof 1), 0 for a single value: the spread of the
    tables and error bars over seeds."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def format_table(results: dict[str, Any]) -> str:
    """Markdown table of MAP, best mean of each column in bold, and a line per column saying
    whether DCMH has the best mean and by how much."""
    summary = summarize(results)
    bits = results["plan"]["bits"]
    methods = [m for m in METHOD_TITLES if m in summary]
    columns = [(direction, b) for direction in DIRECTION_TITLES for b in bits]
    best = {column: max(summary[m][column][0] for m in methods) for column in columns}
    header = "| Method | " + " | ".join(f"{SHORT_DIRECTIONS[d]} {b} bits" for d, b in columns) + " |"
    lines = [header, "|---|" + "---:|" * len(columns)]
    for method in methods:
        cells = []
        for column in columns:
            mean, std, _ = summary[method][column]
            text = f"{mean:.4f} ± {std:.4f}"
            cells.append(f"**{text}**" if mean == best[column] else text)
        lines.append(f"| {METHOD_TITLES[method]} | " + " | ".join(cells) + " |")
    if DCMH in summary and len(methods) > 1:
        lines.append("")
        for column in columns:
            mine = summary[DCMH][column][0]
            rival = max((m for m in methods if m != DCMH), key=lambda m: summary[m][column][0])
            margin = mine - summary[rival][column][0]
            verdict = "beats every baseline" if margin > 0 else "does NOT beat every baseline"
            lines.append(f"- {SHORT_DIRECTIONS[column[0]]} {column[1]} bits: DCMH {verdict} "
                         f"(best baseline {METHOD_TITLES[rival]}, DCMH − it = {margin:+.4f})")
    return "\n".join(lines)


def dcmh_beats_every_baseline(results: dict[str, Any]) -> bool:
    """Whether DCMH's mean MAP is above every baseline's in every column of the table."""
    summary = summarize(results)
    rivals = [m for m in summary if m != DCMH]
    return DCMH in summary and all(summary[DCMH][column][0] > summary[m][column][0]
                                   for column in summary[DCMH] for m in rivals)


def sensitivity_points(results: dict[str, Any], parameter: str) -> dict[float, dict[str, list[float]]]:
    """{value of `parameter` ("gamma" or "eta"): {"i2t": [MAP per seed], "t2i": [...]}} of DCMH at
    the sensitivity code length with the other parameter at its configured value."""
    plan, config = results["plan"], results["dcmh_config"]
    other = "eta" if parameter == "gamma" else "gamma"
    points: dict[float, dict[str, list[float]]] = {}
    for run in results["runs"]:
        if (run["method"] == DCMH and run["bits"] == plan["figure_bits"] and run[other] == config[other]
                and run["seed"] < plan["sensitivity_seeds"] and run[parameter] in plan["sensitivity_values"]):
            cell = points.setdefault(run[parameter], {"i2t": [], "t2i": []})
            for direction in DIRECTION_TITLES:
                cell[direction].append(run[f"map_{direction}"])
    return dict(sorted(points.items()))


def write_report(results: dict[str, Any], directory) -> list[Path]:
    """Write results.json, table.md, pr_curves.png and, when the results have them,
    sensitivity_gamma.png and sensitivity_eta.png into `directory`; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "results.json", directory / "table.md"]
    paths[0].write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    paths[1].write_text(_table_document(results) + "\n")
    if results["pr_curves"]:
        paths.append(plot_pr_curves(results, directory / "pr_curves.png"))
    for parameter in ("gamma", "eta"):
        points = sensitivity_points(results, parameter)
        if len(points) > 1:
            paths.append(_plot_sensitivity(results, parameter, points, directory / f"sensitivity_{parameter}.png"))
    return paths


def _table_document(results: dict[str, Any]) -> str:
    plan, config, split = results["plan"], results["dcmh_config"], results["split"]
    seeds = plan["seeds"]
    dcmh = (f"DCMH: preset `{plan['preset']}` ({config['epochs']} epochs, hidden {config['hidden']}, "
            f"{config['optimizer']} lr {config['lr']:g} → {config['lr_end']:g}, batch {config['batch_size']}, "
            f"γ = {config['gamma']:g}, η = {config['eta']:g}). " if DCMH in plan["methods"] else "")
    return "\n".join([
        f"# MAP of Hamming ranking on {Path(plan['data_path']).name}",
        "",
        f"{split['n_query']} queries, {split['n_database']} database items, {split['n_train']} training pairs; "
        f"mean ± sample standard deviation over {seeds} seed{'s' if seeds > 1 else ''} (0, …, {seeds - 1}). "
        f"{dcmh}Every method sees the same split and the same "
        f"z-scored features; every database item is hashed from its own modality."
        + "".join(f" {METHOD_TITLES[method]}: " + ", ".join(f"{k} = {v}" for k, v in options.items()) + "."
                  for method, options in plan.get("baseline_options", {}).items() if options),
        "",
        format_table(results),
        *_sensitivity_tables(results),
        "",
        _timing(results),
    ])


def _sensitivity_tables(results: dict[str, Any]) -> list[str]:
    """The numbers behind sensitivity_gamma.png and sensitivity_eta.png (the paper's Figures 6–7)."""
    lines = []
    for parameter, symbol in (("gamma", "γ"), ("eta", "η")):
        points = sensitivity_points(results, parameter)
        if len(points) < 2:
            continue
        other = "η" if parameter == "gamma" else "γ"
        fixed = results["dcmh_config"]["eta" if parameter == "gamma" else "gamma"]
        seeds = max(len(cell["i2t"]) for cell in points.values())
        lines += ["", f"DCMH at {results['plan']['figure_bits']} bits against {symbol} ({other} = {fixed:g}; "
                  f"mean ± sample std over {seeds} seed{'s' if seeds > 1 else ''}):", "",
                  f"| {symbol} | " + " | ".join(f"{v:g}" for v in points) + " |",
                  "|---|" + "---:|" * len(points)]
        for direction, title in DIRECTION_TITLES.items():
            cells = []
            for cell in points.values():
                cells.append(f"{np.mean(cell[direction]):.4f} ± {sample_std(cell[direction]):.4f}")
            lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def _timing(results: dict[str, Any]) -> str:
    reused = [run for run in results["runs"] if run.get("reused")]
    text = f"Total time {results['seconds'] / 60:.1f} min"
    if reused:
        text += (f"; {len(reused)} DCMH run{'s were' if len(reused) > 1 else ' was'} reused from an earlier "
                 f"invocation (--runs-dir), their training time not counted")
    return text + "."


def _new_axes(figure, position, title: str, xlabel: str, ylabel: str):
    axes = figure.add_subplot(*position)
    axes.grid(True, alpha=0.3)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return axes


def _save(figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(str(path))
    return path


def plot_pr_curves(results: dict[str, Any], path: Path) -> Path:
    from matplotlib.figure import Figure

    bits = results["plan"]["figure_bits"]
    figure = Figure(figsize=(10, 4.2), dpi=110)
    for k, direction in enumerate(DIRECTION_TITLES):
        axes = _new_axes(figure, (1, 2, k + 1), f"{DIRECTION_TITLES[direction]}, {bits} bits", "recall", "precision")
        for method in METHOD_TITLES:
            if method not in results["pr_curves"]:
                continue
            curve = results["pr_curves"][method][direction]
            # Radii that retrieve nothing relevant have recall 0 and no meaningful precision.
            points = [(r, p) for r, p in zip(curve["recall"], curve["precision"]) if r > 0]
            axes.plot([r for r, _ in points], [p for _, p in points], marker="o", markersize=3,
                      linewidth=2.2 if method == DCMH else 1.2, label=METHOD_TITLES[method])
        axes.set(xlim=(0, 1.02), ylim=(0, 1.02))
        axes.legend()
    figure.suptitle("Hash lookup within Hamming radius 0..c (seed 0)", fontsize=10)
    return _save(figure, path)


def _plot_sensitivity(results: dict[str, Any], parameter: str, points: dict[float, dict[str, list[float]]],
                      path: Path) -> Path:
    from matplotlib.figure import Figure

    plan = results["plan"]
    symbol = {"gamma": "γ", "eta": "η"}[parameter]
    figure = Figure(figsize=(5.5, 4.2), dpi=110)
    seeds = plan["sensitivity_seeds"]
    axes = _new_axes(figure, (1, 1, 1), f"DCMH, {plan['figure_bits']} bits: sensitivity to {symbol} "
                     f"({seeds} seed{'s' if seeds > 1 else ''})", symbol, "MAP")
    values = list(points)
    for direction in DIRECTION_TITLES:
        maps = [points[v][direction] for v in values]
        axes.errorbar(values, [np.mean(m) for m in maps], yerr=[sample_std(m) for m in maps], marker="o",
                      capsize=3, label=DIRECTION_TITLES[direction])
    axes.set_xscale("log")
    axes.set_xticks(values, [f"{v:g}" for v in values])
    axes.set_ylim(0, 1)
    axes.legend()
    return _save(figure, path)
