"""STMH: Semantic Topic Multimodal Hashing.

D. Wang, X. Gao, X. Wang, L. He, "Semantic Topic Multimodal Hashing for Cross-Media Retrieval",
IJCAI 2015.

STMH finds c semantic topics of the texts by clustering and c concepts of the images by robust
matrix factorization, relates them by a c × c matrix R, and makes bit j of an item's code say
whether the item contains topic j. With the centred training features as rows, X (n, d1) images
and Y (n, d2) texts, it minimises

    J = r1 Σ_i ‖x_i − U1 v_i‖₂  +  r2 Σ_ij g_ij ‖y_i − u_j‖²  +  λ ‖G − V R‖²
        + γ (‖U1‖² + ‖U2‖² + ‖V‖² + ‖R‖²),

over the image concepts V (n, c) with their basis U1 (d1, c) (the first term is the ℓ2,1 norm of
the residual: robust to outlying images), the text topic centres U2 = [u_1 … u_c] (d2, c), the
topic indicators G ∈ {0, 1}^(n × c) with exactly k = ⌈c/2⌉ ones in every row (a text contains k of
the c topics: balanced bits), and R, which maps image concepts to text topics. The blocks are
updated in turn, each by the exact minimiser of J in that block (for U1 and V, of a reweighted
majoriser of J, below), so J never increases; `objectives` records it after every round:

    U1 = r1 Xᵀ W V (r1 Vᵀ W V + γ I)⁻¹,       W = diag(w), w_i = 1 / (2 ‖x_i − U1 v_i‖₂)
    u_j = r2 Σ_i g_ij y_i / (r2 Σ_i g_ij + γ)
    R = (Vᵀ V + γ/λ I)⁻¹ Vᵀ G
    v_i = (r1 w_i U1ᵀ U1 + λ R Rᵀ + γ I)⁻¹ (r1 w_i U1ᵀ x_i + λ R g_i)       (row by row)
    g_i = the k topics j of smallest r2 ‖y_i − u_j‖² − 2λ (V R)_ij            (exact, since g² = g)

The ℓ2,1 term is minimised by iteratively reweighted least squares: w holds the current residuals'
weights, recomputed after each U1 and V update, which makes each weighted step a majorise-minimise
step of J itself (√a ≤ a / (2√a₀) + √a₀ / 2; the first U1 step, with w = 1, has no U1 to start from). The residual norms are smoothed, √(‖e_i‖² + 1e-12), in
the weights and in the recorded objective alike, so that an exact fit does not divide by zero.
Start: V ~ N(0, 1), G with k random ones a row, w = 1 (seeded). Kept after `fit`: the training
codes B = 2G − 1 (`codes`) and the topic centres in the texts' own coordinates (`centres`, (d2, c)).

Out of sample (database items too), `hash_functions="topics"` (the default), as in the public
MATLAB code: an image's concepts are its ridge projection v = (U1ᵀU1 + γ/r1 I)⁻¹ U1ᵀ x, its topic
scores are v R, and its code sets the k highest; a text's code sets its k nearest topic centres,
i.e. the k highest scores 2 yᵀu_j − ‖u_j‖². Both are linear scores of the centred features followed
by "the top k of the row" instead of a sign (`binarize`; ties go to the lower bit index): each bit
says whether the item contains the topic, as the paper's abstract puts it.
`hash_functions="regression"` instead fits, per modality, a ridge regression W_m of the training
codes B on the centred features, W_m = (XᵀX + ρ I)⁻¹ XᵀB (ρ = `ridge` times the mean diagonal of
XᵀX), and hashes by sign(x W_m), as linear-regression hash functions of other factorization methods
do; we found no source saying that STMH does this.

Sources and choices. We could not read the paper's own equations or parameter table; the model
above is the one implemented by the public MATLAB code of STMH in BMC-SDNU/Cross-Modal-Hashing-
Retrieval (STMH/code/multi_STMH.m, compress_img.m, compress_text.m; its names suggest it grew from
the robust multi-view k-means code of Cai, Nie and Huang, and we could not confirm that it is the
authors' own release), which matches the paper's abstract (clustering of texts, robust
factorization of images, a correlation between topics, bits as "whether a topic is contained").
Where we depart from that code, for exactness:
- the centres: that code computes U2 = Yᵀ G (GᵀG + γ/r1 I)⁻¹ (a least-squares factorization
  Y ≈ G U2ᵀ), which does not minimise its own objective's clustering term; we use the term's exact
  minimiser (a line of that code, commented out there, computes it with diag(Σ_i g_ij));
- the reweighting: that code folds r1 into the weights and also multiplies by r1 again, and
  refreshes the weights once per round, after U1 and V have both moved; we keep r1 once and
  refresh the weights after each of the two steps, so that J provably does not increase;
- the features are centred with the training means (that code uses them raw; the comparison's
  z-scored features are centred already);
- the stopping rule: at most `iterations` rounds (10 in that code) or when J changes by less than
  `tolerance` relative (that code: less than 0.01 absolute).
Hyper-parameters are that code's demo values (r1 = r2 = 0.5, λ = 0.5, γ = 1e-4, 10 rounds); the
paper's own values are unknown to us. A code needs at least 2 bits: with one bit, every item would
contain the only topic. Unsupervised: the labels are not used.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from dcmh_tf.baselines.common import CrossModalHasher, centred_linear_map, regularized_covariance, squared_distances
from dcmh_tf.errors import ConfigError

SMOOTHING = 1e-12  # added to squared residual norms in the ℓ2,1 term
HASH_FUNCTIONS = ("topics", "regression")


class Stmh(CrossModalHasher):
    name = "STMH"
    supervised = False

    def __init__(self, bits: int, seed: int = 0, image_weight: float = 0.5, text_weight: float = 0.5,
                 lam: float = 0.5, gamma: float = 1e-4, iterations: int = 10, tolerance: float = 1e-5,
                 hash_functions: str = "topics", ridge: float = 1e-2):
        super().__init__(bits, seed)
        if hash_functions not in HASH_FUNCTIONS:
            raise ConfigError(f"STMH: hash_functions must be one of {', '.join(HASH_FUNCTIONS)}, received "
                              f"{hash_functions!r}.")
        if self.bits < 2:
            raise ConfigError(f"STMH: every item contains half of the topics, so a code needs at least 2 bits, "
                              f"received {bits!r}.")
        values = {"image_weight": image_weight, "text_weight": text_weight, "lam": lam, "gamma": gamma}
        if any(not value > 0 for value in values.values()):
            raise ConfigError("STMH: image_weight, text_weight, lam and gamma must be > 0, received "
                              + ", ".join(f"{k}={v!r}" for k, v in values.items()) + ".")
        if not ridge >= 0:
            raise ConfigError(f"STMH: ridge must be >= 0, received {ridge!r}.")
        self.image_weight, self.text_weight, self.lam, self.gamma = image_weight, text_weight, lam, gamma
        self.iterations, self.tolerance = iterations, tolerance
        self.hash_functions, self.ridge = hash_functions, ridge
        self.topics_per_item = (self.bits + 1) // 2

    def binarize(self, outputs: np.ndarray) -> np.ndarray:
        if self.hash_functions == "regression":
            return super().binarize(outputs)
        return top_codes(outputs, self.topics_per_item)

    def _fit(self, images: np.ndarray, texts: np.ndarray, labels: np.ndarray) -> None:
        means = images.mean(axis=0), texts.mean(axis=0)
        x, y = images - means[0], texts - means[1]
        r1, r2, lam, gamma, c = self.image_weight, self.text_weight, self.lam, self.gamma, self.bits
        rng = np.random.default_rng([self.seed, 17])
        concepts = rng.standard_normal((len(x), c))
        topics = top_codes(rng.random((len(x), c)), self.topics_per_item) > 0
        weights = np.ones(len(x))
        eye = np.eye(c)
        self.objectives: list[float] = []
        for _ in range(self.iterations):
            weighted = concepts * weights[:, None]
            basis = scipy.linalg.solve(r1 * concepts.T @ weighted + gamma * eye, r1 * weighted.T @ x,
                                       assume_a="pos").T
            weights = 0.5 / residual_norms(x, basis, concepts)
            centres = r2 * y.T @ topics / (r2 * topics.sum(axis=0) + gamma)
            mapping = scipy.linalg.solve(concepts.T @ concepts + gamma / lam * eye, concepts.T @ topics,
                                         assume_a="pos")
            concepts = _concepts(x, topics, basis, mapping, weights, r1, lam, gamma)
            weights = 0.5 / residual_norms(x, basis, concepts)
            costs = r2 * squared_distances(y, centres.T) - 2 * lam * concepts @ mapping
            topics = top_codes(-costs, self.topics_per_item) > 0
            self.objectives.append(self._objective(x, y, basis, centres, concepts, mapping, topics))
            if len(self.objectives) > 1 and abs(self.objectives[-2] - self.objectives[-1]) <= self.tolerance * self.objectives[-2]:
                break
        self.codes, self.centres = np.where(topics, 1, -1).astype(np.int8), centres + means[1][:, None]
        if self.hash_functions == "regression":
            self.projections = {
                modality: centred_linear_map(
                    scipy.linalg.solve(regularized_covariance(z, self.ridge), z.T @ self.codes, assume_a="pos"), mean)
                for modality, z, mean in (("image", x, means[0]), ("text", y, means[1]))
            }
        else:
            image_map = scipy.linalg.solve(basis.T @ basis + gamma / r1 * eye, basis.T, assume_a="pos").T @ mapping
            text_weights, text_offset = centred_linear_map(2 * centres, means[1])
            self.projections = {
                "image": centred_linear_map(image_map, means[0]),
                "text": (text_weights, text_offset - np.sum(centres**2, axis=0)),  # −‖x − u_j‖² but for ‖x‖²
            }

    def _objective(self, x, y, basis, centres, concepts, mapping, topics) -> float:
        squared = lambda m: float(np.sum(m * m))  # noqa: E731
        return (
            self.image_weight * float(residual_norms(x, basis, concepts).sum())
            + self.text_weight * float(np.sum(topics * squared_distances(y, centres.T)))
            + self.lam * squared(topics - concepts @ mapping)
            + self.gamma * sum(squared(m) for m in (basis, centres, concepts, mapping))
        )


def residual_norms(x: np.ndarray, basis: np.ndarray, concepts: np.ndarray) -> np.ndarray:
    """(n,) smoothed ‖x_i − U1 v_i‖₂ of the image factorization. Half their inverse is the reweighting
    that turns the ℓ2,1 term into a weighted least-squares majoriser touching it at the current point."""
    return np.sqrt(np.sum((x - concepts @ basis.T) ** 2, axis=1) + SMOOTHING)


def _concepts(x, topics, basis, mapping, weights, r1, lam, gamma) -> np.ndarray:
    """V whose row i solves (r1 w_i U1ᵀU1 + λ R Rᵀ + γ I) v_i = r1 w_i U1ᵀ x_i + λ R g_i.

    The n systems share two matrices, M = r1 U1ᵀU1 and N = λ R Rᵀ + γ I: with the generalised
    eigenvectors T of (M, N) (Tᵀ N T = I, Tᵀ M T = Λ), (w_i M + N)⁻¹ = T (w_i Λ + I)⁻¹ Tᵀ, so one
    c × c eigenproblem solves them all."""
    c = basis.shape[1]
    values, vectors = scipy.linalg.eigh(r1 * basis.T @ basis, lam * mapping @ mapping.T + gamma * np.eye(c))
    right = r1 * weights[:, None] * (x @ basis) + lam * topics @ mapping.T
    return ((right @ vectors) / (weights[:, None] * values[None, :] + 1.0)) @ vectors.T


def top_codes(scores: np.ndarray, ones: int) -> np.ndarray:
    """(n, c) int8: +1 at the `ones` highest scores of each row, −1 elsewhere; among equal scores
    the lower column index wins."""
    order = np.argsort(-scores, axis=1, kind="stable")
    codes = np.full(scores.shape, -1, dtype=np.int8)
    np.put_along_axis(codes, order[:, :ones], 1, axis=1)
    return codes
