"""Training speed: images/s of CNN-F forward+backward, and seconds per DCMH epoch.

1. CNN-F forward+backward: one SGD step of the paper-size image net (224×224 pictures, 4096-wide
   full6/full7, 64 bits) on a batch of 128, for each variant: float32, --mixed-precision
   (float16 compute, loss scaling), --jit (XLA) and both. Images/s = batch / median step time,
   after one untimed step (tracing, XLA compilation).
2. Seconds per DCMH epoch of 10,000 pairs: the real trainer (`DcmhTrainer`: tf.data pipeline from
   uint8 pixels, image-net pass against the stored G, text-net pass against F, B update) on synthetic
   pairs (random pixels, 1386-word bags of words, 24 labels). A full epoch on a CPU takes hours, so by
   default `--epoch-batches` batches of each phase are timed after one untimed batch and the epoch is
   extrapolated: ⌈n/batch⌉ · (image batch + text batch) + the B update. `--full-epoch` times a whole one.

3. EfficientNet-Lite (`--lite VARIANT ...`, `--freeze N ...`): training pictures/s of the trainer's image step
   (`DcmhTrainer`, tf.data pipeline, loss against the stored G, buffer update) against a bare Keras train
   step (the same trained layers, Adam, a fixed batch, mean-square loss); with frozen stages the input is
   their cached activations, as `fit` trains it. And inference pictures/s: the frozen bottom (the one-off
   cache) and the whole net to the pooled head (`datasets features --backbone`).
4. The trainer's step against bare steps of the same net and batch (`--nets`, issue 24), in one
   process, in rounds of each kind in turn, every bare step on a batch already in memory:
   (a) "bare MSE": one Keras/TF step (forward, a mean-square loss, backward, the same optimizer): what
       the method costs beyond a plain regression step, the DCMH loss against all n stored codes included;
   (b) "bare DCMH": the same net computing the same DCMH objective against the same stored buffer, a
       plain `tf.function` step with a tape and nothing else, twice: with the formula of eq. (2) left to
       autodiff, and with the trainer's own loss (`dcmh_batch_loss`, closed-form gradient). Against the
       latter the ratio is what the trainer's machinery costs (buffer update, input check, pipeline,
       reading the loss back);
   "trainer, batch in memory" is the trainer's compiled step (`DcmhTrainer.steps`: the loss, the buffer
   update) on the same batch; "trainer as run" is what `DcmhTrainer.train_epoch` does per batch: the
   next batch from the tf.data pipeline, the input check, the step and the loss read back. Items/s =
   batch / the best seconds (on a shared machine the least disturbed step is the closest to the cost).
   Target lines: "trainer as run" ≤ 1.1 × each bare step, per net; the load average is printed at the
   start and the end.

Weights are random: timing does not depend on them. The hardware (CPU model, cores, GPUs) and the
TF/Keras versions are printed with the table.

    python scripts/benchmark_train.py                       # the README table
    python scripts/benchmark_train.py --variants float32 jit --steps 2 --epoch-batches 2
    python scripts/benchmark_train.py --variants --epoch-variants --nets cnnf mlp-image mlp-text   # part 4 only
    python scripts/benchmark_train.py --variants --epoch-variants --nets lite0-collection   # EfficientNet-Lite0, frozen
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import typing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_eval import cpu_model  # noqa: E402  (one reading of /proc/cpuinfo for every benchmark)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = {"float32": (False, False), "mixed": (True, False), "jit": (False, True), "mixed+jit": (True, True)}


class Net(typing.NamedTuple):
    """One net of part 3: the phase that trains it and the config fields that choose it."""

    phase: str  # "image" or "text"
    fields: dict  # overrides of the preset (image encoder, dataset)
    pixels: bool  # the image input is pictures (else pre-extracted features)
    preset: str = "paper"


# The nets of part 3; a new encoder joins with one entry. The text net is timed beside the MLP image
# net (its trainer needs an image net, and an MLP one keeps the process small).
NETS = {
    "cnnf": Net("image", {"image_encoder": "cnnf"}, pixels=True),  # fields: overrides of the paper preset
    "mlp-image": Net("image", {"dataset": "features", "image_encoder": "mlp"}, pixels=False),
    "mlp-text": Net("text", {"dataset": "features", "image_encoder": "mlp"}, pixels=False),
    # the collection preset: ImageNet EfficientNet-Lite0 frozen (its pooled features cached, as `fit` trains
    # it; random features of their shape here), BatchNorm, 4096 ReLU and the hash layer trained with Adam
    "lite0-collection": Net("image", {"image_encoder": "efficientnet-lite0", "pretrained": "none"}, pixels=False,
                            preset="collection"),
}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS),
                        help="precision/XLA variants of the forward+backward table (none: skip part 1)")
    parser.add_argument("--epoch-variants", nargs="*", choices=list(VARIANTS), default=["float32", "jit"],
                        help="variants whose DCMH epoch is timed (none: skip part 2)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (after one untimed)")
    parser.add_argument("--pairs", type=int, default=10_000, help="training pairs of the DCMH epoch")
    parser.add_argument("--text-dim", type=int, default=1386)
    parser.add_argument("--labels", type=int, default=24)
    parser.add_argument("--epoch-batches", type=int, default=3, help="timed batches per phase for the estimate")
    parser.add_argument("--full-epoch", action="store_true", help="time a whole epoch instead of extrapolating")
    parser.add_argument("--nets", nargs="*", choices=list(NETS), default=[],
                        help="nets whose trainer step is timed against a bare step (part 4)")
    parser.add_argument("--net-steps", type=int, default=5, help="timed steps of each kind per net (part 4)")
    parser.add_argument("--feature-dim", type=int, default=4096, help="image features of the MLP image net (part 4)")
    parser.add_argument("--profile", action="store_true",
                        help="part 4: also time the pieces of the trainer's step one by one (where the overhead goes)")
    parser.add_argument("--lite", nargs="*", default=[], choices=["efficientnet-lite0", "efficientnet-lite1",
                                                                 "efficientnet-lite2"],
                        help="EfficientNet-Lite variants of part 3 (none: skip it)")
    parser.add_argument("--freeze", nargs="+", type=int, default=[0, 5], help="freeze_stages settings of part 3")
    parser.add_argument("--lite-batch", type=int, default=64, help="batch of part 3")
    parser.add_argument("--lite-size", type=int, default=None, help="input size of part 3 [default: the variant's]")
    return parser.parse_args(argv)


class RandomPixels:
    """(n, size, size, 3) uint8 pictures made on demand, so 10,000 of them need no memory; rows are
    read as the pipeline reads a file (fancy indexing with sorted rows)."""

    def __init__(self, n: int, size: int):
        import numpy as np

        self.shape = (n, size, size, 3)
        self.dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows):
        import numpy as np

        rows = np.atleast_1d(np.asarray(rows))
        return np.random.default_rng(int(rows[0])).integers(0, 256, (len(rows),) + self.shape[1:], np.uint8)


def describe_hardware() -> list[str]:
    import keras
    import tensorflow as tf

    model = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]
    return [
        f"CPU: {model}, {cores} cores available to this process",
        f"GPU: {', '.join(gpus) if gpus else 'none'}",
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}",
    ]


def make_config(args, variant: str, batch_size: int | None = None, preset: str = "paper", **fields):
    from dcmh_tf.config import resolve_config

    mixed, jit = VARIANTS[variant]
    return resolve_config(
        preset, bits=args.bits, image_size=args.image_size, hidden=args.hidden, batch_size=batch_size or args.batch_size,
        mixed_precision=mixed, jit=jit, **fields,
    )


def time_forward_backward(args, variant: str) -> float:
    """Median seconds of one SGD step of CNN-F on a batch."""
    import keras
    import numpy as np
    import tensorflow as tf

    from dcmh_tf.models import make_cnnf
    from dcmh_tf.models.precision import with_mixed_precision
    from dcmh_tf.training.trainer import make_optimizer

    config = make_config(args, variant)
    keras.utils.set_random_seed(0)
    model = make_cnnf(config.bits, config.image_size, config.hidden, config.pixel_scale)
    if config.mixed_precision:
        model = with_mixed_precision(model)
    optimizer = make_optimizer(config)
    optimizer.build(model.trainable_variables)
    pixels = tf.constant(np.random.default_rng(0).uniform(0, 255, (args.batch_size,) + model.input_shape[1:]), tf.float32)
    step = make_bare_step(model, optimizer, config.jit)

    step(pixels).numpy()  # tracing and compilation
    times = []
    for _ in range(args.steps):
        started = time.perf_counter()
        step(pixels).numpy()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_dcmh_epoch(args, variant: str) -> tuple[float, str]:
    """Seconds of one DCMH epoch over `args.pairs` pairs (measured or extrapolated) and how it was obtained."""
    import keras
    import numpy as np

    from dcmh_tf.data.paired import PairedData, Split
    from dcmh_tf.data.pipeline import make_dataset
    from dcmh_tf.models import make_encoders
    from dcmh_tf.models.precision import with_mixed_precision
    from dcmh_tf.training.trainer import PHASES, DcmhTrainer

    config = make_config(args, variant)
    rng = np.random.default_rng(0)
    n = args.pairs
    data = PairedData(
        "synthetic",
        RandomPixels(n, args.image_size),
        (rng.random((n, args.text_dim)) < 0.01).astype(np.float32),
        (rng.random((n, args.labels)) < 0.1).astype(np.float32),
    )
    everything = np.arange(n)
    split = Split(query=everything[:0], database=everything, train=everything)
    keras.utils.set_random_seed(0)
    encoders = make_encoders(config, None, args.text_dim)
    if config.mixed_precision:
        encoders = tuple(with_mixed_precision(encoder) for encoder in encoders)
    trainer = DcmhTrainer(config, data, split, *encoders)
    if args.full_epoch:
        started = time.perf_counter()
        trainer.train_epoch(0, progress=True)
        return time.perf_counter() - started, "measured"
    n_batches = -(-n // config.batch_size)
    per_batch = {}
    for phase in PHASES:
        order = trainer.shuffled_order(0, phase)
        batches = iter(make_dataset(trainer.inputs[phase], trainer.rows, order, config.batch_size))
        positions, values = next(batches)
        trainer.steps[phase](positions, values)["total"].numpy()  # tracing and compilation
        times = []
        for _ in range(args.epoch_batches):
            started = time.perf_counter()
            positions, values = next(batches)
            trainer.steps[phase](positions, values)["total"].numpy()
            times.append(time.perf_counter() - started)
        per_batch[phase] = statistics.mean(times)
    started = time.perf_counter()
    trainer.codes.assign(np.where(trainer.buffers["image"].numpy() + trainer.buffers["text"].numpy() >= 0, 1.0, -1.0))
    update = time.perf_counter() - started
    estimate = n_batches * (per_batch["image"] + per_batch["text"]) + update
    how = (f"extrapolated: {n_batches} × ({per_batch['image']:.2f} s image + {per_batch['text']:.3f} s text batch), "
           f"{args.epoch_batches} batches of each timed")
    return estimate, how


def make_bare_step(model, optimizer, jit: bool):
    """One Keras/TF step of `model`: forward, mean squared output as the loss, backward, update."""
    import tensorflow as tf

    variables = model.trainable_variables

    @tf.function(jit_compile=jit)
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
            scaled = optimizer.scale_loss(loss)
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return loss

    return step


def make_net_trainer(args, net: Net):
    """A `DcmhTrainer` of `args.pairs` synthetic pairs whose `net.phase` net is the net to time."""
    import keras
    import numpy as np

    from dcmh_tf.data.paired import PairedData, Split
    from dcmh_tf.models import make_encoders
    from dcmh_tf.training.frozen import split_encoder, uses_frozen_cache
    from dcmh_tf.training.trainer import DcmhTrainer

    config = make_config(args, "float32", preset=net.preset, **net.fields)
    rng = np.random.default_rng(0)
    n = args.pairs
    keras.utils.set_random_seed(0)
    image, text = make_encoders(config, None if net.pixels else args.feature_dim, args.text_dim)
    if uses_frozen_cache(config):  # the trainer trains the top on the frozen bottom's cached activations
        bottom, image = split_encoder(image, config)
        images = rng.standard_normal((n,) + tuple(bottom.output.shape[1:]), dtype=np.float32)
    else:
        images = (RandomPixels(n, args.image_size) if net.pixels
                  else rng.standard_normal((n, args.feature_dim), dtype=np.float32))
    data = PairedData("synthetic", images, (rng.random((n, args.text_dim)) < 0.01).astype(np.float32),
                      (rng.random((n, args.labels)) < 0.1).astype(np.float32),
                      image_kind="pixels" if net.pixels else "features")
    everything = np.arange(n)
    trainer = DcmhTrainer(config, data, Split(query=everything[:0], database=everything, train=everything), image, text)
    if uses_frozen_cache(config):
        trainer.check_finite["image"] = False  # as fit does: computed from uint8 pixels
    return trainer


def reference_batch_loss(outputs, other, codes, similarity, rest_sum, config):
    """The batch objective of eq. (2) as the formula reads, for autodiff: what a plain TF step would write."""
    import tensorflow as tf

    from dcmh_tf.training.losses import term_weights

    w_pair, w_quant, w_balance = (tf.cast(w, outputs.dtype) for w in
                                  term_weights(config.loss_normalization, tf.shape(outputs)[0], tf.shape(other)[0]))
    theta = 0.5 * tf.matmul(outputs, other, transpose_b=True)
    pairwise = tf.reduce_sum(tf.nn.softplus(theta) - similarity * theta)
    quantization = tf.reduce_sum(tf.square(codes - outputs))
    balance = tf.reduce_sum(tf.square(rest_sum + tf.reduce_sum(outputs, axis=0)))
    return w_pair * pairwise + w_quant * config.gamma * quantization + w_balance * config.eta * balance


def batch_loss(trainer, own, other, positions, outputs, config, formula: bool):
    """The DCMH objective of the batch at `positions` against the stored buffers `own` and `other`: the
    formula by autodiff (`reference_batch_loss`) or the trainer's `dcmh_batch_loss`."""
    import tensorflow as tf

    from dcmh_tf.training.losses import dcmh_batch_loss, label_similarity

    similarity = label_similarity(tf.gather(trainer.labels, positions), trainer.labels)
    rest_sum = tf.reduce_sum(own, axis=0) - tf.reduce_sum(tf.gather(own, positions), axis=0)
    codes = tf.gather(trainer.codes, positions)
    if formula:
        return reference_batch_loss(outputs, other, codes, similarity, rest_sum, config)
    return dcmh_batch_loss(outputs, other, codes, similarity, rest_sum, config.gamma, config.eta,
                           config.loss_normalization)["total"]


def make_bare_dcmh_step(trainer, phase: str, optimizer, formula: bool):
    """A plain TF step of `trainer`'s `phase` net on the DCMH objective against the stored buffer of all n
    pairs: forward, the loss (the formula by autodiff, or the trainer's `dcmh_batch_loss`), backward, the
    optimizer; no buffer update, no input check, no pipeline. Returns the total loss."""
    import tensorflow as tf

    encoder, config = trainer.encoders[phase], trainer.config
    own, other = trainer.buffers[phase], trainer.buffers["text" if phase == "image" else "image"]
    variables = encoder.trainable_variables

    @tf.function(jit_compile=config.jit)
    def step(positions, x):
        with tf.GradientTape() as tape:
            loss = batch_loss(trainer, own, other, positions, encoder(x, training=True), config, formula)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


KINDS = {  # the kinds of step of part 4, in the order they are timed
    "bare": "bare MSE",
    "bare_formula": "bare DCMH, formula by autodiff",
    "bare_dcmh": "bare DCMH, the trainer's loss",
    "in_memory": "trainer, batch in memory",
    "as_run": "trainer as run",
}


def time_trainer_against_bare(args, name: str) -> dict[str, float]:
    """Best seconds per step of each kind of part 4 (`KINDS`) for net `name`, timed in rounds of each kind in turn."""
    import tensorflow as tf

    from dcmh_tf.training.trainer import make_optimizer, non_finite_rows

    net = NETS[name]
    trainer = make_net_trainer(args, net)
    phase, config = net.phase, trainer.config
    encoder = trainer.encoders[phase]
    bare = make_bare_step(encoder, make_optimizer(config), config.jit)
    bare_formula = make_bare_dcmh_step(trainer, phase, make_optimizer(config), formula=True)
    bare_dcmh = make_bare_dcmh_step(trainer, phase, make_optimizer(config), formula=False)
    step = trainer.steps[phase]

    def batches():  # the trainer's pipeline, as train_epoch makes it
        return iter(trainer.make_batches(0, phase).repeat())

    positions, values = next(batches())
    fixed = (positions, tf.cast(values, tf.float32))  # the bare steps take what the model takes
    pipeline = None

    def as_run():  # the body of DcmhTrainer.train_epoch's loop, without the progress bar
        positions, values = next(pipeline)
        if trainer.check_finite[phase] and len(non_finite_rows(values)):
            raise RuntimeError("non-finite synthetic input")
        return {key: float(value) for key, value in step(positions, values).items()}

    kinds = {
        "bare": lambda: float(bare(fixed[1])),
        "bare_formula": lambda: float(bare_formula(*fixed)),
        "bare_dcmh": lambda: float(bare_dcmh(*fixed)),
        "in_memory": lambda: {key: float(value) for key, value in step(*fixed).items()},
        "as_run": as_run,
    }
    # Rounds of consecutive steps of each kind: the pipeline reads ahead while a step runs, as in
    # training, and is closed after its round so that its reading does not spill into the next kind's
    # steps; the first step of each round (tracing, compilation, the pipeline's first batch) is not timed.
    times = {kind: [] for kind in kinds}
    per_round = max(2, args.net_steps // 3)
    for _ in range(max(1, -(-args.net_steps // per_round))):
        for kind, run in kinds.items():
            pipeline = batches() if kind == "as_run" else None
            run()
            for _ in range(per_round):
                started = time.perf_counter()
                run()
                times[kind].append(time.perf_counter() - started)
            pipeline = None
    return {kind: min(values) for kind, values in times.items()}


def profile_trainer_step(args, name: str) -> dict[str, float]:
    """Best seconds of each piece of the trainer's step of net `name`, each compiled and run alone:
    the DCMH loss with its gradient (against the stored buffer of all n pairs; the trainer's, and the
    formula left to autodiff), the label similarity inside it, the buffer update, the input check, and
    the pipeline's batch with nothing else running."""
    import tensorflow as tf

    from dcmh_tf.training.losses import label_similarity
    from dcmh_tf.training.trainer import non_finite_rows

    net = NETS[name]
    trainer = make_net_trainer(args, net)
    phase, config = net.phase, trainer.config
    own, other = trainer.buffers[phase], trainer.buffers["text" if phase == "image" else "image"]
    positions, values = next(iter(trainer.make_batches(0, phase)))
    outputs = trainer.encoders[phase](tf.cast(values, tf.float32))

    def make_loss_and_gradient(formula: bool):
        @tf.function
        def loss_and_gradient(positions, outputs):
            with tf.GradientTape() as tape:
                tape.watch(outputs)
                loss = batch_loss(trainer, own, other, positions, outputs, config, formula)
            # the loss too: a graph that returned the gradient alone would prune the softplus away
            return loss, tape.gradient(loss, outputs)

        return loss_and_gradient

    trainers_loss, formula_loss = make_loss_and_gradient(False), make_loss_and_gradient(True)

    @tf.function
    def similarity(positions):
        return label_similarity(tf.gather(trainer.labels, positions), trainer.labels)

    @tf.function
    def buffer_update(positions, outputs):
        own.scatter_nd_update(positions[:, None], outputs)
        return tf.reduce_sum(own[0])

    pipeline = iter(trainer.make_batches(0, phase).repeat())
    pieces = {
        "DCMH loss + its gradient": lambda: [t.numpy() for t in trainers_loss(positions, outputs)],
        "  the formula by autodiff instead": lambda: [t.numpy() for t in formula_loss(positions, outputs)],
        "  label similarity": lambda: similarity(positions).numpy(),
        "buffer update": lambda: buffer_update(positions, outputs).numpy(),
        "input check (features only)": lambda: non_finite_rows(values) if trainer.check_finite[phase] else None,
        "pipeline: next batch, alone": lambda: next(pipeline),
    }
    best = {}
    for piece, run in pieces.items():
        run()
        times = []
        for _ in range(max(3, args.net_steps)):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        best[piece] = min(times)
    return best


def target(ratio: float) -> str:
    return "met" if ratio <= 1.1 else "NOT met"


def print_trainer_against_bare(args) -> None:
    print(f"\nThe trainer's step against bare Keras/TF steps of the same net, batch {args.batch_size}, "
          f"{args.pairs:,} pairs in the buffers, best of {args.net_steps} steps each (rounds of each kind in turn); "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    print("| net | " + " s/step | ".join(KINDS.values()) + " s/step | bare MSE items/s | trainer items/s (as run) | "
          "(a) trainer / bare MSE | target ≤ 1.1× | (b) trainer / bare DCMH (trainer's loss) | target ≤ 1.1× | "
          "bare DCMH: formula / trainer's loss |")
    print("| --- |" + " ---: |" * (len(KINDS) + 2) + " ---: | --- | ---: | --- | ---: |")
    for name in args.nets:
        seconds = time_trainer_against_bare(args, name)
        method, machinery = seconds["as_run"] / seconds["bare"], seconds["as_run"] / seconds["bare_dcmh"]
        print(f"| {name} | " + " | ".join(f"{seconds[kind]:.4g}" for kind in KINDS) + " | "
              f"{args.batch_size / seconds['bare']:.1f} | {args.batch_size / seconds['as_run']:.1f} | "
              f"{method:.3f} | {target(method)} | {machinery:.3f} | {target(machinery)} | "
              f"{seconds['bare_formula'] / seconds['bare_dcmh']:.3f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if args.profile:
        print(f"\nPieces of the trainer's step, each alone, best of {max(3, args.net_steps)} (ms)")
        for name in args.nets:
            pieces = profile_trainer_step(args, name)
            print(f"{name}: " + "; ".join(f"{piece} {seconds * 1000:.2f}" for piece, seconds in pieces.items()),
                  flush=True)
        print(f"load average {os.getloadavg()[0]:.2f} at the end")


def time_efficientnet(args, encoder: str, freeze: int) -> dict:
    """Pictures/s of the trainer's image step and of a bare Keras step of the same layers; inference pictures/s."""
    import keras
    import numpy as np
    import tensorflow as tf

    from dcmh_tf.config import resolve_config
    from dcmh_tf.data.paired import PairedData, Split
    from dcmh_tf.data.pipeline import make_dataset
    from dcmh_tf.models import make_encoders
    from dcmh_tf.training.frozen import split_encoder, uses_frozen_cache
    from dcmh_tf.training.trainer import DcmhTrainer

    batch = args.lite_batch
    changes = {"image_size": args.lite_size} if args.lite_size else {}
    config = resolve_config("collection", image_encoder=encoder, freeze_stages=freeze, pretrained="none", bits=args.bits,
                            batch_size=batch, hidden=args.hidden, **changes)
    keras.utils.set_random_seed(0)
    image, text = make_encoders(config, None, args.text_dim)
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (batch, config.image_size, config.image_size, 3)).astype(np.float32)
    result = {"size": config.image_size}
    bottom, trained = split_encoder(image, config) if uses_frozen_cache(config) else (None, image)

    def rate(function, x, repeats):
        function(x)  # tracing
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            function(x)
            times.append(time.perf_counter() - started)
        return len(x) / statistics.median(times)

    if bottom is not None:
        result["cache pictures/s"] = rate(lambda x: bottom(x, training=False).numpy(), pixels, args.steps)
        inputs = bottom(pixels, training=False).numpy()
    else:
        inputs = pixels
    pooled = keras.Model(image.input, image.get_layer("avg_pool").output)
    result["features pictures/s"] = rate(lambda x: pooled(x, training=False).numpy(), pixels, args.steps)

    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(trained.trainable_variables)
    bare_step = make_bare_step(trained, optimizer, False)
    result["bare pictures/s"] = rate(lambda x: bare_step(tf.constant(x)).numpy(), inputs, args.steps)

    n = batch * (args.steps + 1)
    repeated = np.concatenate([inputs] * (args.steps + 1)) if bottom is not None else None
    images = repeated if bottom is not None else RandomPixels(n, config.image_size)
    data = PairedData("synthetic", images, (rng.random((n, args.text_dim)) < 0.01).astype(np.float32),
                      (rng.random((n, args.labels)) < 0.1).astype(np.float32),
                      image_kind="features" if bottom is not None else "pixels")
    everything = np.arange(n)
    trainer = DcmhTrainer(config, data, Split(query=everything[:0], database=everything, train=everything), trained, text)
    trainer.check_finite["image"] = False  # as fit does for cached activations and for pixels
    batches = iter(make_dataset(trainer.inputs["image"], trainer.rows, trainer.shuffled_order(0, "image"), batch))
    positions, values = next(batches)
    trainer.steps["image"](positions, values)["total"].numpy()  # tracing
    started = time.perf_counter()
    for positions, values in batches:  # the pipeline's reading counts: it is part of the trainer
        {name: float(value) for name, value in trainer.steps["image"](positions, values).items()}
    result["trainer pictures/s"] = batch * args.steps / (time.perf_counter() - started)
    return result


def main(argv=None) -> None:
    args = parse_arguments(argv)
    print("\n".join(describe_hardware()))
    if args.variants:
        print(f"\nCNN-F forward+backward, batch {args.batch_size}, {args.image_size}×{args.image_size}, "
              f"hidden {args.hidden}, {args.bits} bits (median of {args.steps} steps)")
        print("| variant | s/step | images/s |\n| --- | ---: | ---: |")
    for variant in args.variants:
        seconds = time_forward_backward(args, variant)
        print(f"| {variant} | {seconds:.3f} | {args.batch_size / seconds:.1f} |", flush=True)
    if args.epoch_variants:
        print(f"\nDCMH epoch of {args.pairs:,} pairs, batch {args.batch_size} (image phase + text phase + B update)")
        print("| variant | s/epoch | how |\n| --- | ---: | --- |")
        for variant in args.epoch_variants:
            seconds, how = time_dcmh_epoch(args, variant)
            print(f"| {variant} | {seconds:.1f} | {how} |", flush=True)
    if args.lite:
        print(f"\nEfficientNet-Lite, batch {args.lite_batch}, {args.bits} bits: training pictures/s (trainer's image step "
              f"vs a bare Keras step of the same trained layers) and inference pictures/s")
        print("| net | input | freeze_stages | trainer | bare Keras | trainer / bare | cache (frozen bottom) | pooled "
              "features |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for encoder in args.lite:
            for freeze in args.freeze:
                r = time_efficientnet(args, encoder, freeze)
                cache = f"{r['cache pictures/s']:.1f}" if "cache pictures/s" in r else "–"
                print(f"| {encoder} | {r['size']} | {freeze} | {r['trainer pictures/s']:.1f} | {r['bare pictures/s']:.1f} | "
                      f"{r['trainer pictures/s'] / r['bare pictures/s']:.0%} | {cache} | {r['features pictures/s']:.1f} |",
                      flush=True)
    if args.nets:
        print_trainer_against_bare(args)


if __name__ == "__main__":
    main()
