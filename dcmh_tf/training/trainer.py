"""Algorithm 1 of the DCMH paper: alternating updates of θx, θy and B.

Per outer iteration (epoch): one pass of image-net steps over every training point in shuffled
batches with θy and B fixed (the loss uses the stored G of all n points), then one pass of
text-net steps against the stored F, then B = sign(F + G) (eq. (5); γ > 0 does not change a sign).
F, G and B are non-trainable variables of shape (n, c); the rows of a batch are refreshed with
the outputs computed in its step. Codes are updated outside any tape.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from dcmh_tf.config import Config
from dcmh_tf.data.loading import load_dataset, make_split
from dcmh_tf.data.paired import PairedData, Split
from dcmh_tf.data.pipeline import is_pixel_array, make_dataset
from dcmh_tf.training.distribute import make_distributed_step, make_strategy
from dcmh_tf.errors import FitInterrupted, RunDirectoryError, TrainingError
from dcmh_tf.evaluation.scoring import evaluate_encoders
from dcmh_tf.training.losses import dcmh_batch_loss, label_similarity
from dcmh_tf.training.memory import check_training_memory
from dcmh_tf.training.observer import TrainingObserver
from dcmh_tf.models import adapt_standardization, load_pretrained, make_encoders
from dcmh_tf.training.frozen import frozen_activations, split_encoder, uses_frozen_cache
from dcmh_tf.models.precision import with_mixed_precision
from dcmh_tf.run_directory import KERAS_FILES, METRICS, RunDirectory, resume_command
from dcmh_tf.training.interrupts import StopRequested, StopRequests
from dcmh_tf.training.selection import ModelSelection

PHASES = ("image", "text")


def non_finite_rows(values) -> np.ndarray:
    """Positions of the rows of a batch (b, ...) that hold NaN or an infinity.

    Checked in NumPy where the batch enters the step: the loss alone is not enough, since fused
    CPU kernels (oneDNN's ReLU) may turn NaN inputs into finite outputs inside a tf.function."""
    array = np.asarray(values)
    return np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))


def _is_backbone_variable(variable) -> bool:
    """A variable of an EfficientNet-Lite's pretrained part (stem, stages, head conv), by its layer's name."""
    from dcmh_tf.models.efficientnet.backbone import layer_stage

    return layer_stage(variable.path.split("/")[0]) is not None


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
    """The optimizer of one network; weight decay is applied by the optimizer (decoupled)."""
    weight_decay = config.weight_decay or None
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=config.lr, weight_decay=weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=config.lr, weight_decay=weight_decay)
    # float16 gradients underflow without loss scaling; the wrapper skips steps that overflow
    return keras.optimizers.LossScaleOptimizer(optimizer) if config.mixed_precision else optimizer


class DcmhTrainer:
    """Holds the encoders, their optimizers and the F, G, B buffers of one run's training set."""

    def __init__(self, config: Config, data: PairedData, split: Split, image_encoder: keras.Model, text_encoder: keras.Model,
                 strategy: tf.distribute.Strategy | None = None):
        """With a tf.distribute `strategy` (build the encoders and the trainer under its scope), each
        replica computes a share of every batch; None: one device."""
        self.config = config
        self.data = data
        self.rows = np.asarray(split.train)
        self.encoders = {"image": image_encoder, "text": text_encoder}
        self.inputs = {"image": data.images, "text": data.texts}
        # pixels come from uint8 and cannot be NaN; features are checked batch by batch
        self.check_finite = {phase: not is_pixel_array(array) for phase, array in self.inputs.items()}
        n, bits = len(self.rows), config.bits
        self.labels = tf.constant(np.asarray(data.labels)[self.rows], tf.float32)
        # The official code starts the buffers from N(0, 1) and B from their sign.
        rng = np.random.default_rng([config.seed, 1])
        start_f = rng.standard_normal((n, bits)).astype(np.float32)
        start_g = rng.standard_normal((n, bits)).astype(np.float32)
        self.buffers = {
            "image": tf.Variable(start_f, trainable=False, name="F"),
            "text": tf.Variable(start_g, trainable=False, name="G"),
        }
        self.codes = tf.Variable(np.where(start_f + start_g >= 0, 1.0, -1.0).astype(np.float32), trainable=False, name="B")
        self.optimizers = {phase: make_optimizer(config) for phase in PHASES}
        for phase in PHASES:
            self.optimizers[phase].build(self.encoders[phase].trainable_variables)
        if strategy is None:
            self.steps = {"image": self._make_step("image", "text"), "text": self._make_step("text", "image")}
        else:
            self.steps = {phase: make_distributed_step(self, strategy, phase, other)
                          for phase, other in (("image", "text"), ("text", "image"))}
        self.epochs_done = 0

    @property
    def n_train(self) -> int:
        return len(self.rows)

    def _make_step(self, phase: str, other_phase: str):
        encoder = self.encoders[phase]
        optimizer = self.optimizers[phase]
        own, other = self.buffers[phase], self.buffers[other_phase]
        variables = encoder.trainable_variables
        config = self.config
        # a lower rate for a pretrained backbone: its variables move by backbone_lr_scale × the optimizer's step
        # (for Adam the same as that share of the learning rate; the moments are unchanged)
        scale = config.backbone_lr_scale if phase == "image" else 1.0
        backbone = [v for v in variables if _is_backbone_variable(v)] if scale != 1.0 else []
        before = [tf.Variable(tf.zeros_like(v), trainable=False) for v in backbone]

        # XLA compiles one program per batch shape: with jit, a batch size that divides the
        # training set avoids a second compilation for the smaller last batch.
        @tf.function(reduce_retracing=True, jit_compile=config.jit)
        def step(positions, inputs):
            inputs = tf.cast(inputs, tf.float32)  # pictures arrive as uint8 (exact as floats); features as float32
            with tf.GradientTape() as tape:
                outputs = encoder(inputs, training=True)
                similarity = label_similarity(tf.gather(self.labels, positions), self.labels)
                rest_sum = tf.reduce_sum(own, axis=0) - tf.reduce_sum(tf.gather(own, positions), axis=0)
                terms = dcmh_batch_loss(
                    outputs, other, tf.gather(self.codes, positions), similarity, rest_sum,
                    config.gamma, config.eta, config.loss_normalization,
                )
                scaled = optimizer.scale_loss(terms["total"])  # the loss itself unless mixed precision
            gradients = tape.gradient(scaled, variables)
            for copy, variable in zip(before, backbone):
                copy.assign(variable)
            optimizer.apply_gradients(zip(gradients, variables))
            for copy, variable in zip(before, backbone):
                variable.assign(copy + scale * (variable - copy))
            own.scatter_nd_update(positions[:, None], outputs)
            return terms

        return step

    def shuffled_order(self, epoch: int, phase: str) -> np.ndarray:
        """Positions of every training point once, shuffled by (seed, epoch, phase): a resumed run
        sees exactly the batches an uninterrupted one would."""
        rng = np.random.default_rng([self.config.seed, epoch, PHASES.index(phase)])
        return rng.permutation(self.n_train)

    def make_batches(self, epoch: int, phase: str) -> tf.data.Dataset:
        """The (positions, inputs) batches of one phase of `epoch`: shuffled, flipped when configured;
        pictures stay uint8 until the step casts them."""
        order = self.shuffled_order(epoch, phase)
        flip_seed = (self.config.seed, epoch) if self.config.flip and phase == "image" else None
        return make_dataset(self.inputs[phase], self.rows, order, self.config.batch_size, flip_seed=flip_seed,
                            keep_uint8=True)

    def train_epoch(self, epoch: int, progress: bool = True, check_stop: Callable[[], None] | None = None
                    ) -> dict[str, float]:
        """One outer iteration; returns the batch-averaged loss terms of each phase. `check_stop` is called
        before every step and may raise (`StopRequested`) to drop the epoch: the buffers are then
        part-way through it, and the caller restores the last checkpoint if it goes on."""
        learning_rate = self.config.learning_rate(epoch)
        for phase, optimizer in self.optimizers.items():
            optimizer.learning_rate.assign(learning_rate * (self.config.image_lr_scale if phase == "image" else 1.0))
        stats: dict[str, float] = {"lr": learning_rate}
        for phase in PHASES:
            batches = self.make_batches(epoch, phase)
            n_batches = -(-self.n_train // self.config.batch_size)
            sums: dict[str, float] = defaultdict(float)
            bar = tqdm(
                total=n_batches, desc=f"epoch {epoch + 1}/{self.config.epochs} {phase}",
                disable=None if progress else True, leave=False, unit="batch",
            )
            for k, (positions, values) in enumerate(batches):
                if check_stop is not None:
                    try:
                        check_stop()
                    except BaseException:
                        bar.close()
                        raise
                bad = non_finite_rows(values) if self.check_finite[phase] else ()
                if len(bad):
                    bar.close()
                    rows = np.sort(self.rows[positions.numpy()[bad]])
                    raise TrainingError(
                        f"non-finite {phase} input at epoch {epoch + 1}, {phase} phase, batch {k + 1}/{n_batches}: "
                        f"{len(bad)} of its {len(values)} rows hold NaN or infinite values (dataset rows "
                        f"{', '.join(map(str, rows[:10]))}{', ...' if len(rows) > 10 else ''}). Remove or impute "
                        f"them; {self._what_is_kept()}"
                    )
                terms = {name: float(value) for name, value in self.steps[phase](positions, values).items()}
                if not np.isfinite(terms["total"]):
                    bar.close()
                    raise TrainingError(
                        f"the loss became {terms['total']} at epoch {epoch + 1}, {phase} phase, batch {k + 1}/{n_batches} "
                        f"(terms: {', '.join(f'{name} {value:.4g}' for name, value in terms.items())}). "
                        f"Lower the learning rate (--lr, now {learning_rate:.3g}) or check the data for NaN or "
                        f"infinite values; {self._what_is_kept()}"
                    )
                for name, value in terms.items():
                    sums[name] += value
                bar.set_postfix(loss=f"{terms['total']:.4f}")
                bar.update()
            bar.close()
            stats.update({f"{phase}/{name}": value / n_batches for name, value in sums.items()})
        f, g = self.buffers["image"], self.buffers["text"]
        self.codes.assign(tf.where(f + g >= 0, 1.0, -1.0))
        self.epochs_done = epoch + 1
        return stats

    def _what_is_kept(self) -> str:
        if self.epochs_done:
            return f"the run's checkpoint keeps epoch {self.epochs_done}."
        return "no epoch was complete, so nothing was saved."

    # checkpoint state ----------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        state = {
            "F": self.buffers["image"].numpy(),
            "G": self.buffers["text"].numpy(),
            "B": self.codes.numpy().astype(np.int8),
            "epochs_done": np.asarray(self.epochs_done),
        }
        for phase in PHASES:
            for i, variable in enumerate(self.optimizers[phase].variables):
                state[f"optimizer/{phase}/{i}"] = np.asarray(variable.numpy())
        return state

    def restore(self, state: dict[str, np.ndarray]) -> None:
        self.buffers["image"].assign(state["F"])
        self.buffers["text"].assign(state["G"])
        self.codes.assign(state["B"].astype(np.float32))
        self.epochs_done = int(state["epochs_done"])
        for phase in PHASES:
            variables = self.optimizers[phase].variables
            saved = [key for key in state if key.startswith(f"optimizer/{phase}/")]
            if len(saved) != len(variables):
                raise RunDirectoryError(
                    f"the checkpoint holds {len(saved)} {phase} optimizer variables, this configuration expects "
                    f"{len(variables)}; it was written by another optimizer or version."
                )
            for i, variable in enumerate(variables):
                saved_value = state[f"optimizer/{phase}/{i}"]
                if saved_value.shape != tuple(variable.shape):
                    raise RunDirectoryError(
                        f"the checkpoint's {phase} optimizer variable {i} has shape {saved_value.shape}, this "
                        f"configuration expects {tuple(variable.shape)}; the checkpoint is damaged or from another run."
                    )
                variable.assign(saved_value)


def fit(
    config: Config,
    output: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    split: Split | None = None,
    observer: TrainingObserver | None = None,
) -> tuple[RunDirectory, dict]:
    """Train a run into `output` (a new run, or with `resume` the run already there, whose saved
    config is used; pass it in as `config`), evaluate it and write metrics.json. `split`: the
    split of a new run instead of the protocol's (e.g. a validation split drawn from the database).
    `observer` (`dcmh_tf.training.observer`): told of the encoders, each epoch and the end; it may stop training.

    Returns the run directory and the final metrics. While it trains, RUN/fit.lock names this process
    (`RunDirectory.live_fit`), and a second fit of the same run is refused (`RunLiveError`).
    SIGINT (Ctrl-C) or SIGTERM during training (handlers installed from the main thread only): the
    step running finishes, the unfinished epoch is dropped, metrics.json and the .keras files are
    written for the last complete epoch (the checkpoint's), and `FitInterrupted` is raised with the
    command that continues the run.
    """
    if resume:  # before any data is read: a run cannot be trained back to fewer epochs than it has done
        resumed = RunDirectory.open(output)
        resumed.resumed_config(config.epochs)
        resumed.refuse_live("fit --resume")  # at once, not after loading the data
    # before any other TensorFlow work: the multiworker strategy sets up the collectives at startup
    strategy = make_strategy(config.strategy) if config.strategy != "default" else None
    data = load_dataset(config)
    if resume:  # opened again: loading the data takes a while, and the folder must still be a run after it
        run = RunDirectory.open(output)
    else:
        split = split if split is not None else make_split(config, data)
        check_training_memory(config, len(split.train), len(split.query) + len(split.database))
        run = RunDirectory.create(output, config, split, data)
    with run.fit_lock(config.epochs) as lock:
        if resume:
            run.config = config
            run.write_config()
            split = run.load_split()
        return _train(config, data, split, run, lock, strategy, progress, echo, resume, observer or TrainingObserver())


def _train(config: Config, data: PairedData, split: Split, run: RunDirectory, lock, strategy, progress: bool,
           echo: Callable[[str], None], resume: bool, observer: TrainingObserver) -> tuple[RunDirectory, dict]:
    """The body of `fit`, with the run's lock held."""
    keras.utils.set_random_seed(config.seed)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():  # variables mirrored on replicas
        image_encoder, text_encoder = make_encoders(config, data.image_dim, data.text_dim)
        if config.mixed_precision:
            image_encoder, text_encoder = with_mixed_precision(image_encoder), with_mixed_precision(text_encoder)
        # with frozen lower stages cached, the steps train the layers above them (shared with image_encoder)
        bottom, trained_image = split_encoder(image_encoder, config) if uses_frozen_cache(config) else (None, image_encoder)
        trainer = DcmhTrainer(config, data, split, trained_image, text_encoder, strategy)
    if strategy is not None:
        echo(f"tf.distribute: {type(strategy).__name__}, {strategy.num_replicas_in_sync} replicas in sync")
    if resume and run.has_checkpoint():
        trainer.restore(run.load_checkpoint(image_encoder, text_encoder))
        echo(f"resuming {run.path} after epoch {trainer.epochs_done}/{config.epochs}")
        echo(config.describe_schedule(trainer.epochs_done))
    else:  # a new run: feature statistics of its training rows (a resumed one loads them with its weights)
        if resume:
            echo(f"{run.path} has no complete epoch (its fit stopped during epoch 1): training starts again "
                 f"from epoch 1")
        adapt_standardization(image_encoder, data.images, split.train)
        adapt_standardization(text_encoder, data.texts, split.train)
    if config.pretrained and trainer.epochs_done == 0:  # a resumed run has them in its checkpoint
        for note in load_pretrained(image_encoder, config):
            echo(note)
    scoring = None
    if bottom is not None:  # after the weights are in place: the frozen stages never change from here
        cached = frozen_activations(bottom, data, config.batch_size, echo, config)
        trainer.inputs["image"] = cached.images
        trainer.check_finite["image"] = False  # computed from uint8 pixels
        scoring = (trained_image, cached)
        if config.flip:
            echo("frozen stages cached: pictures are not flipped (--no-cache-frozen to flip them)")
    writer = tf.summary.create_file_writer(str(run.logs_path))
    selection = ModelSelection(run, config, data, split)
    observer.on_train_begin(image_encoder, text_encoder)

    with StopRequests() as stop:
        in_epoch = None
        try:
            for epoch in range(trainer.epochs_done, config.epochs):
                stop.check()
                if selection.should_stop():
                    break
                in_epoch = epoch + 1
                lock.update(in_epoch)
                observer.on_epoch_begin(epoch)
                started = time.perf_counter()
                stats = trainer.train_epoch(epoch, progress=progress, check_stop=stop.check)
                # a signal from here on waits for the checkpoint: the epoch is complete and is kept
                run.save_checkpoint(image_encoder, text_encoder, trainer.state())
                in_epoch = None
                with writer.as_default(step=epoch + 1):
                    for name, value in stats.items():
                        tf.summary.scalar(name, value)
                echo(
                    f"epoch {epoch + 1}/{config.epochs}: image loss {stats['image/total']:.4f}, "
                    f"text loss {stats['text/total']:.4f}, lr {stats['lr']:.2e} ({time.perf_counter() - started:.1f} s)"
                )
                if selection.is_due(epoch + 1):
                    record = selection.evaluate(image_encoder, text_encoder, epoch + 1, scoring)
                    with writer.as_default(step=epoch + 1):
                        tf.summary.scalar("validation/map_i2t", record["map_i2t"])
                        tf.summary.scalar("validation/map_t2i", record["map_t2i"])
                    echo(f"  validation MAP I→T {record['map_i2t']:.4f}  T→I {record['map_t2i']:.4f}"
                         f"{'  (best so far)' if record['best'] else ''}")
                    stats.update({"validation/map_i2t": record["map_i2t"], "validation/map_t2i": record["map_t2i"]})
                if observer.on_epoch_end(epoch, stats):
                    if epoch + 1 < config.epochs:
                        echo(f"stopped by a callback after epoch {epoch + 1}")
                    break
            stop.check()
        except StopRequested:
            writer.flush()
            raise _interrupted(run, config, data, split, trainer, selection, stop, in_epoch, echo,
                               (image_encoder, text_encoder), scoring) from None
    # training is over: from here a Ctrl-C is Python's KeyboardInterrupt again
    if trainer.epochs_done < config.epochs and selection.should_stop():
        echo(f"early stop: no better validation MAP in the {config.patience} evaluations after epoch "
             f"{selection.best['epoch']}")
    metrics = _finish(run, config, data, split, trainer, selection, writer, echo, (image_encoder, text_encoder),
                      scoring)
    observer.on_train_end(metrics)
    return run, metrics


def _finish(run: RunDirectory, config: Config, data: PairedData, split: Split, trainer: DcmhTrainer,
            selection: ModelSelection, writer, echo: Callable[[str], None], encoders, scoring=None, **extra) -> dict:
    """Score the encoders the run ends with on the query set (once) and write metrics.json and the
    .keras files: the kept epoch with keep_best, else the trainer's last complete epoch. `encoders`: the
    whole (image, text) encoders (with frozen stages cached, the trainer holds only the image net's top)."""
    image_encoder, text_encoder = encoders
    kept = selection.restore_kept(image_encoder, text_encoder)
    if kept is not None:
        echo(f"kept the encoders of epoch {kept} (best validation MAP)")
    # the query set, once, for the encoders the run ends with
    scorer, scored = scoring if scoring is not None else (image_encoder, data)
    metrics = evaluate_encoders(scorer, text_encoder, scored, split, config.batch_size)
    metrics.update(bits=config.bits, epoch=kept if kept is not None else trainer.epochs_done, dataset=config.dataset,
                   epochs_trained=trainer.epochs_done, **extra)
    if selection.history:
        metrics["validation"] = selection.history
    run.write_metrics(metrics)
    if writer is not None:
        with writer.as_default(step=metrics["epoch"]):
            tf.summary.scalar("map/i2t", metrics["map_i2t"])
            tf.summary.scalar("map/t2i", metrics["map_t2i"])
        writer.flush()
    run.save_keras(image_encoder, text_encoder)
    return metrics


def _interrupted(run: RunDirectory, config: Config, data: PairedData, split: Split, trainer: DcmhTrainer,
                 selection: ModelSelection, stop: StopRequests, in_epoch: int | None,
                 echo: Callable[[str], None], encoders, scoring=None) -> FitInterrupted:
    """After a stop request: the unfinished epoch is dropped; the encoders go back to the checkpoint
    (the last complete epoch) and its metrics.json and .keras files are written, so that every file
    of the run speaks of the same epoch. A second signal skips that and removes the older files."""
    name = stop.signal.name
    done = run.epochs_done()
    if in_epoch is not None:
        where = f"during epoch {in_epoch}/{config.epochs}"
    else:
        where = f"after epoch {done}/{config.epochs}" if done else f"before epoch 1/{config.epochs} began"
    resume = resume_command(run.path)
    if done == 0:
        message = (f"{name}: stopped {where} before any epoch was complete, so nothing is saved but the run's "
                   f"configuration and split; `{resume}` starts it again from epoch 1.")
    else:
        stale = [run.path / METRICS, *(run.path / name for name in KERAS_FILES.values())]
        echo(f"{name}: stopped {where}; writing metrics.json and the .keras files of epoch {done} "
             f"(press Ctrl-C again to skip)")
        try:
            if trainer.epochs_done != done or in_epoch is not None:  # the buffers and weights went on past it
                trainer.restore(run.load_checkpoint(*encoders))  # the whole encoders, as saved
            _finish(run, config, data, split, trainer, selection, None, lambda message: None, encoders, scoring,
                    interrupted=name)
            kept = f"the checkpoint, metrics.json and the .keras files hold epoch {done}"
        except KeyboardInterrupt:
            for path in stale:  # whatever was there speaks of an older epoch
                path.unlink(missing_ok=True)
            kept = (f"the checkpoint holds epoch {done} (metrics.json and the .keras files were skipped: "
                    f"`dcmh-tf evaluate {run.path}` scores it)")
        message = f"{name}: stopped {where}; {kept}. Continue with `{resume}`."
    return FitInterrupted(message, signal_name=name, exit_code=128 + int(stop.signal), in_epoch=in_epoch or done + 1,
                          epochs_done=done, resume=resume)
