"""What gets exported: a run's two encoders, each wrapped in the functions a server calls.

Every serving function returns `export.heads.quantize`'s dict (features, codes, packed). Input
preprocessing lives inside the graph, so a client sends what it has:

- image, pixels (CNN-F): `image` uint8 (batch, H, W, 3) of any H, W, resized (bilinear with
  antialiasing, no crop: what the training pipeline does to pictures of another size) to the
  encoder's input size; the mean image is subtracted inside the encoder. Also `image_bytes`: a batch
  of JPEG / PNG / GIF / BMP files as strings. The ONNX graph takes pictures of the input size only:
  tf2onnx cannot convert antialiased resizing (TF's ScaleAndTranslate).
- image, features (MLP): `image` float32 (batch, image_dim), the run's pre-extracted features.
- text: `text` float32 (batch, text_dim) bag of words; also `tags`: one string per item, tags
  separated by spaces or commas, matched exactly against the run's tag vocabulary (unknown tags are
  dropped, a repeated tag counts once: the datasets' bags of words are 0/1). Only when the dataset
  has a vocabulary. And `raw_text`: one raw text per item in the collection's language, cut in the
  graph by the run's tokenizer (`dcmh_tf.text.Tokenizer.tensorflow_tokens`, the same cut as in
  `dcmh-tf search --text`). Only for runs on a prepared collection (they have `RUN/tokenizer.json`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import keras
import tensorflow as tf

from dcmh_tf.data.pipeline import resize_pictures
from dcmh_tf.errors import RunDirectoryError
from dcmh_tf.export.heads import quantize
from dcmh_tf.text import Tokenizer

MODALITIES = ("image", "text")


@dataclass
class ExportedEncoder:
    """One encoder of a run and what its inputs are.

    modality: "image" or "text". input_kind: "pixels" (CNN-F), "features" (MLP on image
    features) or "bow" (text). input_size: image side in pixels for "pixels", vector length
    otherwise. vocabulary: tag strings of the text BOW's columns, or None. skipped: the extra
    signatures that cannot be built for this run, with the reason.
    """

    modality: str
    model: keras.Model
    input_kind: str
    input_size: int
    vocabulary: list[str] | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    tokenizer: Tokenizer | None = None  # raw text -> tokens of the text BOW's columns

    def input_spec(self, any_size: bool = True) -> tf.TensorSpec:
        """Spec of the `serving_default` input; with `any_size=False` pictures must come at the
        encoder's input size (the ONNX graph's input)."""
        if self.input_kind == "pixels":
            side = None if any_size else self.input_size
            return tf.TensorSpec((None, side, side, 3), tf.uint8, name="image")
        return tf.TensorSpec((None, self.input_size), tf.float32, name=self.modality)

    def serve(self, inputs):
        """`serving_default`: batch of raw inputs (see module docstring) → features, codes, packed."""
        if self.input_kind == "pixels":
            inputs = self._resize(tf.cast(inputs, tf.float32))
        return self._encode(inputs)

    def extra_signatures(self) -> dict:
        """{signature name: (function, input spec)} for what a web client sends: file bytes or tag strings."""
        if self.input_kind == "pixels":
            return {"image_bytes": (self._serve_image_bytes, tf.TensorSpec((None,), tf.string, name="image_bytes"))}
        signatures = {}
        if self.modality == "text" and self.vocabulary is not None:
            signatures["tags"] = (self._serve_tags, tf.TensorSpec((None,), tf.string, name="tags"))
        if self.modality == "text" and self.tokenizer is not None:
            signatures["raw_text"] = (self._serve_raw_text, tf.TensorSpec((None,), tf.string, name="raw_text"))
        return signatures

    def resources(self) -> list:
        """Non-variable resources the extra signatures use (the lookup tables), to be tracked by
        whatever saves them."""
        tables = [self._tag_table] if self.modality == "text" and self.vocabulary is not None else []
        return tables + ([self._token_table] if self.modality == "text" and self.tokenizer is not None else [])

    # the serving functions ---------------------------------------------------------------------
    def _encode(self, inputs):
        return quantize(tf.cast(self.model(inputs, training=False), tf.float32))

    def _resize(self, images):
        if tuple(images.shape[-3:-1]) == (self.input_size, self.input_size):
            return images  # known to be of the input size when traced: no resize op in the graph
        # resizing a picture that already has the target size returns it unchanged
        return resize_pictures(images, self.input_size)

    def _serve_image_bytes(self, files):
        def decode(contents):
            image = tf.io.decode_image(contents, channels=3, dtype=tf.uint8, expand_animations=False)
            return self._resize(tf.cast(image, tf.float32))

        spec = tf.TensorSpec((self.input_size, self.input_size, 3), tf.float32)
        return self._encode(tf.map_fn(decode, files, fn_output_signature=spec))

    @functools.cached_property
    def _tag_table(self) -> tf.lookup.StaticHashTable:
        return _lookup_table(self.vocabulary)

    @functools.cached_property
    def _token_table(self) -> tf.lookup.StaticHashTable:
        return _lookup_table(self.tokenizer.vocabulary)

    def _serve_tags(self, tags):
        words = tf.strings.split(tf.strings.regex_replace(tags, ",", " "))
        return self._encode(_bag_of_words(self._tag_table.lookup(words), len(self.vocabulary)))

    def _serve_raw_text(self, texts):
        tokens = self.tokenizer.tensorflow_tokens(texts)
        return self._encode(_bag_of_words(self._token_table.lookup(tokens), len(self.tokenizer.vocabulary)))


def _lookup_table(vocabulary) -> tf.lookup.StaticHashTable:
    """token -> column, -1 for tokens outside `vocabulary`."""
    keys = tf.constant(list(vocabulary), tf.string)
    ids = tf.range(len(vocabulary), dtype=tf.int64)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, ids), default_value=-1)


def _bag_of_words(ids, size: int):
    """(batch, size) float32 0/1 from ragged (batch, None) column ids (-1 = unknown, dropped)."""
    ids = tf.ragged.boolean_mask(ids, ids >= 0)
    bow = tf.math.bincount(ids, minlength=size, maxlength=size, binary_output=True, axis=-1, dtype=tf.float32)
    return tf.reshape(bow, (-1, size))


def load_run_encoders(run) -> list[ExportedEncoder]:
    """The image and text encoders of `run` (a `RunDirectory`) from its last checkpoint; no dataset needed."""
    inputs = run.read_inputs()
    image_model, text_model, _ = run.restore_encoders()
    if inputs["image_kind"] == "pixels":
        image = ExportedEncoder("image", image_model, "pixels", run.config.image_size)
    elif inputs["image_kind"] == "features":
        image = ExportedEncoder("image", image_model, "features", int(inputs["image_dim"]))
        image.skipped["image_bytes"] = "the image encoder takes pre-extracted features, not pictures"
    else:
        raise RunDirectoryError(
            f"{run.path}/inputs.json: image_kind {inputs['image_kind']!r}; expected 'pixels' or 'features'."
        )
    vocabulary = inputs.get("tag_vocabulary")
    tokenizer = run.load_tokenizer()
    text = ExportedEncoder("text", text_model, "bow", int(inputs["text_dim"]), vocabulary=vocabulary,
                           tokenizer=tokenizer)
    if tokenizer is None:
        text.skipped["raw_text"] = "the run has no tokenizer (only runs on a prepared collection have one)"
    if vocabulary is None:
        text.skipped["tags"] = f"dataset {inputs.get('dataset')!r} has no tag vocabulary; send bags of words"
    elif len(vocabulary) != text.input_size:
        raise RunDirectoryError(
            f"{run.path}/inputs.json: {len(vocabulary)} tags in tag_vocabulary but text_dim {text.input_size}; "
            f"expected one tag per bag-of-words column. Train the run again with `dcmh-tf fit`."
        )
    return [image, text]
