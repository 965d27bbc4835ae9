"""Payloads the agents commit to Tendermint: small values only (digests, content ids, counters)."""

from dataclasses import dataclass

from packages.valory.skills.abstract_round_abci.base import BaseTxPayload


@dataclass(frozen=True)
class KeyGenerationPayload(BaseTxPayload):
    """An agent's public key material for this key epoch."""

    box_public_key: str


@dataclass(frozen=True)
class TrainingPayload(BaseTxPayload):
    """An agent's report that its local model is trained."""

    local_model_digest: str
    sample_count: int


@dataclass(frozen=True)
class UpdateGlobalModelPayload(BaseTxPayload):
    """An agent's vote for the next global model."""

    global_model_digest: str
    global_round: int
