"""The issuance record: what a party issued under each period's common random polynomial a_r.

Two encryptions (or two decryption shares) under one a_r would reveal the difference of two updates
(or s_j * a_r of the difference of two contributor sets): a party issues at most one of each per
(key epoch, period), ever. The record keeps the request digest of every issuance and the bytes of the
latest one of each kind, so a retry replays them. It is secret; the keystore persists to_bytes().
"""

import struct
from enum import IntEnum
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    AlreadyIssuedError,
    MalformedDataError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import _Reader


if TYPE_CHECKING:  # pragma: no cover
    from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption import (
        PeriodContext,
    )

_RECORD_MAGIC = b"TCIR"
_RECORD_VERSION = 1
_RECORD_ENTRY = struct.Struct("<B32sQQ32sQ")  # kind, epoch, round, period, request digest, blob size


class IssuanceKind(IntEnum):
    """What a party issues under a period's a_r, at most once each."""

    ENCRYPTION = 1
    DECRYPTION_SHARE = 2


_RecordKey = Tuple[IssuanceKind, bytes, int, int]  # kind, epoch, global round, period


class IssuanceRecord:
    """At most one encryption and one decryption share per (key epoch, period), ever."""

    def __init__(
        self, entries: Optional[Dict[_RecordKey, Tuple[bytes, bytes]]] = None
    ) -> None:
        """Start from persisted entries, or empty."""
        self._entries: Dict[_RecordKey, Tuple[bytes, bytes]] = dict(entries or {})

    def issued(self, kind: IssuanceKind, context: "PeriodContext") -> bool:
        """Whether this kind of object was issued for the period."""
        return (kind, context.epoch, context.global_round, context.period) in self._entries

    def issue(
        self,
        kind: IssuanceKind,
        context: "PeriodContext",
        request: bytes,
        make: Callable[[], bytes],
    ) -> bytes:
        """The bytes for `request`: made and recorded the first time, replayed after, refused for
        any other request on the same period."""
        key = (kind, context.epoch, context.global_round, context.period)
        if key in self._entries:
            recorded, blob = self._entries[key]
            if recorded != request or not blob:
                raise AlreadyIssuedError(
                    f"a {kind.name.lower().replace('_', ' ')} was already issued for round {context.global_round} "
                    f"period {context.period} of this key epoch"
                )
            return blob
        blob = make()
        for other, (recorded, _) in list(self._entries.items()):
            if other[0] == kind:
                self._entries[other] = (recorded, b"")
        self._entries[key] = (request, blob)
        return blob

    def keep_epoch(self, epoch: bytes) -> None:
        """Forget other key epochs (their a_r never recur: the epoch digest seeds every a_r)."""
        self._entries = {k: v for k, v in self._entries.items() if k[1] == epoch}

    def to_bytes(self) -> bytes:
        """Magic, version, entry count, then each entry's fields and kept bytes."""
        parts = [_RECORD_MAGIC, bytes([_RECORD_VERSION]), struct.pack("<I", len(self._entries))]
        for (kind, epoch, global_round, period), (request, blob) in sorted(
            self._entries.items()
        ):
            parts.append(
                _RECORD_ENTRY.pack(kind, epoch, global_round, period, request, len(blob))
            )
            parts.append(blob)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> "IssuanceRecord":
        """Strictly parse bytes made by to_bytes."""
        reader = _Reader(data, "issuance record")
        if reader.take(len(_RECORD_MAGIC) + 1) != _RECORD_MAGIC + bytes([_RECORD_VERSION]):
            raise MalformedDataError("issuance record: not a v1 record")
        (count,) = reader.unpack(struct.Struct("<I"))
        entries = {}
        for _ in range(count):
            kind, epoch, global_round, period, request, size = reader.unpack(_RECORD_ENTRY)
            if kind not in set(IssuanceKind):
                raise MalformedDataError(f"issuance record: unknown kind {kind}")
            key = (IssuanceKind(kind), epoch, global_round, period)
            if key in entries:
                raise MalformedDataError("issuance record: an entry repeats")
            entries[key] = (request, reader.take(size))
        reader.finish()
        return cls(entries)
