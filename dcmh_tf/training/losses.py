"""The DCMH objective, eq. (2) of Jiang & Li (CVPR 2017), as seen by one mini-batch.

    J = −Σ_ij (S_ij Θ_ij − log(1 + e^Θ_ij)) + γ(‖B − F‖² + ‖B − G‖²) + η(‖F1‖² + ‖G1‖²),
    Θ_ij = ½ F_iᵀ G_j.

When the image net is trained, θy and B are fixed, so the terms that depend on a batch of image
outputs F_b (b rows) are: the pairwise term of those rows against the stored G of all n training
points, their quantization term ‖B_b − F_b‖², and the balance term ‖F1‖², where F1 sums the fresh
outputs of the batch and the stored rows of everyone else. Autodiff of that batch objective gives
exactly eq. (3):

    ∂J/∂F_i = ½ Σ_j (σ(Θ_ij) − S_ij) G_j + 2γ (F_i − B_i) + 2η F1.

The text phase is the same with the roles of F and G swapped (eq. (4)).

Scaling (`loss_normalization`). The three sums have very different sizes: the pairwise term of
a row sums n partners, its quantization term c coordinates. Two choices are offered:

* ``"official"``: divide everything by b·n, as the authors' code does. The relative weights are
  the paper's, but per row the pairwise gradient is a sum over n partners while the quantization
  gradient is O(1): with n = 10,000 the quantization term is 10⁴ times weaker, and γ barely acts.
* ``"per-item"`` (default): average the pairwise term over the n partners and the balance term
  over the n items, sum the quantization term per item, then average over the batch:
  J_b = (1/b)[(1/n) Σ_{i∈b, j} ℓ_ij + γ Σ_{i∈b} ‖B_i − F_i‖² + (η/n) ‖F1‖²].
  Every term's per-row gradient is then O(1) whatever n is, so γ and η keep the same meaning on
  a 2,000-pair demo and on NUS-WIDE, and they act with adaptive optimizers. Compared with
  "official" this only multiplies γ by n; the pairwise and balance terms are scaled identically.
"""

from __future__ import annotations

import tensorflow as tf

from dcmh_tf.errors import ConfigError


def label_similarity(batch_labels: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """S of the paper: 1 where two items share at least one label, else 0.

    batch_labels: (b, L) 0/1; labels: (n, L) 0/1. Returns (b, n) in the labels' float dtype.
    """
    batch_labels = tf.convert_to_tensor(batch_labels)
    labels = tf.cast(labels, batch_labels.dtype)
    shared = tf.matmul(batch_labels, labels, transpose_b=True)
    return tf.cast(shared > 0, batch_labels.dtype)


def term_weights(normalization: str, batch_size, n) -> tuple:
    """Factors (pairwise, quantization, balance) that multiply the raw sums of eq. (2)."""
    batch_size = tf.cast(batch_size, tf.float64)
    n = tf.cast(n, tf.float64)
    if normalization == "official":
        scale = 1.0 / (batch_size * n)
        return scale, scale, scale
    if normalization == "per-item":
        return 1.0 / (batch_size * n), 1.0 / batch_size, 1.0 / (batch_size * n)
    raise ConfigError(f"loss_normalization must be 'per-item' or 'official', received {normalization!r}.")


def dcmh_batch_loss(
    outputs: tf.Tensor,
    other: tf.Tensor,
    codes: tf.Tensor,
    similarity: tf.Tensor,
    rest_sum: tf.Tensor,
    gamma: float,
    eta: float,
    normalization: str = "per-item",
    batch_size=None,
) -> dict[str, tf.Tensor]:
    """Batch objective of one modality, terms already weighted by γ, η and the scaling.

    outputs: (b, c) fresh network outputs of the batch (F_b in the image phase);
    other: (n, c) stored outputs of the other modality for all training points (G);
    codes: (b, c) rows of B for the batch; similarity: (b, n) rows of S;
    rest_sum: (c,) sum of the stored rows of this modality that are not in the batch.
    batch_size: the b of the scaling (default: the rows of `outputs`); a replica that computes a
    share of a batch passes the whole batch's size, so that the replicas' gradients sum to the batch's.
    Returns a dict of scalars: pairwise, quantization, balance and total.
    """
    dtype = outputs.dtype
    batch_size = tf.shape(outputs)[0] if batch_size is None else batch_size
    n = tf.shape(other)[0]
    w_pair, w_quant, w_balance = (tf.cast(w, dtype) for w in term_weights(normalization, batch_size, n))

    theta = 0.5 * tf.matmul(outputs, other, transpose_b=True)
    # log(1 + e^Θ) − S·Θ, written with softplus so that Θ = ±1000 neither overflows nor loses precision.
    pairwise = tf.reduce_sum(tf.nn.softplus(theta) - similarity * theta)
    quantization = tf.reduce_sum(tf.square(codes - outputs))
    column_sum = rest_sum + tf.reduce_sum(outputs, axis=0)
    balance = tf.reduce_sum(tf.square(column_sum))

    terms = {
        "pairwise": w_pair * pairwise,
        "quantization": w_quant * tf.cast(gamma, dtype) * quantization,
        "balance": w_balance * tf.cast(eta, dtype) * balance,
    }
    terms["total"] = terms["pairwise"] + terms["quantization"] + terms["balance"]
    return terms
