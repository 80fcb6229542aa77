"""`dcmh-tf encode`: encode a dataset into a Hamming index file or a Milvus collection."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import check_run, open_run, reports_errors, run_encoders
from dcmh_tf.cli.startup import import_tensorflow


@main.command()
@click.argument("run", type=click.Path())
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Index file to write (.npz).")
@click.option("--to", "to", default=None, metavar="milvus://FILE.db|milvus://http://HOST:PORT",
              help="Write the codes into a Milvus collection instead of a file: a file is embedded Milvus Lite, "
                   "http(s)://HOST:PORT a server or cluster (token from $DCMH_MILVUS_TOKEN). A re-run resumes.")
@click.option("--collection", default=None, callback=lambda c, p, v: _collection_name(v),
              help="Milvus collection [default: dcmh_codes].")
@click.option("--replace", is_flag=True, help="Milvus: drop a collection of other codes (another run) and write it again.")
@click.option("--items", default=None, metavar="ID,ID,...",
              help="Milvus: encode only these dataset rows and upsert them (an item held keeps its place).")
@click.option("--delete", "delete_items", default=None, metavar="ID,ID,...",
              help="Milvus: remove these items (dataset rows) from the collection; nothing is encoded.")
@click.option("--modality", type=click.Choice(["image", "text"]), default="image", show_default=True,
              help="Which items to encode: the pictures (search them with --tags) or the texts.")
@click.option("--dataset", default=None, help="Encode this dataset instead of the run's own (same input sizes).")
@click.option("--data-path", type=click.Path(), default=None, help="File of the dataset [default: the run's].")
@click.option("--rows", "part", type=click.Choice(["database", "query", "all"]), default=None,
              help="Rows to encode [default: the run's database rows; all rows of another dataset].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Encoding batch [default: the run's].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on a terminal.")
@click.option("--index-type", type=click.Choice(["flat", "multihash", "hnsw", "ivf"]), default="flat",
              show_default=True, help="flat: exact scan; multihash: multi-index hashing; hnsw: graph; ivf: "
                                      "inverted lists (the last three are faster on millions of codes, approximate). "
                                      "Milvus: flat (BIN_FLAT) or ivf (BIN_IVF_FLAT, servers only).")
@click.option("--nhash", type=click.IntRange(min=1), default=None,
              help="multihash: number of hash tables [default: code length / 16].")
@click.option("--hash-bits", "b", type=click.IntRange(min=1, max=24), default=None,
              help="multihash: bits of each table's key [default: 16].")
@click.option("--nflip", type=click.IntRange(min=0), default=None, help="multihash: bits flipped per lookup [default: 1].")
@click.option("--hnsw-m", "M", type=click.IntRange(min=2), default=None, help="hnsw: links per node [default: 16].")
@click.option("--ef-construction", type=click.IntRange(min=1), default=None, help="hnsw: build breadth [default: 64].")
@click.option("--ef-search", type=click.IntRange(min=1), default=None, help="hnsw: search breadth [default: 128].")
@click.option("--nlist", type=click.IntRange(min=1), default=None, help="ivf: number of cells [default: 4·√n].")
@click.option("--nprobe", type=click.IntRange(min=1), default=None, help="ivf: cells scanned per query [default: nlist/16].")
@click.option("--shard", default=None, metavar="K/N",
              help="Encode only the K-th of N parts of the rows (run N such jobs, then search all the files).")
@click.option("--encoders", type=click.Choice(["auto", "onnx", "tensorflow"]), default="auto", show_default=True,
              help="What runs the encoder: Keras in TensorFlow (auto: 2-5x faster than onnxruntime on this "
                   "project's CPU, docs/benchmarks.md), or the run's ONNX files in onnxruntime (RUN/onnx, written "
                   "once when missing). Both give the same codes.")
@click.option("--force", is_flag=True,
              help="Replace --output even when it holds another run's index (or another file).")
@reports_errors
def encode(run, output, to, collection, replace, items, delete_items, modality, dataset, data_path, part, batch_size, progress,
           index_type, shard, encoders, force, **parameters):
    """Encode items of a dataset with the run in RUN into a Hamming index for `dcmh-tf search`: an index
    file (--output) or a Milvus collection (--to).

    An existing --output is replaced only when it is an index of this run (its current weights), or
    with --force: another run's index stays as it is. A Milvus collection is resumed when it holds part
    of these codes, and refused when it holds other codes (unless --replace)."""
    if (output is None) == (to is None):
        raise click.UsageError("give exactly one of --output FILE.npz and --to milvus://...")
    if to is not None:
        from dcmh_tf.retrieval.milvus import is_milvus_uri  # imports no pymilvus

        if not is_milvus_uri(to):
            raise click.BadParameter(f"expected milvus://FILE.db or milvus://http://HOST:PORT, received {to!r}.",
                                     param_hint="--to")
        if delete_items is not None:
            return _delete_from_milvus(to, collection, delete_items)
        return _encode_to_milvus(run, to, collection, replace, items, modality, dataset, data_path, part,
                                 batch_size, progress, index_type, shard, parameters)
    for name, value in (("--collection", collection), ("--replace", replace or None), ("--items", items),
                        ("--delete", delete_items)):
        if value is not None:
            raise click.UsageError(f"{name} goes with --to milvus://..., not with an index file.")
    shard = parse_shard(shard) if shard else None
    from dcmh_tf.retrieval.searcher import check_output_index

    run_directory = open_run(run)
    check_output_index(output, run_directory, force)
    if encoders == "onnx":
        run_encoders(run_directory)  # writes RUN/onnx when missing; build_index says why when it cannot
    import_tensorflow()  # the run was checked by open_run above: check_run would open and check it again
    from dcmh_tf.api import DCMH

    index = DCMH.load(run).index(modality=modality, dataset=dataset, data_path=data_path, rows=part,
                                 batch_size=batch_size, progress=progress, index_type=index_type,
                                 parameters={key: value for key, value in parameters.items() if value is not None},
                                 shard=shard, encoders=encoders)
    path = index.save(output)
    part_of = f", part {index.shard[0]}/{index.shard[1]}" if index.shard else ""
    click.echo(f"wrote {path}: {len(index)} {index.modality} codes of {index.bits} bits ({index.dataset}{part_of}), "
               f"{index.index_type} index {index.parameters or ''}".rstrip())


def parse_shard(text: str) -> tuple[int, int]:
    """"K/N" → (K, N); a malformed value is a usage error (exit 2)."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise click.BadParameter(f"expected K/N such as 1/4, received {text!r}.", param_hint="--shard") from None
    if not 1 <= k <= n:
        raise click.BadParameter(f"expected 1 ≤ K ≤ N, received {text!r}.", param_hint="--shard")
    return k, n


def _collection_name(value):
    from dcmh_tf.retrieval.milvus import check_collection_name  # imports no pymilvus

    if value is not None:
        try:
            check_collection_name(value)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--collection") from None
    return value


def _encode_to_milvus(run, to, collection, replace, items, modality, dataset, data_path, part, batch_size, progress,
                      index_type, shard, parameters):
    if index_type not in ("flat", "ivf"):
        raise click.BadParameter(f"a Milvus collection is flat (BIN_FLAT) or ivf (BIN_IVF_FLAT), received "
                                 f"{index_type!r}.", param_hint="--index-type")
    if shard is not None:
        raise click.UsageError("--shard is for index files; a Milvus collection takes every part itself (run the "
                               "encode once, or several with --items).")
    others = sorted(key for key, value in parameters.items() if value is not None and key not in ("nlist", "nprobe"))
    if others:
        raise click.UsageError(f"--{others[0].replace('_', '-')} is not a parameter of a Milvus index (only --nlist, "
                               f"--nprobe for ivf).")
    item_ids = None if items is None else parse_ids(items, "--items")
    check_run(run)
    from dcmh_tf.retrieval.searcher import write_collection

    index, written = write_collection(
        run, to, collection, modality=modality, dataset=dataset, data_path=data_path, part=part,
        batch_size=batch_size, progress=progress, index_type=index_type, replace=replace, items=item_ids,
        parameters={key: value for key, value in parameters.items() if value is not None})
    held = len(index)
    verb = "upserted" if item_ids is not None else "wrote"
    click.echo(f"{verb} {written} {modality} codes of {index.bits} bits into collection {index.collection} at {to} "
               f"({index.dataset}; {held} held, {index.index_type} index {index.parameters or ''})".rstrip())


def parse_ids(text: str, option: str) -> list[int]:
    """"3,17,42" → [3, 17, 42]; anything else is a usage error (exit 2)."""
    try:
        ids = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        ids = []
    if not ids or min(ids) < 0:
        raise click.BadParameter(f"expected dataset rows such as 3,17,42, received {text!r}.", param_hint=option)
    return ids


def _delete_from_milvus(to, collection, delete_items):
    ids = parse_ids(delete_items, "--delete")
    from dcmh_tf.retrieval.milvus import MilvusIndex

    index = MilvusIndex.open(to, collection)
    removed = index.delete(ids)
    click.echo(f"deleted {removed} of {len(ids)} items from collection {index.collection} at {to} ({len(index)} held)")
