"""Files sealed at rest under a password: the key store and the consensus snapshot.

As aea encrypts private keys: a password-derived key (Argon2id) and an XSalsa20-Poly1305 SecretBox
(PyNaCl). The file is replaced atomically (temporary file, fsync, rename, fsync of the directory), so a
crash leaves the old or the new contents, never a mix. A wrong password or any tampering fails the MAC.
The password is stretched once per SealedFile object (the derived key and its salt are reused by later
saves, each with a fresh nonce), so frequent saves cost no key derivation. Plain module: no AEA imports;
every refusal is a SealedFileError.
"""

import os
import struct
import tempfile
from typing import Optional, Union

from nacl.exceptions import CryptoError
from nacl.pwhash import argon2id
from nacl.secret import SecretBox
from nacl.utils import random as random_bytes

_VERSION = 1
_HEADER = struct.Struct(f"<4sBQQ{argon2id.SALTBYTES}s")  # magic, version, ops, mem, salt
# the work factors are fixed: a file naming others is refused (no denial of service by a header)
_OPSLIMIT = argon2id.OPSLIMIT_MODERATE
_MEMLIMIT = argon2id.MEMLIMIT_MODERATE

Password = Union[str, bytes]


class SealedFileError(ValueError):
    """A sealed file cannot be written, read or opened (wrong password, tampered, truncated, foreign)."""


def write_atomically(path: str, data: bytes) -> None:
    """Replace `path` by `data`: a private temporary file, fsync, rename, fsync of the directory."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".sealed-")
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


class SealedFile:
    """One password-sealed file; `magic` (4 bytes) names its kind, so one kind never opens as another."""

    def __init__(self, path: str, password: Password, magic: bytes, kind: str) -> None:
        """Remember where and how; nothing is read or derived yet."""
        secret = password.encode() if isinstance(password, str) else bytes(password)
        if not secret:
            raise SealedFileError(f"the {kind} password must not be empty")
        if len(magic) != 4:
            raise SealedFileError(f"the {kind} magic must be 4 bytes")
        self.path = path
        self.kind = kind
        self._magic = magic
        self._password = secret
        self._salt: Optional[bytes] = None
        self._box: Optional[SecretBox] = None

    def _secret_box(self, salt: bytes) -> SecretBox:
        """The SecretBox of the password under `salt`, derived once per salt."""
        if self._salt != salt or self._box is None:
            key = argon2id.kdf(SecretBox.KEY_SIZE, self._password, salt, _OPSLIMIT, _MEMLIMIT)
            self._salt, self._box = salt, SecretBox(key)
        return self._box

    def prepare(self) -> None:
        """Derive the key now (about a second), so that no later save has to."""
        self._secret_box(self._salt or random_bytes(argon2id.SALTBYTES))

    def save(self, plaintext: bytes) -> None:
        """Encrypt `plaintext` and atomically replace the file; SealedFileError if it cannot be written."""
        salt = self._salt or random_bytes(argon2id.SALTBYTES)
        header = _HEADER.pack(self._magic, _VERSION, _OPSLIMIT, _MEMLIMIT, salt)
        sealed = self._secret_box(salt).encrypt(plaintext)
        try:
            write_atomically(self.path, header + bytes(sealed))
        except OSError as error:
            raise SealedFileError(f"{self.kind} {self.path} cannot be written: {error}") from error

    def load(self) -> bytes:
        """The decrypted contents; a missing, foreign, truncated or tampered file or a wrong password raise."""
        try:
            with open(self.path, "rb") as source:
                data = source.read()
        except OSError as error:
            raise SealedFileError(f"{self.kind} {self.path} cannot be read: {error}") from error
        if len(data) < _HEADER.size:
            raise SealedFileError(f"{self.kind}: truncated header")
        magic, version, opslimit, memlimit, salt = _HEADER.unpack_from(data)
        if (magic, version, opslimit, memlimit) != (self._magic, _VERSION, _OPSLIMIT, _MEMLIMIT):
            raise SealedFileError(f"{self.kind}: not a v{_VERSION} {self.kind} with the expected work factors")
        try:
            return self._secret_box(salt).decrypt(data[_HEADER.size :])
        except CryptoError as error:
            raise SealedFileError(f"{self.kind}: wrong password or tampered file") from error
