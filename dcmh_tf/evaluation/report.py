"""Plain-text table of a run's retrieval metrics (the dict of `evaluation.evaluate_run`)."""

from __future__ import annotations

from typing import Any

from dcmh_tf.evaluation.metrics import TABLE_RADII

# P@N rows of the table (the JSON holds every N that was computed)
TABLE_NS = ("10", "100", "1000")
DIRECTION_TITLES = {"i2t": "I→T", "t2i": "T→I"}


def format_metrics(metrics: dict[str, Any], title: str = "") -> str:
    """A table with one column per retrieval direction: MAP, MAP@k, P@N, and precision, recall and
    F-measure of hash lookup within Hamming radius 0, 1, 2 (the paper's Table 7)."""
    directions = [d for d in DIRECTION_TITLES if d in metrics]
    rows: list[tuple[str, list[float]]] = [("MAP", [metrics[f"map_{d}"] for d in directions])]
    if directions:
        first = metrics[directions[0]]
        rows.append((f"MAP@{first['topk']}", [metrics[d]["map_at_k"] for d in directions]))
        rows += [(f"P@{n}", [metrics[d]["precision_at_n"][n] for d in directions])
                 for n in TABLE_NS if n in first["precision_at_n"]]
        for radius in map(str, TABLE_RADII):
            if radius in first["radius"]:
                rows += [(f"{name} r≤{radius}", [metrics[d]["radius"][radius][key] for d in directions])
                         for name, key in (("precision", "precision"), ("recall", "recall"), ("F-measure", "f_measure"))]
    else:
        directions = ["i2t", "t2i"]
    width = max(len(name) for name, _ in rows) + 2
    lines = [title] if title else []
    lines.append(" " * width + "".join(f"{DIRECTION_TITLES[d]:>9}" for d in directions))
    lines += [f"{name:<{width}}" + "".join(f"{value:>9.4f}" for value in values) for name, values in rows]
    return "\n".join(lines)
