"""What an accepted round settles on chain: the ModelRegistry record and the contributors' rewards.

Plain module (no AEA imports): every agent derives the same call from the agreed round record, so the
agents agree on one Safe transaction hash. Reason codes mirror contracts/ModelRegistry.sol.
"""

from enum import IntEnum
from typing import Any, Dict, List, Mapping, Sequence

ROUND_RECORD_KEYS = (
    "global_round",
    "period",
    "global_model_digest",
    "weight_commitment",
    "aggregate_digest",
    "joint_public_key_digest",
    "included_updates",
    "decryption_shares",
)


class ExclusionReason(IntEnum):
    """Why a registered agent is not among a round's contributors (ModelRegistry's codes)."""

    NO_UPDATE = 1  # a key holder that submitted no encrypted update
    UPDATE_REJECTED = 2  # its update was left out of the agreed average
    NOT_KEY_HOLDER = 3  # outside the round's key epoch


class SettlementError(ValueError):
    """The round record cannot be settled (missing or malformed fields)."""


def exclusions(
    all_participants: Sequence[str],
    key_holders: Sequence[str],
    submitted: Sequence[str],
    contributors: Sequence[str],
) -> Dict[str, int]:
    """Every registered agent outside the contributor set, with the reason code it is excluded for."""
    reasons = {}
    for agent in sorted(set(all_participants) - set(contributors)):
        if agent not in key_holders:
            reasons[agent] = ExclusionReason.NOT_KEY_HOLDER.value
        elif agent in submitted:
            reasons[agent] = ExclusionReason.UPDATE_REJECTED.value
        else:
            reasons[agent] = ExclusionReason.NO_UPDATE.value
    return reasons


def registry_arguments(
    record: Mapping[str, Any],
    all_participants: Sequence[str],
    key_holders: Sequence[str],
    submitted: Sequence[str],
) -> Dict[str, Any]:
    """Keyword arguments of ModelRegistryContract.get_record_round_data for an accepted round record."""
    missing = [key for key in ROUND_RECORD_KEYS if key not in record]
    if missing:
        raise SettlementError(f"the round record lacks {', '.join(missing)}")
    contributors = sorted(record["included_updates"])
    if not contributors:
        raise SettlementError("the round record has no contributors")
    return {
        "round_number": int(record["global_round"]),
        "period": int(record["period"]),
        "model_digest": record["global_model_digest"],
        "aggregate_digest": record["aggregate_digest"],
        "joint_key_digest": record["joint_public_key_digest"],
        "weight_commitment": record["weight_commitment"],
        "contributors": contributors,
        "decryptors": sorted(record["decryption_shares"]),
        "exclusions": exclusions(
            all_participants, key_holders, submitted, contributors
        ),
    }


def reward_transfers(contributors: Sequence[str], reward_wei: int) -> List[Dict[str, Any]]:
    """One native-token transfer of `reward_wei` from the Safe to each contributor (none if 0)."""
    if reward_wei < 0:
        raise SettlementError(f"reward {reward_wei} is negative")
    if reward_wei == 0:
        return []
    return [{"to": agent, "value": reward_wei} for agent in sorted(contributors)]
