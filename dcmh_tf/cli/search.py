"""`dcmh-tf search`: query a Hamming index with a picture or tags."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import print_json, reports_errors


@main.command()
@click.argument("run", type=click.Path())
@click.option("--index", "index_path", type=click.Path(dir_okay=False), required=True,
              help="Index file written by `dcmh-tf encode` with this run.")
@click.option("--image", type=click.Path(dir_okay=False), default=None, help="Query picture (PNG, JPEG, GIF, BMP).")
@click.option("--tags", default=None, help='Query tags, separated by commas or spaces: "sky,sea".')
@click.option("--text", default=None,
              help="Query text in the collection's language, cut by the run's tokenizer (runs on a prepared collection).")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Number of results.")
@click.option("--radius", type=click.IntRange(min=0), default=None,
              help="Hash lookup instead of the top: every item within this Hamming distance.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@reports_errors
def search(run, index_path, image, tags, text, top, radius, as_json):
    """Search the index for the items nearest to a picture (--image), to tags (--tags) or to a raw
    text (--text), through the encoders of the run in RUN."""
    from dcmh_tf.index import HammingIndex
    from dcmh_tf.search import search_index

    if sum(query is not None for query in (image, tags, text)) != 1:
        raise click.UsageError("give exactly one of --image, --tags and --text.")
    index = HammingIndex.load(index_path)
    found = search_index(run, index, image=image, tags=tags, text=text, top=top, radius=radius)
    if found["unknown_tags"]:
        what = "tokens of the text" if text is not None else "tags"
        click.echo(f"warning: {what} not in the run's vocabulary, ignored: {', '.join(found['unknown_tags'])}",
                   err=True)
    if as_json:
        print_json(found)
        return
    results = found["results"]
    what = f"within radius {radius}" if radius is not None else f"top {top}"
    click.echo(f"{what} of {len(index)} {index.modality} codes ({index.dataset}) for the {found['query']} query:")
    if not results:
        click.echo("  (no item that close)")
    for hit in results:
        labels = f"  {', '.join(map(str, hit['labels']))}" if "labels" in hit else ""
        click.echo(f"  {hit['rank']:>4}  row {hit['id']:>7}  distance {hit['distance']:>3}{labels}")
