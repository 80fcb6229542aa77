"""Pictures for EfficientNet-Lite, outside the model: decode with pillow, RGB, resize to the input size.

The model itself maps 0–255 RGB to (x − 127)/128 (its `rescale` layer), so whatever feeds raw pixels to
the project's models feeds this one too. This helper is for tests and scripts that start from files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_picture(path: str | Path, size: int) -> np.ndarray:
    """(size, size, 3) float32 RGB in [0, 255]: the whole picture resized (bilinear), no crop."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB").resize((size, size), Image.BILINEAR)
        return np.asarray(image, dtype=np.float32)
