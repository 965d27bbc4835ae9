"""Sealing to the key holders: a payload readable by every key holder and by nobody else.

The payload is encrypted once under a fresh SecretBox key; that key is sealed (SealedBox) to each key
holder's registered box key, and its hash travels in clear so that every recipient provably opens
the same payload (a sender cannot show different recipients different shares). Decryption shares and
the accepted model's envelopes (model_envelope) are sealed this way, each kind under its own magic and
key-commitment domain so that one never opens as the other.
"""

import os
import struct
from dataclasses import dataclass
from typing import Mapping, Tuple

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption import (
    _digest,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    ForeignShareError,
    InvalidInputError,
    MalformedDataError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    CkksParameters,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _PREAMBLE,
    _preamble,
    _Reader,
)

_SEALED_MAGIC = b"TCSB"
_SEALED_FIELDS = struct.Struct("<H32sH")  # sender, key commitment, recipient count
# SealedBox adds an ephemeral public key and a MAC to the 32-byte message key
_SEALED_KEY = struct.Struct(f"<H{SecretBox.KEY_SIZE + 48}s")  # recipient, sealed message key


@dataclass(frozen=True)
class SealedKind:
    """What a sealed blob carries: its magic, the domain of its key commitment, its name in errors."""

    magic: bytes
    key_domain: bytes
    name: str


DECRYPTION_SHARE = SealedKind(_SEALED_MAGIC, b"threshold-ckks/share-key/v1", "decryption share")


def _key_commitment(message_key: bytes, kind: SealedKind) -> bytes:
    """Binds every recipient to the same message key, so a sender cannot show each a different payload."""
    return _digest(kind.key_domain, message_key)


def seal_to_key_holders(
    payload: bytes,
    sender: int,
    box_public_keys: Mapping[int, bytes],
    parameters: CkksParameters,
    kind: SealedKind = DECRYPTION_SHARE,
) -> bytes:
    """The payload under a fresh SecretBox key, that key sealed to every key holder's box key."""
    message_key = os.urandom(SecretBox.KEY_SIZE)
    recipients = []
    for recipient in sorted(box_public_keys):
        try:
            box_key = PublicKey(bytes(box_public_keys[recipient]))
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"no valid box key for party {recipient}") from error
        sealed = SealedBox(box_key).encrypt(message_key)
        recipients.append(_SEALED_KEY.pack(recipient, sealed))
    header = _SEALED_FIELDS.pack(sender, _key_commitment(message_key, kind), len(recipients))
    box = bytes(SecretBox(message_key).encrypt(payload))
    return _preamble(kind.magic, parameters) + header + b"".join(recipients) + box


def unseal(
    sealed: bytes,
    recipient: int,
    box_key: PrivateKey,
    parameters: CkksParameters,
    kind: SealedKind = DECRYPTION_SHARE,
) -> Tuple[int, bytes]:
    """(sender, payload) of a sealed blob, for key holder `recipient` holding `box_key`."""
    reader = _Reader(sealed, f"sealed {kind.name}")
    reader.preamble(kind.magic, parameters)
    sender, commitment, count = reader.unpack(_SEALED_FIELDS)
    entries = [reader.unpack(_SEALED_KEY) for _ in range(count)]
    consumed = _PREAMBLE.size + _SEALED_FIELDS.size + count * _SEALED_KEY.size
    box = reader.take(len(bytes(sealed)) - consumed)
    sealed_keys = dict(entries)
    if len(sealed_keys) != count:
        raise MalformedDataError(f"sealed {kind.name}: a recipient repeats")
    if recipient not in sealed_keys:
        raise ForeignShareError(f"the {kind.name} of party {sender} is not sealed to party {recipient}")
    try:
        message_key = SealedBox(box_key).decrypt(sealed_keys[recipient])
        payload = SecretBox(message_key).decrypt(box)
    except (CryptoError, ValueError, TypeError) as error:
        raise MalformedDataError(
            f"the {kind.name} of party {sender} does not open for party {recipient}"
        ) from error
    if _key_commitment(message_key, kind) != commitment:
        raise MalformedDataError(f"the {kind.name} of party {sender} shows party {recipient} another key")
    return sender, payload
