"""The settlement module: the registry call every agent derives from the agreed round record."""

import pytest

from packages.valory.skills.smpc_mnist_classifier.settlement import (
    ExclusionReason,
    SettlementError,
    exclusions,
    registry_arguments,
    reward_transfers,
)

AGENTS = ["0xA", "0xB", "0xC", "0xD", "0xE"]
RECORD = {
    "global_round": 3,
    "period": 7,
    "global_model_digest": "ef" * 32,
    "weight_commitment": "c1" * 64,
    "aggregate_digest": "ab" * 32,
    "joint_public_key_digest": "11" * 32,
    "included_updates": {"0xC": {}, "0xA": {}},
    "decryption_shares": {"0xB": {}, "0xA": {}, "0xC": {}},
}


def test_every_agent_outside_the_contributors_has_one_reason() -> None:
    """Not in the epoch, submitted but left out, or no update at all."""
    assert exclusions(AGENTS, AGENTS[:4], ["0xA", "0xB", "0xC"], ["0xA", "0xC"]) == {
        "0xB": ExclusionReason.UPDATE_REJECTED,
        "0xD": ExclusionReason.NO_UPDATE,
        "0xE": ExclusionReason.NOT_KEY_HOLDER,
    }


def test_registry_arguments_from_the_record() -> None:
    """Digests and sets come from the record, sorted; exclusions from the agreed data."""
    arguments = registry_arguments(RECORD, AGENTS[:4], AGENTS[:4], ["0xA", "0xC"])
    assert arguments == {
        "round_number": 3,
        "period": 7,
        "model_digest": "ef" * 32,
        "aggregate_digest": "ab" * 32,
        "joint_key_digest": "11" * 32,
        "weight_commitment": "c1" * 64,
        "contributors": ["0xA", "0xC"],
        "decryptors": ["0xA", "0xB", "0xC"],
        "exclusions": {"0xB": 1, "0xD": 1},
    }


@pytest.mark.parametrize(
    "record,message",
    [
        ({}, "lacks global_round"),
        ({**RECORD, "included_updates": {}}, "no contributors"),
    ],
)
def test_unsettleable_records_are_refused(record: dict, message: str) -> None:
    """A record without its fields or contributors cannot be settled."""
    with pytest.raises(SettlementError, match=message):
        registry_arguments(record, AGENTS, AGENTS, [])


def test_rewards_go_to_each_contributor() -> None:
    """One transfer per contributor; none when the reward is 0; a negative reward is refused."""
    assert reward_transfers(["0xC", "0xA"], 5) == [{"to": "0xA", "value": 5}, {"to": "0xC", "value": 5}]
    assert not reward_transfers(["0xA"], 0)
    with pytest.raises(SettlementError, match="negative"):
        reward_transfers(["0xA"], -1)
