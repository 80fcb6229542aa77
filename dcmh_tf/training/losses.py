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

Cost. The pairwise term is b × n: Θ, its softplus and sigmoid, S, two b × n × c products. Autodiff of
the formula builds its b × n backward graph (the broadcast upstream gradient, softplus's gradient, the
gradient of S∘Θ, the ½) on top of the forward; `pairwise_term` instead hands the tape eq. (3)'s
closed form ½ (σ(Θ) − S) G, and multiplies by ½ on the b × c side of each product. Same value and
same gradient up to float rounding (tests/test_losses.py), 0.1–0.7 ms less of the loss's ~5 ms per
batch of 128 at n = 10,000 on a 2-core CPU (docs/benchmarks.md, issue 24). The rest of that time is
what eq. (3) asks for: the two products, S, and a softplus and a sigmoid of b × n numbers.

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


def pairwise_term(outputs: tf.Tensor, other: tf.Tensor, similarity: tf.Tensor) -> tf.Tensor:
    """Σ_ij log(1 + e^Θ_ij) − S_ij Θ_ij with Θ = ½ outputs · otherᵀ, with eq. (3)'s closed-form gradient.

    outputs: (b, c); other: (n, c); similarity: (b, n). Returns a scalar. The gradient flows to
    `outputs` only: `other` (the stored codes of the other modality) and S are constants of a step.
    """
    other = tf.convert_to_tensor(other)  # a buffer variable read once, outside the custom gradient

    @tf.custom_gradient
    def pairwise(outputs):
        # ½ on the (b, c) side: one pass over b × c numbers instead of b × n (exact: a power of two)
        theta = tf.matmul(0.5 * outputs, other, transpose_b=True)
        # softplus, not log(1 + e^Θ): Θ = ±1000 neither overflows nor loses precision
        value = tf.reduce_sum(tf.nn.softplus(theta) - similarity * theta)

        def gradient(upstream):
            # ∂/∂Θ = σ(Θ) − S; computed only when the tape asks, so a forward alone does not pay for it
            return (0.5 * upstream) * tf.matmul(tf.sigmoid(theta) - similarity, other)

        return value, gradient

    return pairwise(outputs)


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
    Returns a dict of scalars: pairwise, quantization, balance and total. Gradients flow to `outputs`
    only (the stored codes, S and B are constants of a step).
    """
    dtype = outputs.dtype
    batch_size = tf.shape(outputs)[0] if batch_size is None else batch_size
    n = tf.shape(other)[0]
    w_pair, w_quant, w_balance = (tf.cast(w, dtype) for w in term_weights(normalization, batch_size, n))

    pairwise = pairwise_term(outputs, other, similarity)
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
