"""Keras callbacks around the trainer: the history `DCMH.fit` returns, TensorBoard, a progress bar,
early stopping on validation MAP.

The trainer tells a `TrainingObserver` of each epoch; `KerasCallbacks` passes that on as Keras logs:

    loss              mean of the image and text phases' objective (batch averages)
    image_loss        the image phase's objective; image_pairwise, image_quantization, image_balance its terms
    text_loss         the same for the text phase; text_pairwise, text_quantization, text_balance
    lr                the epoch's learning rate
    val_map_i2t       MAP of the validation queries, I→T and T→I (epochs that were evaluated)
    val_map_t2i
    val_map           their mean, what `keep_best` and `patience` maximise

Callbacks see one Keras model holding both encoders (two inputs, two outputs), so `get_weights`
and TensorBoard's histograms cover both nets. A callback that sets `model.stop_training` (such as
`keras.callbacks.EarlyStopping(monitor="val_map", mode="max")`) stops training after that epoch.
"""

from __future__ import annotations

from typing import Sequence

import keras

from dcmh_tf.errors import ConfigError
from dcmh_tf.training.observer import TrainingObserver

TERMS = ("pairwise", "quantization", "balance")


def keras_logs(stats: dict[str, float]) -> dict[str, float]:
    """The trainer's per-epoch statistics under Keras names (module docstring)."""
    logs = {"loss": (stats["image/total"] + stats["text/total"]) / 2, "lr": stats["lr"]}
    for phase in ("image", "text"):
        logs[f"{phase}_loss"] = stats[f"{phase}/total"]
        logs.update({f"{phase}_{term}": stats[f"{phase}/{term}"] for term in TERMS if f"{phase}/{term}" in stats})
    if "validation/map_i2t" in stats:
        logs["val_map_i2t"], logs["val_map_t2i"] = stats["validation/map_i2t"], stats["validation/map_t2i"]
        logs["val_map"] = (logs["val_map_i2t"] + logs["val_map_t2i"]) / 2
    return logs


def check_callbacks(callbacks: Sequence | None) -> list:
    """The callbacks as a list, refusing what cannot work with a run directory."""
    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise ConfigError(f"callbacks: expected keras.callbacks.Callback objects, received "
                              f"{type(callback).__name__}.")
        if isinstance(callback, keras.callbacks.EarlyStopping) and callback.restore_best_weights:
            raise ConfigError("callbacks: EarlyStopping(restore_best_weights=True) would change the weights after "
                              "the run has saved and scored them; use DCMH(..., keep_best=True) (the run keeps the "
                              "best validation MAP's weights on disk) with restore_best_weights=False.")
    return callbacks


class KerasCallbacks(TrainingObserver):
    """Keras callbacks driven by the trainer; `history` holds the logs of every epoch."""

    def __init__(self, callbacks: Sequence | None, epochs: int, verbose: int = 0):
        self.history = keras.callbacks.History()
        self.callbacks = keras.callbacks.CallbackList(
            [*check_callbacks(callbacks), self.history], epochs=epochs, steps=None, verbose=verbose)
        self.model: keras.Model | None = None
        self.encoders: tuple | None = None

    def on_train_begin(self, image_encoder, text_encoder) -> None:
        self.encoders = (image_encoder, text_encoder)
        self.model = joint_model(image_encoder, text_encoder)
        self.model.stop_training = False
        # The two nets have an optimizer each, driven by the trainer; "lr" is in the logs. TensorBoard
        # looks for one optimizer on the model and logs nothing more without it.
        self.model.optimizer = None
        self.callbacks.set_model(self.model)
        self.callbacks.on_train_begin()

    def on_epoch_begin(self, epoch: int) -> None:
        self.callbacks.on_epoch_begin(epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        self.callbacks.on_epoch_end(epoch, keras_logs(logs))
        return bool(self.model.stop_training)

    def on_train_end(self, metrics: dict) -> None:
        self.callbacks.on_train_end({"map_i2t": metrics["map_i2t"], "map_t2i": metrics["map_t2i"]})


def joint_model(image_encoder: keras.Model, text_encoder: keras.Model) -> keras.Model:
    """One functional model of both encoders (shared layers, no copy): what callbacks see as `model`."""
    inputs = [keras.Input(shape=encoder.input_shape[1:], name=f"{name}_input")
              for name, encoder in (("image", image_encoder), ("text", text_encoder))]
    outputs = [image_encoder(inputs[0]), text_encoder(inputs[1])]
    return keras.Model(inputs, outputs, name="dcmh")
