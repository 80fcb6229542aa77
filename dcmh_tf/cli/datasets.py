"""`dcmh-tf datasets`: look at dataset files before training on them."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import print_json, reports_errors
from dcmh_tf.config import DATASETS


@main.group()
def datasets() -> None:
    """Inspect dataset files (the authors' .mat files, pre-extracted features)."""


@datasets.command()
@click.argument("path", type=click.Path())
@click.option("--dataset", type=click.Choice([d for d in DATASETS if d != "demo"]), default=None,
              help="Reader to use [default: detected from the file names and contents].")
@click.option("--images-key", default=None, help="Name of the image array [default: detected].")
@click.option("--texts-key", default=None, help="Name of the text array [default: detected].")
@click.option("--labels-key", default=None, help="Name of the label array [default: detected].")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
@reports_errors
def info(path, dataset, images_key, texts_key, labels_key, as_json):
    """Print what the dataset in PATH (a file, or the folder of a release) holds: pairs, image and
    text dimensions, labels per item and the split a run would use; or why it cannot be read."""
    from dcmh_tf.data.info import describe_dataset

    keys = {"images": images_key, "texts": texts_key, "labels": labels_key}
    description = describe_dataset(path, dataset, keys)
    if as_json:
        print_json(description)
        return
    click.echo(f"{path}: {description['dataset']}")
    for role, file in description["files"].items():
        key = description["keys"][role]
        click.echo(f"  {role:<7} {'/'.join(key) if isinstance(key, list) else key} in {file} "
                   f"({description['formats'][role]})")
    image = "×".join(map(str, description["image_shape"]))
    click.echo(f"  pairs            {description['pairs']}")
    click.echo(f"  images           {image} {'pixels' if description['image_kind'] == 'pixels' else 'features'}")
    click.echo(f"  text dimensions  {description['text_dim']}")
    per_item = description["labels_per_item"]
    click.echo(f"  labels           {description['labels']} ({per_item['min']} to {per_item['max']} per item, "
               f"mean {per_item['mean']})")
    if description["items_without_label"]:
        click.echo(f"  without label    {description['items_without_label']} items")
    split = description["split"]
    if "query" in split:
        click.echo(f"  {'split (' + split['source'] + ')':<17}{split['query']} queries, {split['database']} database, "
                   f"{split['train']} training")
    else:
        click.echo(f"  split            {split['source']}")
    if "problem" in split:
        click.echo(f"Warning: {split['problem']}", err=True)
