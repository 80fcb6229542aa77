"""Binary codes: sign quantization with sign(0) = +1."""

from __future__ import annotations

import numpy as np


def sign_codes(outputs) -> np.ndarray:
    """±1 codes (int8) of real-valued encoder outputs, sign(0) = +1 (`np.sign` would give 0).

    outputs: (n, c) array-like of floats. Returns (n, c) int8 in {-1, +1}.
    """
    outputs = np.asarray(outputs)
    return np.where(outputs >= 0, 1, -1).astype(np.int8)
