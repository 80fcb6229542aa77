"""Public API, kept at its documented path: search lives in `dcmh_tf.retrieval.searcher`
(docs/architecture.md, "The public API")."""

from dcmh_tf.retrieval.searcher import Searcher, build_index, decode_image, search_index  # noqa: F401
