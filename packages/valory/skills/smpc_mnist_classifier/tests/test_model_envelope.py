"""Tests for the model envelopes: the accepted model sealed to the key holders, opened only as the agreed model."""

from typing import Callable, Dict, Type

import pytest
from nacl.public import PrivateKey

from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier.model_envelope import (
    MODEL_ENVELOPE,
    ForeignEnvelopeError,
    MalformedEnvelopeError,
    ModelEnvelopeError,
    WrongModelError,
    open_model,
    seal_model,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import DEFAULT_PARAMETERS
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.decryption import open_decryption_share
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import ThresholdCkksError
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sealing import seal_to_key_holders

SENDER, RECIPIENT, ROUND = 2, 4, 3


@pytest.fixture(scope="module")
def box_keys() -> Dict[int, PrivateKey]:
    """The box keys of four key holders, by party index."""
    return {index: PrivateKey.generate() for index in (1, 2, 3, 4)}


@pytest.fixture(scope="module")
def model() -> learning.MnistCnn:
    """The accepted model."""
    return learning.build_model(7)


@pytest.fixture(scope="module")
def envelope(box_keys: Dict[int, PrivateKey], model: learning.MnistCnn) -> bytes:
    """Party 2's envelope of the model of round 3, sealed to all four key holders."""
    return seal_model(model, ROUND, SENDER, public_keys(box_keys))


def public_keys(box_keys: Dict[int, PrivateKey]) -> Dict[int, bytes]:
    """The box public keys, by party index."""
    return {index: bytes(key.public_key) for index, key in box_keys.items()}


def test_every_key_holder_opens_the_agreed_model(
    box_keys: Dict[int, PrivateKey], model: learning.MnistCnn, envelope: bytes
) -> None:
    """Each recipient gets back exactly the model (same digest), and its bytes are not in the envelope."""
    digest = learning.model_digest(model)
    for index, key in box_keys.items():
        assert learning.model_digest(open_model(envelope, index, key, SENDER, ROUND, digest)) == digest
    assert learning.model_to_bytes(model)[:4096] not in envelope


def test_envelopes_are_randomised(box_keys: Dict[int, PrivateKey], model: learning.MnistCnn, envelope: bytes) -> None:
    """Two envelopes of one model differ (fresh key): voters' content ids differ, so votes cannot carry them."""
    assert seal_model(model, ROUND, SENDER, public_keys(box_keys)) != envelope


def test_an_outsider_cannot_open_an_envelope(model: learning.MnistCnn, envelope: bytes) -> None:
    """A box key of no key holder opens nothing, whichever recipient slot it tries."""
    outsider = PrivateKey.generate()
    for index in (1, 2, 3, 4):
        with pytest.raises(MalformedEnvelopeError, match="does not open"):
            open_model(envelope, index, outsider, SENDER, ROUND, learning.model_digest(model))


def test_an_envelope_not_sealed_to_the_agent_is_foreign(
    box_keys: Dict[int, PrivateKey], model: learning.MnistCnn
) -> None:
    """Sealed to the other three key holders only: party 4 is told so."""
    others = {index: key for index, key in public_keys(box_keys).items() if index != RECIPIENT}
    sealed = seal_model(model, ROUND, SENDER, others)
    with pytest.raises(ForeignEnvelopeError, match="not sealed to party 4"):
        open_model(sealed, RECIPIENT, box_keys[RECIPIENT], SENDER, ROUND, learning.model_digest(model))


@pytest.mark.parametrize(
    "tamper, error, message",
    [
        (lambda blob: b"garbage", MalformedEnvelopeError, "truncated"),
        (lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]), MalformedEnvelopeError, "does not open"),
        (lambda blob: blob[:-100], MalformedEnvelopeError, "does not open"),
        (lambda blob: b"TCSB" + blob[4:], MalformedEnvelopeError, "not a v1"),
    ],
    ids=["garbage", "flipped-bit", "truncated", "as-a-decryption-share"],
)
def test_a_tampered_envelope_is_refused(
    box_keys: Dict[int, PrivateKey],
    model: learning.MnistCnn,
    envelope: bytes,
    tamper: Callable[[bytes], bytes],
    error: Type[ModelEnvelopeError],
    message: str,
) -> None:
    """Any change to the envelope's bytes, or another magic, is refused."""
    with pytest.raises(error, match=message):
        open_model(tamper(envelope), RECIPIENT, box_keys[RECIPIENT], SENDER, ROUND, learning.model_digest(model))


def test_an_envelope_of_another_model_is_refused(box_keys: Dict[int, PrivateKey], envelope: bytes) -> None:
    """A well-sealed envelope whose model is not the agreed one (a Byzantine voter's)."""
    agreed = learning.model_digest(learning.build_model(8))
    with pytest.raises(WrongModelError, match="not the agreed model of global round 3"):
        open_model(envelope, RECIPIENT, box_keys[RECIPIENT], SENDER, ROUND, agreed)


def test_an_envelope_replayed_from_an_older_round_is_refused(
    box_keys: Dict[int, PrivateKey], model: learning.MnistCnn, envelope: bytes
) -> None:
    """The round is sealed with the model: round 3's envelope is not round 4's, even for an unchanged model."""
    with pytest.raises(ForeignEnvelopeError, match="global round 3, not 4"):
        open_model(envelope, RECIPIENT, box_keys[RECIPIENT], SENDER, ROUND + 1, learning.model_digest(model))


def test_an_envelope_copied_by_another_voter_is_refused(
    box_keys: Dict[int, PrivateKey], model: learning.MnistCnn, envelope: bytes
) -> None:
    """Party 1 publishing party 2's envelope as its own is refused."""
    with pytest.raises(ForeignEnvelopeError, match="sealed by party 2, published by party 1"):
        open_model(envelope, RECIPIENT, box_keys[RECIPIENT], 1, ROUND, learning.model_digest(model))


def test_a_sealed_payload_that_is_no_model_is_refused(box_keys: Dict[int, PrivateKey]) -> None:
    """A well-sealed envelope of round 3 whose payload after the round is 12 bytes, not a model."""
    payload = ROUND.to_bytes(8, "little") + b"\x00" * 12
    sealed = seal_to_key_holders(payload, SENDER, public_keys(box_keys), DEFAULT_PARAMETERS, MODEL_ENVELOPE)
    with pytest.raises(MalformedEnvelopeError, match="holds no model"):
        open_model(sealed, RECIPIENT, box_keys[RECIPIENT], SENDER, ROUND, "00" * 32)


def test_an_envelope_never_opens_as_a_decryption_share(box_keys: Dict[int, PrivateKey], envelope: bytes) -> None:
    """Each sealed kind has its own magic: an envelope given as a decryption share is refused there too."""
    with pytest.raises(ThresholdCkksError, match="not a v1"):
        open_decryption_share(envelope, RECIPIENT, box_keys[RECIPIENT], DEFAULT_PARAMETERS)


@pytest.mark.parametrize("global_round", [0, -1])
def test_no_envelope_for_a_round_that_was_never_accepted(
    box_keys: Dict[int, PrivateKey], model: learning.MnistCnn, global_round: int
) -> None:
    """Round numbers of accepted models start at 1."""
    with pytest.raises(ModelEnvelopeError, match="no accepted round"):
        seal_model(model, global_round, SENDER, public_keys(box_keys))


def test_a_bad_box_key_is_refused_when_sealing(model: learning.MnistCnn) -> None:
    """A key holder's box public key that is not 32 bytes."""
    with pytest.raises(ModelEnvelopeError, match="no valid box key for party 1"):
        seal_model(model, ROUND, SENDER, {1: b"short"})
