"""Files sealed at rest: what the key store and the consensus snapshot share (one derivation per object)."""

import os
import struct
from pathlib import Path

import pytest

from packages.valory.skills.smpc_mnist_classifier.sealed_file import (
    SealedFile,
    SealedFileError,
)

PASSWORD = "correct horse battery staple"
MAGIC = b"TEST"


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> SealedFile:
    """A file sealed once for the read-only tests (its derived key stays cached)."""
    opened = SealedFile(str(tmp_path_factory.mktemp("sealed") / "file"), PASSWORD, MAGIC, "test file")
    opened.save(b"secret contents")
    return opened


def test_round_trip_in_a_private_file(sealed: SealedFile) -> None:
    """What was saved loads back, by another object with the same password; the file is private and opaque."""
    assert SealedFile(sealed.path, PASSWORD, MAGIC, "test file").load() == b"secret contents"
    assert Path(sealed.path).stat().st_mode & 0o077 == 0
    assert b"secret" not in Path(sealed.path).read_bytes()


@pytest.mark.parametrize(
    ("password", "magic", "reason"),
    [(PASSWORD + "!", MAGIC, "wrong password"), (PASSWORD, b"TCST", "not a v1 test file")],
)
def test_a_wrong_password_or_another_kind_of_file_is_refused(
    sealed: SealedFile, password: str, magic: bytes, reason: str
) -> None:
    """A wrong password fails the MAC; a file of another kind (e.g. a key store) is refused by its magic."""
    with pytest.raises(SealedFileError, match=reason):
        SealedFile(sealed.path, password, magic, "test file").load()


@pytest.mark.parametrize("offset", [0, 4, 5, 21, 30, -1])  # magic, version, work factors, salt, MAC
def test_any_flipped_byte_is_refused(tmp_path: Path, sealed: SealedFile, offset: int) -> None:
    """Header, work factors, salt, ciphertext or MAC: one flipped bit is a clear refusal, never garbage."""
    data = bytearray(Path(sealed.path).read_bytes())
    data[offset] ^= 0x01
    (tmp_path / "tampered").write_bytes(bytes(data))
    with pytest.raises(SealedFileError):
        SealedFile(str(tmp_path / "tampered"), PASSWORD, MAGIC, "test file").load()


def test_a_header_naming_other_work_factors_is_refused(tmp_path: Path, sealed: SealedFile) -> None:
    """Work factors are fixed: a header asking for a huge Argon2id memory cannot make the agent derive it."""
    data = bytearray(Path(sealed.path).read_bytes())
    struct.pack_into("<Q", data, 13, 2**40)  # the memory limit, after magic (4), version (1), ops (8)
    (tmp_path / "greedy").write_bytes(bytes(data))
    with pytest.raises(SealedFileError, match="expected work factors"):
        SealedFile(str(tmp_path / "greedy"), PASSWORD, MAGIC, "test file").load()


@pytest.mark.parametrize("data", [b"", MAGIC, b"\x00" * 200])
def test_truncated_empty_and_missing_files_are_refused(tmp_path: Path, data: bytes) -> None:
    """Short or foreign files are refused; so is a missing one."""
    (tmp_path / "bad").write_bytes(data)
    with pytest.raises(SealedFileError):
        SealedFile(str(tmp_path / "bad"), PASSWORD, MAGIC, "test file").load()
    with pytest.raises(SealedFileError, match="cannot be read"):
        SealedFile(str(tmp_path / "missing"), PASSWORD, MAGIC, "test file").load()


def test_saves_replace_atomically_without_new_derivations(tmp_path: Path, sealed: SealedFile) -> None:
    """A prepared file saves under its one derived key; each save replaces the last and leaves no temporary."""
    prepared = SealedFile(str(tmp_path / "file"), PASSWORD, MAGIC, "test file")
    prepared.prepare()
    box = prepared._box  # pylint: disable=protected-access
    prepared.save(b"one")
    prepared.save(b"two")
    assert prepared._box is box  # pylint: disable=protected-access
    assert prepared.load() == b"two"
    assert os.listdir(tmp_path) == ["file"]


def test_an_unwritable_file_is_a_clear_error(tmp_path: Path) -> None:
    """A missing folder (or a full disk) is the module's error, for the caller to report."""
    with pytest.raises(SealedFileError, match="cannot be written"):
        SealedFile(str(tmp_path / "no" / "file"), PASSWORD, MAGIC, "test file").save(b"x")


def test_an_empty_password_is_refused(tmp_path: Path) -> None:
    """An empty password would protect nothing."""
    with pytest.raises(SealedFileError, match="must not be empty"):
        SealedFile(str(tmp_path / "file"), "", MAGIC, "test file")
