"""The tokenizer of raw text: both modes, the vocabulary rule, files, and the TensorFlow cut."""

import numpy as np
import pytest
import tensorflow as tf

from dcmh_tf.errors import DataError
from dcmh_tf.text import ENGLISH_STOP_WORDS, Tokenizer, make_tokenizer

SAMPLES = [
    "龙里河大桥的建设者们坚守岗位，NBA球星Yao来了2017年",
    "Hello, World! Ça va? Ñandú 123 straße",
    "Привет мир, это тест",
    "東京タワーへ行きました。ひらがな",
    "",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "İstanbul ΑΒΓ don't",
]


def test_words_mode_lower_cases_and_keeps_runs_of_letters():
    assert Tokenizer("words").tokens("Hello, World! Ça va? 123 x2y") == ["hello", "world", "ça", "va", "x", "y"]


def test_characters_mode_cuts_unspaced_runs_into_ngrams_and_keeps_other_words():
    tokens = Tokenizer("characters").tokens("大桥NBA球星，Yao")
    assert sorted(tokens) == sorted(["nba", "yao", "大", "桥", "大桥", "球", "星", "球星"])


def test_characters_mode_ngrams_do_not_cross_punctuation_or_other_scripts():
    tokens = Tokenizer("characters", ngrams=(2,)).tokens("大桥，球星a中文")
    assert sorted(tokens) == sorted(["a", "大桥", "球星", "中文"])


def test_build_keeps_tokens_in_enough_texts_by_falling_count_then_alphabetical():
    texts = ["red fish", "red fish blue", "red cat", "blue dog"]
    tokenizer = Tokenizer("words").build(texts, min_count=2)
    assert tokenizer.vocabulary == ("red", "blue", "fish")
    assert Tokenizer("words").build(texts, min_count=1, max_words=2).vocabulary == ("red", "blue")


def test_build_leaves_out_stop_words():
    tokenizer = make_tokenizer("words", stop_words="english").build(["the red fish", "the red cat"], min_count=2)
    assert tokenizer.vocabulary == ("red",)
    assert "the" in ENGLISH_STOP_WORDS


def test_build_without_any_frequent_token_says_what_to_change():
    with pytest.raises(DataError, match="--min-count"):
        Tokenizer("words").build(["one", "two"], min_count=2)


def test_bag_of_words_is_float32_zero_one_over_the_vocabulary():
    tokenizer = Tokenizer("characters", vocabulary=("大", "大桥", "nba"))
    bags = tokenizer.bag_of_words(["大桥大桥", "NBA 球星", "nothing known"])
    assert bags.dtype == np.float32
    np.testing.assert_array_equal(bags, [[1, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert tokenizer.unknown_tokens("NBA 球星") == ["球", "星", "球星"]
    with pytest.raises(DataError, match="sequence of texts"):
        tokenizer.bag_of_words("大桥")


def test_save_and_load_round_trip(tmp_path):
    tokenizer = make_tokenizer("characters", ngrams=(1, 3), stop_words=["的"]).build(SAMPLES, min_count=1)
    tokenizer.save(tmp_path / "t.json")
    loaded = Tokenizer.load(tmp_path / "t.json")
    assert loaded == tokenizer
    np.testing.assert_array_equal(loaded.bag_of_words(SAMPLES), tokenizer.bag_of_words(SAMPLES))


def test_load_refuses_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="dcmh-tf-tokenizer"):
        Tokenizer.load(tmp_path / "x.json")
    with pytest.raises(DataError, match="no such tokenizer"):
        Tokenizer.load(tmp_path / "missing.json")


def test_bad_settings_are_refused():
    with pytest.raises(DataError, match="mode"):
        Tokenizer("letters")
    with pytest.raises(DataError, match="ngrams"):
        Tokenizer("characters", ngrams=(0,))
    with pytest.raises(DataError, match="twice"):
        Tokenizer("words", vocabulary=("a", "a"))


@pytest.mark.parametrize("mode", ["words", "characters"])
def test_tensorflow_cut_equals_the_python_cut(mode):
    tokenizer = Tokenizer(mode, ngrams=(1, 2, 3))
    cut = tokenizer.tensorflow_tokens(tf.constant(SAMPLES)).to_list()
    for text, tokens in zip(SAMPLES, cut):
        assert sorted(t.decode("utf-8") for t in tokens) == sorted(tokenizer.tokens(text)), text


@pytest.mark.parametrize("texts, language", [
    (["北京2022年冬奥会火炬接力启动仪式在京隆重举行", "经济增长"], "zh"),
    (["東京でオリンピックが開かれた"], "ja"),  # Han with kana: Japanese
    (["서울에서 회의가 열렸다"], "ko"),
    (["The cat sat on the mat and it was happy", "a report of the market"], "en"),
    (["circle red square"], None),  # Latin words without English function words: cannot tell
    (["Le chat est sur la table"], None),
    (["", "123 456"], None),
])
def test_guess_language_by_script_and_english_function_words(texts, language):
    from dcmh_tf.text import guess_language

    assert guess_language(texts) == language
