"""Encoding throughput of `dcmh-tf encode`: the run's encoders in TensorFlow (Keras' compiled forward
over the tf.data pipeline) against onnxruntime (RUN/onnx over NumPy batches), at batch 1 and 64.

Both paths read the same rows of the run's own dataset and make ±1 codes; the script checks that the
codes are identical, bit for bit, and prints pictures (or texts) per second: the best of `--repeats`
passes over `--rows` database rows after one warm-up pass. RUN/onnx is written first when missing.

    python scripts/benchmark_encode.py RUN                      # image and text, batches 1 and 64
    python scripts/benchmark_encode.py RUN --rows 256 --repeats 2

Target: onnxruntime at least as fast as TensorFlow at both batch sizes, with identical codes; the last
line says whether it was met.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_eval import cpu_model  # noqa: E402  (one reading of /proc/cpuinfo for every benchmark)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a trained run directory")
    parser.add_argument("--rows", type=int, default=640, help="database rows encoded per pass")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per cell (after one warm-up pass)")
    parser.add_argument("--modalities", nargs="+", choices=["image", "text"], default=["image", "text"])
    return parser.parse_args()


def best_rate(call, n: int, repeats: int) -> tuple[float, object]:
    """(items per second of the fastest of `repeats` timed calls after one warm-up, the last result)."""
    result = call()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return n / best, result


def main() -> None:
    args = parse_arguments()
    import numpy as np

    from dcmh_tf.data.loading import load_dataset
    from dcmh_tf.evaluation.scoring import encode_codes
    from dcmh_tf.export.run_onnx import ensure_run_onnx
    from dcmh_tf.retrieval.onnx_encoders import OnnxEncoders
    from dcmh_tf.retrieval.searcher import encode_arrays
    from dcmh_tf.run_directory import RunDirectory

    run = RunDirectory.open(args.run)
    ensure_run_onnx(run)
    onnx = OnnxEncoders.open(run)
    data = load_dataset(run.config)
    rows = np.sort(run.load_split().database)[:args.rows]
    image_encoder, text_encoder, _ = run.restore_encoders()
    print(f"run {run.path} ({run.config.dataset}, {run.config.image_encoder} {run.config.image_size} px, hidden "
          f"{run.config.hidden}, {run.config.bits} bits); {len(rows)} rows; CPU {cpu_model()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    print("\n| encoder | batch | TensorFlow items/s | onnxruntime items/s | ratio | codes identical |")
    print("|---|---:|---:|---:|---:|---|")
    met = True
    for modality in args.modalities:
        encoder, array = (image_encoder, data.images) if modality == "image" else (text_encoder, data.texts)
        forward = onnx.forward(modality)
        for batch in args.batches:
            tf_rate, tf_codes = best_rate(lambda batch=batch: encode_codes(encoder, array, rows, batch), len(rows), args.repeats)
            ort_rate, ort_codes = best_rate(lambda batch=batch: encode_arrays(forward, array, rows, batch), len(rows),
                                            args.repeats)
            same = bool(np.array_equal(tf_codes, ort_codes))
            met &= same and ort_rate >= tf_rate
            print(f"| {modality} | {batch} | {tf_rate:,.0f} | {ort_rate:,.0f} | {ort_rate / tf_rate:.2f}× | "
                  f"{'yes' if same else f'NO: {int((tf_codes != ort_codes).sum())} bits differ'} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    print(f"target (onnxruntime ≥ TensorFlow at every batch, identical codes): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
