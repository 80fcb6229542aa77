"""DCMH against the shallow baselines on one features set, as in the paper's Tables 3–6 and
Figures 2, 6 and 7: MAP at several code lengths and seeds, hash-lookup precision-recall curves,
and DCMH's sensitivity to γ and η.

Every method sees the same split (`dcmh_tf.data.loading.make_split`; for the Wikipedia file its own
one: queries = the test pairs, database = training set = the train pairs) and the same features:
DCMH's encoders z-score them with the training rows' statistics inside the network, the baselines
get `zscore_columns` of the same rows. Every database item is hashed by its own modality's hash
function (network or linear map), never by codes learned from both modalities.

DCMH runs are written under `runs_dir`, one directory per (bits, seed, γ, η); a directory that
already holds the same configuration is resumed or, when complete, only re-encoded, so an
interrupted comparison continues where it stopped.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dcmh_tf.baselines import BASELINES, make_baseline
from dcmh_tf.baselines.common import zscore_columns
from dcmh_tf.errors import ConfigError, DataError, RunDirectoryError
from dcmh_tf.evaluation.metrics import hash_lookup_precision_recall, mean_average_precision

DCMH = "dcmh"
METHOD_TITLES = {"cca-itq": "CCA-ITQ", "cmfh": "CMFH", "scm-seq": "SCM-seq", "seph-lin": "SePH-lin",
                 "seph-rnd": "SePH-rnd", "seph-km": "SePH-km", "stmh": "STMH", DCMH: "DCMH"}
SENSITIVITY_VALUES = (0.01, 0.1, 0.5, 1.0, 2.0)  # the grid of the paper's Figures 6 and 7
DIRECTIONS = {"i2t": ("image", "text"), "t2i": ("text", "image")}  # (query modality, database modality)


@dataclass(frozen=True)
class ComparisonPlan:
    """What to run. `dcmh_overrides` change fields of the `preset` config of DCMH (epochs, hidden,
    lr, ...); `sensitivity_values` empty skips Figures 6–7; `figure_bits`, the code length of the
    precision-recall and sensitivity curves (16 in the paper), must be one of `bits`."""

    data_path: str
    bits: tuple[int, ...] = (16, 32, 64)
    seeds: int = 3
    methods: tuple[str, ...] = (*BASELINES, DCMH)
    figure_bits: int = 16
    sensitivity_values: tuple[float, ...] = SENSITIVITY_VALUES
    sensitivity_seeds: int = 1
    preset: str = "wiki"
    dcmh_overrides: dict[str, Any] = field(default_factory=dict)
    baseline_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> options of its class

    def validate(self) -> "ComparisonPlan":
        unknown = [m for m in self.methods if m not in METHOD_TITLES or (m != DCMH and m not in BASELINES)]
        if unknown or not self.methods:
            raise ConfigError(f"methods: expected some of {', '.join([*BASELINES, DCMH])}, received "
                              f"{', '.join(self.methods) or 'none'}.")
        if not self.bits or any(not isinstance(b, int) or b < 1 for b in self.bits):
            raise ConfigError(f"bits: expected positive integers, received {list(self.bits)}.")
        if self.figure_bits not in self.bits:
            raise ConfigError(f"figure_bits {self.figure_bits} must be one of the code lengths {list(self.bits)}.")
        for name in ("seeds", "sensitivity_seeds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected at least 1, received {getattr(self, name)}.")
        if any(not v > 0 for v in self.sensitivity_values):  # they are plotted on a log scale
            raise ConfigError(f"sensitivity values: expected numbers > 0, received {list(self.sensitivity_values)}.")
        for method, options in self.baseline_options.items():
            if method not in self.methods or method == DCMH:
                raise ConfigError(f"baseline options for {method!r}: expected a baseline among the methods compared "
                                  f"({', '.join(m for m in self.methods if m != DCMH) or 'none'}).")
            make_baseline(method, self.bits[0], **options)  # refuses unknown options and bad values now, not mid-run
        return self

    def dcmh_config(self, bits: int, seed: int, **changes):
        from dcmh_tf.config import resolve_config

        return resolve_config(self.preset, dataset="features", data_path=str(self.data_path), bits=bits, seed=seed,
                              **{**self.dcmh_overrides, **changes})


def run_comparison(plan: ComparisonPlan, runs_dir, *, progress: bool = False,
                   echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train and score every method of `plan`; returns the JSON-able results (see `paper_report`):
    {"runs": [{"method", "bits", "seed", "gamma", "eta", "map_i2t", "map_t2i", "seconds", "reused"}],
     "pr_curves": {method: {"i2t"/"t2i": {"precision", "recall"}}}, "plan", "dcmh_config", "split",
     "seconds"}."""
    plan.validate()
    if DCMH not in plan.methods:  # no TensorFlow needed
        return _run_jobs(plan, Path(runs_dir), progress, echo)
    with _quiet_retracing():
        return _run_jobs(plan, Path(runs_dir), progress, echo)


@contextlib.contextmanager
def _quiet_retracing():
    """Silence TensorFlow's retracing warnings: every DCMH run builds new encoders and steps, so
    their functions are traced anew by design, which TF reports as excessive retracing."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def _run_jobs(plan: ComparisonPlan, runs_dir: Path, progress: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    from dcmh_tf.data.loading import load_dataset, make_split

    started = time.perf_counter()
    base_config = plan.dcmh_config(plan.bits[0], 0)
    data = load_dataset(base_config)
    if data.image_kind != "features":
        raise DataError(f"{plan.data_path}: the baselines need pre-extracted image features; this file holds "
                        f"{data.image_kind}.")
    labels = np.asarray(data.labels)
    jobs = _plan_jobs(plan, base_config.gamma, base_config.eta)
    results: dict[str, Any] = {"runs": [], "pr_curves": {}}
    baseline_inputs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for number, (method, bits, seed, gamma, eta) in enumerate(jobs, 1):
        split = make_split(plan.dcmh_config(bits, seed), data)
        job_started = time.perf_counter()
        reused = False
        if method == DCMH:
            config = plan.dcmh_config(bits, seed, gamma=gamma, eta=eta)
            codes, split, reused = _dcmh_codes(config, runs_dir / _run_name(bits, seed, gamma, eta), data,
                                               progress, echo)
        else:
            if seed not in baseline_inputs:  # the split, hence the scaling, may depend on the seed
                baseline_inputs[seed] = (zscore_columns(data.images, split.train),
                                         zscore_columns(data.texts, split.train))
            images, texts = baseline_inputs[seed]
            codes = _baseline_codes(method, bits, seed, images, texts, labels, split,
                                    plan.baseline_options.get(method, {}))
        seconds = time.perf_counter() - job_started
        scores = {f"map_{d}": mean_average_precision(codes["query", q], codes["database", b], labels[split.query],
                                                     labels[split.database]) for d, (q, b) in DIRECTIONS.items()}
        if bits == plan.figure_bits and seed == 0 and (method != DCMH or (gamma, eta) == (base_config.gamma, base_config.eta)):
            results["pr_curves"][method] = _pr_curves(codes, labels, split)
        results["runs"].append({"method": method, "bits": bits, "seed": seed, "gamma": gamma, "eta": eta,
                                **scores, "seconds": round(seconds, 2), "reused": reused})
        setting = f", γ {gamma:g}, η {eta:g}" if method == DCMH else ""
        echo(f"[{number}/{len(jobs)}] {METHOD_TITLES[method]} {bits} bits, seed {seed}{setting}: MAP I→T "
             f"{scores['map_i2t']:.4f}, T→I {scores['map_t2i']:.4f} ({seconds:.1f} s{', reused run' if reused else ''})")
    results.update(
        plan={**plan.__dict__, "bits": list(plan.bits), "methods": list(plan.methods),
              "sensitivity_values": list(plan.sensitivity_values), "data_path": str(plan.data_path)},
        dcmh_config=base_config.to_dict(),
        split={"n_query": int(len(split.query)), "n_database": int(len(split.database)), "n_train": int(len(split.train))},
        seconds=round(time.perf_counter() - started, 1),
    )
    return results


def _plan_jobs(plan: ComparisonPlan, gamma: float, eta: float) -> list[tuple[str, int, int, float | None, float | None]]:
    """(method, bits, seed, γ, η) of every run, without repeats: the table's runs, then the
    sensitivity runs that the table does not already hold; γ, η are None for baselines."""
    jobs = []
    for bits in plan.bits:
        for seed in range(plan.seeds):
            for method in plan.methods:
                jobs.append((method, bits, seed, gamma, eta) if method == DCMH else (method, bits, seed, None, None))
    if DCMH in plan.methods:
        for seed in range(plan.sensitivity_seeds):
            for value in plan.sensitivity_values:
                for setting in ((value, eta), (gamma, value)):
                    job = (DCMH, plan.figure_bits, seed, *setting)
                    if job not in jobs:
                        jobs.append(job)
    return jobs


def _run_name(bits: int, seed: int, gamma: float, eta: float) -> str:
    return f"dcmh-{bits}bits-seed{seed}-gamma{gamma:g}-eta{eta:g}"


def _baseline_codes(method: str, bits: int, seed: int, images: np.ndarray, texts: np.ndarray, labels: np.ndarray,
                    split, options: dict[str, Any]) -> dict[tuple[str, str], np.ndarray]:
    hasher = make_baseline(method, bits, seed=seed, **options).fit(images[split.train], texts[split.train], labels[split.train])
    return {(part, modality): encode(features[rows])
            for part, rows in (("query", split.query), ("database", split.database))
            for modality, encode, features in (("image", hasher.encode_images, images), ("text", hasher.encode_texts, texts))}


def _dcmh_codes(config, path: Path, data, progress: bool, echo: Callable[[str], None]):
    """Train (or resume) the DCMH run in `path`, then encode queries and database; returns
    (codes, the run's split, whether a complete run was found)."""
    from dcmh_tf.evaluation.scoring import encode_split
    from dcmh_tf.run_directory import METRICS, RunDirectory
    from dcmh_tf.training.trainer import fit

    resume, complete = False, False
    if (path / "config.json").exists():
        run = RunDirectory.open(path)
        if run.config != config:
            changed = [k for k, v in config.to_dict().items() if run.config.to_dict().get(k) != v]
            raise RunDirectoryError(
                f"{path} holds a DCMH run of another configuration (differs in {', '.join(changed)}); remove it "
                f"or point --runs-dir elsewhere."
            )
        resume = True
        complete = (path / METRICS).exists() and run.read_metrics().get("epoch") == config.epochs

    def report(message: str) -> None:  # the last epoch's line only: a comparison trains many runs
        if message.startswith(f"epoch {config.epochs}/") or message.startswith("resuming"):
            echo(f"  {message}")

    if not complete:
        fit(config, path, resume=resume, progress=progress, echo=report)
    run = RunDirectory.open(path)
    image_encoder, text_encoder, _ = run.restore_encoders()
    split = run.load_split()
    return encode_split(image_encoder, text_encoder, data, split, config.batch_size), split, complete


def _pr_curves(codes, labels: np.ndarray, split) -> dict[str, dict[str, list[float]]]:
    curves = {}
    for direction, (query, database) in DIRECTIONS.items():
        precision, recall = hash_lookup_precision_recall(codes["query", query], codes["database", database],
                                                         labels[split.query], labels[split.database])
        curves[direction] = {"precision": np.asarray(precision).tolist(), "recall": np.asarray(recall).tolist()}
    return curves
