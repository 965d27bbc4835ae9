"""End to end: the runner's supervisor brings back a killed Tendermint node and a killed agent, and the
service accepts another global model; stopping (nodes, then agents, then kubo) logs no errors."""

import os
import re
import signal
import time
from pathlib import Path
from typing import Callable, List

import pytest

from devnet.service import NUMBER_OF_AGENTS, LocalService, agent_name, node_name
from devnet.supervisor import EventKind

POLL_SECONDS = 2
DEADLINE_SECONDS = 900
# Tendermint's error lines (E[...]) and Python tracebacks or ERROR records.
ERROR_LINE = re.compile(r"^E\[|Traceback|\[ERROR\]")


def wait_for(service: LocalService, condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds; fail if the supervisor gave up on something, or at the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert not service.supervisor.gave_up(), f"gave up on {service.supervisor.gave_up()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}; logs in {service.run_dir}"
        time.sleep(POLL_SECONDS)


def accepted_rounds(service: LocalService, agent: int) -> int:
    """How many global rounds agent `agent` recorded."""
    return len(list((service.agent_output(agent) / "rounds").glob("round_*.json")))


def restarted(service: LocalService, name: str) -> bool:
    """Whether the supervisor restarted `name` and it is running."""
    return service.supervisor.running(name) and any(
        event.name == name and event.kind == EventKind.RESTARTED for event in service.supervisor.events
    )


def lines_after(path: Path, offset: int) -> List[str]:
    """The lines a log gained after `offset` bytes."""
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace").splitlines()


@pytest.mark.e2e
def test_a_killed_node_and_agent_come_back_and_the_service_accepts_another_model(tmp_path: Path) -> None:
    """kill -9 node_1 and agent_2 after the first accepted round: both restart, the next model is accepted."""
    service = LocalService(tmp_path / "run")
    service.prepare()
    try:
        service.start()
        wait_for(service, lambda: accepted_rounds(service, 0) >= 1, "a first accepted round")
        for name in (node_name(1), agent_name(2)):
            os.kill(service.supervisor.pid(name), signal.SIGKILL)  # type: ignore[arg-type]
        wait_for(
            service,
            lambda: restarted(service, node_name(1)) and restarted(service, agent_name(2)),
            "node_1 and agent_2 to restart",
        )
        after_restart = accepted_rounds(service, 0)
        wait_for(service, lambda: accepted_rounds(service, 0) > after_restart, "a round after the restarts")
        logs = [service.console_path(node_name(i)) for i in range(NUMBER_OF_AGENTS)]
        logs += [service.log_path(agent_name(i)) for i in range(NUMBER_OF_AGENTS)]
        offsets = {path: path.stat().st_size for path in logs}
    finally:
        service.stop()
    assert service.processes == []
    crashed = {event.name for event in service.supervisor.events if event.kind == EventKind.CRASHED}
    assert {node_name(1), agent_name(2)} <= crashed
    errors = [f"{path.name}: {line}" for path, offset in offsets.items() for line in lines_after(path, offset)
              if ERROR_LINE.search(line)]
    assert not errors, "stopping logged errors:\n" + "\n".join(errors[:20])
