"""Public API, kept at its documented path: the metrics of hash codes live in `dcmh_tf.evaluation.metrics`
(docs/architecture.md, "The public API")."""

from dcmh_tf.evaluation.metrics import (  # noqa: F401
    DEFAULT_TOPK,
    PRECISION_NS,
    TABLE_RADII,
    RetrievalScores,
    hamming_distances,
    hash_lookup_precision_recall,
    mean_average_precision,
    precision_at_n,
    precision_recall_at_radius,
    precision_recall_f,
    retrieval_scores,
)
