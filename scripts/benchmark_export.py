"""Encoding latency and throughput of the exported encoders: Keras, the SavedModel and onnxruntime.

The paper's encoders with random weights (timing does not depend on them): CNN-F on 224×224
pictures with 4096-wide full6/full7, and the text MLP on a 1386-word bag of words (MIRFLICKR-25K)
with 4096 hidden units, both 64 bits. Each is exported with its heads as `dcmh-tf export` does,
then encodes batches of 1 and 64 on `--threads` CPU threads. Latency is the median of `--repeats`
timed calls after warm-up; throughput = batch / median latency.

    python scripts/benchmark_export.py                 # the table for the README
    python scripts/benchmark_export.py --repeats 5 --hidden 512   # a quick look
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of TF and onnxruntime")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per cell (after 3 warm-up calls)")
    parser.add_argument("--encoders", nargs="+", choices=["image", "text"], default=["image", "text"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--text-dim", type=int, default=1386)
    return parser.parse_args()


def time_calls(call, repeats: int) -> float:
    """Median seconds of one call, after three warm-up calls."""
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    args = parse_arguments()
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from dcmh_tf.export.heads import attach_heads
    from dcmh_tf.export.onnx import write_onnx
    from dcmh_tf.export.parity import make_onnx_session, make_sample
    from dcmh_tf.export.saved_model import write_saved_model
    from dcmh_tf.export.serving import ExportedEncoder
    from dcmh_tf.models import make_cnnf, make_mlp

    encoders = [
        ExportedEncoder("image", make_cnnf(args.bits, args.image_size, args.hidden), "pixels", args.image_size),
        ExportedEncoder("text", make_mlp(args.text_dim, args.bits, args.hidden), "bow", args.text_dim),
    ]
    encoders = [encoder for encoder in encoders if encoder.modality in args.encoders]
    print(f"{args.threads} threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"CNN-F {args.image_size}×{args.image_size}, text MLP {args.text_dim}-d, hidden {args.hidden}, "
          f"{args.bits} bits, random weights", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for encoder in encoders:
            saved_model = Path(folder) / encoder.modality / "1"
            onnx_file = Path(folder) / f"{encoder.modality}.onnx"
            started = time.perf_counter()
            write_saved_model(encoder, saved_model)
            write_onnx(encoder, onnx_file)
            print(f"{encoder.modality}: exported in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            keras_model = attach_heads(encoder.model)
            signature = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
            session = make_onnx_session(onnx_file, args.threads)
            for batch in args.batches:
                inputs = make_sample(encoder, batch)
                as_float, as_tensor = inputs.astype(np.float32), tf.constant(inputs)
                calls = {
                    "Keras (predict_on_batch)": lambda: keras_model.predict_on_batch(as_float),
                    "SavedModel (serving_default)": lambda: signature(**{encoder.modality: as_tensor}),
                    "onnxruntime": lambda: session.run(None, {encoder.modality: inputs}),
                }
                for runtime, call in calls.items():
                    seconds = time_calls(call, args.repeats)
                    rows.append((encoder.modality, runtime, batch, seconds))
                    print(f"  {encoder.modality} {runtime} batch {batch}: {1000 * seconds:.1f} ms", file=sys.stderr)
    print("| encoder | runtime | batch | latency (ms, median) | throughput (items/s) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for modality, runtime, batch, seconds in rows:
        print(f"| {modality} | {runtime} | {batch} | {1000 * seconds:.1f} | {batch / seconds:,.0f} |")


if __name__ == "__main__":
    main()
