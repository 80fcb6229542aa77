"""The query path without TensorFlow: the run's ONNX encoders (RUN/onnx) against Keras on the run's
data, pictures decoded and resized with Pillow and NumPy, the NumPy scan against faiss, what `search`
shows, the collapse warning, and the messages of a query given in the wrong option."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dcmh_tf.cli import main
from dcmh_tf.errors import DataError
from test_collection import headline, trained_collection  # noqa: F401  (a module-scoped fixture: a tiny trained collection)

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def collection(trained_collection):  # noqa: F811
    """The tiny trained collection with its RUN/onnx written."""
    from dcmh_tf.export.run_onnx import ensure_run_onnx
    from dcmh_tf.run_directory import RunDirectory

    ensure_run_onnx(RunDirectory.open(trained_collection / "run"))
    return trained_collection


def test_onnx_encoders_give_the_codes_of_keras_on_the_runs_data(collection):
    """Every database picture (16 px, resized to the run's 59 px by NumPy for onnxruntime and by
    tf.image for Keras) and every text: the same codes, bit for bit, through either runtime."""
    from dcmh_tf.retrieval.searcher import build_index

    for modality in ("image", "text"):
        through_onnx = build_index(collection / "run", modality=modality, part="all", encoders="onnx")
        through_keras = build_index(collection / "run", modality=modality, part="all", encoders="tensorflow")
        assert len(through_onnx) == 24
        np.testing.assert_array_equal(through_onnx.codes(), through_keras.codes(), err_msg=modality)
        assert len(np.unique(through_keras.codes(), axis=0)) > 1 or modality == "image"  # not a constant answer


def test_picture_and_text_queries_answer_the_same_through_either_runtime(collection):
    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.searcher import search_index

    index = HammingIndex.load(collection / "images.npz")
    picture = collection / "table" / "pics" / "3.jpg"
    for query in ({"image": picture}, {"text": headline("sport", 4)}):
        answers = [search_index(collection / "run", index, top=24, encoders=encoders, **query)
                   for encoders in ("onnx", "tensorflow")]
        assert answers[0]["encoders"] == "onnx" and answers[1]["encoders"] == "tensorflow"
        assert answers[0]["results"] == answers[1]["results"]


def test_stale_onnx_files_are_never_used(collection, tmp_path):
    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.onnx_encoders import RECORD, OnnxEncoders, is_fresh
    from dcmh_tf.retrieval.searcher import Searcher
    from dcmh_tf.run_directory import RunDirectory

    import h5py

    copy = tmp_path / "run"
    shutil.copytree(collection / "run", copy)
    run = RunDirectory.open(copy)
    assert is_fresh(run) and json.loads((copy / "onnx" / RECORD).read_text())["weights"]
    weights = copy / "checkpoint" / "text_encoder.weights.h5"
    shutil.copy(weights, tmp_path / "same.h5")
    os.replace(tmp_path / "same.h5", weights)  # the same bytes in a new file: hashed again, still fresh
    assert is_fresh(run)
    assert json.loads((copy / "onnx" / RECORD).read_text())["weights"] == [list(s) for s in run.weights_stamp()]
    shutil.copy(weights, tmp_path / "trained.h5")
    with h5py.File(tmp_path / "trained.h5", "r+") as f:  # as if the run had trained further since
        first = next(f[name] for name in _datasets(f))
        first[...] = first[...] + 1.0
    os.replace(tmp_path / "trained.h5", weights)
    assert not is_fresh(run) and OnnxEncoders.open(run) is None
    index = HammingIndex.load(collection / "images.npz")
    with pytest.raises(DataError, match="no ONNX encoders of its current weights"):
        Searcher(copy, index, encoders="onnx", allow_other_run=True)
    assert Searcher(copy, index, allow_other_run=True).backend == "tensorflow"


def _datasets(group) -> list[str]:
    names = []
    group.visit(lambda name: names.append(name) if hasattr(group[name], "shape") and group[name].size else None)
    return names


def test_a_search_from_the_command_line_imports_neither_tensorflow_nor_faiss(collection):
    script = textwrap.dedent(f"""
        import json, sys
        from dcmh_tf.cli import main
        try:
            main(["search", {str(collection / "run")!r}, "--index", {str(collection / "images.npz")!r},
                  "--text", {headline("economy", 5)!r}, "--json"], prog_name="dcmh-tf")
        except SystemExit as exit:
            code = exit.code
        print(json.dumps({{"code": code, "heavy": sorted(m for m in ("tensorflow", "keras", "faiss") if m in sys.modules)}}))
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                               env={"PYTHONPATH": str(REPOSITORY), "PATH": "/usr/bin:/bin"})
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}, completed.stderr[-2000:]
    found = json.loads(completed.stdout[:completed.stdout.rindex("\n{")])
    assert found["encoders"] == "onnx" and len(found["results"]) == 10


def test_the_numpy_scan_answers_as_the_faiss_index_with_ties_in_index_order():
    from dcmh_tf.hashing import pack_codes, packed_hamming_distances, to_words
    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.searcher import rank_by_distance

    rng = np.random.default_rng(5)
    codes = np.where(rng.random((600, 6)) < 0.5, 1, -1).astype(np.int8)  # 64 possible codes: ties everywhere
    index = HammingIndex.from_codes(codes)
    queries = np.where(rng.random((12, 6)) < 0.5, 1, -1).astype(np.int8)
    for query in queries:
        distances = packed_hamming_distances(to_words(pack_codes(query[None])), to_words(index.packed), 6)[0]
        for top in (1, 7, 100, 600):
            positions, expected = index.search(query[None], top)
            np.testing.assert_array_equal(rank_by_distance(distances, top, None), positions[0])
            np.testing.assert_array_equal(distances[positions[0]], expected[0])
        for radius, top in ((0, None), (2, None), (2, 5)):
            positions, _ = index.within_radius(query[None], radius)[0]
            np.testing.assert_array_equal(rank_by_distance(distances, top, radius), positions[:top])


def test_the_count_at_distance_zero_is_every_code_at_zero_whatever_the_answer_holds():
    """The collapse warning's count of codes at distance 0 from a query, on flat indexes (one file and
    shards): taken from the answer where it holds them all, else from a radius-0 search, it is the
    radius-0 search's count in every case: a radius search cut by top, a top k with room past the zeros,
    a top k full of zeros, and a top k larger than the index."""
    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.retrieval.searcher import Searcher
    from dcmh_tf.retrieval.shards import ShardedIndex

    rng = np.random.default_rng(7)
    codes = np.where(rng.random((600, 6)) < 0.5, 1, -1).astype(np.int8)  # about 9 copies of each code
    whole = HammingIndex.from_codes(codes)
    shards = ShardedIndex([HammingIndex.from_codes(codes[:250]), HammingIndex.from_codes(codes[250:])])
    tiny = HammingIndex.from_codes(codes[:4])
    for index in (whole, shards, tiny):
        searcher = object.__new__(Searcher)
        searcher.index, searcher.scan = index, False
        for query, in_index in ((codes[0], True), (codes[1], True), (-codes[2], False)):
            every = len(index.within_radius(query[None], 0)[0][0])
            assert every > 0 or not in_index
            cases = [(None, 2), (3, 2), (None, None), (5, None), (every, None), (every + 1, None), (600, None)]
            for top, radius in cases:
                positions, distances, at_zero = searcher._find(query[None], top, radius)
                assert at_zero == every, (len(index), top, radius)
                expected = (index.search(query[None], top or 10) if radius is None
                            else [a[None, :top] for a in index.within_radius(query[None], radius)[0]])
                np.testing.assert_array_equal(positions, expected[0][0])
                np.testing.assert_array_equal(distances, expected[1][0])


def test_search_shows_pictures_texts_labels_and_whether_they_share_the_querys_label(collection):
    text = headline("economy", 9)  # a query item's text: its label (economy) is known
    result = CliRunner().invoke(main, ["search", str(collection / "run"), "--index", str(collection / "images.npz"),
                                       "--text", text, "--top", "16"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("(query labels: economy):")
    assert sum(line.strip().startswith("picture: ") for line in lines) == 16
    assert sum(line.strip().startswith("text: ") for line in lines) == 16
    sport = [line for line in lines if line.rstrip().endswith("sport  [no shared label]")]
    economy = [line for line in lines if line.rstrip().endswith("economy  [shares a label]")]
    assert len(sport) + len(economy) == 16
    assert lines[-1] == f"{len(economy)} of 16 results share a label with the query."
    first_picture = next(line for line in lines if line.strip().startswith("picture: ")).split(": ", 1)[1]
    assert Path(first_picture).is_file()
    result = CliRunner().invoke(main, ["search", str(collection / "run"), "--index", str(collection / "images.npz"),
                                       "--text", text, "--labels", "sport", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["results"][0]["text"] in result.stdout and "\\u" not in result.stdout  # Chinese as is, UTF-8
    assert found["query_labels"] == ["sport"]
    assert all(hit["shares_label"] == ("sport" in hit["labels"]) for hit in found["results"])
    assert all(Path(hit["image_path"]).is_file() and hit["text"] for hit in found["results"])


def test_code_spread_and_the_collapse_warning():
    from dcmh_tf.hashing import code_spread, collapse_warning

    spread = code_spread(np.array([[1, -1], [1, -1], [1, -1], [-1, 1], [1, 1], [-1, -1]], np.int8))
    assert spread == {"items": 6, "distinct": 4, "largest_share": 0.5}
    assert collapse_warning(spread) is None
    assert collapse_warning(spread, query_share=0.5) is None
    message = collapse_warning(spread, query_share=4 / 6)
    assert "4 distinct codes among 6 database items" in message and "66.7% lie within radius 0" in message
    collapsed = code_spread(np.packbits(np.ones((10, 8), bool), axis=1))
    assert collapsed == {"items": 10, "distinct": 1, "largest_share": 1.0}
    assert "1 distinct codes among 10 index items, the largest group holds 100.0%" in collapse_warning(
        collapsed, what="index")


def test_search_warns_with_the_figures_when_the_index_codes_have_collapsed(collection, tmp_path):
    from dcmh_tf.retrieval.index import HammingIndex
    from dcmh_tf.run_directory import RunDirectory

    run = RunDirectory.open(collection / "run")
    index = HammingIndex.load(collection / "images.npz")
    same = np.ones((len(index), run.config.bits), np.int8)
    HammingIndex.from_codes(same, ids=index.ids, labels=index.labels, label_names=index.label_names,
                            dataset=index.dataset, run=run.identity()).save(tmp_path / "collapsed.npz")
    result = CliRunner().invoke(main, ["search", str(run.path), "--index", str(tmp_path / "collapsed.npz"),
                                       "--text", headline("sport", 2)])
    assert result.exit_code == 0, result.output
    assert (f"the codes have collapsed (1 distinct codes among {len(index)} database items, the largest group "
            f"holds 100.0%") in result.stderr
    result = CliRunner().invoke(main, ["search", str(run.path), "--index", str(collection / "images.npz"),
                                       "--text", headline("sport", 2), "--json"])
    found = json.loads(result.stdout)
    spread = found["codes"]
    assert spread["items"] == len(index) and spread["distinct"] == len(np.unique(index.packed, axis=0))
    assert ("collapsed" in result.stderr) == (found["warning"] is not None)


def test_evaluation_reports_the_spread_of_the_database_codes(collection, monkeypatch):
    from dcmh_tf.data.loading import load_dataset
    from dcmh_tf.evaluation.scoring import encode_split, evaluate_encoders
    from dcmh_tf.hashing import code_spread
    from dcmh_tf.run_directory import RunDirectory

    run = RunDirectory.open(collection / "run")
    data, split = load_dataset(run.config), run.load_split()
    image_encoder, text_encoder, _ = run.restore_encoders()
    metrics = evaluate_encoders(image_encoder, text_encoder, data, split, 8)
    codes = encode_split(image_encoder, text_encoder, data, split, 8)
    assert metrics["codes"] == {m: code_spread(codes["database", m]) for m in ("image", "text")}
    collapsed = {"items": 18, "distinct": 2, "largest_share": 17 / 18}
    import dcmh_tf.evaluation.scoring as scoring

    monkeypatch.setattr(scoring, "evaluate_run", lambda *a, **k: dict(
        metrics, codes={"image": collapsed, "text": metrics["codes"]["text"] | {"distinct": 9, "largest_share": 0.2}},
        bits=8, epoch=2, dataset="collection", topk=500))
    result = CliRunner().invoke(main, ["evaluate", str(run.path), "--json"])
    assert result.exit_code == 0, result.output
    assert "2 distinct codes among 18 database image items, the largest group holds 94.4%" in result.stderr
    assert "database text" not in result.stderr


def test_resize_matches_tensorflows_antialiased_bilinear():
    import tensorflow as tf

    from dcmh_tf.data.pictures import resize_antialiased

    rng = np.random.default_rng(0)
    for height, width, size in ((37, 53, 16), (200, 150, 64), (10, 7, 64), (64, 64, 59), (300, 41, 224)):
        pixels = rng.integers(0, 256, (height, width, 3)).astype(np.float32)
        expected = tf.image.resize(pixels[None], (size, size), method="bilinear", antialias=True).numpy()[0]
        np.testing.assert_allclose(resize_antialiased(pixels, size), expected, atol=0.01, rtol=0)


def test_pictures_are_read_from_their_bytes_with_one_line_errors(tmp_path):
    from dcmh_tf.data.pictures import decode_picture, read_picture_pixels

    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    image.save(tmp_path / "real.png", format="JPEG")  # a JPEG named .png: read as what it is
    assert decode_picture((tmp_path / "real.png").read_bytes()).shape == (20, 30, 3)
    assert read_picture_pixels((tmp_path / "real.png").read_bytes(), 8).shape == (1, 8, 8, 3)
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))  # fully transparent: laid on white
    buffer = tmp_path / "alpha.png"
    rgba.save(buffer)
    assert (decode_picture(buffer.read_bytes()) == 255).all()
    cases = {b"just a text file\n": "expected a PNG, JPEG, GIF or BMP picture, received 17 bytes of something else",
             (tmp_path / "real.png").read_bytes()[:300]: "received a truncated one",
             b"": "received an empty file"}
    image.save(tmp_path / "x.tif", format="TIFF")
    cases[(tmp_path / "x.tif").read_bytes()] = "received a TIFF picture"
    for data, message in cases.items():
        with pytest.raises(DataError, match=message) as error:
            decode_picture(data, "q.jpg")
        assert "\n" not in str(error.value) and "BytesIO" not in str(error.value)


def test_a_damaged_picture_query_prints_one_line_and_nothing_from_tensorflow(collection, tmp_path):
    (tmp_path / "text.jpg").write_text("中国队获得银牌", encoding="utf-8")
    (tmp_path / "cut.jpg").write_bytes((collection / "table" / "pics" / "3.jpg").read_bytes()[:400])
    for name, message in (("text.jpg", "expected a PNG, JPEG, GIF or BMP picture, received"),
                          ("cut.jpg", "received a truncated one")):
        completed = subprocess.run(
            [sys.executable, "-m", "dcmh_tf.cli", "search", str(collection / "run"), "--index",
             str(collection / "images.npz"), "--image", str(tmp_path / name)],
            capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPOSITORY), "PATH": "/usr/bin:/bin"})
        assert completed.returncode == 1
        assert completed.stderr.startswith("Error: ") and message in completed.stderr
        assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr


def test_unknown_words_of_an_unspaced_text_are_what_matched_nothing():
    from dcmh_tf.text import Tokenizer

    tokenizer = Tokenizer(mode="characters", vocabulary=("中国", "队", "获得", "nba"))
    assert tokenizer.unknown_words("中国队获得银牌，NBA zork 队员") == ["银牌", "zork", "员"]
    assert "队获" in tokenizer.unknown_tokens("中国队获得银牌")  # the bigrams the old field listed
    words = Tokenizer(mode="words", vocabulary=("sky",))
    assert words.unknown_words("Sky and sea") == ["and", "sea"]


def test_a_text_in_the_wrong_option_points_to_text(collection, tmp_path):
    runner = CliRunner()
    base = ["search", str(collection / "run"), "--index", str(collection / "images.npz")]
    result = runner.invoke(main, base + ["--tags", "中国队获得银牌"])
    assert result.exit_code == 1
    assert "They look like a sentence: search it with --text instead of --tags." in result.output
    result = runner.invoke(main, base + ["--image", "中国队获得银牌"])
    assert result.exit_code == 2
    assert "expected a picture file, received '中国队获得银牌', which is not a file; to search by a text" in result.output
    copy = tmp_path / "run"  # a run whose first query fails: its ONNX files are not written for nothing
    shutil.copytree(collection / "run", copy, ignore=shutil.ignore_patterns("onnx"))
    result = runner.invoke(main, ["search", str(copy), "--index", str(collection / "images.npz"), "--text", "zork"])
    assert result.exit_code == 1 and "no token of the text 'zork' (zork)" in result.output
    assert not (copy / "onnx").exists()
    result = runner.invoke(main, base + ["--text", "经济增长 zork"])
    assert result.exit_code == 0 and "words of the text not in the run's vocabulary, ignored: zork" in result.stderr


def test_encode_keeps_another_runs_index_unless_forced(collection, tmp_path):
    from dcmh_tf.retrieval.index import HammingIndex

    other = tmp_path / "other.npz"
    index = HammingIndex.load(collection / "images.npz")
    HammingIndex.from_codes(index.codes(), ids=index.ids, run={"path": "runs/demo", "fingerprint": "0123456789abcdef"}
                            ).save(other)
    runner = CliRunner()
    result = runner.invoke(main, ["encode", str(collection / "run"), "-o", str(other), "--no-progress"])
    assert result.exit_code == 1
    assert "received an index encoded by run runs/demo (weights 0123456789abcdef)" in result.output
    assert "--force" in result.output and HammingIndex.load(other).run["path"] == "runs/demo"
    (tmp_path / "notes.npz").write_bytes(b"not an index")
    result = runner.invoke(main, ["encode", str(collection / "run"), "-o", str(tmp_path / "notes.npz")])
    assert result.exit_code == 1 and "is not a dcmh-tf index" in result.output
    result = runner.invoke(main, ["encode", str(collection / "run"), "-o", str(other), "--force", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert HammingIndex.load(other).run["path"] == str(collection / "run")
    result = runner.invoke(main, ["encode", str(collection / "run"), "-o", str(other), "--no-progress"])
    assert result.exit_code == 0, result.output  # the run's own index is encoded again without --force
