"""IAPR TC-12 from a tiny fake raw release: tokenisation, caption vocabulary, SAIAPR labels,
reported irregularities, and the reader on the prepared file."""

import numpy as np
import pytest
from fake_releases import write_iapr

from dcmh_tf.data.prepare import prepare_dataset
from dcmh_tf.data.prepare.iapr import parse_caption, read_iapr, tokenize
from dcmh_tf.data.releases import IAPR_TC12, load_release
from dcmh_tf.errors import DataError

# By hand from IAPR_CAPTIONS: "front" and "two" are in 3 captions; building, grey, house, palm,
# trees, yellow in 2; the 6 most frequent, ties alphabetical:
VOCABULARY = ["front", "two", "building", "grey", "house", "palm"]
TEXTS = np.array([[1, 1, 1, 0, 1, 1],   # 25: yellow building ... two palm trees in front of the house
                  [1, 1, 1, 1, 0, 1],   # 26: two palm trees and a grey sky ... front of a building
                  [1, 0, 0, 0, 1, 0],   # 1000: man ... in front of the yellow house
                  [0, 1, 0, 1, 0, 0]],  # 1001: nandu birds: two grey birds on the grass
                 np.uint8)
# SAIAPR labels used by 25, 26, 1000, 1001 (7 "unused-label" and 1002's are not), by number:
LABEL_NAMES = ["bird", "building", "grass", "man", "palm", "sky"]
LABELS = np.array([[0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 1, 1], [0, 1, 0, 1, 0, 0], [1, 0, 1, 0, 0, 0]], np.uint8)


@pytest.fixture
def raw(tmp_path):
    return write_iapr(tmp_path / "raw")


def test_tokenize_drops_stop_words_digits_and_accents():
    assert tokenize("Two Ñandú birds; a 3-storey house in the background, e.g. of 2002.") == [
        "two", "nandu", "birds", "storey", "house", "background"]


def test_parse_caption_reads_the_fields_inside_doc():
    fields = parse_caption("<DOC>\n<DOCNO>x</DOCNO>\n<DESCRIPTION>a\nhouse;</DESCRIPTION><NOTES></NOTES></DOC>")
    assert fields == {"DOCNO": "x", "DESCRIPTION": "a\nhouse;", "NOTES": ""}


def test_vocabulary_labels_and_reported_problems(raw):
    selection = read_iapr(raw, words=6)
    assert selection.items == [f"iaprtc12/images/{f}/{n}.jpg" for f, n in (("00", 25), ("00", 26), ("01", 1000),
                                                                           ("01", 1001))]
    assert selection.vocabulary == VOCABULARY
    np.testing.assert_array_equal(selection.texts, TEXTS)
    assert selection.label_names == LABEL_NAMES
    np.testing.assert_array_equal(selection.labels, LABELS)
    found = selection.problems.found
    assert found["caption files of pictures that do not exist (skipped)"] == [
        f"{raw}/iaprtc12/annotations_complete_eng/01/1002.eng -> {raw}/iaprtc12/images/01/1002.jpg"]
    assert found["pictures without a caption file (skipped)"] == [f"{raw}/iaprtc12/images/01/1003.jpg"]
    assert found["region labels of pictures without a usable caption (skipped)"] == [
        f"{raw}/saiaprtc12ok/benchmark/saiapr_tc-12/01/labels.txt:5"]
    assert (selection.protocol["saiapr_labels"], selection.protocol["labels_used"]) == (7, 6)


def test_asking_for_more_words_than_there_are_warns(raw):
    warnings = []
    selection = read_iapr(raw, words=2912, warn=warnings.append)
    assert len(selection.vocabulary) == selection.protocol["distinct_words"] < 2912
    assert len(warnings) == 1 and "fewer than the 2912 asked for" in warnings[0]


@pytest.mark.parametrize("damage, message", [
    (lambda raw: (raw / "saiaprtc12ok/benchmark/wlist.txt").unlink(), "cannot find the SAIAPR TC-12 labels"),
    (lambda raw: (raw / "saiaprtc12ok/benchmark/saiapr_tc-12/00/labels.txt").write_text("25 1 sky\n"),
     "00/labels.txt:1: expected 'image region label' numbers"),
    (lambda raw: [p.write_text("<DOC><TITLE>no description</TITLE></DOC>")
                  for p in (raw / "iaprtc12/annotations_complete_eng").glob("*/*.eng")], "no usable caption file"),
])
def test_a_malformed_release_is_refused_with_the_path(raw, damage, message):
    damage(raw)
    with pytest.raises(DataError) as error:
        read_iapr(raw, words=6)
    assert message in str(error.value) and str(raw) in str(error.value)


def test_the_reader_takes_the_prepared_file(raw, tmp_path):
    record = prepare_dataset("iapr-tc12", raw, tmp_path / "out", options={"words": 6}, image_size=32, workers=1,
                             progress=False)
    assert (record["file"], record["pairs"], record["text_dim"], record["labels"]) == ("IAPR-TC12.mat", 4, 6, 6)
    data = load_release(IAPR_TC12, tmp_path / "out")
    assert data.images.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(data.texts, TEXTS)
    np.testing.assert_array_equal(data.labels, LABELS)
