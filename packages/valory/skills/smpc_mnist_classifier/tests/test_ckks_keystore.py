"""Tests for the password-encrypted key store: round trip, wrong password, tampering, atomic replace."""

import os
from pathlib import Path

import numpy as np
import pytest
from nacl.public import PrivateKey

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InvalidInputError,
    KeystoreError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen import Dealer
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keystore import (
    Keystore,
    KeystoreContents,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    CkksParameters,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.simulation import (
    simulate_key_generation,
)

PASSWORD = "correct horse battery staple"
PARAMETERS = CkksParameters(
    poly_modulus_degree=4096,
    coeff_modulus_bits=(36, 36, 37),
    scale_bits=30,
    max_abs_value_bits=8,
    max_total_weight_bits=10,
)


@pytest.fixture(scope="module")
def contents() -> KeystoreContents:
    """Party 2's secrets after a simulated key generation, with two issuance records."""
    keys = simulate_key_generation(4, 3, b"keystore test", PARAMETERS)
    return KeystoreContents(
        keys.box_keys[2], keys.key_shares[2], (b"record one", b"\x00record two")
    )


@pytest.fixture(scope="module")
def keystore(tmp_path_factory, contents: KeystoreContents) -> Keystore:
    """A key store written once for the read-only tests (its derived key stays cached)."""
    opened = Keystore(
        str(tmp_path_factory.mktemp("keystore") / "agent.keystore"), PASSWORD
    )
    opened.save(contents)
    return opened


@pytest.fixture(scope="module")
def stored(keystore: Keystore) -> Path:
    """The key store's file."""
    return Path(keystore.path)


def test_round_trip(stored: Path, contents: KeystoreContents) -> None:
    """What was saved loads back: key share, box key and issuance records; the file is private."""
    loaded = Keystore(str(stored), PASSWORD).load(PARAMETERS)
    share, original = loaded.key_share, contents.key_share
    assert (share.index, share.epoch, share.qualified) == (
        original.index,
        original.epoch,
        original.qualified,
    )
    assert np.array_equal(share.additive_secret, original.additive_secret)
    assert np.array_equal(share.shamir_share, original.shamir_share)
    assert bytes(loaded.box_key) == bytes(contents.box_key)
    assert loaded.issuance_records == contents.issuance_records
    assert stored.stat().st_mode & 0o077 == 0
    assert bytes(contents.box_key) not in stored.read_bytes()


def test_wrong_password_is_refused(stored: Path) -> None:
    """A wrong password raises the project's error, never returns garbage."""
    with pytest.raises(KeystoreError):
        Keystore(str(stored), PASSWORD + "!").load(PARAMETERS)


@pytest.mark.parametrize("offset", [0, 5, 30, -1])  # magic, version, salt, MAC
def test_tampered_file_is_refused(tmp_path: Path, stored: Path, offset: int) -> None:
    """Flipping any byte (header, salt, ciphertext, MAC) is refused."""
    data = bytearray(stored.read_bytes())
    data[offset] ^= 0x01
    tampered = tmp_path / "tampered"
    tampered.write_bytes(bytes(data))
    with pytest.raises(KeystoreError):
        Keystore(str(tampered), PASSWORD).load(PARAMETERS)


@pytest.mark.parametrize("data", [b"", b"TCST", b"\x00" * 200])
def test_truncated_or_foreign_file_is_refused(tmp_path: Path, data: bytes) -> None:
    """Short or foreign files are refused; so is a missing one."""
    path = tmp_path / "bad"
    path.write_bytes(data)
    with pytest.raises(KeystoreError):
        Keystore(str(path), PASSWORD).load(PARAMETERS)
    with pytest.raises(KeystoreError):
        Keystore(str(tmp_path / "missing"), PASSWORD).load(PARAMETERS)


def test_foreign_parameters_are_refused(keystore: Keystore) -> None:
    """A key store of another parameter set does not load as this one."""
    other = CkksParameters(
        poly_modulus_degree=4096,
        coeff_modulus_bits=(36, 36, 37),
        scale_bits=31,
        max_abs_value_bits=8,
        max_total_weight_bits=10,
    )
    with pytest.raises(KeystoreError):
        keystore.load(other)


def test_save_replaces_atomically_and_leaves_no_temporary_files(
    tmp_path: Path, contents: KeystoreContents
) -> None:
    """A second save replaces the first; only the key store remains in the directory."""
    keystore = Keystore(str(tmp_path / "agent.keystore"), PASSWORD)
    keystore.save(contents)
    updated = KeystoreContents(
        contents.box_key, contents.key_share, contents.issuance_records + (b"three",)
    )
    keystore.save(updated)
    assert keystore.load(PARAMETERS).issuance_records[-1] == b"three"
    assert os.listdir(tmp_path) == ["agent.keystore"]


def test_box_key_and_dealer_are_kept_before_key_generation_ends(
    keystore: Keystore, contents: KeystoreContents
) -> None:
    """A restart during key generation keeps the registered box key, then the committed dealer."""
    keystore.save(KeystoreContents(contents.box_key))
    loaded = keystore.load(PARAMETERS)
    assert bytes(loaded.box_key) == bytes(contents.box_key)
    assert loaded.key_share is None and loaded.dealer is None
    assert loaded.issuance_records == ()
    box_public_keys = {i: bytes(PrivateKey.generate().public_key) for i in (1, 3, 4)}
    box_public_keys[2] = bytes(contents.box_key.public_key)
    dealer = Dealer(2, 4, 3, b"keystore test", box_public_keys, PARAMETERS)
    keystore.save(KeystoreContents(contents.box_key, dealer=dealer))
    restored = keystore.load(PARAMETERS).dealer
    assert restored.dealing.to_bytes() == dealer.dealing.to_bytes()
    assert restored.justification(4) == dealer.justification(4)
    keystore.save(contents)


def test_empty_password_is_refused(tmp_path: Path) -> None:
    """An empty password would protect nothing."""
    with pytest.raises(InvalidInputError):
        Keystore(str(tmp_path / "k"), "")
