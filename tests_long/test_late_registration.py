"""End to end, opt-in (`make test-long`, not in `make test`: about 13 minutes, past CI's budget): the startup
registration closes at its deadline with 3 of 4 agents, the three accept a round under a 3-holder key, and the
fourth, started afterwards, joins at the next key epoch, decrypts and then trains on the same models."""

from pathlib import Path

import pytest

from devnet.records import records
from devnet.service import LocalService, agent_name
from tests.test_service_e2e import wait_for

LATE = 3
DEADLINE_SECONDS = 60


@pytest.mark.e2e
def test_registration_closes_at_its_deadline_and_a_late_agent_joins_at_the_next_key_epoch(tmp_path: Path) -> None:
    """agents 0-2 start with REGISTRATION_MIN_AGENTS 3; agent_3 starts after their first accepted round."""
    service = LocalService(
        tmp_path / "run",
        held_back=frozenset({LATE}),
        skill_overrides={
            "REGISTRATION_MIN_AGENTS": "3",
            "REGISTRATION_DEADLINE_SECONDS": str(DEADLINE_SECONDS),
            "KEY_EPOCH_PERIODS": "1",  # a key epoch per period, so the late agent need not wait long
        },
    )
    service.prepare()
    late = service.addresses()[LATE]

    def log(agent: int) -> str:
        return service.log_path(agent_name(agent)).read_text(errors="replace")

    def in_a_record(field: str) -> bool:
        return any(late in record[field] for record in records(service, 0))

    try:
        service.start()
        wait_for(service, lambda: "Registration closed at its deadline with 3 agents" in log(0), "registration")
        wait_for(service, lambda: len(records(service, 0)) >= 1, "a round accepted by agents 0-2")
        first = records(service, 0)[0]
        service.start_held_back(LATE)
        wait_for(service, lambda: "join the service at this key epoch" in log(0), "agent_3 to join a key epoch")
        wait_for(service, lambda: in_a_record("decryption_shares"), "agent_3's decryption share in a round")
        wait_for(service, lambda: in_a_record("included_updates"), "agent_3's update in a round")
    finally:
        service.stop()
    assert late not in first["decryption_shares"] and late not in first["included_updates"]
    assert "not active yet" in log(LATE)  # it sat out until its key epoch
    own = {record["global_round"]: record["global_model_digest"] for record in records(service, LATE)}
    assert own
    for agent in range(LATE):
        for record in records(service, agent):
            if record["global_round"] in own:
                assert record["global_model_digest"] == own[record["global_round"]], (agent, record["global_round"])
