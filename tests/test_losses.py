import numpy as np
import pytest
import tensorflow as tf

from dcmh_tf.training.losses import dcmh_batch_loss, label_similarity, pairwise_term, term_weights


def test_label_similarity_is_one_when_a_label_is_shared():
    batch = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]], np.float32)
    labels = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]], np.float32)
    expected = [[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(label_similarity(batch, labels).numpy(), expected)


@pytest.mark.parametrize("theta", [1000.0, -1000.0])
def test_pairwise_term_is_finite_and_exact_at_large_theta(theta):
    # F·G / 2 = theta for a single pair with c = 1: F = 2·theta, G = 1.
    outputs = tf.constant([[2 * theta]], tf.float32)
    other = tf.constant([[1.0]], tf.float32)
    for s in (0.0, 1.0):
        terms = dcmh_batch_loss(outputs, other, tf.constant([[1.0]]), tf.constant([[s]]), tf.zeros(1), 0.0, 0.0, "official")
        expected = max(theta, 0.0) - s * theta  # log(1 + e^θ) − sθ, exact in float32 at |θ| = 1000
        assert np.isfinite(terms["total"].numpy())
        assert terms["pairwise"].numpy() == pytest.approx(expected, rel=1e-6)
        with tf.GradientTape() as tape:
            tape.watch(outputs)
            loss = dcmh_batch_loss(outputs, other, tf.constant([[1.0]]), tf.constant([[s]]), tf.zeros(1), 0.0, 0.0)["total"]
        assert np.isfinite(tape.gradient(loss, outputs).numpy()).all()


def _paper_gradient(outputs, other, codes, similarity, column_sum, gamma, eta, weights):
    """Eq. (3) of the paper (eq. (4) with F and G swapped), each term times the chosen scaling."""
    w_pair, w_quant, w_balance = (float(w) for w in weights)
    theta = 0.5 * outputs @ other.T
    sigma = 1.0 / (1.0 + np.exp(-theta))
    pairwise = 0.5 * (sigma - similarity) @ other
    return w_pair * pairwise + w_quant * 2 * gamma * (outputs - codes) + w_balance * 2 * eta * column_sum[None, :]


@pytest.mark.parametrize("normalization", ["per-item", "official"])
@pytest.mark.parametrize("phase", ["image (eq. 3)", "text (eq. 4)"])
def test_autodiff_gradient_equals_the_papers_equation(normalization, phase):
    rng = np.random.default_rng(0 if phase.startswith("image") else 1)
    n, b, c, n_labels = 40, 7, 12, 5
    gamma, eta = 0.7, 1.3
    # stored outputs of this modality (F for eq. 3, G for eq. 4) and of the other one
    own = rng.normal(size=(n, c)) * 3
    other = rng.normal(size=(n, c)) * 3
    codes = np.where(rng.normal(size=(n, c)) >= 0, 1.0, -1.0)
    labels = (rng.random((n, n_labels)) < 0.3).astype(np.float64)
    positions = rng.choice(n, size=b, replace=False)
    fresh = rng.normal(size=(b, c)) * 3
    similarity = label_similarity(labels[positions], labels).numpy()
    rest_sum = own.sum(0) - own[positions].sum(0)

    outputs = tf.Variable(fresh)
    with tf.GradientTape() as tape:
        terms = dcmh_batch_loss(outputs, tf.constant(other), tf.constant(codes[positions]), tf.constant(similarity),
                                tf.constant(rest_sum), gamma, eta, normalization)
    autodiff = tape.gradient(terms["total"], outputs).numpy()

    full = own.copy()
    full[positions] = fresh  # F1 of eq. (3) sums the fresh batch rows and the stored others
    expected = _paper_gradient(fresh, other, codes[positions], similarity, full.sum(0), gamma, eta,
                               [w.numpy() for w in term_weights(normalization, b, n)])
    np.testing.assert_allclose(autodiff, expected, rtol=0, atol=1e-6)
    assert np.abs(expected).max() > 1e-3  # the comparison is not between two near-zero arrays


def test_term_weights_of_the_two_normalizations():
    assert [float(w) for w in term_weights("official", 4, 10)] == pytest.approx([1 / 40] * 3)
    assert [float(w) for w in term_weights("per-item", 4, 10)] == pytest.approx([1 / 40, 1 / 4, 1 / 40])


def _reference_pairwise(outputs, other, similarity):
    """The pairwise sum of eq. (2) as the formula reads, left to autodiff."""
    theta = 0.5 * tf.matmul(outputs, other, transpose_b=True)
    return tf.reduce_sum(tf.nn.softplus(theta) - similarity * theta)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("scale", [1.0, 30.0])  # 30: |Θ| up to ~2,000, where e^Θ overflows even in float64
def test_closed_form_gradient_equals_autodiff_of_the_formula(dtype, rtol, scale):
    rng = np.random.default_rng(int(scale))
    b, n, c = 9, 50, 16
    outputs = tf.constant(rng.normal(size=(b, c)) * scale, dtype)
    other = tf.constant(rng.normal(size=(n, c)) * scale, dtype)
    similarity = tf.constant((rng.random((b, n)) < 0.4).astype(dtype))
    gradients = []
    for function in (pairwise_term, _reference_pairwise):
        with tf.GradientTape() as tape:
            tape.watch(outputs)
            value = function(outputs, other, similarity)
        gradients.append((value.numpy(), tape.gradient(value, outputs).numpy()))
    (value, gradient), (expected_value, expected_gradient) = gradients
    theta = 0.5 * outputs.numpy() @ other.numpy().T
    if scale > 1:
        with np.errstate(over="ignore"):
            assert not np.isfinite(np.log(1 + np.exp(theta))).all()  # the naive form would overflow here
    assert np.isfinite(gradient).all() and np.isfinite(value)
    assert value == pytest.approx(expected_value, rel=rtol)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=0, atol=rtol * np.abs(expected_gradient).max())


def test_pairwise_term_gives_no_gradient_to_the_stored_codes():
    outputs, other = tf.ones((2, 3)), tf.Variable(tf.ones((4, 3)))
    with tf.GradientTape() as tape:
        tape.watch(outputs)
        value = pairwise_term(outputs, other, tf.zeros((2, 4)))
    assert tape.gradient(value, other) is None  # a constant of the step: eq. (3) holds G fixed
