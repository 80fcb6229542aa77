"""NUS-WIDE from a tiny fake raw release: concept ranking, pair rule, tag rows, missing pictures,
refusal of misaligned files, and the reader on the prepared file."""

import numpy as np
import pytest
from fake_releases import NUS_FILES, NUS_TAG_COLUMNS, write_nuswide

from dcmh_tf.data.prepare import prepare_dataset
from dcmh_tf.data.prepare.nuswide import read_nuswide
from dcmh_tf.data.releases import NUS_WIDE, load_release
from dcmh_tf.errors import DataError

# By hand from NUS_LABELS: sky 5, clouds 3, water 3, animal 2, buildings 2, person 2, then the
# concepts of one picture in alphabetical order: beach, grass, lake, plants (window and zebra,
# also one picture each, come later). Rows 5 and 8 only have window/zebra, row 6 nothing, row 9's
# picture is missing.
TOP10 = ["sky", "clouds", "water", "animal", "buildings", "person", "beach", "grass", "lake", "plants"]
KEPT = [0, 1, 2, 3, 4, 7]


@pytest.fixture
def raw(tmp_path):
    return write_nuswide(tmp_path / "raw")


def expected_texts(rows):
    texts = np.zeros((len(rows), 1000), np.uint8)
    for i, row in enumerate(rows):
        texts[i, NUS_TAG_COLUMNS[row]] = 1
    return texts


def test_top_concepts_pairs_and_tags(raw):
    selection = read_nuswide(raw, concepts=10, progress=False)
    assert selection.label_names == TOP10
    assert selection.items == [NUS_FILES[row] for row in KEPT]
    np.testing.assert_array_equal(selection.texts, expected_texts(KEPT))
    assert selection.vocabulary[:2] == ["tag0", "tag1"] and len(selection.vocabulary) == 1000
    # row 1: beach, clouds, sky, water -> columns of sky, clouds, water, beach
    assert [TOP10[j] for j in np.flatnonzero(selection.labels[1])] == ["sky", "clouds", "water", "beach"]
    assert selection.problems.found == {"pictures missing from the release (pairs skipped)": [
        str(raw / "Flickr/dog/0003_20.jpg")]}
    assert (selection.protocol["with_a_concept"], selection.protocol["without_tag"], selection.protocol["pairs"]) == (
        7, 1, 6)  # rows 0-4, 7, 9 have a top-10 concept; row 2 no tag


def test_pictures_without_tags_can_be_dropped(raw):
    selection = read_nuswide(raw, concepts=10, drop_empty_text=True, progress=False)
    assert selection.items == [NUS_FILES[row] for row in (0, 1, 3, 4, 7)]  # row 2 has no tag
    np.testing.assert_array_equal(selection.texts, expected_texts([0, 1, 3, 4, 7]))
    assert len(selection.labels) == 5


def test_fewer_concepts_than_the_protocol_is_refused(raw):
    with pytest.raises(DataError, match="12 concept files .* fewer than the 21"):
        read_nuswide(raw, concepts=21, progress=False)


@pytest.mark.parametrize("damage, message", [
    (lambda raw: (raw / "Groundtruth/AllLabels/Labels_sky.txt").write_text("1\n0\n"),
     "Labels_sky.txt: 2 values, expected 10"),
    (lambda raw: (raw / "Groundtruth/AllLabels/Labels_lake.txt").write_text("0\n" * 7 + "-1130179\n0\n0\n"),
     "Labels_lake.txt:8: expected 0 or 1 on every line, received '-1130179'"),
    (lambda raw: (raw / "NUS_WID_Tags/AllTags1k.txt").write_text("0 " * 1000 + "\n" + "0 2 " * 500 + "\n"),
     "AllTags1k.txt:2: expected 1000 values 0 or 1"),
    (lambda raw: (raw / "NUS_WID_Tags/AllTags1k.txt").write_text(("0 " * 1000 + "\n") * 4),
     "AllTags1k.txt: 4 lines, expected 10"),
    (lambda raw: (raw / "NUS_WID_Tags/TagList1k.txt").write_text("a\nb\n"), "found 2 lines"),
])
def test_misaligned_files_are_refused_with_the_path(raw, damage, message):
    damage(raw)
    with pytest.raises(DataError) as error:
        read_nuswide(raw, concepts=10, progress=False)
    assert message in str(error.value) and str(raw) in str(error.value)


def test_the_reader_takes_the_prepared_file(raw, tmp_path):
    record = prepare_dataset("nus-wide", raw, tmp_path / "out", options={"concepts": 10}, image_size=32, workers=1,
                             progress=False)
    assert record["file"] == "NUS-WIDE-TC10.mat" and record["pairs"] == 6
    data = load_release(NUS_WIDE, tmp_path / "out")
    assert (data.images.shape, data.text_dim, data.labels.shape) == ((6, 32, 32, 3), 1000, (6, 10))
    np.testing.assert_array_equal(data.texts, expected_texts(KEPT))
    assert (tmp_path / "out/NUS-WIDE-TC10.labels.txt").read_text().split() == TOP10
