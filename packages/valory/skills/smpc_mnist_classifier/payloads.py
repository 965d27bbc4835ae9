"""Payloads the agents commit to Tendermint: small values only (digests, IPFS content ids, counters)."""

from dataclasses import dataclass
from typing import Optional, Tuple

from packages.valory.skills.abstract_round_abci.base import BaseTxPayload


@dataclass(frozen=True)
class KeyExchangePayload(BaseTxPayload):
    """An agent joins the key epoch with the box public key its Shamir sub-shares are sealed to."""

    box_public_key: str


@dataclass(frozen=True)
class DealingCommitPayload(BaseTxPayload):
    """A dealer's commitment to its dealing (SHA-256 hex), agreed before any dealing is revealed."""

    dealing_commitment: str


@dataclass(frozen=True)
class DealingRevealPayload(BaseTxPayload):
    """Where a dealer's committed dealing (public images and sealed sub-shares) is on IPFS."""

    dealing_cid: str
    dealing_digest: str


@dataclass(frozen=True)
class ComplaintPayload(BaseTxPayload):
    """The dealers whose sub-share for this recipient did not open or match its images (comma-separated
    addresses, '' for none)."""

    complaints: str


@dataclass(frozen=True)
class JustificationPayload(BaseTxPayload):
    """Where an accused dealer's answers (the disputed plain sub-shares) are on IPFS (None: nothing to answer)."""

    justifications_cid: Optional[str]
    justifications_digest: Optional[str]


@dataclass(frozen=True)
class JointKeyPayload(BaseTxPayload):
    """A key holder's vote on QUAL (comma-separated addresses) and the joint public key's digest (None: none)."""

    joint_public_key_digest: Optional[str]
    qualified_dealers: Optional[str]


@dataclass(frozen=True)
class KeyEpochCheckPayload(BaseTxPayload):
    """At a period's start: whether this agent finds the key epoch's periods used up (from the agreed epoch
    start and its `key_epoch_periods`), and whether its decryption in the last period failed."""

    key_epoch_over: bool
    decryption_failed: bool


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
    """An agent's vote on the encrypted sum, the key holders in it and why others are not (JSON
    {address: reason}); all None: too few valid updates."""

    aggregate_digest: Optional[str]
    included_updates: Optional[str]
    excluded_updates: Optional[str]


@dataclass(frozen=True)
class DecryptionSharePayload(BaseTxPayload):
    """Where a key holder's decryption share of the agreed sum, sealed to every key holder, is on IPFS."""

    shares_cid: str
    shares_digest: str


@dataclass(frozen=True)
class GlobalModelVotePayload(BaseTxPayload):
    """An agent's vote on the next global model, the KZG commitment of its quantised weights, which
    proofs of inference with it carry, and where its envelope of that model (sealed to the key holders) is on
    IPFS, from which an agent that missed rounds takes it (all None: it rejects the decrypted average)."""

    global_model_digest: Optional[str]
    global_round: Optional[int]
    weight_commitment: Optional[str]
    model_envelope_cid: Optional[str]
    model_envelope_digest: Optional[str]

    @property
    def selection(self) -> Tuple[Optional[str], Optional[int], Optional[str]]:
        """What the voters must agree on; each voter's envelope is sealed under its own random key, so not it."""
        return self.global_model_digest, self.global_round, self.weight_commitment


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
