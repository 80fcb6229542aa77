"""`dcmh-tf evaluate`: score a trained run."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import print_json, reports_errors


@main.command()
@click.argument("run", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@reports_errors
def evaluate(run, as_json):
    """Evaluate the run in directory RUN: MAP of Hamming ranking, queries against the database."""
    from dcmh_tf.evaluation import evaluate_run

    metrics = evaluate_run(run)
    if as_json:
        print_json(metrics)
        return
    click.echo(f"run {run} ({metrics['bits']} bits, {metrics['dataset']}, "
               f"{metrics['n_query']} queries, {metrics['n_database']} database items)")
    click.echo(f"  MAP I→T  {metrics['map_i2t']:.4f}")
    click.echo(f"  MAP T→I  {metrics['map_t2i']:.4f}")
