"""DCMH on a tf.data pipeline with raw captions, early stopping on validation MAP, TensorBoard.

    python examples/fit_tf_data.py [LOG_FOLDER]     # default logs/example-tf-data

A few seconds on a CPU. The dataset's elements are (picture, caption, label); it is read once into
memory (Algorithm 1 visits every training pair in each phase of each epoch).
"""

import sys

import keras
import numpy as np
import tensorflow as tf

import dcmh_tf


def make_dataset(n: int = 120, seed: int = 1) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    tints = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])
    images = np.clip(tints[labels][:, None, None] + rng.integers(-40, 40, (n, 64, 64, 3)), 0, 255).astype(np.uint8)
    words = np.array(["red apple", "green leaf", "blue sky"])
    captions = [f"a photo of a {words[label]}" for label in labels]
    return tf.data.Dataset.from_tensor_slices((images, captions, labels)).batch(32)


def main(logs: str = "logs/example-tf-data") -> None:
    model = dcmh_tf.DCMH(bits=16, image_encoder="cnnf", hidden=64, epochs=5, batch_size=16, jit=False)
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_map", mode="max", patience=2, verbose=1),
                 keras.callbacks.TensorBoard(log_dir=logs)]
    history = model.fit(make_dataset(), validation=0.2, callbacks=callbacks, verbose=0)
    print(f"{len(history.history['loss'])} epochs, validation MAP {history.history['val_map'][-1]:.3f}")
    print("vocabulary built from the training captions:", model.tokenizer.vocabulary)
    print("codes of two raw texts:\n", model.encode_texts(["an apple, red", "the sky is blue"]))
    print(f"TensorBoard: tensorboard --logdir {logs}")


if __name__ == "__main__":
    main(*sys.argv[1:])
