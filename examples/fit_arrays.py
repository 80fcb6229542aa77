"""DCMH on arrays in memory: fit, evaluate on held-out pairs, save, load, search.

    python examples/fit_arrays.py [RUN_FOLDER]      # default runs/example-arrays

120 synthetic pairs of three classes (pictures tinted by class, bags of words naming it); a few
seconds on a CPU. Replace `make_pairs` with your own arrays.
"""

import sys

import numpy as np

import dcmh_tf


def make_pairs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    tints = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])
    images = np.clip(tints[labels][:, None, None] + rng.integers(-40, 40, (n, 64, 64, 3)), 0, 255).astype(np.uint8)
    texts = (rng.random((n, 12)) < 0.1).astype(np.float32)
    texts[np.arange(n), 4 * labels] = 1
    return images, texts, labels


def main(folder: str = "runs/example-arrays") -> None:
    images, texts, labels = make_pairs(120)
    train, test = slice(0, 96), slice(96, 120)
    model = dcmh_tf.DCMH(bits=16, image_encoder="cnnf", text_dim=12, hidden=64, epochs=4, batch_size=16, jit=False)
    history = model.fit(images[train], texts[train], labels[train], validation=0.2, verbose=2)
    print("validation MAP per epoch:", [round(value, 3) for value in history.history["val_map"]])

    metrics = model.evaluate(query=(images[test], texts[test], labels[test]),
                             database=(images[train], texts[train], labels[train]))
    print(f"held-out MAP I→T {metrics['map_i2t']:.3f}  T→I {metrics['map_t2i']:.3f}")

    model.save(folder)
    loaded = dcmh_tf.DCMH.load(folder)
    codes = loaded.encode_images(images[train])
    assert (codes == model.encode_images(images[train])).all(), "a saved model gives the same codes"
    index = loaded.index(codes, labels=labels[train])
    positions, distances = index.search(loaded.encode_texts(texts[test][:1]), 5)
    print(f"text query of class {labels[test][0]}: nearest pictures of classes {labels[train][positions[0]].tolist()} "
          f"at Hamming distances {distances[0].tolist()}")
    print(f"saved {folder}: `dcmh-tf evaluate {folder}` reads it")


if __name__ == "__main__":
    main(*sys.argv[1:])
