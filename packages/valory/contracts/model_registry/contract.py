"""ModelRegistry: encode the Safe's recordRound call; read round records, weight commitments and contributions."""

from typing import Any, Dict, List, Sequence, cast

from aea.common import JSONLike
from aea.configurations.base import PublicId
from aea.contracts.base import Contract
from aea.crypto.base import LedgerApi
from aea_ledger_ethereum import EthereumApi

PUBLIC_ID = PublicId.from_str("valory/model_registry:0.1.0")
RECORD_FIELDS = (
    "round",
    "period",
    "model_digest",
    "aggregate_digest",
    "joint_key_digest",
    "weight_commitment",
    "contributors",
    "decryptors",
    "excluded",
    "reasons",
)
EXCLUSION_REASONS = ("no_update", "update_rejected", "not_key_holder")


def _bytes32(digest: str) -> bytes:
    """A 32-byte digest from its hex form (with or without 0x); anything else is refused."""
    raw = bytes.fromhex(digest[2:] if digest.startswith("0x") else digest)
    if len(raw) != 32:
        raise ValueError(f"digest {digest!r} is not 32 bytes")
    return raw


def _commitment_words(commitment: str) -> List[bytes]:
    """A 64-byte weight commitment (hex x || y, with or without 0x) as the contract's bytes32[2]."""
    raw = bytes.fromhex(commitment[2:] if commitment.startswith("0x") else commitment)
    if len(raw) != 64:
        raise ValueError(f"weight commitment {commitment!r} is not 64 bytes")
    return [raw[:32], raw[32:]]


def _record_from_chain(ledger_api: EthereumApi, values: Sequence[Any]) -> JSONLike:
    """The contract's RoundRecord tuple as a JSON-friendly dict (hex digests, checksummed addresses)."""
    record = dict(zip(RECORD_FIELDS, values))
    for key in ("model_digest", "aggregate_digest", "joint_key_digest"):
        record[key] = bytes(record[key]).hex()
    record["weight_commitment"] = b"".join(bytes(w) for w in record["weight_commitment"]).hex()
    for key in ("contributors", "decryptors", "excluded"):
        record[key] = [ledger_api.api.to_checksum_address(a) for a in record[key]]
    record["reasons"] = list(record["reasons"])
    return cast(JSONLike, record)


class ModelRegistryContract(Contract):
    """The project's ModelRegistry (contracts/ModelRegistry.sol)."""

    contract_id = PUBLIC_ID

    @classmethod
    def get_record_round_data(  # pylint: disable=too-many-arguments
        cls,
        ledger_api: LedgerApi,
        contract_address: str,
        round_number: int,
        period: int,
        model_digest: str,
        aggregate_digest: str,
        joint_key_digest: str,
        weight_commitment: str,
        contributors: List[str],
        decryptors: List[str],
        exclusions: Dict[str, int],
    ) -> JSONLike:
        """Calldata (0x hex) of recordRound for the Safe to execute; agent lists sorted as the contract wants."""
        digests = [_bytes32(d) for d in (model_digest, aggregate_digest, joint_key_digest)]
        commitment = _commitment_words(weight_commitment)
        ledger_api = cast(EthereumApi, ledger_api)
        instance = cls.get_instance(ledger_api, contract_address)

        def ascending(addresses: List[str]) -> List[str]:
            """Checksummed and sorted by value: the contract wants strictly ascending lists."""
            checksummed = [ledger_api.api.to_checksum_address(a) for a in addresses]
            return sorted(checksummed, key=lambda address: int(address, 16))

        excluded = ascending(list(exclusions))
        reasons = {ledger_api.api.to_checksum_address(a): r for a, r in exclusions.items()}
        record = (
            round_number,
            period,
            *digests,
            commitment,
            ascending(contributors),
            ascending(decryptors),
            excluded,
            [reasons[a] for a in excluded],
        )
        data = instance.encode_abi(abi_element_identifier="recordRound", args=[record])
        return {"data": data}

    @classmethod
    def get_round(
        cls, ledger_api: LedgerApi, contract_address: str, round_number: int
    ) -> JSONLike:
        """The record of an accepted round (reverts with UnknownRound for any other)."""
        ledger_api = cast(EthereumApi, ledger_api)
        instance = cls.get_instance(ledger_api, contract_address)
        values = instance.functions.getRound(round_number).call()
        return _record_from_chain(ledger_api, values)

    @classmethod
    def get_weight_commitment(
        cls, ledger_api: LedgerApi, contract_address: str, round_number: int
    ) -> JSONLike:
        """The weight commitment (hex x || y) settled for an accepted round (reverts with UnknownRound otherwise)."""
        instance = cls.get_instance(ledger_api, contract_address)
        words = instance.functions.weightCommitment(round_number).call()
        return {"weight_commitment": b"".join(bytes(w) for w in words).hex()}

    @classmethod
    def get_round_count(cls, ledger_api: LedgerApi, contract_address: str) -> JSONLike:
        """How many rounds are recorded (the last round's number)."""
        instance = cls.get_instance(ledger_api, contract_address)
        return {"round_count": instance.functions.roundCount().call()}

    @classmethod
    def get_contribution(
        cls, ledger_api: LedgerApi, contract_address: str, agent: str
    ) -> JSONLike:
        """Rounds the agent contributed to, and rounds it was excluded from by reason name."""
        ledger_api = cast(EthereumApi, ledger_api)
        instance = cls.get_instance(ledger_api, contract_address)
        included, excluded = instance.functions.contribution(
            ledger_api.api.to_checksum_address(agent)
        ).call()
        return {
            "rounds_included": included,
            "rounds_excluded": dict(zip(EXCLUSION_REASONS, excluded)),
        }
