"""MIRFLICKR-25K from a tiny fake raw release: vocabulary, label and pair rules, reports of a
malformed release, and training on the prepared file."""

import json
import shutil

import numpy as np
import pytest
from fake_releases import FLICKR_TAGS, colour, write_mirflickr

from dcmh_tf.data.prepare import prepare_dataset
from dcmh_tf.data.prepare.mirflickr import CONCEPTS, read_mirflickr, select_vocabulary
from dcmh_tf.data.releases import MIRFLICKR25K, load_release
from dcmh_tf.errors import DataError

# By hand from FLICKR_TAGS with min_count 2: sky in images 1, 2, 5 ("Sky"), 6; blue in 1, 3, 8;
# dog in 5, 6; sea in 2, 3; the rest once. Kept: a vocabulary tag and a label (4 has no vocabulary
# tag, 6 no label, 7 no tag at all).
VOCABULARY = ["sky", "blue", "dog", "sea"]
KEPT = [1, 2, 3, 5, 8]
TEXTS = np.array([[1, 1, 0, 0], [1, 0, 0, 1], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 0]], np.uint8)
LABELS = {1: {"sky", "clouds"}, 2: {"sea", "water"}, 3: {"sea"}, 5: {"dog", "animals"}, 8: {"indoor"}}


@pytest.fixture
def raw(tmp_path):
    return write_mirflickr(tmp_path / "raw")


def test_vocabulary_labels_and_pairs(raw):
    warnings = []
    selection = read_mirflickr(raw, min_count=2, warn=warnings.append)
    assert selection.vocabulary == VOCABULARY
    assert selection.items == [f"mirflickr/im{n}.jpg" for n in KEPT]
    np.testing.assert_array_equal(selection.texts, TEXTS)
    assert selection.label_names == list(CONCEPTS)
    assert [{CONCEPTS[j] for j in np.flatnonzero(row)} for row in selection.labels] == [LABELS[n] for n in KEPT]
    assert selection.protocol | {"tag_folder": None, "labels": None} == {
        "images": 8, "images_with_tags": 7, "distinct_tags": 7, "tag_folder": None, "min_count": 2, "vocabulary": 4,
        "images_without_vocabulary_tag": 2, "images_without_label": 1, "pairs": 5, "labels": None}
    found = selection.problems.found
    assert found["tag files of images that do not exist (skipped)"] == [str(raw / "mirflickr/meta/tags/tags9.txt")]
    assert found["annotations of images that do not exist (skipped)"] == [
        str(raw / "mirflickr25k_annotations_v080/sky.txt") + ":2"]
    assert found["relevant (_r1) labels without the potential label (the _r1 label is not used)"] == [
        str(raw / "mirflickr25k_annotations_v080/sky_r1.txt") + ":1"]
    assert warnings == []  # the problems are reported when the files are written


def test_the_threshold_counts_images_not_occurrences():
    tag_sets = [{"often", "edge"} for _ in range(19)] + [{"often"}, {"edge", "rare"}]
    vocabulary, counts = select_vocabulary(tag_sets)  # the protocol's 20
    assert (counts["often"], counts["edge"], counts["rare"]) == (20, 20, 1)
    assert vocabulary == ["edge", "often"]  # both exactly 20: tie in alphabetical order
    assert select_vocabulary(tag_sets, 21)[0] == []


def test_prepared_file_holds_the_pairs_and_trains(raw, tmp_path, capsys):
    record = prepare_dataset("mirflickr25k", raw, tmp_path / "out", options={"min_count": 2}, workers=1,
                             progress=False)
    assert (record["pairs"], record["text_dim"], record["labels"], record["image_size"]) == (5, 4, 24, 224)
    assert "1 tag files of images that do not exist (skipped): " + str(raw / "mirflickr/meta/tags/tags9.txt") in (
        capsys.readouterr().err)
    data = load_release(MIRFLICKR25K, tmp_path / "out", image_size=64)
    assert data.images.shape == (5, 224, 224, 3) and data.images.output_size == 64
    np.testing.assert_array_equal(data.texts, TEXTS)
    pictures = data.images[np.arange(5)].astype(int)
    for row, number in enumerate(KEPT):  # each row holds its own solid-coloured picture, in RGB
        expected = np.array(colour(number), float)
        if number == 8:  # saved as grey: PIL's luma, the same in the three channels
            expected[:] = expected @ [0.299, 0.587, 0.114]
        assert np.abs(pictures[row].mean(axis=(0, 1)) - expected).max() < 4, (number, pictures[row, 0, 0])
    assert (tmp_path / "out/FLICKR-25K.vocabulary.txt").read_text().split() == VOCABULARY
    # the names written beside the file come back with the data (search --tags, the tags export signature)
    assert data.tag_vocabulary == VOCABULARY and data.label_names == list(CONCEPTS)

    from dcmh_tf.training import trainer as training
    from dcmh_tf.config import resolve_config

    config = resolve_config("demo", dataset="mirflickr25k", data_path=str(tmp_path / "out"), bits=8, hidden=32,
                            epochs=1, batch_size=4, n_query=2, n_train=3, image_size=64, seed=0, jit=False)
    run, metrics = training.fit(config, tmp_path / "run", progress=False, echo=lambda message: None)
    assert np.isfinite(metrics["map_i2t"]) and np.isfinite(metrics["map_t2i"])
    assert json.loads((tmp_path / "run/inputs.json").read_text())["text_dim"] == 4
    assert json.loads((tmp_path / "run/inputs.json").read_text())["tag_vocabulary"] == VOCABULARY

    # names that do not fit the columns are ignored with a warning, never paired with the wrong columns
    (tmp_path / "out/FLICKR-25K.vocabulary.txt").write_text("sky\n")
    data = load_release(MIRFLICKR25K, tmp_path / "out", image_size=64)
    assert data.tag_vocabulary is None and data.label_names == list(CONCEPTS)
    assert "FLICKR-25K.vocabulary.txt: 1 names for 4 columns of FLICKR-25K.mat; names ignored." in capsys.readouterr().err


def test_tags_raw_folder_is_read_when_asked(raw):
    (raw / "mirflickr/meta/tags_raw").mkdir()
    for number in FLICKR_TAGS:
        (raw / f"mirflickr/meta/tags_raw/tags{number}.txt").write_text("San Francisco\nsky\n")
    selection = read_mirflickr(raw, min_count=8, tag_folder="tags_raw")
    assert selection.vocabulary == ["san francisco", "sky"]
    assert selection.protocol["tag_folder"] == "meta/tags_raw"


@pytest.mark.parametrize("damage, message", [
    (lambda raw: (raw / "mirflickr25k_annotations_v080/water.txt").unlink(),
     "the annotation files water.txt are missing"),
    (lambda raw: (raw / "mirflickr25k_annotations_v080/dog.txt").write_text("5\nfive\n"),
     "dog.txt:2: expected an image number, received 'five'"),
    (lambda raw: shutil.rmtree(raw / "mirflickr/meta"), "cannot find the MIRFLICKR-25K release"),
    (lambda raw: [p.unlink() for p in (raw / "mirflickr").glob("im*.jpg")], "no picture named im<number>.jpg"),
])
def test_a_malformed_release_is_refused_with_the_path(raw, damage, message):
    damage(raw)
    with pytest.raises(DataError, match="raw") as error:
        read_mirflickr(raw, min_count=2)
    assert message in str(error.value)


def test_unknown_annotation_files_are_named(raw):
    (raw / "mirflickr25k_annotations_v080/unicorn.txt").write_text("1\n")
    warnings = []
    read_mirflickr(raw, min_count=2, warn=warnings.append)
    assert len(warnings) == 1 and "unicorn.txt" in warnings[0] and "ignored" in warnings[0]
