"""An independent NumPy forward pass of an EfficientNet-Lite state dict (PyTorch layout), for the parity tests.

Written from the published architecture, not from the Keras builder: NCHW→NHWC by hand, TensorFlow's
"same" padding computed explicitly (the extra row/column at the bottom and right), float64 throughout.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-3
# kernel, stride, expansion of the seven stages (EfficientNet-B0's table); repeats read from the file
STAGE_KERNELS = (3, 3, 5, 3, 5, 5, 3)
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)


def _same_pad(x, kernel, stride):
    h, w = x.shape[1:3]
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + kernel - h, 0)
    pad_w = max((out_w - 1) * stride + kernel - w, 0)
    return np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))), out_h, out_w


def _conv(x, weight, stride=1):
    """x (n, h, w, cin); weight (cout, cin, k, k) as PyTorch stores it."""
    k = weight.shape[2]
    x, out_h, out_w = _same_pad(x, k, stride)
    out = np.zeros((x.shape[0], out_h, out_w, weight.shape[0]))
    for i in range(k):
        for j in range(k):
            patch = x[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :]
            out += patch @ weight[:, :, i, j].T
    return out


def _depthwise(x, weight, stride):
    """weight (c, 1, k, k)."""
    k = weight.shape[2]
    x, out_h, out_w = _same_pad(x, k, stride)
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(k):
        for j in range(k):
            out += x[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :] * weight[:, 0, i, j]
    return out


def _bn(x, state, prefix):
    scale = state[prefix + ".weight"] / np.sqrt(state[prefix + ".running_var"].astype(np.float64) + EPS)
    return (x - state[prefix + ".running_mean"]) * scale + state[prefix + ".bias"]


def _relu6(x):
    return np.clip(x, 0, 6)


def _stage_of_blocks(state):
    """Block index -> stage, from where the output width changes (the files' own shapes)."""
    stage, stages, previous = 0, [], None
    index = 0
    while f"_blocks.{index}._project_conv.weight" in state:
        out = state[f"_blocks.{index}._project_conv.weight"].shape[0]
        k = state[f"_blocks.{index}._depthwise_conv.weight"].shape[2]
        if previous is not None and (out, k) != previous:
            stage += 1
        stages.append(stage)
        previous = (out, k)
        index += 1
    return stages


def imagenet_logits(state: dict, pictures: np.ndarray) -> np.ndarray:
    """(n, 1000) logits of RGB pictures (n, h, w, 3) in [0, 255]."""
    state = {k: v.astype(np.float64) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    x = (pictures.astype(np.float64) - 127.0) / 128.0
    x = _relu6(_bn(_conv(x, state["_conv_stem.weight"], 2), state, "_bn0"))
    stages = _stage_of_blocks(state)
    for index, stage in enumerate(stages):
        p = f"_blocks.{index}."
        first = index == 0 or stages[index - 1] != stage
        stride = STAGE_STRIDES[stage] if first else 1
        inputs = x
        if p + "_expand_conv.weight" in state:
            x = _relu6(_bn(_conv(x, state[p + "_expand_conv.weight"]), state, p + "_bn0"))
        x = _relu6(_bn(_depthwise(x, state[p + "_depthwise_conv.weight"], stride), state, p + "_bn1"))
        x = _bn(_conv(x, state[p + "_project_conv.weight"]), state, p + "_bn2")
        if stride == 1 and inputs.shape[-1] == x.shape[-1]:
            x = x + inputs
    x = _relu6(_bn(_conv(x, state["_conv_head.weight"]), state, "_bn1"))
    pooled = x.mean(axis=(1, 2))
    return pooled @ state["_fc.weight"].T + state["_fc.bias"]
