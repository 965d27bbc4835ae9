"""Framing for the blobs agents exchange through IPFS: indexed byte strings, parsed strictly.

A bundle maps small integer keys (party indices) to byte strings. Layout: magic, count, then per
entry key (u16), length (u32) and bytes. Anything else (truncation, trailing bytes, repeated keys)
is refused with BundleError, so a malformed blob from one agent is excluded and never half-read.
"""

import base64
import binascii
import struct
from typing import Dict, Mapping

MAGIC = b"SMB1"
_COUNT = struct.Struct("<H")
_ENTRY = struct.Struct("<HI")


class BundleError(ValueError):
    """A bundle or its text encoding is malformed."""


def pack_bundle(entries: Mapping[int, bytes]) -> bytes:
    """Serialize {key: bytes} in key order."""
    parts = [MAGIC, _COUNT.pack(len(entries))]
    for key in sorted(entries):
        parts += [_ENTRY.pack(key, len(entries[key])), bytes(entries[key])]
    return b"".join(parts)


def unpack_bundle(blob: bytes) -> Dict[int, bytes]:
    """Parse a bundle made by pack_bundle."""
    if blob[: len(MAGIC)] != MAGIC:
        raise BundleError("not a bundle (bad magic)")
    offset = len(MAGIC)
    (count,) = _unpack(_COUNT, blob, offset)
    offset += _COUNT.size
    entries: Dict[int, bytes] = {}
    for _ in range(count):
        key, length = _unpack(_ENTRY, blob, offset)
        offset += _ENTRY.size
        if key in entries:
            raise BundleError(f"bundle repeats key {key}")
        if offset + length > len(blob):
            raise BundleError(f"bundle entry {key} is truncated")
        entries[key] = blob[offset : offset + length]
        offset += length
    if offset != len(blob):
        raise BundleError(f"{len(blob) - offset} trailing bytes after the bundle")
    return entries


def _unpack(layout: struct.Struct, blob: bytes, offset: int) -> tuple:
    """Unpack a fixed-size header or fail clearly."""
    if offset + layout.size > len(blob):
        raise BundleError("bundle is truncated")
    return layout.unpack_from(blob, offset)


def to_text(blob: bytes) -> str:
    """Base64 text: the IPFS connection stores and reads files as UTF-8 text."""
    return base64.b64encode(blob).decode("ascii")


def from_text(text: str) -> bytes:
    """Inverse of to_text; refuses anything that is not strict base64."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise BundleError(f"blob is not base64 text: {error}") from error
