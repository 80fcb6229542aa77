"""The shallow baselines: known answers on tiny data, the linear algebra they share, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from dcmh_tf.baselines import BASELINES, make_baseline, zscore_columns
from dcmh_tf.baselines.common import inverse_sqrt, itq_rotation, regularized_covariance, top_correlated_directions
from dcmh_tf.baselines.kernel_seph import anchor_width, kmeans_centres, rbf_features
from dcmh_tf.baselines.scm import semantic_cross_covariance
from dcmh_tf.baselines.seph import kl_objective, semantic_affinities
from dcmh_tf.baselines.stmh import top_codes
from dcmh_tf.errors import ConfigError, DataError
from dcmh_tf.evaluation.metrics import mean_average_precision

SUPERVISED = [name for name, cls in BASELINES.items() if cls.supervised]


def two_clusters(n: int, seed: int):
    """Two classes, well apart in both modalities (fixed centres, per-call noise)."""
    rng = np.random.default_rng(seed)
    classes = np.arange(n) % 2
    image_centres = np.random.default_rng(100).standard_normal((2, 6)) * 3
    text_centres = np.random.default_rng(101).standard_normal((2, 4)) * 3
    images = image_centres[classes] + 0.3 * rng.standard_normal((n, 6))
    texts = text_centres[classes] + 0.3 * rng.standard_normal((n, 4))
    return images, texts, np.eye(2)[classes]


def cross_modal_maps(hasher, queries, database) -> tuple[float, float]:
    (q_images, q_texts, q_labels), (db_images, db_texts, db_labels) = queries, database
    i2t = mean_average_precision(hasher.encode_images(q_images), hasher.encode_texts(db_texts), q_labels, db_labels)
    t2i = mean_average_precision(hasher.encode_texts(q_texts), hasher.encode_images(db_images), q_labels, db_labels)
    return i2t, t2i


KERNEL = ("seph-rnd", "seph-km")
# STMH's codes set half of their bits, so it needs two at least (test_stmh_bad_settings_are_refused).
SHORTEST = [(name, 2 if name == "stmh" else 1) for name in BASELINES]


def tiny(name: str, bits: int, seed: int = 0, **options):
    """An unfitted baseline for the tiny data here: kernel SePH with fewer anchors than training
    rows (more is the case of test_more_anchors_than_training_rows_warns_and_uses_every_row);
    "stmh-regression" is STMH with ridge-regression hash functions."""
    if name in KERNEL:
        options.setdefault("anchors", 20)
    if name == "stmh-regression":
        name, options["hash_functions"] = "stmh", "regression"
    return make_baseline(name, bits, seed=seed, **options)


@pytest.mark.parametrize("name, bits", SHORTEST + [(name, 8) for name in BASELINES]
                         + [("stmh-regression", 2), ("stmh-regression", 8)])
def test_separable_clusters_are_retrieved_perfectly(name, bits):
    train, queries = two_clusters(40, seed=0), two_clusters(10, seed=1)
    hasher = tiny(name, bits).fit(*train)
    # Every same-class item ranks before every other one in both directions: MAP exactly 1.
    assert cross_modal_maps(hasher, queries, train) == (1.0, 1.0)


@pytest.mark.parametrize("name", [*BASELINES, "stmh-regression"])
def test_codes_are_plus_minus_one_of_the_right_shape_and_reproducible(name):
    images, texts, labels = two_clusters(30, seed=2)
    first = tiny(name, 12, seed=5).fit(images, texts, labels)
    again = tiny(name, 12, seed=5).fit(images, texts, labels)
    for encode, features in ((first.encode_images, images[:7]), (first.encode_texts, texts[:7])):
        codes = encode(features)
        assert codes.shape == (7, 12) and codes.dtype == np.int8
        assert set(np.unique(codes)) <= {-1, 1}
    np.testing.assert_array_equal(first.encode_images(images), again.encode_images(images))
    np.testing.assert_array_equal(first.encode_texts(texts), again.encode_texts(texts))


def nuisance_and_label_factors(n: int, seed: int):
    """A strong factor shared by both modalities that has nothing to do with the labels (perfectly
    correlated across modalities), and a weaker, noisier shared factor that is the label."""
    rng = np.random.default_rng(seed)
    classes = np.arange(n) % 2
    nuisance = rng.standard_normal(n) * 5
    label_factor = np.where(classes == 1, 1.0, -1.0)
    images = np.column_stack([nuisance, label_factor + 0.3 * rng.standard_normal(n), rng.standard_normal(n)])
    texts = np.column_stack([nuisance, label_factor + 0.3 * rng.standard_normal(n)])
    return images, texts, np.eye(2)[classes]


@pytest.mark.parametrize("name", SUPERVISED)
def test_supervised_baselines_find_the_labelled_factor_that_cca_misses(name):
    train, queries = nuisance_and_label_factors(80, seed=0), nuisance_and_label_factors(20, seed=1)
    # Kernel SePH gets every training row as an anchor: with a few anchors, its isotropic RBF
    # distances follow the nuisance (std 5) more than the label factor (±1).
    options = {"anchors": 80} if name in KERNEL else {}
    supervised = cross_modal_maps(tiny(name, 1, **options).fit(*train), queries, train)
    unsupervised = cross_modal_maps(make_baseline("cca-itq", 1).fit(*train), queries, train)
    assert min(supervised) > 0.95
    assert max(unsupervised) < 0.75  # its one bit follows the perfectly correlated nuisance


def test_canonical_correlation_of_one_dimension_is_pearsons():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 1))
    y = -0.6 * x + 0.8 * rng.standard_normal((200, 1))
    x, y = x - x.mean(), y - y.mean()
    _, _, correlation = top_correlated_directions(
        x.T @ y, inverse_sqrt(regularized_covariance(x, 0.0)), inverse_sqrt(regularized_covariance(y, 0.0)), 1)
    assert correlation[0] == pytest.approx(abs(np.corrcoef(x[:, 0], y[:, 0])[0, 1]), rel=1e-9)


def test_itq_finds_the_rotation_of_a_rotated_hypercube():
    # The four vertices of the square, rotated by 30°: ITQ must rotate them back onto vertices.
    vertices = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], float).repeat(5, axis=0)
    angle = np.pi / 6
    turned = vertices @ np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotation = itq_rotation(turned, iterations=50, rng=np.random.default_rng(0))
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(2), atol=1e-12)
    rotated = turned @ rotation
    np.testing.assert_allclose(rotated, np.sign(rotated), atol=1e-9)  # zero quantization loss


def test_scm_semantic_cross_covariance_equals_the_explicit_n_by_n_form():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((9, 3)), rng.standard_normal((9, 2))
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1],
                       [0, 0, 1], [1, 1, 1], [0, 1, 1], [1, 0, 0]], float)
    unit = labels / np.linalg.norm(labels, axis=1, keepdims=True)
    similarity = 2 * unit @ unit.T - 1  # the paper's S: cosine similarity scaled to [-1, 1]
    np.testing.assert_allclose(semantic_cross_covariance(x, y, labels, bits=4), 4 * x.T @ similarity @ y, atol=1e-12)


def test_cmfh_objective_never_increases():
    images, texts, labels = two_clusters(30, seed=3)
    hasher = make_baseline("cmfh", 6, seed=1, iterations=30, tolerance=0.0).fit(images, texts, labels)
    steps = np.diff(hasher.objectives)
    assert len(hasher.objectives) == 30 and np.all(steps <= 1e-9 * hasher.objectives[0])


def test_seph_affinities_and_gradient():
    labels = np.array([[1, 0], [1, 0], [0, 1], [1, 1]], float)
    p = semantic_affinities(labels)
    # cosines: (0,1) 1, (0,2) 0, (0,3) (1,3) (2,3) 1/√2, (1,2) 0; each pair twice
    total = 2 * (1 + 3 / np.sqrt(2))
    assert p[0, 1] == pytest.approx(1 / total) and p[2, 3] == pytest.approx(1 / np.sqrt(2) / total)
    assert p[0, 2] == 0 and np.all(np.diag(p) == 0) and p.sum() == pytest.approx(1)
    start = np.random.default_rng(0).standard_normal(4 * 3)
    error = scipy.optimize.check_grad(lambda h: kl_objective(h, p, 3, 0.5)[0], lambda h: kl_objective(h, p, 3, 0.5)[1],
                                      start)
    assert error < 1e-6


def test_rbf_features_match_hand_computed_values():
    features = np.array([[0.0, 0.0], [3.0, 4.0]])
    anchors = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 1.0]])
    # squared distances: row 0 → 25, 0, 1; row 1 → 0, 25, 18; φ = exp(−d² / (2·5²))
    expected = np.exp(-np.array([[25.0, 0.0, 1.0], [0.0, 25.0, 18.0]]) / 50.0)
    np.testing.assert_allclose(rbf_features(features, anchors, sigma=5.0), expected, rtol=1e-12)
    assert rbf_features(features, anchors, 5.0)[0, 0] == pytest.approx(np.exp(-0.5))


def test_anchor_width_is_the_mean_distance_from_the_training_rows_to_the_anchors():
    features = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    anchors = np.array([[0.0, 0.0], [3.0, 4.0]])
    # distances: row 0 → 0, 5; row 1 → 5, 0; row 2 → 10, 5: mean 25 / 6
    assert anchor_width(features, anchors, "f") == pytest.approx(25 / 6)
    with pytest.raises(DataError, match="every training row is the same, so an RBF kernel has no width"):
        anchor_width(np.ones((4, 2)), np.ones((2, 2)), "text features")


@pytest.mark.parametrize("name", KERNEL)
def test_kernel_seph_learns_seph_lin_codes_and_maps_through_its_anchors(name):
    images, texts, labels = two_clusters(30, seed=4)
    hasher = make_baseline(name, 6, seed=3, anchors=7).fit(images, texts, labels)
    linear = make_baseline("seph-lin", 6, seed=3).fit(images, texts, labels)
    np.testing.assert_array_equal(hasher.codes, linear.codes)  # the variants differ only in hash functions
    for modality, features in (("image", images), ("text", texts)):
        anchors = hasher.anchors[modality]
        assert anchors.shape == (7, features.shape[1])
        distances = np.linalg.norm(features[:, None, :] - anchors[None, :, :], axis=2)
        assert hasher.sigmas[modality] == pytest.approx(distances.mean())
        weights, offset = hasher.projections[modality]
        assert weights.shape == (7, 6)
        np.testing.assert_allclose(hasher.project(modality, features[:3]),
                                   np.exp(-distances[:3] ** 2 / (2 * hasher.sigmas[modality] ** 2)) @ weights + offset)
        if name == "seph-rnd":  # distinct training rows
            rows = [np.flatnonzero((features == anchor).all(axis=1)) for anchor in anchors]
            assert all(len(r) == 1 for r in rows) and len({int(r[0]) for r in rows}) == 7
        else:  # k-means centres: every row's nearest anchor is the mean of the rows nearest to it
            nearest = distances.argmin(axis=1)
            np.testing.assert_allclose(anchors, [features[nearest == k].mean(axis=0) for k in range(7)])


def test_kmeans_centres_of_two_clusters_and_an_empty_start():
    images, texts, labels = two_clusters(40, seed=0)
    start = images[[0, 2]]  # both of class 0: a bad start that Lloyd's steps repair
    centres = kmeans_centres(images, start, iterations=100)
    means = [images[labels[:, k] > 0].mean(axis=0) for k in (0, 1)]
    np.testing.assert_allclose(sorted(centres.tolist()), sorted(np.array(means).tolist()))
    # Equal start centres: the second one's cluster is empty and restarts at the farthest row (11),
    # then rows {0, 1} and {10, 11} split.
    points = np.array([[0.0], [1.0], [10.0], [11.0]])
    np.testing.assert_allclose(kmeans_centres(points, np.zeros((2, 1)), iterations=10), [[0.5], [10.5]])


def test_more_anchors_than_training_rows_warns_and_uses_every_row(capsys):
    images, texts, labels = two_clusters(12, seed=0)
    hasher = make_baseline("seph-rnd", 4, anchors=500).fit(images, texts, labels)
    assert "SePH-rnd: 500 anchors asked for but only 12 training rows; using 12 anchors" in capsys.readouterr().err
    np.testing.assert_array_equal(hasher.anchors["image"], images)  # every row, in row order
    np.testing.assert_array_equal(hasher.anchors["text"], texts)


def test_kernel_seph_bad_settings_are_refused():
    for anchors in (0, 2.5, True):
        with pytest.raises(ConfigError, match=f"SePH-rnd: anchors must be a positive integer, received {anchors!r}"):
            make_baseline("seph-rnd", 8, anchors=anchors)
    with pytest.raises(ConfigError, match="SePH-km: kmeans_iterations must be a positive integer, received 0"):
        make_baseline("seph-km", 8, kmeans_iterations=0)
    images, texts, labels = two_clusters(10, seed=0)
    with pytest.raises(DataError, match="SePH-km text features: every training row is the same"):
        make_baseline("seph-km", 4, anchors=3).fit(images, np.ones_like(texts), labels)


def random_pairs(n: int, seed: int):
    """Features without structure, so that STMH's updates have something to do in every round."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)), rng.standard_normal((n, 4)) * 2 + 1, np.eye(3)[np.arange(n) % 3]


def test_stmh_objective_never_increases():
    images, texts, labels = random_pairs(40, seed=0)
    hasher = make_baseline("stmh", 7, seed=1, iterations=30, tolerance=0.0, lam=2.0).fit(images, texts, labels)
    steps = np.diff(hasher.objectives)
    assert len(hasher.objectives) == 30 and np.all(steps <= 1e-9 * hasher.objectives[0])
    assert hasher.objectives[-1] < hasher.objectives[0]


def test_stmh_texts_contain_their_nearest_topics_and_codes_are_balanced():
    images, texts, labels = random_pairs(40, seed=2)
    hasher = make_baseline("stmh", 7, seed=0).fit(images, texts, labels)
    queries = random_pairs(9, seed=3)
    distances = np.linalg.norm(queries[1][:, None, :] - hasher.centres.T[None, :, :], axis=2)
    nearest = np.argsort(distances, axis=1)[:, :4]  # ⌈7/2⌉ = 4 topics an item
    expected = -np.ones((9, 7), dtype=np.int8)
    np.put_along_axis(expected, nearest, 1, axis=1)
    np.testing.assert_array_equal(hasher.encode_texts(queries[1]), expected)
    for codes in (hasher.codes, hasher.encode_images(queries[0]), hasher.encode_texts(queries[1])):
        assert np.all((codes > 0).sum(axis=1) == 4)
    # Ties go to the lower bit index, so that equal scores still set exactly k bits.
    np.testing.assert_array_equal(top_codes(np.array([[1.0, 2.0, 2.0, 0.0], [3.0, 3.0, 3.0, 3.0]]), 2),
                                  [[-1, 1, 1, -1], [1, 1, -1, -1]])


def test_stmh_regression_hash_functions_are_ridge_regressions_of_the_codes():
    images, texts, labels = random_pairs(40, seed=4)
    hasher = make_baseline("stmh", 6, seed=0, hash_functions="regression", ridge=0.5).fit(images, texts, labels)
    centred = images - images.mean(axis=0)
    covariance = centred.T @ centred
    weights = np.linalg.solve(covariance + 0.5 * np.trace(covariance) / 6 * np.eye(6), centred.T @ hasher.codes)
    np.testing.assert_allclose(hasher.project("image", images), centred @ weights, atol=1e-10)
    np.testing.assert_array_equal(hasher.encode_images(images), np.where(centred @ weights >= 0, 1, -1))


def test_stmh_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="STMH: every item contains half of the topics, so a code needs at least 2 "
                                          "bits, received 1"):
        make_baseline("stmh", 1)
    with pytest.raises(ConfigError, match="STMH: hash_functions must be one of topics, regression, received 'sign'"):
        make_baseline("stmh", 8, hash_functions="sign")
    with pytest.raises(ConfigError, match="lam and gamma must be > 0, received .*gamma=0"):
        make_baseline("stmh", 8, gamma=0)


def test_zscore_uses_the_given_rows_and_is_idempotent():
    matrix = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 7.0]])
    scaled = zscore_columns(matrix, np.array([0, 1]))
    # rows 0 and 1: column 0 has mean 2, std 1; column 1 is constant there (only centred)
    np.testing.assert_allclose(scaled, [[-1.0, 0.0], [1.0, 0.0], [98.0, 2.0]])
    np.testing.assert_allclose(zscore_columns(scaled, np.array([0, 1])), scaled)


def test_bad_inputs_are_refused():
    images, texts, labels = two_clusters(10, seed=0)
    with pytest.raises(ConfigError, match="bits must be a positive integer, received 0"):
        make_baseline("cca-itq", 0)
    with pytest.raises(ConfigError, match="unknown baseline 'itq'; expected one of cca-itq"):
        make_baseline("itq", 8)
    with pytest.raises(DataError, match="one row per pair, received 10, 9 and 10 rows"):
        make_baseline("scm-seq", 4).fit(images, texts[:9], labels)
    with pytest.raises(ConfigError, match="not fitted"):
        make_baseline("cmfh", 4).encode_images(images)
    hasher = make_baseline("cmfh", 4).fit(images, texts, labels)
    with pytest.raises(DataError, match="expected 4 dimensions"):
        hasher.encode_texts(images)
    with pytest.raises(DataError, match="finite"):
        make_baseline("cca-itq", 4).fit(np.full_like(images, np.nan), texts, labels)
