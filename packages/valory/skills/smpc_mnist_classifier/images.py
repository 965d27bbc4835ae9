"""One digit sent for prediction: decode a PNG or JSON body into 28x28 pixels, with clear errors (no AEA imports).

Pixels follow MNIST: 0 is the background, 255 full ink, row by row from the top left.
"""

import io
import json
import math
from numbers import Real
from typing import Any, List

import numpy as np
from PIL import Image

from packages.valory.skills.smpc_mnist_classifier.learning import (
    IMAGE_SIDE,
    MAX_PIXEL_VALUE,
)

PIXEL_COUNT = IMAGE_SIDE * IMAGE_SIDE
# A 28x28 PNG is under 2 KB and 784 JSON numbers under 4 KB: anything far bigger is not one digit.
MAX_BODY_BYTES = 64 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAD_REQUEST = 400
PAYLOAD_TOO_LARGE = 413
UNSUPPORTED_MEDIA_TYPE = 415


class ImageInputError(ValueError):
    """A request body that is not one valid digit; `status` is the HTTP status to answer with."""

    status = BAD_REQUEST


class ImageTooLargeError(ImageInputError):
    """The body is over MAX_BODY_BYTES."""

    status = PAYLOAD_TOO_LARGE


class UnsupportedImageError(ImageInputError):
    """An image, but not a PNG."""

    status = UNSUPPORTED_MEDIA_TYPE


def decode_digit(body: bytes, content_type: str = "") -> np.ndarray:
    """The 28x28 float32 pixels (0..255) of a PNG body, or of a JSON body of 784 values (flat, 28 rows, or {"pixels": ...})."""
    if len(body) > MAX_BODY_BYTES:
        raise ImageTooLargeError(
            f"body of {len(body)} bytes is over the limit of {MAX_BODY_BYTES} bytes"
        )
    media_type = content_type.split(";")[0].strip().lower()
    if body.startswith(PNG_SIGNATURE) or media_type == "image/png":
        return _decode_png(body)
    if media_type.startswith("image/"):
        raise UnsupportedImageError(
            f"{media_type} is not supported: send a PNG image or JSON pixels"
        )
    return _decode_json(body)


def _decode_png(body: bytes) -> np.ndarray:
    """A 28x28 PNG, converted to 8-bit grayscale."""
    try:
        with Image.open(io.BytesIO(body), formats=["PNG"]) as image:
            if image.size != (IMAGE_SIDE, IMAGE_SIDE):
                raise ImageInputError(
                    f"image is {image.size[0]}x{image.size[1]} pixels, expected {IMAGE_SIDE}x{IMAGE_SIDE}"
                )
            grey = image.convert("L")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        if isinstance(error, ImageInputError):
            raise
        raise ImageInputError(f"not a valid PNG image: {error}") from error
    return np.asarray(grey, dtype=np.float32)


def _decode_json(body: bytes) -> np.ndarray:
    """784 numbers in [0, 255]: a flat list, 28 lists of 28, or an object with a "pixels" list."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ImageInputError(
            f"body is neither a PNG image nor JSON pixels: {error}"
        ) from error
    if isinstance(data, dict):
        if set(data) != {"pixels"}:
            raise ImageInputError(
                f'expected an object with only a "pixels" key, got keys {sorted(data)}'
            )
        data = data["pixels"]
    return _pixel_grid(_flat_values(data))


def _flat_values(data: Any) -> List[Any]:
    """The values of a flat list, or of a list of equal rows."""
    if not isinstance(data, list):
        raise ImageInputError(f"pixels must be a JSON list, got {type(data).__name__}")
    if data and all(isinstance(row, list) for row in data):
        if len(data) != IMAGE_SIDE or any(len(row) != IMAGE_SIDE for row in data):
            raise ImageInputError(
                f"pixel rows must be {IMAGE_SIDE} lists of {IMAGE_SIDE} values"
            )
        return [value for row in data for value in row]
    return data


def _pixel_grid(values: List[Any]) -> np.ndarray:
    """Check count, type and range of the values; return them as a 28x28 grid."""
    if len(values) != PIXEL_COUNT:
        raise ImageInputError(
            f"got {len(values)} pixel values, expected {PIXEL_COUNT} ({IMAGE_SIDE}x{IMAGE_SIDE})"
        )
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ImageInputError(f"pixel {index} is not a number: {value!r}")
        if not math.isfinite(value) or not 0 <= value <= MAX_PIXEL_VALUE:
            raise ImageInputError(
                f"pixel {index} is {value!r}: values must be finite and in [0, {MAX_PIXEL_VALUE:g}]"
            )
    return np.asarray(values, dtype=np.float32).reshape(IMAGE_SIDE, IMAGE_SIDE)
