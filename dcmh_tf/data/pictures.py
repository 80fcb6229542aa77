"""One picture file to the pixels an encoder takes, with Pillow and NumPy only (no TensorFlow).

`decode_picture` reads the format from the bytes (a JPEG named .png is read as a JPEG; a text file
named .jpg is refused in one line that lists the accepted formats), converts grey, CMYK and palette
pictures to RGB and lays transparency on white (`as_rgb`, as the collections are prepared).
`resize_antialiased` is the NumPy twin of `dcmh_tf.data.pipeline.resize_pictures` (TensorFlow's
bilinear resize with antialiasing, `ScaleAndTranslate` with the triangle kernel): the same spans
and weights (float32 products, in another order), so the two agree to float32 rounding (a test checks 0.01 on
0–255 values). Queries go through these two, whatever runs the encoder afterwards, so that a
picture query gives the same pixels with onnxruntime and with TensorFlow.
"""

from __future__ import annotations

import functools
import io

import numpy as np

from dcmh_tf.errors import DataError

# what the query paths accept, by Pillow's name of the format
PICTURE_FORMATS = ("PNG", "JPEG", "GIF", "BMP")


def as_rgb(image):
    """A Pillow picture in RGB: grey, CMYK and palette converted, transparency laid on white (a
    plain RGBA-to-RGB conversion would show whatever colour the transparent pixels hold)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def decode_picture(data: bytes, name: str = "the picture") -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of the PNG, JPEG, GIF (first frame) or BMP file bytes `data`.

    Raises `DataError` in one line for bytes that are not such a picture (the format is read from the
    bytes, not from a file name) or that end early (a truncated file).
    """
    from PIL import Image, UnidentifiedImageError

    accepted = f"{', '.join(PICTURE_FORMATS[:-1])} or {PICTURE_FORMATS[-1]}"
    if not data:
        raise DataError(f"{name}: expected a {accepted} picture, received an empty file (0 bytes).")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in PICTURE_FORMATS:
                raise DataError(f"{name}: expected a {accepted} picture, received a {image.format} picture; "
                                f"convert it to one of those.")
            image.load()
            return np.asarray(as_rgb(image), dtype=np.uint8)
    except UnidentifiedImageError:
        start = data[:8]
        raise DataError(f"{name}: expected a {accepted} picture, received {len(data)} bytes of something else "
                        f"(starting {start!r}); give a picture file.") from None
    except (OSError, SyntaxError, ValueError) as error:
        message = str(error) or type(error).__name__
        if "truncated" in message.lower():
            raise DataError(f"{name}: expected a whole {accepted} picture, received a truncated one ({message}); "
                            f"give the complete file.") from None
        raise DataError(f"{name}: expected a {accepted} picture, received a damaged one ({message}).") from None


@functools.lru_cache(maxsize=16)
def _resize_weights(input_size: int, output_size: int) -> np.ndarray:
    """(output_size, input_size) float64 weights of TensorFlow's antialiased bilinear resize along one
    axis (tensorflow/core/kernels/image/scale_and_translate_op.cc, ComputeSpansCore, triangle kernel)."""
    scale = np.float32(output_size) / np.float32(input_size)
    inverse = 1.0 / float(scale)
    kernel_scale = max(inverse, 1.0)
    weights = np.zeros((output_size, input_size))
    for x in range(output_size):
        sample = (x + 0.5) * inverse
        if sample < 0 or sample > input_size:
            continue
        start = min(max(int(np.ceil(sample - kernel_scale - 0.5)), 0), input_size - 1)
        end = min(max(int(np.floor(sample + kernel_scale - 0.5)), 0), input_size - 1) + 1
        sources = np.arange(start, end)
        row = np.maximum(0.0, 1.0 - np.abs((sources + 0.5 - sample) / kernel_scale))
        total = row.sum()
        if abs(total) >= 1000 * np.finfo(np.float32).tiny:
            row = row / total
        weights[x, start:end] = row
    return weights


def resize_antialiased(pixels: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) float32 of (H, W, 3) pixels: bilinear with antialiasing, the whole picture, no
    crop, as `tf.image.resize(..., "bilinear", antialias=True)` (to float32 rounding)."""
    pixels = np.asarray(pixels, np.float32)
    height, width, channels = pixels.shape
    rows = _resize_weights(height, size).astype(np.float32)
    columns = _resize_weights(width, size).astype(np.float32)
    # two matrix products (BLAS): along the height, then along the width of each output row
    resized = (rows @ pixels.reshape(height, width * channels)).reshape(size, width, channels)
    resized = columns @ resized.transpose(1, 0, 2).reshape(width, size * channels)
    return np.ascontiguousarray(resized.reshape(size, size, channels).transpose(1, 0, 2))


def read_picture_pixels(data: bytes, size: int, name: str = "the picture") -> np.ndarray:
    """(1, size, size, 3) float32 pixels 0–255 of picture file bytes: decoded, then resized when the
    picture is not already size × size."""
    pixels = decode_picture(data, name)
    if pixels.shape[:2] != (size, size):
        return resize_antialiased(pixels, size)[None]
    return pixels.astype(np.float32)[None]
