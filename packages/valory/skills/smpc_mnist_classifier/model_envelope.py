"""Model envelopes: the accepted global model on IPFS, readable by the service's key holders only.

An agent that missed two or more accepted rounds cannot rebuild the last one, so every voter publishes the model
it votes for in an envelope: the model's canonical bytes, with the global round they belong to, sealed to the key
holders the way decryption shares are (threshold_ckks.sealing: a fresh SecretBox key sealed to each key holder's
box key). Outsiders read IPFS but hold no box key. The agent opening an envelope adopts its model only if it has
the digest agreed in consensus, so a Byzantine voter's envelope (garbage, another model, another round, not
sealed to it) is refused and the next voter's is tried. Plain module: no AEA imports; every refusal is a
ModelEnvelopeError.
"""

import struct
from typing import Mapping

from nacl.public import PrivateKey

from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import (
    DEFAULT_PARAMETERS,
    ForeignShareError,
    ThresholdCkksError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sealing import (
    SealedKind,
    seal_to_key_holders,
    unseal,
)

MODEL_ENVELOPE = SealedKind(b"TCME", b"smpc-mnist/model-envelope-key/v1", "model envelope")
_ROUND = struct.Struct("<Q")  # the global round the sealed model was accepted in


class ModelEnvelopeError(ValueError):
    """Base class: an envelope is refused (its model is never adopted)."""


class MalformedEnvelopeError(ModelEnvelopeError):
    """The envelope is truncated, tampered with, or does not hold a model."""


class ForeignEnvelopeError(ModelEnvelopeError):
    """The envelope is not sealed to this agent, not by the voter that published it, or of another round."""


class WrongModelError(ModelEnvelopeError):
    """The envelope opens, but its model does not have the digest agreed in consensus."""


def seal_model(
    model: learning.MnistCnn, global_round: int, sender: int, box_public_keys: Mapping[int, bytes]
) -> bytes:
    """The envelope of `model`, accepted in `global_round`, by key holder `sender`, sealed to every key holder."""
    if global_round < 1:
        raise ModelEnvelopeError(f"global round {global_round} is no accepted round")
    payload = _ROUND.pack(global_round) + learning.model_to_bytes(model)
    try:
        return seal_to_key_holders(payload, sender, box_public_keys, DEFAULT_PARAMETERS, MODEL_ENVELOPE)
    except ThresholdCkksError as error:
        raise ModelEnvelopeError(f"cannot seal the model: {error}") from error


def open_model(
    envelope: bytes,
    recipient: int,
    box_key: PrivateKey,
    sender: int,
    global_round: int,
    model_digest: str,
) -> learning.MnistCnn:
    """The model in `sender`'s envelope for key holder `recipient`, if it is the model agreed for `global_round`."""
    try:
        sealer, payload = unseal(envelope, recipient, box_key, DEFAULT_PARAMETERS, MODEL_ENVELOPE)
    except ForeignShareError as error:
        raise ForeignEnvelopeError(str(error)) from error
    except ThresholdCkksError as error:
        raise MalformedEnvelopeError(str(error)) from error
    if sealer != sender:
        raise ForeignEnvelopeError(f"sealed by party {sealer}, published by party {sender}")
    if len(payload) < _ROUND.size:
        raise MalformedEnvelopeError("the model envelope holds no global round")
    (sealed_round,) = _ROUND.unpack(payload[: _ROUND.size])
    if sealed_round != global_round:
        raise ForeignEnvelopeError(f"it holds the model of global round {sealed_round}, not {global_round}")
    try:
        model = learning.model_from_bytes(payload[_ROUND.size :])
    except learning.ModelParametersError as error:
        raise MalformedEnvelopeError(f"it holds no model: {error}") from error
    if learning.model_digest(model) != model_digest:
        raise WrongModelError(f"its model is not the agreed model of global round {global_round}")
    return model
