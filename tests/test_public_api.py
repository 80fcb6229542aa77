"""The documented import paths keep working after the move to stage packages (docs/architecture.md)."""

import dcmh_tf.evaluation.metrics
import dcmh_tf.retrieval.index
import dcmh_tf.retrieval.searcher


def test_old_paths_are_the_same_objects_as_the_new_ones():
    from dcmh_tf import index, metrics, search

    assert metrics.mean_average_precision is dcmh_tf.evaluation.metrics.mean_average_precision
    assert metrics.retrieval_scores is dcmh_tf.evaluation.metrics.retrieval_scores
    assert index.HammingIndex is dcmh_tf.retrieval.index.HammingIndex
    assert index.linear_scan_search is dcmh_tf.retrieval.index.linear_scan_search
    assert search.search_index is dcmh_tf.retrieval.searcher.search_index
    assert search.Searcher is dcmh_tf.retrieval.searcher.Searcher
    assert search.decode_image is dcmh_tf.retrieval.searcher.decode_image


def test_export_keeps_its_documented_names():
    import dcmh_tf.export

    for name in ("export_run", "FORMATS", "attach_heads", "quantize", "SignCodes", "PackBits"):
        assert hasattr(dcmh_tf.export, name), name
