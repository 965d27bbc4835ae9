"""Payloads the agents commit to Tendermint: small values only (digests, IPFS content ids, counters)."""

from dataclasses import dataclass
from typing import Optional

from packages.valory.skills.abstract_round_abci.base import BaseTxPayload


@dataclass(frozen=True)
class KeyExchangePayload(BaseTxPayload):
    """An agent joins the key epoch with the box public key its Shamir sub-shares are sealed to."""

    box_public_key: str


@dataclass(frozen=True)
class KeySharingPayload(BaseTxPayload):
    """Where a key holder's public-key share and its sealed sub-shares for the others are on IPFS."""

    public_key_share_cid: str
    public_key_share_digest: str
    sub_shares_cid: str
    sub_shares_digest: str


@dataclass(frozen=True)
class JointKeyPayload(BaseTxPayload):
    """A key holder's vote on the joint public key it combined (None: it could not combine one)."""

    joint_public_key_digest: Optional[str]


@dataclass(frozen=True)
class TrainingPayload(BaseTxPayload):
    """An agent's trained local model: its digest, weight, the global model it started from, and a
    commitment to its encrypted update (revealed only in the next round, so nobody can choose an
    update from another's). Digests never reveal the model."""

    local_model_digest: str
    sample_count: int
    base_model_digest: str
    update_commitment: str


@dataclass(frozen=True)
class SubmitUpdatePayload(BaseTxPayload):
    """Where an agent's encrypted update is on IPFS (it must open the commitment of its training report)."""

    update_cid: str
    update_digest: str


@dataclass(frozen=True)
class AggregationPayload(BaseTxPayload):
    """An agent's vote on the encrypted average and the updates in it (None: too few valid updates)."""

    aggregate_digest: Optional[str]
    included_updates: Optional[str]


@dataclass(frozen=True)
class DecryptionSharePayload(BaseTxPayload):
    """Where a decryptor's shares of the agreed average are on IPFS."""

    shares_cid: str
    shares_digest: str


@dataclass(frozen=True)
class GlobalModelVotePayload(BaseTxPayload):
    """An agent's vote on the next global model and the KZG commitment of its quantised weights, which
    proofs of inference with it carry (all None: it rejects the decrypted average)."""

    global_model_digest: Optional[str]
    global_round: Optional[int]
    weight_commitment: Optional[str]


@dataclass(frozen=True)
class PrepareSettlementPayload(BaseTxPayload):
    """The Safe transaction that records the accepted round (tx settlement's hash payload; None: failed)."""

    tx_hash: Optional[str]


@dataclass(frozen=True)
class FinalizeModelPayload(BaseTxPayload):
    """The validated settlement transaction this agent saw: the accepted model is final."""

    settlement_tx_hash: str


@dataclass(frozen=True)
class SettlementFailedPayload(BaseTxPayload):
    """Why the settlement of the accepted round failed (derived from agreed data only)."""

    reason: str
