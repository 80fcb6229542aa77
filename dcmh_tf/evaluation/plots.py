"""PNG figures of a run's retrieval metrics: hash-lookup precision-recall curves and precision at N.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so nothing changes the
caller's matplotlib backend and no display is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcmh_tf.evaluation.report import DIRECTION_TITLES


def write_plots(metrics: dict[str, Any], directory, title: str = "") -> list[Path]:
    """Write pr_curve.png and precision_at_n.png for the "i2t" / "t2i" sections of `metrics` (as
    written by `evaluation.evaluate_run`) into `directory`; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directions = [d for d in DIRECTION_TITLES if d in metrics]
    bits = metrics.get("bits", "?")
    paths = []

    figure, axes = _new_figure()
    for direction in directions:
        curve = metrics[direction]["pr_curve"]
        # Radii where nothing relevant is retrieved yet have recall 0 (and precision 0): no point.
        points = [(r, p) for r, p in zip(curve["recall"], curve["precision"]) if r > 0]
        axes.plot([r for r, _ in points], [p for _, p in points], marker="o", markersize=3,
                  label=DIRECTION_TITLES[direction])
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02),
             title=f"{title or f'{bits} bits'}: hash lookup within radius 0..{bits}")
    paths.append(_save(figure, axes, directory / "pr_curve.png"))

    figure, axes = _new_figure()
    for direction in directions:
        values = metrics[direction]["precision_at_n"]
        ns = sorted(values, key=int)
        axes.plot([int(n) for n in ns], [values[n] for n in ns], marker="o", markersize=3,
                  label=DIRECTION_TITLES[direction])
    axes.set(xscale="log", xlabel="N (top of the Hamming ranking)", ylabel="precision", ylim=(0, 1.02),
             title=f"{title or f'{bits} bits'}: precision at N of Hamming ranking")
    paths.append(_save(figure, axes, directory / "precision_at_n.png"))
    return paths


def _new_figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4.5), dpi=120)
    axes = figure.add_subplot()
    axes.grid(True, alpha=0.3)
    return figure, axes


def _save(figure, axes, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    axes.legend()
    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(str(path))
    return path
