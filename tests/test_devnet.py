"""The local runner's own parts: the process supervisor, the status read from agents' logs, held-back agents."""

import os
import signal
import sys
import time
from pathlib import Path
from functools import partial
from typing import Callable, List

import pytest
from _pytest.monkeypatch import MonkeyPatch

from devnet import service as service_module
from devnet import supervisor as supervisor_module
from devnet.status import AgentStatus, ServiceStatus, short_address
from devnet.supervisor import Event, EventKind, ProcessSpec, Supervisor

WAIT_SECONDS = 20.0
ADDRESS = "0x1234567890abcdef1234567890abcdef12345678"


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll a condition (the supervisor acts in its own thread)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def python_process(name: str, code: str, tmp_path: Path) -> ProcessSpec:
    """A process running a line of Python."""
    return ProcessSpec(
        name, [sys.executable, "-c", code], tmp_path, dict(os.environ), tmp_path / f"{name}.log"
    )


def kinds(events: List[Event], name: str) -> List[EventKind]:
    """The kinds of one process' events, in order."""
    return [event.kind for event in events if event.name == name]


@pytest.fixture(name="fast_backoff")
def fixture_fast_backoff(monkeypatch: MonkeyPatch) -> None:
    """Short backoffs and a low crash limit, so the tests take a second."""
    monkeypatch.setattr(supervisor_module, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(supervisor_module, "BACKOFF_SECONDS", 0.1)
    monkeypatch.setattr(supervisor_module, "MAX_CRASHES", 3)


@pytest.mark.usefixtures("fast_backoff")
def test_a_killed_process_is_restarted(tmp_path: Path) -> None:
    """kill -9 of a supervised process: it comes back with a new pid; stop() ends it for good."""
    supervisor = Supervisor()
    supervisor.start(python_process("sleeper", "import time; time.sleep(60)", tmp_path))
    supervisor.run()
    try:
        first = supervisor.pid("sleeper")
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: supervisor.pid("sleeper") not in (None, first))
        assert kinds(supervisor.events, "sleeper") == [
            EventKind.STARTED,
            EventKind.CRASHED,
            EventKind.RESTARTED,
        ]
        assert "exit code -9" in supervisor.events[1].detail
    finally:
        supervisor.stop(supervisor.names)
        supervisor.close()
    assert supervisor.names == [] and supervisor.gave_up() == []


@pytest.mark.usefixtures("fast_backoff")
def test_a_crash_loop_is_given_up_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A process that exits at once is restarted with growing backoff, then given up with an error."""
    supervisor = Supervisor()
    supervisor.start(python_process("crasher", "raise SystemExit(3)", tmp_path))
    supervisor.run()
    try:
        wait_until(lambda: supervisor.gave_up() == ["crasher"])
    finally:
        supervisor.close()
        supervisor.stop(supervisor.names)
    assert kinds(supervisor.events, "crasher") == [
        EventKind.STARTED,
        EventKind.CRASHED,
        EventKind.RESTARTED,
        EventKind.CRASHED,
        EventKind.RESTARTED,
        EventKind.GAVE_UP,
    ]
    crashes = [event for event in supervisor.events if event.kind == EventKind.CRASHED]
    assert [event.detail for event in crashes] == [
        "exit code 3, restart in 0.1 s",
        "exit code 3, restart in 0.2 s",
    ]
    assert "crasher gave up: 3 crashes within" in caplog.text


@pytest.mark.usefixtures("fast_backoff")
def test_a_restart_waits_for_its_precondition(tmp_path: Path) -> None:
    """A node is restarted only once its agent serves ABCI: here, once a file exists."""
    gate = tmp_path / "gate"
    spec = python_process("node", "import time; time.sleep(60)", tmp_path)
    supervisor = Supervisor()
    supervisor.start(ProcessSpec(spec.name, spec.args, spec.cwd, spec.env, spec.console, gate.exists))
    supervisor.run()
    try:
        os.kill(supervisor.pid("node"), signal.SIGKILL)  # type: ignore[arg-type]
        wait_until(lambda: EventKind.CRASHED in kinds(supervisor.events, "node"))
        time.sleep(0.5)  # several backoffs and polls pass without the precondition
        assert supervisor.pid("node") is None
        gate.touch()
        wait_until(lambda: supervisor.pid("node") is not None)
    finally:
        supervisor.stop(supervisor.names)
        supervisor.close()


LOG = """\
[2026-11-27 03:00:00,000] [INFO] [agent_0] Entered in the 'registration_startup_round' round for period 0
[2026-11-27 03:00:30,000] [INFO] [agent_0] Entered in the 'training_round' round for period 0
[2026-11-27 03:00:50,000] [ERROR] [agent_0] Excluding the update of 0x1234567890abcdef1234567890abcdef12345678: it has 5 values
[2026-11-27 03:00:55,000] [INFO] [agent_0] Not taking part in this round: this agent is not in the agreed decryptor set
[2026-11-27 03:00:56,000] [INFO] [agent_0] Not taking part in this round: IPFS did not store the encrypted update
[2026-11-27 03:01:00,000] [INFO] [agent_0] Global round 1 accepted: 5f3a (validation accuracy 0.4240)
[2026-11-27 03:01:10,000] [INFO] [agent_0] Entered in the 'training_round' round for period 1
[2026-11-27 03:01:20,000] [INFO] [agent_0] 'submit_update_round' round is done with event: Event.UPDATE_TIMEOUT
[2026-11-27 03:01:50,000] [INFO] [agent_0] Entered in the 'training_round' round for period 2
"""


def test_status_follows_the_log(tmp_path: Path) -> None:
    """Rounds, periods, accepted rounds and notable lines of a log; periods closed, incomplete, their mean time."""
    log = tmp_path / "agent_0.log"
    log.write_text(LOG.splitlines(keepends=True)[0])
    status = ServiceStatus([AgentStatus("agent_0", ADDRESS)], [log])
    assert status.update() == []
    assert (status.agents[0].round, status.agents[0].period) == ("registration_startup_round", 0)
    with log.open("a") as appended:
        appended.write("".join(LOG.splitlines(keepends=True)[1:]))
        appended.write("[2026-11-27 03:01:51,000] [INFO] [agent_0] half a li")
    notices = status.update()
    assert [notice.text for notice in notices] == [
        "excluded the update of agent_0",
        "sat out: IPFS did not store the encrypted update",
        "accepted global round 1 (accuracy 0.4240)",
        "update_timeout in submit_update_round",
    ]
    agent = status.agents[0]
    assert (agent.round, agent.period, agent.global_round, agent.accuracy) == ("training_round", 2, 1, 0.424)
    assert agent.last_notice is notices[-1] and agent.last_notice.error
    assert status.closed_periods == [0, 1]
    assert status.incomplete_periods == [1]
    assert status.mean_period_seconds == 40.0


def test_supervisor_events_show_on_the_agents_row(tmp_path: Path) -> None:
    """A node's crash shows on its agent's row; a plain start does not."""
    status = ServiceStatus([AgentStatus("agent_0", ADDRESS)], [tmp_path / "missing.log"])
    events = [
        Event(1.0, "node_0", EventKind.STARTED, "pid 1"),
        Event(2.0, "node_0", EventKind.CRASHED, "exit code -9, restart in 1 s"),
    ]
    notices = status.update(events)
    assert [notice.text for notice in notices] == ["node_0 crashed: exit code -9, restart in 1 s"]
    assert status.agents[0].last_notice == notices[0]
    assert status.update(events) == []
    assert short_address(ADDRESS) == "0x1234…5678"


class RecordingSupervisor(Supervisor):
    """A supervisor that records what it is asked to start and starts nothing."""

    def __init__(self) -> None:
        """Nothing started yet."""
        super().__init__()
        self.started: List[str] = []

    def start(self, spec: ProcessSpec) -> None:
        """Record the process' name."""
        self.started.append(spec.name)

    def run(self) -> None:
        """No monitoring thread."""

    def gave_up(self) -> List[str]:
        """Nothing ever crashes."""
        return []


def test_a_held_back_agent_and_its_node_start_only_when_asked(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    """held_back={3}: start() runs agents and nodes 0-2 (waiting only for those), start_held_back(3) the last pair."""
    recorder = RecordingSupervisor()
    service = service_module.LocalService(tmp_path, supervisor=recorder, held_back=frozenset({3}))
    polled: List[int] = []
    for method in ("write_agents_file", "start_chain", "start_ipfs"):
        monkeypatch.setattr(service, method, lambda: None)
    monkeypatch.setattr(service, "agent_environment", lambda index, participants: {})
    monkeypatch.setattr(service, "addresses", lambda: [ADDRESS] * service_module.NUMBER_OF_AGENTS)

    def listens(name: Callable[[int], str], port: int) -> bool:
        """A port of agent i's block answers once the process `name(i)` was started."""
        index = (port - service_module.BASE_PORT) // service_module.PORTS_PER_NODE
        polled.append(index)
        return name(index) in recorder.started

    monkeypatch.setattr(service_module, "port_open", partial(listens, service_module.agent_name))
    monkeypatch.setattr(service_module, "node_healthy", partial(listens, service_module.node_name))
    service.start()
    assert recorder.started == ["agent_0", "agent_1", "agent_2", "node_0", "node_1", "node_2"]
    assert 3 not in polled
    service.start_held_back(3)
    assert recorder.started[6:] == ["agent_3", "node_3"]
