"""`dcmh-tf evaluate`: score a trained run."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import check_run, print_json, reports_errors, warn_collapse
from dcmh_tf.evaluation import DEFAULT_TOPK


@main.command()
@click.argument("run", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print every metric as JSON (what metrics.json holds).")
@click.option("--topk", type=click.IntRange(min=1), default=DEFAULT_TOPK, show_default=True,
              help="k of MAP@k (the whole database when it is smaller).")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), default=None,
              help="Write pr_curve.png and precision_at_n.png into this folder.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on a terminal.")
@reports_errors
def evaluate(run, as_json, topk, plot_dir, progress):
    """Evaluate the run in directory RUN: queries against the database, I→T and T→I.

    Prints MAP of Hamming ranking, MAP@k, precision at N, and precision, recall and F-measure of
    hash lookup within Hamming radius 0, 1 and 2; rewrites RUN/metrics.json.
    """
    check_run(run, not_live="evaluate")
    from dcmh_tf.api import DCMH
    from dcmh_tf.evaluation.report import format_metrics

    metrics = DCMH.load(run).evaluate(topk=topk, progress=progress)
    warn_collapse(metrics)
    if plot_dir is not None:
        from dcmh_tf.evaluation.plots import write_plots

        for path in write_plots(metrics, plot_dir, title=f"{metrics['dataset']}, {metrics['bits']} bits"):
            click.echo(f"wrote {path}", err=as_json)
    if as_json:
        print_json(metrics)
        return
    click.echo(format_metrics(metrics, title=(
        f"run {run} ({metrics['bits']} bits, {metrics['dataset']}, epoch {metrics['epoch']}, "
        f"{metrics['n_query']} queries, {metrics['n_database']} database items)")))
