"""Built-in demo data: coloured shapes on noisy backgrounds, paired with tag bag-of-words.

Each picture holds one to three objects of different classes. A class is a shape with a
characteristic colour (jittered), so the image net has to learn it from raw pixels through the
same CNN path as real photographs. The paired text is a bag of tags: each present class emits
some of its four words, a little cross-class confusion is added, and a few noise tags from a
pool of unrelated words. Labels are the classes present (multi-label), so two items are similar
when they share a class, exactly as the paper's S. Everything is deterministic from the seed.
"""

from __future__ import annotations

import numpy as np

from dcmh_tf.data.paired import PairedData

# class name, RGB colour, tag words
CLASSES = (
    ("circle", (220, 40, 40), ("circle", "round", "disc", "red")),
    ("square", (40, 200, 60), ("square", "box", "block", "green")),
    ("triangle", (50, 80, 230), ("triangle", "pyramid", "wedge", "blue")),
    ("cross", (230, 210, 40), ("cross", "plus", "x", "yellow")),
    ("ring", (200, 60, 200), ("ring", "hoop", "loop", "magenta")),
    ("diamond", (40, 210, 210), ("diamond", "rhombus", "gem", "cyan")),
    ("hbar", (240, 140, 30), ("stripe", "horizontal", "bar", "orange")),
    ("vbar", (235, 235, 235), ("pillar", "vertical", "pole", "white")),
)
NOISE_TAGS = tuple(
    f"{adjective}{noun}"
    for adjective in ("old", "new", "big", "tiny", "dark", "soft", "wild", "calm")
    for noun in ("photo", "day", "trip", "city", "home", "art", "shot", "view")
)
TAG_VOCABULARY = tuple(word for _, _, words in CLASSES for word in words) + NOISE_TAGS


def _shape_mask(kind: str, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    dy, dx = yy - cy, xx - cx
    if kind == "circle":
        return dy**2 + dx**2 <= r**2
    if kind == "square":
        return (np.abs(dy) <= 0.8 * r) & (np.abs(dx) <= 0.8 * r)
    if kind == "triangle":
        return (dy <= 0.8 * r) & (dy >= -r + 2 * np.abs(dx))
    if kind == "cross":
        return ((np.abs(dy) <= 0.3 * r) & (np.abs(dx) <= r)) | ((np.abs(dx) <= 0.3 * r) & (np.abs(dy) <= r))
    if kind == "ring":
        d2 = dy**2 + dx**2
        return (d2 <= r**2) & (d2 >= (0.55 * r) ** 2)
    if kind == "diamond":
        return np.abs(dy) + np.abs(dx) <= r
    if kind == "hbar":
        return (np.abs(dy) <= 0.3 * r) & (np.abs(dx) <= 1.2 * r)
    if kind == "vbar":
        return (np.abs(dx) <= 0.3 * r) & (np.abs(dy) <= 1.2 * r)
    raise ValueError(f"unknown shape {kind!r}")


def make_demo_data(n: int = 2000, image_size: int = 64, seed: int = 0) -> PairedData:
    """`n` image–text pairs: images (n, image_size, image_size, 3) uint8, texts (n, V) float32 0/1
    tag BOW over `TAG_VOCABULARY`, labels (n, 8) uint8 multi-hot over `CLASSES`."""
    if n < 1 or image_size < 16:
        raise ValueError(f"expected n >= 1 and image_size >= 16, received n={n!r}, image_size={image_size!r}")
    rng = np.random.default_rng(seed)
    n_classes = len(CLASSES)
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    labels = np.zeros((n, n_classes), np.uint8)
    texts = np.zeros((n, len(TAG_VOCABULARY)), np.float32)
    for i in range(n):
        n_objects = rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15])
        classes = rng.choice(n_classes, size=n_objects, replace=False)
        labels[i, classes] = 1
        background = rng.integers(0, 110, size=3)
        picture = background + rng.normal(0, 28, size=(image_size, image_size, 3))
        for c in classes:
            name, colour, _ = CLASSES[c]
            r = rng.uniform(0.13, 0.22) * image_size
            cy, cx = rng.uniform(r, image_size - r, size=2)
            mask = _shape_mask(name, yy, xx, cy, cx, r)
            picture[mask] = np.asarray(colour) + rng.normal(0, 20, size=3)
        images[i] = np.clip(picture, 0, 255).astype(np.uint8)
        for c in classes:
            emitted = rng.random(4) < 0.5
            emitted[rng.integers(4)] = True  # every present class leaves at least one tag
            texts[i, 4 * c : 4 * c + 4] = emitted
        if rng.random() < 0.1:  # a tag of a class that is not in the picture
            texts[i, rng.integers(4 * n_classes)] = 1
        noise = rng.choice(len(NOISE_TAGS), size=rng.poisson(3), replace=True)
        texts[i, 4 * n_classes + noise] = 1
    return PairedData(
        name="demo",
        images=images,
        texts=texts,
        labels=labels,
        image_kind="pixels",
        tag_vocabulary=list(TAG_VOCABULARY),
        label_names=[name for name, _, _ in CLASSES],
    )
