"""End to end, opt-in (`make test-long`): an agent killed after its node pruned the chain's first blocks comes back
from its consensus snapshot (issue 12). Before snapshots its node refused to start (`app block height (0) is too far
below block store base`). Now the agent restores its round sequence at the snapshot's height S, its node replays
only the blocks above S, and the agent contributes to a later accepted round."""

import os
import re
import signal
from pathlib import Path

import pytest

from devnet.records import records
from devnet.service import LocalService, agent_name, node_name
from tests.test_supervision_e2e import lines_after, rejoined_round, restarted, wait_for

RETAIN_BLOCKS = 150
RESTARTED_AGENT = 3
RESTORED = re.compile(r"Restored the round sequence at height (\d+)")
REPLAY = re.compile(r"ABCI Replay Blocks.*appHeight=(\d+)")


def pruned(service: LocalService, index: int) -> bool:
    """Whether node `index` no longer holds block 1."""
    earliest, _ = service.block_heights(index)
    return earliest > 1


@pytest.mark.e2e
def test_an_agent_restarted_after_its_node_pruned_resumes_from_its_snapshot(tmp_path: Path) -> None:
    """kill -9 agent_3 (its node exits with it) once its node pruned and a round was accepted: the supervisor
    restarts both, the agent restores its snapshot, the node replays from S > 0, and agent_3 contributes again."""
    service = LocalService(tmp_path / "run", skill_overrides={"RETAIN_BLOCKS": str(RETAIN_BLOCKS)})
    service.prepare()
    try:
        service.start()
        wait_for(service, lambda: bool(records(service, 0)), "a first accepted round")
        wait_for(service, lambda: pruned(service, RESTARTED_AGENT), f"node_{RESTARTED_AGENT} to prune block 1")
        before = records(service, 0)[-1]
        console = service.console_path(node_name(RESTARTED_AGENT))
        offset = console.stat().st_size
        os.killpg(service.supervisor.pid(agent_name(RESTARTED_AGENT)), signal.SIGKILL)  # type: ignore[arg-type]
        wait_for(service, lambda: restarted(service, agent_name(RESTARTED_AGENT)), "the agent to restart")
        wait_for(
            service,
            lambda: rejoined_round(service, RESTARTED_AGENT, before["global_round"]) is not None,
            f"a round with agent_{RESTARTED_AGENT}'s update and decryption share after its restart",
        )
        earliest, _ = service.block_heights(RESTARTED_AGENT)
    finally:
        service.stop()
    restored = RESTORED.findall(service.log_path(agent_name(RESTARTED_AGENT)).read_text())
    assert restored, "the agent did not restore its snapshot"
    node_lines = lines_after(console, offset)
    assert not [line for line in node_lines if "too far below block store base" in line]
    replays = [int(height) for line in node_lines for height in REPLAY.findall(line)]
    assert replays and min(replays) > 0, f"node_{RESTARTED_AGENT} replayed from block 1: {replays}"
    assert int(restored[-1]) in replays, (restored, replays)
    assert earliest > 1, "node_3 stopped pruning"
