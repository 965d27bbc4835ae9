"""End to end: one Tendermint node is killed (kill -9) and stays down for OUTAGE_SECONDS; its agent lives on.

The agent must survive its node's death (its ABCI connection's failed sends are logged, not fatal: see
tests/test_agent_exception_policy.py), and once the node is started again it catches up from its peers
and the agent contributes an update to an accepted round within two periods of the restart, with every
agent on one model digest. One service for the module, one fault.

The nodes prune their block stores to the last RETAIN_BLOCKS blocks (the agents' retain_blocks), a window
little more than twice the blocks made during the outage (at most one a second): the node catches up from
peers that pruned, and every node's earliest stored block has moved above 1 by the end.
"""

import time
from pathlib import Path

import pytest

from devnet.records import contributors, current_period, records
from devnet.service import NUMBER_OF_AGENTS, LocalService, agent_name
from tests.test_service_e2e import rounds_recorded, wait_for

OUTAGE_SECONDS = 60.0  # the length of the fault injected, not a wait for readiness
DOWN = 2  # the agent whose node goes down
PERIODS_TO_CONTRIBUTE = 2
RETAIN_BLOCKS = 150


@pytest.mark.e2e
def test_an_agent_outlives_a_60_s_node_outage_and_contributes_within_two_periods(tmp_path: Path) -> None:
    """kill -9 node_2 after global round 1, restart it 60 s later: agent_2 never restarts and contributes again."""
    service = LocalService(tmp_path / "run", skill_overrides={"RETAIN_BLOCKS": str(RETAIN_BLOCKS)})
    service.prepare()
    agents = range(NUMBER_OF_AGENTS)
    try:
        service.start()
        wait_for(service, rounds_recorded(service, agents, 1), "a first round")
        agent_pid = service.supervisor.pid(agent_name(DOWN))
        service.kill_node(DOWN)
        time.sleep(OUTAGE_SECONDS)
        assert service.supervisor.pid(agent_name(DOWN)) == agent_pid, "the agent died with its node"
        service.start_node(DOWN)
        restart_period = current_period(service, 0)
        assert restart_period is not None
        last_period = restart_period + PERIODS_TO_CONTRIBUTE
        me = service.addresses()[DOWN]

        def contributed_or_too_late() -> bool:
            """agent_2 is in an accepted round after the restart, or two periods closed without it."""
            after = [record for record in records(service, 0) if record["period"] > restart_period]
            return any(me in contributors(record) for record in after) or (
                current_period(service, 0) or 0
            ) > last_period

        wait_for(service, contributed_or_too_late, f"agent_2 to contribute by period {last_period}")
        assert service.supervisor.pid(agent_name(DOWN)) == agent_pid, "the agent was restarted"
        stored = [service.block_heights(node) for node in agents]
    finally:
        service.stop()
    for earliest, latest in stored:
        assert 1 < earliest and latest - earliest < RETAIN_BLOCKS + 5, f"not pruned to {RETAIN_BLOCKS}: {stored}"
    rejoined = [
        record for record in records(service, 0)
        if restart_period < record["period"] <= last_period and me in contributors(record)
    ]
    assert rejoined, (
        f"agent_2 contributed to no round of periods {restart_period + 1}..{last_period}: "
        f"{[(record['period'], contributors(record)) for record in records(service, 0)]}"
    )
    global_round = rejoined[0]["global_round"]
    digests = {
        record["global_model_digest"]
        for agent in agents
        for record in records(service, agent)
        if record["global_round"] == global_round
    }
    assert len(digests) == 1, digests
    assert global_round in [record["global_round"] for record in records(service, DOWN)]
