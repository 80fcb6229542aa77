"""Cost of the non-finite input check of training (`dcmh_tf.training.trainer.non_finite_rows`).

1. Microseconds per call on batches of the shapes training feeds it: Wikipedia SIFT (64, 128) and
   LDA (64, 10) at the `wiki` preset's batch, MIRFLICKR's 1386-word bags of words at the paper's 128.
2. Seconds per epoch of the real trainer on the Wikipedia features (`wiki` preset, 2,173 pairs),
   with the check on and off, alternating in one process so that the machine's load hits both alike.

    python scripts/benchmark_finite_check.py [--data ../shared/data/wikipedia/wikiData.mat] [--epochs 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def time_call(function, argument, repeats: int) -> float:
    function(argument)
    started = time.perf_counter()
    for _ in range(repeats):
        function(argument)
    return (time.perf_counter() - started) / repeats


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/wikipedia/wikiData.mat")
    parser.add_argument("--epochs", type=int, default=6, help="timed epochs per setting (after one untimed)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from dcmh_tf.config import resolve_config
    from dcmh_tf.data.loading import load_dataset, make_split
    from dcmh_tf.models import adapt_standardization, make_encoders
    from dcmh_tf.training.trainer import DcmhTrainer, non_finite_rows

    rng = np.random.default_rng(0)
    print("non_finite_rows per batch (eager float32 tensor, as the pipeline yields it):")
    for name, shape in (("wiki SIFT", (64, 128)), ("wiki LDA", (64, 10)), ("MIRFLICKR BOW", (128, 1386))):
        batch = tf.constant(rng.random(shape, dtype=np.float32))
        print(f"  {name:<14} {str(shape):<12} {time_call(non_finite_rows, batch, 2000) * 1e6:8.1f} µs")

    config = resolve_config("wiki", data_path=args.data, bits=16)
    data = load_dataset(config)
    split = make_split(config, data)
    keras.utils.set_random_seed(0)
    image_encoder, text_encoder = make_encoders(config, data.image_dim, data.text_dim)
    adapt_standardization(image_encoder, data.images, split.train)
    adapt_standardization(text_encoder, data.texts, split.train)
    trainer = DcmhTrainer(config, data, split, image_encoder, text_encoder)
    trainer.train_epoch(0, progress=False)  # tracing
    seconds = {True: [], False: []}
    for epoch in range(1, 2 * args.epochs + 1):
        check = epoch % 2 == 1
        trainer.check_finite = {"image": check, "text": check}
        started = time.perf_counter()
        trainer.train_epoch(epoch, progress=False)
        seconds[check].append(time.perf_counter() - started)
    on, off = statistics.median(seconds[True]), statistics.median(seconds[False])
    batches = 2 * -(-trainer.n_train // config.batch_size)
    print(f"\nwiki epoch ({trainer.n_train} pairs, {batches} batches), median of {args.epochs} alternating epochs:")
    print(f"  check on  {on:.3f} s\n  check off {off:.3f} s\n  ratio     {on / off:.3f}")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
