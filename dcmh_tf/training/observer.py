"""What a caller of `dcmh_tf.training.trainer.fit` may watch and decide during training.

The trainer calls an observer's methods at fixed points of Algorithm 1: with the encoders once
they are built, before and after every epoch (with the epoch's loss terms and, when the epoch was
evaluated, its validation MAP), and with the final metrics. `on_epoch_end` returning True stops
training after that epoch, whose checkpoint is already written. The Python API adapts this to
Keras callbacks (`dcmh_tf.api.callbacks`); the command line passes none.
"""

from __future__ import annotations


class TrainingObserver:
    """Does nothing: subclasses override the methods they need."""

    def on_train_begin(self, image_encoder, text_encoder) -> None:
        """The encoders the run trains (restored from the checkpoint when it resumes)."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Before 0-based `epoch`."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        """After 0-based `epoch` and its checkpoint. logs: "lr", "<phase>/<term>" for phase image and
        text and term pairwise, quantization, balance, total (batch averages), and after an evaluation
        "validation/map_i2t" and "validation/map_t2i". True stops training."""
        return False

    def on_train_end(self, metrics: dict) -> None:
        """The run's final metrics (of the encoders it ends with, on its query set)."""
