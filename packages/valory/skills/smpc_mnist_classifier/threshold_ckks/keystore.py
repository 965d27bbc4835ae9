"""A party's secrets at rest: key share, box key and issuance records in one password-encrypted file.

As aea encrypts private keys: a password-derived key (Argon2id) and an XSalsa20-Poly1305 SecretBox
(PyNaCl). The file is replaced atomically (temporary file, fsync, rename), so a crash leaves the old
or the new contents, never a mix. A wrong password or any tampering fails the MAC: KeystoreError.
The password is stretched once per Keystore object (the derived key and its salt are reused by later
saves, each with a fresh nonce), so recording an issuance costs no key derivation.
"""

import os
import struct
import tempfile
from dataclasses import dataclass
from typing import Optional, Tuple, Union

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey
from nacl.pwhash import argon2id
from nacl.secret import SecretBox
from nacl.utils import random as random_bytes

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
_VERSION = 1
_HEADER = struct.Struct(
    f"<4sBQQ{argon2id.SALTBYTES}s"
)  # magic, version, ops, mem, salt
# the work factors are fixed: a file naming others is refused (no denial of service by a header)
_OPSLIMIT = argon2id.OPSLIMIT_MODERATE
_MEMLIMIT = argon2id.MEMLIMIT_MODERATE
_LENGTH = struct.Struct("<I")

Password = Union[str, bytes]


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


def _write_atomically(path: str, data: bytes) -> None:
    """Replace `path` by `data`: a private temporary file, fsync, rename, fsync of the directory."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".keystore-")
    try:
        with os.fdopen(handle, "wb") as output:
            output.write(data)
            output.flush()
            os.fsync(output.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directory_handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_handle)
    finally:
        os.close(directory_handle)


class Keystore:
    """One agent's encrypted key store file and the password that opens it."""

    def __init__(self, path: str, password: Password) -> None:
        """Remember where and how; nothing is read or derived yet."""
        secret = password.encode() if isinstance(password, str) else bytes(password)
        if not secret:
            raise InvalidInputError("the key store password must not be empty")
        self.path = path
        self._password = secret
        self._salt: Optional[bytes] = None
        self._box: Optional[SecretBox] = None

    def _secret_box(self, salt: bytes) -> SecretBox:
        """The SecretBox of the password under `salt`, derived once per salt."""
        if self._salt != salt or self._box is None:
            key = argon2id.kdf(
                SecretBox.KEY_SIZE, self._password, salt, _OPSLIMIT, _MEMLIMIT
            )
            self._salt, self._box = salt, SecretBox(key)
        return self._box

    def save(self, contents: KeystoreContents) -> None:
        """Encrypt `contents` and atomically replace the file."""
        salt = self._salt or random_bytes(argon2id.SALTBYTES)
        header = _HEADER.pack(_MAGIC, _VERSION, _OPSLIMIT, _MEMLIMIT, salt)
        sealed = self._secret_box(salt).encrypt(_plaintext(contents))
        _write_atomically(self.path, header + bytes(sealed))

    def load(self, parameters: CkksParameters = DEFAULT_PARAMETERS) -> KeystoreContents:
        """Decrypt and parse the file; a wrong password or a tampered file raises KeystoreError."""
        try:
            with open(self.path, "rb") as source:
                data = source.read()
        except OSError as error:
            raise KeystoreError(
                f"key store {self.path} cannot be read: {error}"
            ) from error
        if len(data) < _HEADER.size:
            raise KeystoreError("key store: truncated header")
        magic, version, opslimit, memlimit, salt = _HEADER.unpack_from(data)
        if (magic, version, opslimit, memlimit) != (
            _MAGIC,
            _VERSION,
            _OPSLIMIT,
            _MEMLIMIT,
        ):
            raise KeystoreError(
                "key store: not a v1 key store with the expected work factors"
            )
        try:
            plaintext = self._secret_box(salt).decrypt(data[_HEADER.size :])
        except CryptoError as error:
            raise KeystoreError("key store: wrong password or tampered file") from error
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
