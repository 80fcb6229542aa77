"""`dcmh-tf search`: query a Hamming index with a picture or tags."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import check_run, print_json, reports_errors


@main.command()
@click.argument("run", type=click.Path())
@click.option("--index", "index_paths", type=click.Path(), required=True, multiple=True,
              help="Index file written by `dcmh-tf encode` with this run; repeat it, or give a folder, for the "
                   "shards of one database (--shard K/N); or a Milvus collection: milvus://FILE.db (Lite) or "
                   "milvus://http://HOST:PORT (a server; token from $DCMH_MILVUS_TOKEN).")
@click.option("--collection", default=None, help="Milvus: the collection [default: the one collection of codes there].")
@click.option("--label", default=None, help="Milvus: only items with this label (filtered in the engine).")
@click.option("--image", type=click.Path(dir_okay=False), default=None, help="Query picture (PNG, JPEG, GIF, BMP).")
@click.option("--tags", default=None, help='Query tags, separated by commas or spaces: "sky,sea".')
@click.option("--text", default=None,
              help="Query text in the collection's language, cut by the run's tokenizer (runs on a prepared collection).")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Number of results [default: 10; with --radius: all within it].")
@click.option("--radius", type=click.IntRange(min=0), default=None,
              help="Hash lookup instead of the top: every item within this Hamming distance (the first --top).")
@click.option("--allow-other-run", is_flag=True,
              help="Search an index encoded by another run (or by this run before more training).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@reports_errors
def search(run, index_paths, collection, label, image, tags, text, top, radius, allow_other_run, as_json):
    """Search the index for the items nearest to a picture (--image), to tags (--tags) or to a raw
    text (--text), through the encoders of the run in RUN."""
    if sum(query is not None for query in (image, tags, text)) != 1:
        raise click.UsageError("give exactly one of --image, --tags and --text.")
    check_run(run)
    from dcmh_tf.retrieval.searcher import open_index, search_index

    check_index_options(index_paths, collection, label)
    index = open_index(index_paths, collection)
    found = search_index(run, index, image=image, tags=tags, text=text, top=top, radius=radius,
                         allow_other_run=allow_other_run, label=label)
    if found["unknown_tags"]:
        what = "tokens of the text" if text is not None else "tags"
        click.echo(f"warning: {what} not in the run's vocabulary, ignored: {', '.join(found['unknown_tags'])}",
                   err=True)
    if as_json:
        print_json(found)
        return
    results = found["results"]
    what = f"within radius {radius}" if radius is not None else f"top {top or 10}"
    where = f" with label {label}" if label is not None else ""
    click.echo(f"{what} of {len(index)} {index.modality} codes ({index.dataset}){where} for the {found['query']} query:")
    if not results:
        click.echo("  (no item that close)")
    for hit in results:
        labels = f"  {', '.join(map(str, hit['labels']))}" if "labels" in hit else ""
        click.echo(f"  {hit['rank']:>4}  row {hit['id']:>7}  distance {hit['distance']:>3}{labels}")


def check_index_options(index_paths, collection, label) -> None:
    """Milvus options with an index file, or a Milvus location among several indexes: usage errors (exit 2)."""
    milvus = [path for path in index_paths if str(path).startswith("milvus://")]
    if milvus and len(index_paths) > 1:
        raise click.UsageError("a Milvus collection is one --index: give it alone (it holds every shard itself).")
    if not milvus:
        for name, value in (("--collection", collection), ("--label", label)):
            if value is not None:
                raise click.UsageError(f"{name} goes with --index milvus://...; an index file has no {name[2:]} filter.")
