"""SCM-seq: Semantic Correlation Maximization, sequential variant.

D. Zhang, W.-J. Li, "Large-Scale Supervised Multimodal Hashing with Semantic Correlation
Maximization", AAAI 2014.

With centred features X (n, d_x), Y (n, d_y) and labels L, the semantic similarity is the cosine of
label vectors scaled to [−1, 1]: S = 2 L̃ L̃ᵀ − 1 1ᵀ, L̃ the rows of L at unit length. SCM asks for
codes whose inner products match c·S: min ‖sign(X W_x) sign(Y W_y)ᵀ − c S‖². SCM-seq learns the
bits one at a time (Algorithm 2 of the paper): bit t maximises w_xᵀ C_t w_y subject to
w_xᵀ(XᵀX + λI)w_x = w_yᵀ(YᵀY + λI)w_y = 1 (a generalised eigenproblem), where

    C_1 = c · XᵀSY = c · (2 (XᵀL̃)(L̃ᵀY) − (Xᵀ1)(1ᵀY))          (never forming the n × n S),
    C_{t+1} = C_t − Xᵀ sign(X w_x^t) sign(Y w_y^t)ᵀ Y,

so each new bit fits the part of c·S that the earlier bits leave unexplained. As in the authors'
code, when the top eigenvalue stops decreasing, the remaining bits fall back to CCA directions
(`fallback_bits` counts them; wrapping around when CCA has fewer directions than bits remain).
Codes: sign((x − mean) w). Supervised: uses the labels. Deterministic (the seed is not used).
"""

from __future__ import annotations

import numpy as np

from dcmh_tf.baselines.common import (
    CrossModalHasher, centred_linear_map, inverse_sqrt, normalized_labels, regularized_covariance,
    top_correlated_directions,
)


class ScmSeq(CrossModalHasher):
    name = "SCM-seq"
    supervised = True

    def __init__(self, bits: int, seed: int = 0, ridge: float = 1e-6):
        super().__init__(bits, seed)
        self.ridge = ridge

    def _fit(self, images: np.ndarray, texts: np.ndarray, labels: np.ndarray) -> None:
        means = images.mean(axis=0), texts.mean(axis=0)
        x, y = images - means[0], texts - means[1]
        residue = semantic_cross_covariance(x, y, labels, self.bits)
        whiten_x = inverse_sqrt(regularized_covariance(x, self.ridge))
        whiten_y = inverse_sqrt(regularized_covariance(y, self.ridge))
        w_x, w_y = np.zeros((x.shape[1], self.bits)), np.zeros((y.shape[1], self.bits))
        self.eigenvalues: list[float] = []
        learned = 0
        for t in range(self.bits):
            wx, wy, value = top_correlated_directions(residue, whiten_x, whiten_y, 1)
            if self.eigenvalues and value[0] > self.eigenvalues[-1]:
                break  # it no longer reduces the residue: the authors' code switches to CCA here
            self.eigenvalues.append(float(value[0]))
            w_x[:, t], w_y[:, t] = wx[:, 0], wy[:, 0]
            learned = t + 1
            residue = residue - np.outer(x.T @ np.where(x @ wx[:, 0] >= 0, 1.0, -1.0),
                                         y.T @ np.where(y @ wy[:, 0] >= 0, 1.0, -1.0))
        self.fallback_bits = self.bits - learned
        if self.fallback_bits:
            rank = min(x.shape[1], y.shape[1])
            cca_x, cca_y, _ = top_correlated_directions(x.T @ y, whiten_x, whiten_y, rank)
            wrap = np.arange(learned, self.bits) % rank
            w_x[:, learned:], w_y[:, learned:] = cca_x[:, wrap], cca_y[:, wrap]
        self.projections = {
            "image": centred_linear_map(w_x, means[0]),
            "text": centred_linear_map(w_y, means[1]),
        }


def semantic_cross_covariance(x: np.ndarray, y: np.ndarray, labels: np.ndarray, bits: int) -> np.ndarray:
    """C_1 = c · Xᵀ S Y (d_x, d_y) with S = 2 L̃ L̃ᵀ − 1 1ᵀ, computed without the n × n matrix S."""
    unit_labels = normalized_labels((labels > 0).astype(np.float64))
    return bits * (2 * (x.T @ unit_labels) @ (unit_labels.T @ y) - np.outer(x.sum(axis=0), y.sum(axis=0)))
