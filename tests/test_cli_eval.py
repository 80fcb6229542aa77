"""`dcmh-tf evaluate`, `encode` and `search` on a real tiny run."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from dcmh_tf.cli import main
from dcmh_tf.data.paired import PairedData
from dcmh_tf.errors import DataError
from dcmh_tf.hashing import sign_codes
from dcmh_tf.retrieval.index import HammingIndex
from dcmh_tf.run_directory import RunDirectory


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    from dcmh_tf.config import resolve_config
    from dcmh_tf.training.trainer import fit

    config = resolve_config("demo", bits=8, hidden=32, epochs=1, batch_size=64, n_query=8, n_train=16, seed=3, jit=False)
    path = tmp_path_factory.mktemp("eval") / "run"
    fit(config, path, progress=False, echo=lambda message: None)
    return path


@pytest.fixture(scope="module")
def image_index(run_path, tmp_path_factory):
    """The run's database pictures, encoded by `dcmh-tf encode` (defaults)."""
    path = tmp_path_factory.mktemp("index") / "images.npz"
    result = CliRunner().invoke(main, ["encode", str(run_path), "--output", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"wrote {path}: 1992 image codes of 8 bits (demo)" in result.output
    return path


def test_evaluate_prints_the_table_writes_plots_and_metrics(run_path, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(run_path), "--topk", "50", "--plot", str(tmp_path / "plots"),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["I→T", "T→I"])
    names = [line.rsplit(maxsplit=2)[0] for line in lines[header + 1:]]
    assert names == ["MAP", "MAP@50", "P@10", "P@100", "P@1000"] + [
        f"{name} r≤{r}" for r in (0, 1, 2) for name in ("precision", "recall", "F-measure")]

    metrics = json.loads((run_path / "metrics.json").read_text())
    assert isinstance(metrics["map_i2t"], float) and isinstance(metrics["map_t2i"], float) and metrics["bits"] == 8
    assert metrics["topk"] == 50 and metrics["i2t"]["map"] == metrics["map_i2t"]
    map_row = next(line for line in lines if line.startswith("MAP "))
    assert map_row.split()[1:] == [f"{metrics['map_i2t']:.4f}", f"{metrics['map_t2i']:.4f}"]
    for direction in ("i2t", "t2i"):
        curve = metrics[direction]["pr_curve"]
        assert len(curve["precision"]) == 9 and curve["recall"][-1] == pytest.approx(1.0)
        assert set(metrics[direction]["radius"]) == {"0", "1", "2"}

    import matplotlib.image

    for name in ("pr_curve.png", "precision_at_n.png"):
        picture = matplotlib.image.imread(tmp_path / "plots" / name)
        assert picture.shape[0] > 300 and picture.shape[1] > 400
        assert picture[..., :3].std() > 0.05  # something is drawn


def test_encode_writes_the_codes_of_the_database(run_path, image_index):
    run = RunDirectory.open(run_path)
    split = run.load_split()
    index = HammingIndex.load(image_index)
    assert (index.bits, index.modality, index.dataset) == (8, "image", "demo")
    np.testing.assert_array_equal(index.ids, split.database)
    from dcmh_tf.data.loading import load_dataset

    data = load_dataset(run.config)
    np.testing.assert_array_equal(index.labels, data.labels[split.database])
    assert index.label_names == list(data.label_names)
    image_encoder, _, _ = run.restore_encoders()
    rows = split.database[:5]
    expected = sign_codes(image_encoder(data.images[rows].astype(np.float32), training=False))
    np.testing.assert_array_equal(index.codes()[:5], expected)


def test_search_by_tags_warns_about_unknown_tags(run_path, image_index):
    result = CliRunner().invoke(main, ["search", str(run_path), "--index", str(image_index),
                                       "--tags", "red,circle nosuchtag", "--top", "4", "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: tags not in the run's vocabulary, ignored: nosuchtag" in result.stderr
    found = json.loads(result.stdout)
    assert found["query"] == "tags" and found["unknown_tags"] == ["nosuchtag"]
    assert [hit["rank"] for hit in found["results"]] == [1, 2, 3, 4]
    distances = [hit["distance"] for hit in found["results"]]
    assert distances == sorted(distances)

    result = CliRunner().invoke(main, ["search", str(run_path), "--index", str(image_index), "--tags", "foo, qux"])
    assert result.exit_code == 1
    assert "none of the tags foo, qux is in the run's vocabulary of 96 tags (for example: circle, round" in result.output


def test_search_by_picture_ranks_the_index_by_hamming_distance(run_path, image_index, tmp_path):
    from PIL import Image

    from dcmh_tf.data.loading import load_dataset
    from dcmh_tf.retrieval.searcher import read_image

    run = RunDirectory.open(run_path)
    picture = load_dataset(run.config).images[0]
    Image.fromarray(picture).resize((90, 70)).save(tmp_path / "query.png")  # another size: resized
    result = CliRunner().invoke(main, ["search", str(run_path), "--index", str(image_index), "--image",
                                       str(tmp_path / "query.png"), "--top", "3"])
    assert result.exit_code == 0, result.output
    hits = [line.split() for line in result.stdout.splitlines()[1:]]  # stderr may say RUN/onnx was written
    assert len(hits) == 3

    # the same query by hand: decode, resize, encode, brute-force ranking of the index
    image_encoder, _, _ = run.restore_encoders()
    query = sign_codes(image_encoder(read_image(tmp_path / "query.png", 64), training=False))
    index = HammingIndex.load(image_index)
    distances = (index.codes() != query).sum(axis=1)
    expected = sorted(range(len(index)), key=lambda j: (distances[j], j))[:3]
    assert [(int(hit[2]), int(hit[4])) for hit in hits] == [(index.ids[j], distances[j]) for j in expected]


def test_search_refuses_an_index_of_another_code_length(run_path, tmp_path):
    HammingIndex.from_codes(np.ones((3, 16))).save(tmp_path / "other.npz")
    result = CliRunner().invoke(main, ["search", str(run_path), "--index", str(tmp_path / "other.npz"), "--tags", "red"])
    assert result.exit_code == 1
    assert f"run {run_path} has 8-bit codes but the index holds 16-bit codes" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, code, message", [
    (["--tags", "red", "--image", "x.png"], 2, "give exactly one of --image, --tags and --text"),
    ([], 2, "give exactly one of --image, --tags and --text"),
    (["--image", "missing.png"], 2, "expected a picture file, received 'missing.png', which is not a file"),
])
def test_search_bad_queries(run_path, image_index, args, code, message):
    result = CliRunner().invoke(main, ["search", str(run_path), "--index", str(image_index), *args])
    assert result.exit_code == code
    assert message in result.output


def test_search_refuses_a_file_that_is_not_a_picture(run_path, image_index, tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    result = CliRunner().invoke(main, ["search", str(run_path), "--index", str(image_index),
                                       "--image", str(tmp_path / "notes.png")])
    assert result.exit_code == 1
    assert (f"{tmp_path / 'notes.png'}: expected a PNG, JPEG, GIF or BMP picture, received 13 bytes of something "
            f"else") in result.output


def test_a_dataset_of_other_sizes_is_refused(run_path):
    from dcmh_tf.retrieval.searcher import check_inputs_match

    run = RunDirectory.open(run_path)
    other = PairedData(name="other", images=np.zeros((2, 32, 32, 3), np.uint8), texts=np.zeros((2, 5), np.float32),
                       labels=np.ones((2, 1), np.uint8))
    with pytest.raises(DataError, match="other has 5-word bags of words, but the text encoder of run .* takes "
                                        "96-word bags of words"):
        check_inputs_match(run, other, "text")
    with pytest.raises(DataError, match="other has 32×32 pictures, but the image encoder .* takes 64×64 pictures"):
        check_inputs_match(run, other, "image")


def test_encoding_traces_the_forward_pass_once_per_encoder(run_path):
    from dcmh_tf.data.loading import load_dataset
    from dcmh_tf.evaluation.scoring import compiled_forward, encode

    run = RunDirectory.open(run_path)
    data = load_dataset(run.config)
    _, text_encoder, _ = run.restore_encoders()
    first = encode(text_encoder, data.texts, np.arange(20), batch_size=8)  # batches of 8, 8 and 4
    second = encode(text_encoder, data.texts, np.arange(5, 8), batch_size=2)
    np.testing.assert_allclose(second, first[5:8], rtol=1e-5, atol=1e-6)
    forward = compiled_forward(text_encoder)
    assert forward is compiled_forward(text_encoder)
    assert forward.experimental_get_tracing_count() == 1


def test_encode_refuses_a_dataset_of_another_kind(run_path, tmp_path):
    result = CliRunner().invoke(main, ["encode", str(run_path), "--dataset", "features", "--data-path",
                                       str(tmp_path / "features.mat"), "--output", str(tmp_path / "x.npz")])
    assert result.exit_code == 1
    assert f"run {run_path} encodes pictures, and dataset 'features' holds image features" in result.output
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("index_type, extra", [
    ("flat", []), ("multihash", ["--nhash", "1", "--nflip", "8"]), ("hnsw", ["--hnsw-m", "8", "--ef-search", "2000"]),
    ("ivf", ["--nlist", "8", "--nprobe", "8"]),
])
def test_encode_each_index_type_and_search_it(run_path, image_index, tmp_path, index_type, extra):
    path = tmp_path / f"{index_type}.npz"
    result = CliRunner().invoke(main, ["encode", str(run_path), "-o", str(path), "--no-progress",
                                       "--index-type", index_type, *extra])
    assert result.exit_code == 0, result.output
    assert f"{index_type} index" in result.output
    found = json.loads(CliRunner().invoke(main, ["search", str(run_path), "--index", str(path), "--tags", "red",
                                                 "--top", "5", "--json"]).stdout)
    exact = json.loads(CliRunner().invoke(main, ["search", str(run_path), "--index", str(image_index), "--tags",
                                                 "red", "--top", "5", "--json"]).stdout)
    distances = [hit["distance"] for hit in found["results"]]
    exact_distances = [hit["distance"] for hit in exact["results"]]
    if index_type == "hnsw":
        # a graph walk over 1992 codes of 8 bits (256 values, ties everywhere) may stop at a local
        # optimum: five results, nearest first, none nearer than the exact ones
        assert len(distances) == 5 and distances == sorted(distances)
        assert all(d >= e for d, e in zip(distances, exact_distances))
    else:  # ivf probes every cell here and multihash may flip all 8 bits: the exact distances
        assert distances == exact_distances
    if index_type == "flat":
        assert found["results"] == exact["results"]


def test_search_refuses_an_index_of_another_run_unless_told(run_path, tmp_path):
    from dcmh_tf.retrieval.searcher import build_index

    index = build_index(run_path)
    index.run = {"path": "runs/other", "fingerprint": "0123456789abcdef"}
    path = index.save(tmp_path / "foreign.npz")
    result = CliRunner().invoke(main, ["search", str(run_path), "--index", str(path), "--tags", "red"])
    assert result.exit_code == 1
    assert "encoded by run runs/other (weights 0123456789abcdef)" in result.output
    assert "--allow-other-run" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["search", str(run_path), "--index", str(path), "--tags", "red",
                                       "--allow-other-run"])
    assert result.exit_code == 0, result.output


def test_encode_in_shards_then_search_the_folder_as_one_index(run_path, image_index, tmp_path):
    for k in (1, 2, 3):
        result = CliRunner().invoke(main, ["encode", str(run_path), "-o", str(tmp_path / "parts" / f"p{k}.npz"),
                                           "--shard", f"{k}/3", "--no-progress"])
        assert result.exit_code == 0, result.output
        assert f"part {k}/3" in result.output
    sizes = [len(HammingIndex.load(tmp_path / "parts" / f"p{k}.npz")) for k in (1, 2, 3)]
    assert sum(sizes) == len(HammingIndex.load(image_index)) and max(sizes) - min(sizes) <= 1
    query = ["--tags", "red", "--top", "30", "--json"]
    sharded = CliRunner().invoke(main, ["search", str(run_path), "--index", str(tmp_path / "parts"), *query])
    whole = CliRunner().invoke(main, ["search", str(run_path), "--index", str(image_index), *query])
    assert sharded.exit_code == 0, sharded.output
    assert json.loads(sharded.stdout)["results"] == json.loads(whole.stdout)["results"]
    bad = CliRunner().invoke(main, ["encode", str(run_path), "-o", str(tmp_path / "x.npz"), "--shard", "4/3"])
    assert bad.exit_code == 2 and "expected 1 ≤ K ≤ N" in bad.output


def test_radius_search_returns_every_item_within_it_unless_top_is_given(run_path, image_index):
    everything = json.loads(CliRunner().invoke(main, ["search", str(run_path), "--index", str(image_index),
                                                      "--tags", "red", "--radius", "8", "--json"]).stdout)
    assert len(everything["results"]) == 1992  # 8 bits: every code is within distance 8
    first = json.loads(CliRunner().invoke(main, ["search", str(run_path), "--index", str(image_index), "--tags",
                                                 "red", "--radius", "8", "--top", "7", "--json"]).stdout)
    assert first["results"] == everything["results"][:7]
