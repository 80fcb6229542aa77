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

Weights are random: timing does not depend on them. The hardware (CPU model, cores, GPUs) and the
TF/Keras versions are printed with the table.

    python scripts/benchmark_train.py                       # the README table
    python scripts/benchmark_train.py --variants float32 jit --steps 2 --epoch-batches 2
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = {"float32": (False, False), "mixed": (True, False), "jit": (False, True), "mixed+jit": (True, True)}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="precision/XLA variants of the forward+backward table")
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

    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]
    return [
        f"CPU: {model}, {cores} cores available to this process",
        f"GPU: {', '.join(gpus) if gpus else 'none'}",
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}",
    ]


def make_config(args, variant: str, batch_size: int | None = None):
    from dcmh_tf.config import resolve_config

    mixed, jit = VARIANTS[variant]
    return resolve_config(
        "paper", bits=args.bits, image_size=args.image_size, hidden=args.hidden, batch_size=batch_size or args.batch_size,
        mixed_precision=mixed, jit=jit,
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
    variables = model.trainable_variables
    optimizer.build(variables)
    pixels = tf.constant(np.random.default_rng(0).uniform(0, 255, (args.batch_size,) + model.input_shape[1:]), tf.float32)

    @tf.function(jit_compile=config.jit)
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
            scaled = optimizer.scale_loss(loss)
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return loss

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
    variables = trained.trainable_variables
    optimizer.build(variables)

    @tf.function
    def bare_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(trained(x, training=True)))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

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
    print(f"\nCNN-F forward+backward, batch {args.batch_size}, {args.image_size}×{args.image_size}, "
          f"hidden {args.hidden}, {args.bits} bits (median of {args.steps} steps)")
    print(f"| variant | s/step | images/s |\n| --- | ---: | ---: |")
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


if __name__ == "__main__":
    main()
