"""Byte formats: the preamble every object starts with, a strict reader, raw residue bytes."""

import math
import struct
from typing import Tuple

import numpy as np

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    MalformedDataError,
    ParameterMismatchError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    CkksParameters,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import _column

_FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<4sB32s")  # magic, format version, parameters digest


def _preamble(magic: bytes, parameters: CkksParameters) -> bytes:
    """Leading bytes of every serialized object."""
    return _PREAMBLE.pack(magic, _FORMAT_VERSION, parameters.digest)


class _Reader:
    """Strict sequential parser: any shortfall, excess or out-of-range residue raises."""

    def __init__(self, data: bytes, what: str) -> None:
        """Parse `data`, naming it `what` in errors."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise MalformedDataError(
                f"{what}: expected bytes, got {type(data).__name__}"
            )
        self._data = bytes(data)
        self._offset = 0
        self._what = what

    def take(self, size: int) -> bytes:
        """The next `size` bytes."""
        end = self._offset + size
        if end > len(self._data):
            raise MalformedDataError(
                f"{self._what}: truncated, needs {end} bytes, has {len(self._data)}"
            )
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def rest(self) -> bytes:
        """All remaining bytes (a nested object that parses itself)."""
        return self.take(len(self._data) - self._offset)

    def unpack(self, layout: struct.Struct) -> tuple:
        """The next fixed-layout fields."""
        return layout.unpack(self.take(layout.size))

    def preamble(self, magic: bytes, parameters: CkksParameters) -> None:
        """Check magic, format version and parameters digest."""
        found_magic, version, digest = self.unpack(_PREAMBLE)
        if found_magic != magic or version != _FORMAT_VERSION:
            raise MalformedDataError(
                f"{self._what}: not a v{_FORMAT_VERSION} {magic!r} object "
                f"(found {found_magic!r} v{version})"
            )
        if digest != parameters.digest:
            raise ParameterMismatchError(
                f"{self._what}: made under parameters {digest.hex()[:16]}, "
                f"expected {parameters.digest.hex()[:16]}"
            )

    def residues(self, shape: Tuple[int, ...], moduli: np.ndarray) -> np.ndarray:
        """u64 little-endian residues of `shape` whose axis -2 runs over `moduli`."""
        raw = np.frombuffer(self.take(8 * math.prod(shape)), dtype="<u8").reshape(shape)
        if (raw >= _column(moduli)).any():
            raise MalformedDataError(
                f"{self._what}: a residue is not below its modulus"
            )
        return raw.astype(np.uint64)

    def finish(self) -> None:
        """Refuse trailing bytes."""
        if self._offset != len(self._data):
            raise MalformedDataError(
                f"{self._what}: {len(self._data) - self._offset} unexpected trailing bytes"
            )


def _residue_bytes(residues: np.ndarray) -> bytes:
    """Raw 8-byte little-endian residues (uniform data: compression would only add overhead)."""
    return residues.astype("<u8").tobytes()
