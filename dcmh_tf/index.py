"""Public API, kept at its documented path: the Hamming index lives in `dcmh_tf.retrieval.index`
(docs/architecture.md, "The public API")."""

from dcmh_tf.retrieval.index import INDEX_TYPES, MODALITIES, HammingIndex, linear_scan_search  # noqa: F401
