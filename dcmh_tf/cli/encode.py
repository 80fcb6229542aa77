"""`dcmh-tf encode`: encode a dataset into a Hamming index file."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import check_run, reports_errors


@main.command()
@click.argument("run", type=click.Path())
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Index file to write (.npz).")
@click.option("--modality", type=click.Choice(["image", "text"]), default="image", show_default=True,
              help="Which items to encode: the pictures (search them with --tags) or the texts.")
@click.option("--dataset", default=None, help="Encode this dataset instead of the run's own (same input sizes).")
@click.option("--data-path", type=click.Path(), default=None, help="File of the dataset [default: the run's].")
@click.option("--rows", "part", type=click.Choice(["database", "query", "all"]), default=None,
              help="Rows to encode [default: the run's database rows; all rows of another dataset].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Encoding batch [default: the run's].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on a terminal.")
@reports_errors
def encode(run, output, modality, dataset, data_path, part, batch_size, progress):
    """Encode items of a dataset with the run in RUN into a Hamming index for `dcmh-tf search`."""
    check_run(run)
    from dcmh_tf.search import build_index

    index = build_index(run, modality=modality, dataset=dataset, data_path=data_path, part=part,
                        batch_size=batch_size, progress=progress)
    path = index.save(output)
    click.echo(f"wrote {path}: {len(index)} {index.modality} codes of {index.bits} bits ({index.dataset})")
