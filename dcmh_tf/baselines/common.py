"""What the shallow cross-modal hashing baselines share: a linear hash function per modality, input
checks, the baselines' own feature scaling, and the linear algebra two of them need (regularised
CCA, ITQ rotation, cosine label similarity).

Every baseline learns, for each modality m, a projection W_m (k_m, c) and an offset b_m (c,); an
item's code is sign(φ_m(x) W_m + b_m) with sign(0) = +1 (`dcmh_tf.hashing.sign_codes`), where φ_m
is the identity (k_m = d_m) unless the baseline maps features first (kernel SePH's RBF features of
anchor points), and sign may be replaced by another rule (STMH sets the top half of each row).
Database items are hashed by the same functions as queries (out of sample), as DCMH hashes them
with its networks.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from dcmh_tf.standardization import column_statistics
from dcmh_tf.errors import ConfigError, DataError
from dcmh_tf.hashing import sign_codes

MODALITIES = ("image", "text")


class CrossModalHasher:
    """Base of the baselines: `fit` on paired training features, then `encode_images` / `encode_texts`.

    Subclasses implement `_fit(images, texts, labels)`, which sets `self.projections`:
    {"image": (W (k_image, bits), b (bits,)), "text": (W (k_text, bits), b (bits,))}, where k_m is
    the width of `feature_map(m, features)` (d_m unless a subclass maps features), and may
    override `binarize` (sign by default).
    """

    name = ""
    supervised = False  # whether `fit` uses the labels

    def __init__(self, bits: int, seed: int = 0):
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
            raise ConfigError(f"{type(self).__name__}: bits must be a positive integer, received {bits!r}.")
        self.bits = int(bits)
        self.seed = seed
        self.projections: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.dimensions: dict[str, int] = {}  # each modality's feature dimension in training

    def fit(self, images, texts, labels) -> "CrossModalHasher":
        """Learn the hash functions from n training pairs: images (n, d_image), texts (n, d_text)
        float features, labels (n, L) 0/1. Returns self."""
        images = check_features(images, "images")
        texts = check_features(texts, "texts")
        labels = np.asarray(labels, dtype=np.float64)
        if labels.ndim != 2 or not np.isfinite(labels).all():
            raise DataError(f"labels: expected a finite 2-d (n, L) 0/1 matrix, received shape {labels.shape}.")
        if not len(images) == len(texts) == len(labels):
            raise DataError(
                f"training pairs: images, texts and labels need one row per pair, received {len(images)}, "
                f"{len(texts)} and {len(labels)} rows."
            )
        if len(images) < 2:
            raise DataError(f"training pairs: expected at least 2, received {len(images)}.")
        self._fit(images, texts, labels)
        self.dimensions = {"image": images.shape[1], "text": texts.shape[1]}
        return self

    def _fit(self, images: np.ndarray, texts: np.ndarray, labels: np.ndarray) -> None:
        raise NotImplementedError

    def feature_map(self, modality: str, features: np.ndarray) -> np.ndarray:
        """φ_m: the (n, k_m) inputs of the modality's projection from checked (n, d_m) features;
        the identity here. Subclasses that map features override it; `_fit` calls it too, so that
        training and encoding share one map."""
        return features

    def binarize(self, outputs: np.ndarray) -> np.ndarray:
        """(n, bits) int8 ±1 codes of the projection's outputs: their sign, sign(0) = +1."""
        return sign_codes(outputs)

    def project(self, modality: str, features) -> np.ndarray:
        """(n, bits) real-valued outputs φ(x) W + b of the modality's hash function, before `binarize`."""
        if not self.projections:
            raise ConfigError(f"{self.name or type(self).__name__} is not fitted; call fit(images, texts, labels) first.")
        weights, offset = self.projections[modality]
        features = check_features(features, f"{modality} features")
        if features.shape[1] != self.dimensions[modality]:
            raise DataError(
                f"{modality} features: expected {self.dimensions[modality]} dimensions (as in training), "
                f"received {features.shape[1]}."
            )
        return self.feature_map(modality, features) @ weights + offset

    def encode_images(self, images) -> np.ndarray:
        """(n, bits) int8 ±1 codes of image features."""
        return self.binarize(self.project("image", images))

    def encode_texts(self, texts) -> np.ndarray:
        """(n, bits) int8 ±1 codes of text features."""
        return self.binarize(self.project("text", texts))


def check_features(features, name: str) -> np.ndarray:
    """`features` as a finite float64 (n, d) array; raises `DataError` otherwise."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 1:
        raise DataError(f"{name}: expected a 2-d (items, dimensions) array, received shape {array.shape}.")
    if not np.isfinite(array).all():
        raise DataError(f"{name}: expected finite values, found NaN or infinity.")
    return array


def zscore_columns(matrix, rows: np.ndarray) -> np.ndarray:
    """float64 `matrix` with every column z-scored by the mean and standard deviation of `rows`;
    a constant column is only centred.

    This is the scaling DCMH's encoders apply to raw features (their `FeatureStandardization`
    layer, statistics of the training rows by the same `column_statistics`).
    Scaling data that is already z-scored by the same rows leaves it unchanged.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    mean, std = column_statistics(matrix[rows])
    return (matrix - mean) / std


def centred_linear_map(weights: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of x ↦ (x − mean) W."""
    return weights, -mean @ weights


def normalized_labels(labels: np.ndarray) -> np.ndarray:
    """Rows of `labels` scaled to unit length (an all-zero row stays zero): L̃ L̃ᵀ is the cosine
    similarity of label vectors."""
    norms = np.linalg.norm(labels, axis=1, keepdims=True)
    return labels / np.where(norms > 0, norms, 1.0)


def inverse_sqrt(covariance: np.ndarray) -> np.ndarray:
    """C^(-1/2) of a symmetric positive definite matrix."""
    values, vectors = scipy.linalg.eigh(covariance)
    return (vectors / np.sqrt(np.maximum(values, 1e-12))) @ vectors.T


def regularized_covariance(x: np.ndarray, ridge: float) -> np.ndarray:
    """xᵀx plus `ridge` times its mean diagonal on the diagonal (so the ridge is scale-free)."""
    covariance = x.T @ x
    scale = max(float(np.trace(covariance)) / len(covariance), 1e-12)
    return covariance + ridge * scale * np.eye(len(covariance))


def top_correlated_directions(cross: np.ndarray, whiten_x: np.ndarray, whiten_y: np.ndarray, k: int):
    """The k pairs (w_x, w_y) maximising w_xᵀ `cross` w_y with w_xᵀ C_x w_x = w_yᵀ C_y w_y = 1, where
    `whiten_*` = C^(-1/2): (W_x (d_x, k), W_y (d_y, k), values (k,)), values descending.

    This is the generalised eigenproblem [0 A; Aᵀ 0] w = λ [C_x 0; 0 C_y] w of CCA and SCM, solved
    by an SVD of C_x^(-1/2) A C_y^(-1/2). k may not exceed min(d_x, d_y).
    """
    left, values, right_t = scipy.linalg.svd(whiten_x @ cross @ whiten_y, full_matrices=False)
    return whiten_x @ left[:, :k], whiten_y @ right_t[:k].T, values[:k]


def random_rotation(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random (size, size) orthogonal matrix."""
    q, r = np.linalg.qr(rng.standard_normal((size, size)))
    return q * np.sign(np.diag(r))


def itq_rotation(projected: np.ndarray, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """The orthogonal R (c, c) of Iterative Quantization (Gong & Lazebnik, CVPR 2011; Gong et al.,
    TPAMI 2013) that locally minimises ‖B − V R‖² over B ∈ {−1, +1}: alternately B = sign(V R) and
    R from the SVD of Vᵀ B (orthogonal Procrustes), from a random rotation."""
    rotation = random_rotation(projected.shape[1], rng)
    for _ in range(iterations):
        codes = sign_codes(projected @ rotation).astype(np.float64)
        left, _, right_t = scipy.linalg.svd(projected.T @ codes)
        rotation = left @ right_t
    return rotation


def squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n_x, n_y) squared Euclidean distances between the rows of x (n_x, d) and y (n_y, d),
    clipped at 0 (the expanded form ‖x‖² + ‖y‖² − 2 x·y can round below it)."""
    squared = np.sum(x * x, axis=1)[:, None] + np.sum(y * y, axis=1)[None, :] - 2 * x @ y.T
    return np.maximum(squared, 0.0)
