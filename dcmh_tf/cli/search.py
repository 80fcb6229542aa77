"""`dcmh-tf search`: query a Hamming index with a picture, tags or a text, and show what came back.

Nothing heavy is imported before the options and the run are checked; the query then runs through the
run's ONNX encoders in onnxruntime (RUN/onnx, written by the first search) and an exact index is
scanned with NumPy, so neither TensorFlow nor faiss is imported once RUN/onnx exists.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import open_run, print_json, reports_errors, run_encoders, warn

TEXT_WIDTH = 100  # characters of a result's text shown (its first line)


@main.command()
@click.argument("run", type=click.Path())
@click.option("--index", "index_paths", type=click.Path(), required=True, multiple=True,
              help="Index file written by `dcmh-tf encode` with this run; repeat it, or give a folder, for the "
                   "shards of one database (--shard K/N); or a Milvus collection: milvus://FILE.db (Lite) or "
                   "milvus://http://HOST:PORT (a server; token from $DCMH_MILVUS_TOKEN).")
@click.option("--collection", default=None, help="Milvus: the collection [default: the one collection of codes there].")
@click.option("--label", default=None, help="Milvus: only items with this label (filtered in the engine).")
@click.option("--image", type=click.Path(), default=None, help="Query picture file (PNG, JPEG, GIF, BMP).")
@click.option("--tags", default=None, help='Query tags, separated by commas or spaces: "sky,sea".')
@click.option("--text", default=None,
              help="Query text in the collection's language, cut by the run's tokenizer (runs on a prepared collection).")
@click.option("--labels", "query_labels", default=None,
              help="The query's labels, separated by commas, to mark the results that share one [default: those "
                   "of the collection item the query is, or the tags that are label names].")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Number of results [default: 10; with --radius: all within it].")
@click.option("--radius", type=click.IntRange(min=0), default=None,
              help="Hash lookup instead of the top: every item within this Hamming distance (the first --top).")
@click.option("--allow-other-run", is_flag=True,
              help="Search an index encoded by another run (or by this run before more training).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (UTF-8).")
@reports_errors
def search(run, index_paths, collection, label, image, tags, text, query_labels, top, radius, allow_other_run,
           as_json):
    """Search the index for the items nearest to a picture (--image), to tags (--tags) or to a raw
    text (--text), through the encoders of the run in RUN, and show each result's picture, text and
    labels."""
    if sum(query is not None for query in (image, tags, text)) != 1:
        raise click.UsageError("give exactly one of --image, --tags and --text.")
    if image is not None and not Path(image).is_file():
        what = "a folder" if Path(image).is_dir() else "not a file"
        raise click.BadParameter(f"expected a picture file, received {image!r}, which is {what}; to search by a "
                                 f"text, give it with --text.", param_hint="--image")
    labels = [label.strip() for label in query_labels.split(",") if label.strip()] if query_labels else None
    # one query has nothing to spread over BLAS threads, and on a busy machine they spin: resizing a
    # picture took 20× longer with 2 OpenBLAS threads than with 1 (load 13 on 2 cores). Before NumPy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    run_directory = open_run(run)
    from dcmh_tf.retrieval.searcher import open_index, search_index

    check_index_options(index_paths, collection, label)
    index = open_index(index_paths, collection)
    check_words(run_directory, tags, text)  # before RUN/onnx is written: a query that cannot be answered fails at once
    found = search_index(run_directory.path, index, image=image, tags=tags, text=text, top=top, radius=radius,
                         allow_other_run=allow_other_run, labels=labels, encoders=run_encoders(run_directory),
                         label=label)
    if found["unknown_tokens"]:
        what = "words of the text" if text is not None else "tags"
        warn(f"{what} not in the run's vocabulary, ignored: {', '.join(found['unknown_tokens'])}")
    if found["warning"]:
        warn(found["warning"])
    if as_json:
        print_json(found)
        return
    print_results(found, index, top, radius)


def check_words(run_directory, tags: str | None, text: str | None) -> None:
    """Raise `DataError` now when no tag, or no token of the text, is in the run's vocabulary."""
    from dcmh_tf.retrieval.searcher import parse_tags, tags_to_bow, text_to_bow

    inputs, tokenizer = run_directory.read_inputs(), run_directory.load_tokenizer()
    if tags is not None and inputs.get("tag_vocabulary"):
        tags_to_bow(parse_tags(tags), inputs["tag_vocabulary"], tokenizer is not None)
    if text is not None and tokenizer is not None:
        text_to_bow(tokenizer, text)


def print_results(found: dict, index, top: int | None, radius: int | None) -> None:
    results = found["results"]
    what = f"within radius {radius}" if radius is not None else f"top {top or 10}"
    query_labels = found["query_labels"]
    known = f" (query labels: {', '.join(query_labels) or 'none'})" if query_labels is not None else ""
    where = f" with label {found['label']}" if found.get("label") is not None else ""
    click.echo(f"{what} of {len(index)} {index.modality} codes ({index.dataset}){where} for the {found['query']} "
               f"query{known}:")
    if not results:
        click.echo("  (no item that close)")
    for hit in results:
        labels = f"  {', '.join(map(str, hit['labels'])) or '(no label)'}" if "labels" in hit else ""
        mark = ("  [shares a label]" if hit["shares_label"] else "  [no shared label]") if "shares_label" in hit else ""
        click.echo(f"  {hit['rank']:>4}  row {hit['id']:>7}  distance {hit['distance']:>3}{labels}{mark}")
        if hit.get("image_path"):
            click.echo(f"{'':8}picture: {hit['image_path']}")
        if hit.get("text"):
            line = hit["text"].strip().splitlines()[0] if hit["text"].strip() else ""
            click.echo(f"{'':8}text: {line[:TEXT_WIDTH]}{'…' if len(line) > TEXT_WIDTH else ''}")
    shared = [hit["shares_label"] for hit in results if "shares_label" in hit]
    if shared:
        click.echo(f"{sum(shared)} of {len(shared)} results share a label with the query.")


def check_index_options(index_paths, collection, label) -> None:
    """Milvus options with an index file, or a Milvus location among several indexes: usage errors (exit 2)."""
    milvus = [path for path in index_paths if str(path).startswith("milvus://")]
    if milvus and len(index_paths) > 1:
        raise click.UsageError("a Milvus collection is one --index: give it alone (it holds every shard itself).")
    if not milvus:
        for name, value in (("--collection", collection), ("--label", label)):
            if value is not None:
                raise click.UsageError(f"{name} goes with --index milvus://...; an index file has no {name[2:]} filter.")
