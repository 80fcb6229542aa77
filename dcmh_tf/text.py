"""Raw text in any language to the 0/1 bag of words the text network takes, and back in a run.

Two ways to cut a text into tokens (`Tokenizer.mode`):

- "words", for scripts written with spaces (English, French, Russian, Arabic, ...): lower case,
  the runs of letters (Unicode letters and combining marks; digits and punctuation are cut out),
  optional stop words left out of the vocabulary.
- "characters", for scripts written without spaces (Chinese, Japanese): every run of Han, Hiragana
  or Katakana characters gives its character n-grams of `ngrams` widths (1 and 2 by default: single
  characters and pairs of neighbours, a standard choice for Chinese retrieval that needs no
  dictionary); any other run of letters in the text (a Latin name, "NBA") is a word as above.

Character n-grams were chosen over a word segmenter (jieba) because the same cut must run inside
the exported TensorFlow graph (`tensorflow_tokens`), where a Python segmenter cannot: a server then
takes the raw string. `tokens` (Python, the `regex` module) and `tensorflow_tokens` (TF string ops,
RE2) use the same patterns; a test checks that they agree on texts in several scripts.

The vocabulary comes from the training texts only (`Tokenizer.build`): the tokens found in at least
`min_count` texts, at most `max_words` of them, by falling document count (ties alphabetical).
Saved as JSON (`save` / `load`); a prepared collection keeps it beside its file
(`<stem>.tokenizer.json`), and a run trained on it keeps a copy (`RUN/tokenizer.json`,
`RunDirectory.load_tokenizer`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import regex

from dcmh_tf.errors import DataError

FORMAT = "dcmh-tf-tokenizer"
VERSION = 1
MODES = ("words", "characters")
# The same patterns serve Python's `regex` and TensorFlow's RE2 (both know \p{...} classes).
UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}"
NOT_LETTER = r"[^\p{L}\p{M}]+"
UNSPACED_RUN = rf"([{UNSPACED}]+)"
# A common English stop list (articles, pronouns, auxiliaries, prepositions, conjunctions).
ENGLISH_STOP_WORDS = tuple("""
a about above after again against all am an and any are as at be because been before being below between both but
by can could did do does doing down during each few for from further had has have having he her here hers herself
him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where which while who whom why
will with would you your yours yourself yourselves
""".split())

_NOT_LETTER = regex.compile(NOT_LETTER)
_UNSPACED_RUN = regex.compile(UNSPACED_RUN)
_UNSPACED_WORD = regex.compile(rf"[{UNSPACED}]+")


def rank_words(counts: Counter, *, min_count: int = 1, size: int | None = None) -> list[str]:
    """Words by falling count, ties in alphabetical order (so the order does not depend on the
    order of the files); those counted at least `min_count` times, at most `size` of them."""
    ranked = sorted((word for word, count in counts.items() if count >= min_count), key=lambda w: (-counts[w], w))
    return ranked if size is None else ranked[:size]


@dataclass(frozen=True)
class Tokenizer:
    """How texts become tokens, and the vocabulary (the bag-of-words columns, in order).

    mode: "words" or "characters" (module docstring); ngrams: the character n-gram widths of the
    "characters" mode; stop_words: tokens never put in the vocabulary.
    """

    mode: str = "words"
    ngrams: tuple[int, ...] = (1, 2)
    stop_words: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()
    _columns: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.mode not in MODES:
            raise DataError(f"tokenizer mode: expected one of {', '.join(MODES)}, received {self.mode!r}.")
        if not self.ngrams or any(not isinstance(n, int) or n < 1 for n in self.ngrams):
            raise DataError(f"tokenizer ngrams: expected positive widths such as (1, 2), received {self.ngrams!r}.")
        object.__setattr__(self, "ngrams", tuple(sorted(set(self.ngrams))))
        object.__setattr__(self, "stop_words", tuple(self.stop_words))
        object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise DataError("tokenizer vocabulary: a token is listed twice; expected each column once.")
        object.__setattr__(self, "_columns", {token: j for j, token in enumerate(self.vocabulary)})

    # cutting ---------------------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        """The tokens of `text` in order (repeats kept), before any vocabulary lookup."""
        words = self._words(text)
        if self.mode == "words":
            return words
        tokens = [word for word in words if not _UNSPACED_WORD.fullmatch(word)]
        for word in words:
            if _UNSPACED_WORD.fullmatch(word):
                tokens.extend(word[i:i + n] for n in self.ngrams for i in range(len(word) - n + 1))
        return tokens

    def _words(self, text: str) -> list[str]:
        """The words of `text`, lower-cased, in order; in mode "characters" each run of unspaced script
        is a word of its own."""
        text = text.lower()
        if self.mode == "characters":
            text = _UNSPACED_RUN.sub(r" \1 ", text)
        return _NOT_LETTER.sub(" ", text).split()

    # vocabulary ------------------------------------------------------------------------------
    def build(self, texts: Iterable[str], *, min_count: int = 1, max_words: int | None = None) -> "Tokenizer":
        """This tokenizer with the vocabulary of `texts` (the training texts): tokens in at least
        `min_count` of them, not stop words, at most `max_words`, by falling count, ties alphabetical."""
        stop = set(self.stop_words)
        counts = Counter(token for text in texts for token in set(self.tokens(text)) if token not in stop)
        vocabulary = rank_words(counts, min_count=min_count, size=max_words)
        if not vocabulary:
            raise DataError(f"no token is found in at least {min_count} training texts ({len(counts)} distinct "
                            f"tokens in all); lower --min-count, or check --tokenizer (mode {self.mode!r}).")
        return replace(self, vocabulary=tuple(vocabulary))

    def bag_of_words(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(vocabulary)) float32 0/1: token j occurs in text i. Tokens outside the
        vocabulary are ignored."""
        if isinstance(texts, str):
            raise DataError("bag_of_words takes a sequence of texts; received one string (wrap it in a list).")
        matrix = np.zeros((len(texts), len(self.vocabulary)), np.float32)
        for i, text in enumerate(texts):
            matrix[i, [self._columns[t] for t in set(self.tokens(text)) if t in self._columns]] = 1.0
        return matrix

    def unknown_tokens(self, text: str) -> list[str]:
        """The tokens of `text` not in the vocabulary, in order, without repeats."""
        return list(dict.fromkeys(t for t in self.tokens(text) if t not in self._columns))

    def unknown_words(self, text: str) -> list[str]:
        """What of `text` the vocabulary knows nothing of, in order, without repeats, as a reader would
        name it: the words not in the vocabulary, and in a run of unspaced script (mode "characters")
        each stretch of characters that no vocabulary n-gram of the run covers. "中国队获得银牌" with
        中国, 队 and 获得 known gives ["银牌"], not the bigrams 队获, 得银 and 银牌 that `unknown_tokens` lists."""
        if self.mode == "words":
            return self.unknown_tokens(text)
        unknown = []
        for word in self._words(text):
            if not _UNSPACED_WORD.fullmatch(word):
                if word not in self._columns:
                    unknown.append(word)
                continue
            covered = [False] * len(word)
            for n in self.ngrams:
                for i in range(len(word) - n + 1):
                    if word[i:i + n] in self._columns:
                        covered[i:i + n] = [True] * n
            stretch = ""
            for character, known in zip(word, covered):
                if not known:
                    stretch += character
                elif stretch:
                    unknown.append(stretch)
                    stretch = ""
            if stretch:
                unknown.append(stretch)
        return list(dict.fromkeys(unknown))

    # TensorFlow ------------------------------------------------------------------------------
    def tensorflow_tokens(self, texts):
        """The same cut as `tokens` in TensorFlow ops: a (batch,) string tensor to a ragged
        (batch, None) string tensor (the tokens in another order: a bag does not care)."""
        import tensorflow as tf

        texts = tf.strings.lower(texts, encoding="utf-8")
        if self.mode == "characters":
            texts = tf.strings.regex_replace(texts, UNSPACED_RUN, r" \1 ")
        words = tf.strings.split(tf.strings.regex_replace(texts, NOT_LETTER, " "))
        if self.mode == "words":
            return words
        unspaced = tf.strings.regex_full_match(words, rf"[{UNSPACED}]+")
        spaced_words = tf.ragged.boolean_mask(words, tf.logical_not(unspaced))
        characters = tf.strings.unicode_split(tf.ragged.boolean_mask(words, unspaced), "UTF-8")
        grams = [tf.strings.ngrams(characters, n, separator="").merge_dims(1, 2) for n in self.ngrams]
        return tf.concat([spaced_words, *grams], axis=1)

    # files -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "mode": self.mode, "ngrams": list(self.ngrams),
                "stop_words": list(self.stop_words), "vocabulary": list(self.vocabulary)}

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path) -> "Tokenizer":
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such tokenizer file (written by `dcmh-tf datasets prepare collection`).")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(f"{path}: not a tokenizer file ({error}).") from None
        if not isinstance(values, dict) or values.get("format") != FORMAT or values.get("version") != VERSION:
            raise DataError(f"{path}: expected a {FORMAT} version {VERSION} JSON file, received format "
                            f"{values.get('format') if isinstance(values, dict) else type(values).__name__!r}.")
        return cls(mode=values["mode"], ngrams=tuple(values["ngrams"]), stop_words=tuple(values["stop_words"]),
                   vocabulary=tuple(values["vocabulary"]))


def make_tokenizer(mode: str, *, ngrams: Sequence[int] = (1, 2), stop_words: str | Sequence[str] = ()) -> Tokenizer:
    """A tokenizer without vocabulary. stop_words: a list, "english" (the built-in list), or the
    path of a file with one stop word a line."""
    if isinstance(stop_words, str):
        if stop_words == "english":
            stop_words = ENGLISH_STOP_WORDS
        else:
            path = Path(stop_words)
            if not path.is_file():
                raise DataError(f"stop words {stop_words!r}: expected 'english' or a file with one word a line.")
            stop_words = [line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return Tokenizer(mode=mode, ngrams=tuple(ngrams), stop_words=tuple(stop_words))


# scripts that name one language where they are the main script of a text, with its BCP 47 tag
_SCRIPT_LANGUAGES = (("Hangul", "ko"), ("Thai", "th"), ("Greek", "el"), ("Hebrew", "he"), ("Armenian", "hy"),
                     ("Georgian", "ka"))


def guess_language(texts: Iterable[str]) -> str | None:
    """The BCP 47 language tag of `texts` where their letters say it, else None (unknown).

    By script: kana among the letters → "ja"; mostly Han → "zh"; mostly Hangul, Thai, Greek, Hebrew,
    Armenian or Georgian → that language; Latin letters → "en" when English stop words make at least
    a tenth of the words (another language in Latin script stays unknown). For the page's `lang`
    attributes (fonts, hyphenation, screen readers), not for anything the model computes."""
    text = " ".join(texts)
    letters = len(regex.findall(r"\p{L}", text))
    if not letters:
        return None
    kana = len(regex.findall(r"[\p{Hiragana}\p{Katakana}]", text))
    han = len(regex.findall(r"\p{Han}", text))
    if kana and (kana + han) / letters > 0.5:
        return "ja"
    if han / letters > 0.5:
        return "zh"
    for script, language in _SCRIPT_LANGUAGES:
        if len(regex.findall(rf"\p{{{script}}}", text)) / letters > 0.5:
            return language
    if len(regex.findall(r"\p{Latin}", text)) / letters > 0.5:
        words = [word for word in _NOT_LETTER.split(text.lower()) if word]
        stop = set(ENGLISH_STOP_WORDS)
        if words and sum(word in stop for word in words) / len(words) >= 0.1:
            return "en"
    return None
