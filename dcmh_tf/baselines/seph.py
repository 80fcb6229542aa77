"""SePH-lin: Semantics-Preserving Hashing with linear (logistic regression) hash functions.

Z. Lin, G. Ding, M. Hu, J. Wang, "Semantics-Preserving Hashing for Cross-View Retrieval", CVPR 2015.

1. Semantic affinities of the training pairs, P: p_ij ∝ cosine similarity of the label vectors of i
   and j (i ≠ j), normalised to sum 1. Codes H (n, c) are relaxed to real values and their affinities
   Q come from the Hamming distance d_ij = ¼‖h_i − h_j‖² (exact for ±1 codes) through a Student-t
   kernel: q_ij ∝ (1 + d_ij)⁻¹. SePH minimises KL(P‖Q) + α·mean((|H| − 1)²) (the second term pulls
   the relaxed codes to ±1; it is averaged over the n·c entries here so that α does not depend on
   n or c), by L-BFGS with the analytic gradient
       ∂KL/∂h_i = Σ_j (p_ij − q_ij)(1 + d_ij)⁻¹ (h_i − h_j).
   The training codes are B = sign(H). With more than `max_pairs_rows` training pairs, a seeded
   sample of them is used (the n × n affinities are held in memory).
2. Hash functions: for each modality, one L2-regularised logistic regression per bit predicting
   B's bit from the features. The paper's main variant regresses on RBF kernel features of 500
   anchors (SePH_rnd / SePH_km, `kernel_seph`, which maps the features through `feature_map`
   before the same regression); this is the linear variant on the features themselves. An item's
   code is the sign of the logit, i.e. the more probable bit. The paper can also fuse both
   modalities' probabilities for database items that have both; here, as for every method of the
   comparison, each item is hashed from its own modality.
Supervised: uses the labels. Seeded: the start of H and the sample.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.special

from dcmh_tf.baselines.common import CrossModalHasher, normalized_labels, squared_distances
from dcmh_tf.hashing import sign_codes


class SephLin(CrossModalHasher):
    name = "SePH-lin"
    supervised = True

    def __init__(self, bits: int, seed: int = 0, alpha: float = 0.01, iterations: int = 300,
                 regularization: float = 1.0, max_pairs_rows: int = 5000):
        super().__init__(bits, seed)
        self.alpha, self.iterations = alpha, iterations
        self.regularization, self.max_pairs_rows = regularization, max_pairs_rows

    def _fit(self, images: np.ndarray, texts: np.ndarray, labels: np.ndarray) -> None:
        rng = np.random.default_rng([self.seed, 13])
        if len(images) > self.max_pairs_rows:
            rows = np.sort(rng.choice(len(images), self.max_pairs_rows, replace=False))
            images, texts, labels = images[rows], texts[rows], labels[rows]
        self.codes = sign_codes(learn_relaxed_codes(semantic_affinities(labels), self.bits, self.alpha,
                                                    self.iterations, rng))
        # After the codes, so that a variant's own draws leave them as SePH-lin's of the same seed.
        self._fit_feature_maps(images, texts, rng)
        self.projections = {
            modality: fit_logistic_bits(self.feature_map(modality, features), self.codes, self.regularization)
            for modality, features in (("image", images), ("text", texts))
        }

    def _fit_feature_maps(self, images: np.ndarray, texts: np.ndarray, rng: np.random.Generator) -> None:
        """Learn what `feature_map` needs from the training rows; nothing for the linear variant."""


def semantic_affinities(labels: np.ndarray) -> np.ndarray:
    """P (n, n): label cosine similarities with a zero diagonal, normalised to sum 1."""
    unit = normalized_labels((labels > 0).astype(np.float64))
    affinities = unit @ unit.T
    np.fill_diagonal(affinities, 0.0)
    total = affinities.sum()
    return affinities / total if total > 0 else affinities


def kl_objective(flat: np.ndarray, p: np.ndarray, bits: int, alpha: float) -> tuple[float, np.ndarray]:
    """KL(P‖Q) + α·mean((|H| − 1)²) of the relaxed codes `flat` (n·c,) and its gradient."""
    h = flat.reshape(-1, bits)
    distances = 0.25 * squared_distances(h, h)
    kernel = 1.0 / (1.0 + distances)
    np.fill_diagonal(kernel, 0.0)
    q = kernel / kernel.sum()
    positive = p > 0
    kl = float(np.sum(p[positive] * np.log(p[positive] / np.maximum(q[positive], 1e-300))))
    weights = (p - q) * kernel
    gradient = weights.sum(axis=1)[:, None] * h - weights @ h
    deviation = np.abs(h) - 1.0
    quantization = alpha * float(np.mean(deviation**2))
    gradient = gradient + alpha * 2.0 * deviation * np.sign(h) / h.size
    return kl + quantization, gradient.ravel()


def learn_relaxed_codes(p: np.ndarray, bits: int, alpha: float, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """H (n, c) minimising `kl_objective` by L-BFGS from a seeded N(0, 1) start."""
    start = rng.standard_normal(len(p) * bits)
    result = scipy.optimize.minimize(kl_objective, start, args=(p, bits, alpha), jac=True, method="L-BFGS-B",
                                     options={"maxiter": iterations})
    return result.x.reshape(-1, bits)


def fit_logistic_bits(features: np.ndarray, codes: np.ndarray, regularization: float) -> tuple[np.ndarray, np.ndarray]:
    """(W (d, c), b (c,)) of c independent L2-regularised logistic regressions of the ±1 `codes`
    (n, c) on `features` (n, d), fitted jointly by L-BFGS (the problems are separable)."""
    n, d = features.shape
    bits = codes.shape[1]
    targets = codes.astype(np.float64)

    def objective(flat):
        weights, offset = flat[:d * bits].reshape(d, bits), flat[d * bits:]
        margins = targets * (features @ weights + offset)
        loss = np.sum(np.logaddexp(0.0, -margins)) / n + 0.5 * regularization * np.sum(weights**2) / n
        slope = -targets * scipy.special.expit(-margins) / n  # d loss / d logit
        return loss, np.concatenate([(features.T @ slope + regularization * weights / n).ravel(), slope.sum(axis=0)])

    result = scipy.optimize.minimize(objective, np.zeros(d * bits + bits), jac=True, method="L-BFGS-B",
                                     options={"maxiter": 500})
    return result.x[:d * bits].reshape(d, bits), result.x[d * bits:]
