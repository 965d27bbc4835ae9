"""A party's secrets at rest: key share, box key and issuance records in one password-encrypted file.

Sealed as sealed_file seals (Argon2id + SecretBox, replaced atomically): a wrong password or any tampering
raises KeystoreError. The password is stretched once per Keystore object, so recording an issuance costs no
key derivation.
"""

import struct
from dataclasses import dataclass
from typing import Optional, Tuple

from nacl.public import PrivateKey

from packages.valory.skills.smpc_mnist_classifier.sealed_file import (
    Password,
    SealedFile,
    SealedFileError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InvalidInputError,
    KeystoreError,
    ThresholdCkksError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen import (
    Dealer,
    KeyShare,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
)

_MAGIC = b"TCST"
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class KeystoreContents:
    """What a party must keep across restarts (all secret).

    The box key is saved as soon as it is registered (key generation seals points to it), the
    dealer once its dealing is committed (to reveal, justify and finalize after a restart), the key
    share once key generation finished (then the dealer is dropped), issuance records as made.
    """

    box_key: PrivateKey
    key_share: Optional[KeyShare] = None
    issuance_records: Tuple[bytes, ...] = ()
    dealer: Optional[Dealer] = None


def _plaintext(contents: KeystoreContents) -> bytes:
    """Length-prefixed fields: box key, key share, dealer (each empty if none), then the records."""
    share = contents.key_share.to_bytes() if contents.key_share else b""
    dealer = contents.dealer.to_bytes() if contents.dealer else b""
    fields = [bytes(contents.box_key), share, dealer]
    fields += list(contents.issuance_records)
    return _LENGTH.pack(len(fields)) + b"".join(
        _LENGTH.pack(len(field)) + field for field in fields
    )


def _fields(plaintext: bytes) -> Tuple[bytes, ...]:
    """Split an authenticated plaintext made by _plaintext."""
    (count,), offset = _LENGTH.unpack_from(plaintext), _LENGTH.size
    fields = []
    for _ in range(count):
        (size,) = _LENGTH.unpack_from(plaintext, offset)
        offset += _LENGTH.size
        fields.append(plaintext[offset : offset + size])
        offset += size
    if count < 3 or offset != len(plaintext):
        raise KeystoreError("key store: inconsistent contents")
    return tuple(fields)


class Keystore:
    """One agent's encrypted key store file and the password that opens it."""

    def __init__(self, path: str, password: Password) -> None:
        """Remember where and how; nothing is read or derived yet."""
        if not password:
            raise InvalidInputError("the key store password must not be empty")
        self.path = path
        self._file = SealedFile(path, password, _MAGIC, "key store")

    def save(self, contents: KeystoreContents) -> None:
        """Encrypt `contents` and atomically replace the file."""
        try:
            self._file.save(_plaintext(contents))
        except SealedFileError as error:
            raise KeystoreError(str(error)) from error

    def load(self, parameters: CkksParameters = DEFAULT_PARAMETERS) -> KeystoreContents:
        """Decrypt and parse the file; a wrong password or a tampered file raises KeystoreError."""
        try:
            plaintext = self._file.load()
        except SealedFileError as error:
            raise KeystoreError(str(error)) from error
        try:
            box_key, key_share, dealer, *records = _fields(plaintext)
            return KeystoreContents(
                PrivateKey(box_key),
                KeyShare.from_bytes(key_share, parameters) if key_share else None,
                tuple(records),
                Dealer.from_bytes(dealer, parameters) if dealer else None,
            )
        except (ThresholdCkksError, struct.error, ValueError, TypeError) as error:
            raise KeystoreError(f"key store: unusable contents: {error}") from error
