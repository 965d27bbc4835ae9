"""Bundle framing and text encoding: round trips, and every malformed input refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from packages.valory.skills.smpc_mnist_classifier.bundles import (
    BundleError,
    from_text,
    pack_bundle,
    to_text,
    unpack_bundle,
)


@given(st.dictionaries(st.integers(0, 65535), st.binary(max_size=64), max_size=8))
def test_round_trip(entries: dict) -> None:
    """Whatever is packed is unpacked, through text too."""
    assert unpack_bundle(from_text(to_text(pack_bundle(entries)))) == entries


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"XXXX\x00\x00", "bad magic"),
        (b"SMB1\x01", "truncated"),
        (b"SMB1\x01\x00\x01\x00\x05\x00\x00\x00ab", "entry 1 is truncated"),
        (pack_bundle({1: b"a"}) + b"!", "trailing bytes"),
        (b"SMB1\x02\x00" + b"\x01\x00\x01\x00\x00\x00a" * 2, "repeats key 1"),
    ],
)
def test_malformed_bundles_are_refused(blob: bytes, message: str) -> None:
    """Truncation, trailing bytes, repeated keys and foreign blobs raise BundleError."""
    with pytest.raises(BundleError, match=message):
        unpack_bundle(blob)


def test_non_base64_text_is_refused() -> None:
    """A blob that is not base64 text is refused, not decoded leniently."""
    with pytest.raises(BundleError, match="not base64"):
        from_text("not base64!")
