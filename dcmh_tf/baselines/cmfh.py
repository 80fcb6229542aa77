"""CMFH: Collective Matrix Factorization Hashing.

G. Ding, Y. Guo, J. Zhou, "Collective Matrix Factorization Hashing for Multimodal Data", CVPR 2014.

With the centred training features as columns, X1 (d1, n) images and X2 (d2, n) texts, CMFH finds
one latent matrix V (c, n) shared by both modalities, factors U1, U2 and linear hash projections
P1, P2 minimising (eq. (4) of the paper)

    λ‖X1 − U1 V‖² + (1 − λ)‖X2 − U2 V‖² + μ(‖V − P1 X1‖² + ‖V − P2 X2‖²)
        + γ(‖U1‖² + ‖U2‖² + ‖P1‖² + ‖P2‖² + ‖V‖²),

by alternating the closed-form minimisers of each block (setting its gradient to zero):

    U1 = X1 Vᵀ (V Vᵀ + γ/λ I)⁻¹,            U2 = X2 Vᵀ (V Vᵀ + γ/(1 − λ) I)⁻¹,
    P1 = V X1ᵀ (X1 X1ᵀ + γ/μ I)⁻¹,           P2 = V X2ᵀ (X2 X2ᵀ + γ/μ I)⁻¹,
    V  = (λ U1ᵀU1 + (1 − λ) U2ᵀU2 + (2μ + γ) I)⁻¹ (λ U1ᵀX1 + (1 − λ) U2ᵀX2 + μ (P1 X1 + P2 X2)),

from a seeded random start until the objective changes by less than `tolerance` (relative) or
after `iterations` rounds. The objective never increases (each step is an exact block minimiser).
Out of sample, an item's code is sign(P_m (x − mean)) (Section 3.3 of the paper); database items
are hashed the same way. Defaults λ = 0.5, μ = 100, γ = 0.01 are the paper's experimental setting
as we read it. Unsupervised: the labels are not used.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from dcmh_tf.baselines.common import CrossModalHasher, centred_linear_map
from dcmh_tf.errors import ConfigError


class Cmfh(CrossModalHasher):
    name = "CMFH"
    supervised = False

    def __init__(self, bits: int, seed: int = 0, lam: float = 0.5, mu: float = 100.0, gamma: float = 0.01,
                 iterations: int = 100, tolerance: float = 1e-5):
        super().__init__(bits, seed)
        if not 0 < lam < 1:
            raise ConfigError(f"CMFH: lam weighs the two modalities and must lie in (0, 1), received {lam!r}.")
        if mu <= 0 or gamma <= 0:
            raise ConfigError(f"CMFH: mu and gamma must be > 0, received mu={mu!r}, gamma={gamma!r}.")
        self.lam, self.mu, self.gamma = lam, mu, gamma
        self.iterations, self.tolerance = iterations, tolerance

    def _fit(self, images: np.ndarray, texts: np.ndarray, labels: np.ndarray) -> None:
        means = images.mean(axis=0), texts.mean(axis=0)
        x1, x2 = (images - means[0]).T, (texts - means[1]).T
        lam, mu, gamma, c = self.lam, self.mu, self.gamma, self.bits
        eye = np.eye(c)
        latent = np.random.default_rng([self.seed, 11]).random((c, x1.shape[1]))
        # P_m = V X_mᵀ (X_m X_mᵀ + γ/μ I)⁻¹ = V · hat_m: the hat matrices do not change.
        hats = [scipy.linalg.solve(x @ x.T + gamma / mu * np.eye(len(x)), x, assume_a="pos") for x in (x1, x2)]
        self.objectives: list[float] = []
        for _ in range(self.iterations):
            u1 = _solve_right(x1 @ latent.T, latent @ latent.T + gamma / lam * eye)
            u2 = _solve_right(x2 @ latent.T, latent @ latent.T + gamma / (1 - lam) * eye)
            p1, p2 = latent @ hats[0].T, latent @ hats[1].T
            system = lam * u1.T @ u1 + (1 - lam) * u2.T @ u2 + (2 * mu + gamma) * eye
            latent = scipy.linalg.solve(
                system, lam * u1.T @ x1 + (1 - lam) * u2.T @ x2 + mu * (p1 @ x1 + p2 @ x2), assume_a="pos"
            )
            p1, p2 = latent @ hats[0].T, latent @ hats[1].T
            self.objectives.append(self._objective(x1, x2, u1, u2, p1, p2, latent))
            if len(self.objectives) > 1 and abs(self.objectives[-2] - self.objectives[-1]) <= self.tolerance * self.objectives[-2]:
                break
        self.latent = latent
        self.projections = {
            "image": centred_linear_map(p1.T, means[0]),
            "text": centred_linear_map(p2.T, means[1]),
        }

    def _objective(self, x1, x2, u1, u2, p1, p2, latent) -> float:
        squared = lambda m: float(np.sum(m * m))  # noqa: E731
        return (
            self.lam * squared(x1 - u1 @ latent) + (1 - self.lam) * squared(x2 - u2 @ latent)
            + self.mu * (squared(latent - p1 @ x1) + squared(latent - p2 @ x2))
            + self.gamma * sum(squared(m) for m in (u1, u2, p1, p2, latent))
        )


def _solve_right(numerator: np.ndarray, system: np.ndarray) -> np.ndarray:
    """numerator · system⁻¹ for a symmetric positive definite `system`."""
    return scipy.linalg.solve(system, numerator.T, assume_a="pos").T
