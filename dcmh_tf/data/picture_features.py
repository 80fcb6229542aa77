"""Hand-crafted features of pictures, for the shallow baselines on real photographs (OpenCV).

Three classic descriptors, concatenated, each L2-normalised so that none dominates by its scale:
- HOG: the picture in grey at 64×64, 32×32 blocks of 2×2 cells of 16×16 pixels, stride 16, 9
  orientation bins (Dalal & Triggs' layout, coarser cells): 324 values of shape and edges (8×8
  cells would give 1,764, and the baselines' d×d solves grow with the cube of d);
- colour histogram: 8×4×4 bins of hue, saturation and value (HSV), 128 values of colour;
- SIFT bag of visual words: SIFT descriptors of the picture in grey, a vocabulary of `words` visual
  words by k-means over descriptors of the training pictures only (seeded), then the histogram of
  each picture's descriptors over the words with square-root (Hellinger) scaling: `words` values.

These stand in for the pre-extracted features of the paper's baselines (SIFT BoVW on MIRFLICKR,
GIST on IAPR, ...). The baselines then z-score the columns with the training rows' statistics.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from dcmh_tf.errors import DataError

HOG_SIZE = 64
HSV_BINS = (8, 4, 4)
WORDS = 256
DESCRIPTORS_PER_PICTURE = 50  # sampled from each training picture for the k-means vocabulary
CHUNK = 128


def picture_features(pictures, train_rows: np.ndarray, *, words: int = WORDS, seed: int = 0,
                     progress: bool = False) -> np.ndarray:
    """(n, 324 + 128 + words) float32 features of `pictures` ((n, H, W, 3) uint8 RGB, any array
    that reads sorted row slices, such as a `PixelStack`); the visual words from `train_rows` only."""
    import cv2

    n = len(pictures)
    if n == 0:
        raise DataError("picture_features: no picture given.")
    sift = cv2.SIFT_create()
    hog = cv2.HOGDescriptor((HOG_SIZE, HOG_SIZE), (32, 32), (16, 16), (16, 16), 9)
    dense, descriptors = [], []
    bar = tqdm(total=n, desc="picture features", unit="picture", disable=None if progress else True)
    for start in range(0, n, CHUNK):
        for rgb in np.asarray(pictures[start:start + CHUNK]):
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            shape = hog.compute(cv2.resize(grey, (HOG_SIZE, HOG_SIZE), interpolation=cv2.INTER_AREA)).ravel()
            hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
            colour = cv2.calcHist([hsv], [0, 1, 2], None, list(HSV_BINS), [0, 180, 0, 256, 0, 256]).ravel()
            dense.append(np.concatenate([_unit(shape), _unit(colour)]))
            _, found = sift.detectAndCompute(grey, None)
            descriptors.append(found if found is not None else np.zeros((0, 128), np.float32))
            bar.update(1)
    bar.close()
    vocabulary = visual_words(descriptors, train_rows, words, seed)
    bags = np.stack([_unit(np.sqrt(bag_of_visual_words(d, vocabulary))) for d in descriptors])
    return np.concatenate([np.stack(dense), bags], axis=1).astype(np.float32)


def visual_words(descriptors: list[np.ndarray], train_rows: np.ndarray, words: int, seed: int) -> np.ndarray:
    """(words, 128) k-means centres of SIFT descriptors sampled from the training pictures."""
    import cv2

    rng = np.random.default_rng(seed)
    sample = []
    for row in train_rows:
        found = descriptors[row]
        if len(found) > DESCRIPTORS_PER_PICTURE:
            found = found[rng.choice(len(found), DESCRIPTORS_PER_PICTURE, replace=False)]
        sample.append(found)
    sample = np.concatenate(sample).astype(np.float32)
    if len(sample) < words:
        raise DataError(f"picture_features: {len(sample)} SIFT descriptors in the training pictures, fewer than "
                        f"the {words} visual words asked for.")
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)
    _, _, centres = cv2.kmeans(sample, words, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    return centres


def bag_of_visual_words(descriptors: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """(words,) float32 count of `descriptors` nearest to each visual word."""
    bag = np.zeros(len(vocabulary), np.float32)
    if len(descriptors):
        distances = (np.sum(descriptors ** 2, 1)[:, None] - 2 * descriptors @ vocabulary.T
                     + np.sum(vocabulary ** 2, 1)[None])
        np.add.at(bag, np.argmin(distances, axis=1), 1.0)
    return bag


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
