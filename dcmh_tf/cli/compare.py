"""`dcmh-tf compare`: DCMH against the shallow baselines on a features set, in the paper's format."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import reports_errors
from dcmh_tf.cli.startup import import_tensorflow

POSITIVE = click.IntRange(min=1)


def _number_list(kind):
    def parse(context, parameter, text):
        if text is None:
            return None
        try:
            values = tuple(kind(item) for item in text.split(",") if item.strip())
        except ValueError:
            raise click.BadParameter(f"expected comma-separated {kind.__name__} values, received {text!r}.") from None
        if any(value <= 0 for value in values):
            raise click.BadParameter(f"expected values > 0, received {text!r}.")
        return values

    return parse


@main.command()
@click.option("--data-path", type=click.Path(exists=True, dir_okay=False), required=True,
              help="Features file (image features, text features, labels), e.g. wikipedia/wikiData.mat.")
@click.option("--bits", default="16,32,64", show_default=True, callback=_number_list(int), help="Code lengths.")
@click.option("--seeds", type=POSITIVE, default=3, show_default=True, help="Seeds 0..N-1 per code length.")
@click.option("--methods", default="all", show_default=True,
              help="Comma-separated among cca-itq, cmfh, scm-seq, seph-lin, seph-rnd, seph-km, stmh, dcmh, or all.")
@click.option("--sensitivity-values", default="0.01,0.1,0.5,1,2", show_default=True, callback=_number_list(float),
              help="γ and η values of the sensitivity curves (Figures 6–7); '' skips them.")
@click.option("--sensitivity-seeds", type=POSITIVE, default=1, show_default=True,
              help="Seeds of each sensitivity point.")
@click.option("--figure-bits", type=POSITIVE, default=16, show_default=True,
              help="Code length of the precision-recall and sensitivity curves (one of --bits).")
@click.option("--epochs", type=POSITIVE, default=None, help="DCMH epochs [default: the wiki preset's].")
@click.option("--hidden", type=POSITIVE, default=None, help="DCMH hidden width [default: the wiki preset's].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="DCMH first learning rate (the preset's end/start ratio is kept).")
@click.option("--baseline-option", "baseline_options", multiple=True, metavar="METHOD.NAME=VALUE",
              help="An option of one baseline's class instead of its default, e.g. stmh.hash_functions=regression "
                   "or seph-rnd.anchors=1000; repeatable.")
@click.option("--output", "-o", type=click.Path(file_okay=False), default="results", show_default=True,
              help="Folder of table.md, results.json and the PNG figures.")
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
              help="Keep DCMH's run directories here; an existing one with the same configuration is resumed or "
                   "reused [default: a temporary folder, removed at the end].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on a terminal.")
@reports_errors
def compare(data_path, bits, seeds, methods, sensitivity_values, sensitivity_seeds, figure_bits, epochs, hidden, lr,
            baseline_options, output, runs_dir, progress):
    """Train DCMH and the baselines (CCA-ITQ, CMFH, SCM-seq, SePH-lin, SePH-rnd, SePH-km, STMH) at each code
    length and seed on the same split and features; write a MAP table in the layout of the paper's Tables
    3–6, precision-recall curves (Figure 2) and DCMH's γ / η sensitivity (Figures 6–7) into OUTPUT.

    For many BLAS-heavy baselines on a busy machine, OPENBLAS_NUM_THREADS=1 avoids thread contention.
    """
    from dcmh_tf.baselines import BASELINES
    from dcmh_tf.baselines.comparison import DCMH, ComparisonPlan, run_comparison
    from dcmh_tf.baselines.paper_report import format_table, write_report
    from dcmh_tf.config import PRESETS
    from dcmh_tf.errors import ConfigError

    chosen = (*BASELINES, DCMH) if methods.strip() == "all" else tuple(m.strip() for m in methods.split(",") if m.strip())
    overrides = {"epochs": epochs, "hidden": hidden}
    if lr is not None:
        preset = PRESETS["wiki"]
        overrides.update(lr=lr, lr_end=lr * preset.lr_end / preset.lr)
    plan = ComparisonPlan(
        data_path=data_path, bits=bits, seeds=seeds, methods=chosen, figure_bits=figure_bits,
        sensitivity_values=sensitivity_values or (), sensitivity_seeds=sensitivity_seeds,
        dcmh_overrides={k: v for k, v in overrides.items() if v is not None},
        baseline_options=parse_baseline_options(baseline_options),
    )
    try:
        plan.validate()
    except ConfigError as error:  # inconsistent options: a usage error (exit 2), not a data error
        raise click.UsageError(str(error)) from None
    import_tensorflow()  # after the checks: a mistyped option fails at once (it took 40 s under load)
    started = time.perf_counter()
    temporary = runs_dir is None
    runs_dir = Path(tempfile.mkdtemp(prefix="dcmh-compare-")) if temporary else Path(runs_dir)
    try:
        results = run_comparison(plan, runs_dir, progress=progress, echo=click.echo)
    finally:
        if temporary:
            shutil.rmtree(runs_dir, ignore_errors=True)
    for path in write_report(results, output):
        click.echo(f"wrote {path}")
    click.echo(format_table(results))
    click.echo(f"total time {time.perf_counter() - started:.0f} s")


def parse_baseline_options(values: tuple[str, ...]) -> dict[str, dict]:
    """{method: {name: value}} from `--baseline-option METHOD.NAME=VALUE` values; a value reads as an
    integer, a number, true / false, or else stays text."""
    options: dict[str, dict] = {}
    for text in values:
        key, equals, value = text.partition("=")
        method, dot, name = key.strip().partition(".")
        if not (equals and dot and method and name):
            raise click.BadParameter(f"expected METHOD.NAME=VALUE such as stmh.hash_functions=regression, received "
                                     f"{text!r}.", param_hint="--baseline-option")
        options.setdefault(method, {})[name.strip()] = _option_value(value.strip())
    return options


def _option_value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
