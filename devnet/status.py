"""What the running service is doing, read from the agents' logs and the supervisor's events.

The live view (scripts/run_service.py) shows this as a table; tests and scripts can read it too.
Logs are followed incrementally (each update reads only the lines appended since the last one).
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import mean
from typing import Dict, List, Optional, Sequence, Set

from devnet.supervisor import Event, EventKind

LOG_LINE = re.compile(
    r"^\[(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)\] \[(?P<level>\w+)\] (?:\[[^\]]+\] )?(?P<message>.*)$"
)
ROUND_ENTERED = re.compile(r"Entered in the '(?P<round>\w+)' round for period (?P<period>\d+)")
ROUND_DONE = re.compile(r"'(?P<round>\w+)' round is done with event: Event\.(?P<event>\w+)")
ACCEPTED = re.compile(
    r"Global round (?P<global_round>\d+) accepted: \w+ \(validation accuracy (?P<accuracy>[\d.]+)\)"
)
# Log lines worth a user's attention, with the short label the live view shows for them.
NOTABLE = (
    (re.compile(r"^Excluding (?P<what>.+?)(: .*)?$"), "excluded {what}"),
    (re.compile(r"^Rejecting: (?P<why>.*)$"), "rejected the model: {why}"),
    (re.compile(r"^Period (?P<period>\d+) ended without an accepted global model"), "period {period} incomplete"),
)
SAT_OUT = re.compile(r"^Not taking part in this round: (?P<why>.*)$")
# Only t of the key holders decrypt each period: the others sitting that round out is routine.
ROUTINE_SIT_OUT = "this agent is not in the agreed decryptor set"
QUIET_EVENTS = {"DONE", "DONE_TRAINING", "DONE_UPDATE", "START_TRAINING"}
SHORT_ADDRESS_CHARS = 6


def short_address(address: str) -> str:
    """0x1234…abcd: enough to tell agents apart."""
    return f"{address[:SHORT_ADDRESS_CHARS]}…{address[-4:]}"


def parse_time(stamp: str) -> float:
    """A log line's timestamp (local time, as the agent's logging writes it) in seconds since the epoch."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


class LogFollower:  # pylint: disable=too-few-public-methods
    """Reads the complete lines appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        """Start at the beginning of the file (which may not exist yet)."""
        self.path = path
        self._offset = 0

    def new_lines(self) -> List[str]:
        """Lines appended since the last call; a line still being written waits for the next call."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        return complete.decode(errors="replace").splitlines()


@dataclass
class Notice:
    """A notable thing that happened to one agent (or its node), for the table and the plain log."""

    at: float
    agent: str
    text: str
    error: bool = False


@dataclass
class AgentStatus:  # pylint: disable=too-many-instance-attributes
    """One agent's row."""

    name: str
    address: str
    round: str = "-"
    period: Optional[int] = None
    global_round: int = 0
    accuracy: Optional[float] = None
    last_notice: Optional[Notice] = None


@dataclass
class ServiceStatus:
    """Every agent's status, the periods seen and their outcome; update() reads what is new."""

    agents: List[AgentStatus]
    log_paths: Sequence[Path]
    period_starts: Dict[int, float] = field(default_factory=dict)
    accepted_periods: Set[int] = field(default_factory=set)
    _followers: List[LogFollower] = field(default_factory=list)
    _events_seen: int = 0

    def __post_init__(self) -> None:
        """One follower per agent log."""
        self._followers = [LogFollower(path) for path in self.log_paths]

    def update(self, supervisor_events: Sequence[Event] = ()) -> List[Notice]:
        """Read the new log lines and supervisor events; return the notices they raised, in order."""
        notices: List[Notice] = []
        for agent, follower in zip(self.agents, self._followers):
            for line in follower.new_lines():
                notice = self._read_line(agent, line)
                if notice is not None:
                    notice.text = self._named(notice.text)
                    agent.last_notice = notice
                    notices.append(notice)
        for event in supervisor_events[self._events_seen :]:
            notice = self._read_event(event)
            if notice is not None:
                notices.append(notice)
        self._events_seen = len(supervisor_events)
        return sorted(notices, key=lambda notice: notice.at)

    def _named(self, text: str) -> str:
        """Agents' addresses replaced by their names, which the table and the logs use."""
        for agent in self.agents:
            text = text.replace(agent.address, agent.name)
        return text

    def _read_line(self, agent: AgentStatus, line: str) -> Optional[Notice]:
        """Update the agent's row from one of its log lines; a Notice if the line is notable."""
        match = LOG_LINE.match(line)
        if match is None:
            return None
        at, message = parse_time(match["time"]), match["message"]
        entered = ROUND_ENTERED.match(message)
        if entered:
            agent.round, agent.period = entered["round"], int(entered["period"])
            self.period_starts.setdefault(agent.period, at)
            return None
        accepted = ACCEPTED.match(message)
        if accepted:
            agent.global_round = int(accepted["global_round"])
            agent.accuracy = float(accepted["accuracy"])
            if agent.period is not None:
                self.accepted_periods.add(agent.period)
            return Notice(at, agent.name, f"accepted global round {agent.global_round} (accuracy {agent.accuracy:.4f})")
        done = ROUND_DONE.match(message)
        if done and done["event"] not in QUIET_EVENTS:
            return Notice(at, agent.name, f"{done['event'].lower()} in {done['round']}", error=True)
        for pattern, label in NOTABLE:
            notable = pattern.match(message)
            if notable:
                return Notice(at, agent.name, label.format(**notable.groupdict()), error=True)
        sat_out = SAT_OUT.match(message)
        if sat_out and not sat_out["why"].startswith(ROUTINE_SIT_OUT):
            return Notice(at, agent.name, f"sat out: {sat_out['why']}")
        return None

    def _read_event(self, event: Event) -> Optional[Notice]:
        """A supervisor event about an agent or its node, shown on that agent's row."""
        index = event.name.rsplit("_", 1)[-1]
        rows = [agent for agent in self.agents if agent.name.endswith(f"_{index}")]
        notice = Notice(
            event.at,
            rows[0].name if rows else event.name,
            str(event),
            error=event.kind in (EventKind.CRASHED, EventKind.GAVE_UP),
        )
        if event.kind == EventKind.STARTED:
            return None
        for agent in rows:
            agent.last_notice = notice
        return notice

    @property
    def closed_periods(self) -> List[int]:
        """Periods that ended: every period before the latest one any agent entered."""
        return sorted(period for period in self.period_starts if period + 1 in self.period_starts)

    @property
    def incomplete_periods(self) -> List[int]:
        """Closed periods without an accepted global model."""
        return [period for period in self.closed_periods if period not in self.accepted_periods]

    @property
    def mean_period_seconds(self) -> Optional[float]:
        """Mean duration of the closed periods after the first (which also generates the keys)."""
        durations = [
            self.period_starts[period + 1] - self.period_starts[period]
            for period in self.closed_periods
            if period > 0
        ]
        return mean(durations) if durations else None
