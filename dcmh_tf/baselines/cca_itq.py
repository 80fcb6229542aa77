"""CCA-ITQ: canonical correlation analysis, then an Iterative Quantization rotation.

Y. Gong, S. Lazebnik, A. Gordo, F. Perronnin, "Iterative Quantization: A Procrustean Approach to
Learning Binary Codes for Large-Scale Image Retrieval", IEEE TPAMI 35(12), 2013 (Section on
CCA-ITQ); the "CCA" baseline of the DCMH paper's tables.

1. CCA between the centred image and text features (covariances with a small ridge): the top
   r = min(c, d_image, d_text) canonical pairs (w_x, w_y) with correlations ρ. As in Gong et al.,
   each direction is scaled by its eigenvalue to a power p (`eigenvalue_power`, 4 there), so that
   the better-correlated directions weigh more after the rotation.
2. When c > r (the Wikipedia texts have 10 dimensions, fewer than 16 bits), CCA has no more
   directions: the r-dimensional embeddings are lifted to c dimensions by one seeded random map
   with orthonormal rows, so that codes have c bits that carry r dimensions of information.
3. ONE ITQ rotation R shared by both modalities, learned on the stacked embeddings of the training
   images and texts, so that an image and its text land on the same vertex of the cube
   (Gong et al. rotate one modality; a shared rotation keeps cross-modal codes comparable).
Codes: sign((x − mean) W_m P R). Unsupervised: the labels are not used.
"""

from __future__ import annotations

import numpy as np

from dcmh_tf.baselines.common import (
    CrossModalHasher, centred_linear_map, inverse_sqrt, itq_rotation, random_rotation, regularized_covariance,
    top_correlated_directions,
)


class CcaItq(CrossModalHasher):
    name = "CCA-ITQ"
    supervised = False

    def __init__(self, bits: int, seed: int = 0, eigenvalue_power: float = 4.0, itq_iterations: int = 50,
                 ridge: float = 1e-4):
        super().__init__(bits, seed)
        self.eigenvalue_power = eigenvalue_power
        self.itq_iterations = itq_iterations
        self.ridge = ridge

    def _fit(self, images: np.ndarray, texts: np.ndarray, labels: np.ndarray) -> None:
        rng = np.random.default_rng([self.seed, 7])
        means = images.mean(axis=0), texts.mean(axis=0)
        x, y = images - means[0], texts - means[1]
        rank = min(self.bits, x.shape[1], y.shape[1])
        w_x, w_y, correlations = top_correlated_directions(
            x.T @ y, inverse_sqrt(regularized_covariance(x, self.ridge)),
            inverse_sqrt(regularized_covariance(y, self.ridge)), rank,
        )
        weight = np.maximum(correlations, 0.0) ** self.eigenvalue_power
        w_x, w_y = w_x * weight, w_y * weight
        # Lift to c dimensions when CCA has fewer directions (when rank == bits this is a rotation,
        # which the ITQ rotation below absorbs).
        lift = random_rotation(self.bits, rng)[:rank]
        w_x, w_y = w_x @ lift, w_y @ lift
        rotation = itq_rotation(np.vstack([x @ w_x, y @ w_y]), self.itq_iterations, rng)
        self.correlations = correlations
        self.projections = {
            "image": centred_linear_map(w_x @ rotation, means[0]),
            "text": centred_linear_map(w_y @ rotation, means[1]),
        }
