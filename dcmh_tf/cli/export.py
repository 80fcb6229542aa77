"""`dcmh-tf export`: write a run's encoders for TF Serving and ONNX runtimes, and check them."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import check_run, reports_errors

# largest |Δfeatures| an export may have against Keras (float32 kernels differ in summation order)
TOLERANCE = 1e-4


@main.command()
@click.argument("run", type=click.Path())
@click.option("--format", "format_", type=click.Choice(["savedmodel", "onnx", "keras", "all"]),
              default="all", show_default=True,
              help="SavedModels for TF Serving, ONNX files, native .keras files (with the heads), or all three.")
@click.option("--output", "-o", type=click.Path(), required=True, help="Folder to write to (created if missing).")
@click.option("--version", "version", type=click.IntRange(min=1), default=1, show_default=True,
              help="Model version: the folder TF Serving serves, OUT/<name>_image/<version>/.")
@click.option("--name", default="dcmh", show_default=True,
              help="Model name prefix: TF Serving serves <name>_image and <name>_text.")
@click.option("--overwrite", is_flag=True, help="Replace the version if it already exists.")
@click.option("--force", is_flag=True,
              help="Add the version although OUT holds models of the same --name exported from another run.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on a terminal.")
@reports_errors
def export(run, format_, output, version, name, overwrite, force, progress):
    """Export the encoders of the run in directory RUN with heads that give features, ±1 codes and
    packed bits, then compare every exported model with Keras on a sample batch."""
    check_run(run, not_live="export")
    from dcmh_tf.export import export_run

    result = export_run(run, output, formats=(format_,), name=name, version=version, overwrite=overwrite,
                        progress=progress, allow_other_runs=force)
    for (model, format), path in result.written.items():
        click.echo(f"{format:<10} {model:<16} {path}")
    for model, signatures in result.signatures.items():
        click.echo(f"signatures of {model}: {', '.join(signatures)}")
    for model, skipped in result.skipped.items():
        for signature, reason in skipped.items():
            click.echo(f"no '{signature}' signature for {model}: {reason}")
    if result.models_config is not None:
        click.echo(f"TF Serving config: {result.models_config}")
    click.echo(f"\nparity with Keras on {result.sample}:")
    click.echo(f"{'model':<16} {'format':<10} {'max |Δfeatures|':>15} {'codes agree':>11} {'packed':>7}")
    for row in result.parity:
        click.echo(f"{row.model:<16} {row.format:<10} {row.max_feature_difference:>15.2e} "
                   f"{row.code_agreement:>11.2%} {'ok' if row.packed_equal else 'DIFFER':>7}")
    if any(row.code_agreement < 1 or not row.packed_equal or row.max_feature_difference > TOLERANCE
           for row in result.parity):
        raise click.ClickException(f"an exported model differs from Keras by more than {TOLERANCE:g} or in its "
                                   "codes (see the table above); the files are written, do not serve them.")
