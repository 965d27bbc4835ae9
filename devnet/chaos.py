"""A chaos run: the real 4-agent service with random faults, and what each fault cost.

Faults, one at a time, at a random moment of a period (seeded, so a run can be repeated):
- `agent kill -9`: the supervisor restarts the agent (and its node, which stops with it);
- `node kill -9`: the supervisor restarts the node, whose agent lives on;
- `kubo outage`: kubo stops for KUBO_OUTAGE_SECONDS, then starts again on the same repository;
- `junk burst`: JUNK_BURST_TXS bad transactions (devnet/junk.py, as the fuzz test sends) to random nodes.
After each fault the run waits for recovery: a global round newer than the last one before the fault,
recorded by a quorum of agents. It notes the time that took, the periods lost (periods from the fault's
to the recovering round's, exclusive) and which agents agree on the recovering round's model digest.
Every period is reported accepted (with its global round) or incomplete (with the failure events and
warnings its agents logged). `scripts/chaos.py` is the entry point; `make chaos` runs it.
"""

import json
import os
import random
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

from devnet import junk
from devnet.records import Record, current_period, records
from devnet.service import (
    NUMBER_OF_AGENTS,
    SAFE_THRESHOLD,
    LocalService,
    agent_name,
    node_name,
)
from devnet.status import LOG_LINE, QUIET_EVENTS, ROUND_DONE, ROUND_ENTERED

FAULT_KINDS = ("agent kill -9", "node kill -9", "kubo outage", "junk burst")
KUBO_OUTAGE_SECONDS = 30.0
JUNK_BURST_TXS = 60
POLL_SECONDS = 2.0
FIRST_ROUND_SECONDS = 1200.0
RECOVERY_SECONDS = 1200.0
MAX_FAULT_DELAY_SECONDS = 60.0  # a fault strikes at a random moment up to this long into a period
QUORUM = SAFE_THRESHOLD
INCOMPLETE_WARNING = "ended without a final global model"
LAGGING = "lagging"  # an agent's entry for a round it has no record of


@dataclass
class FaultReport:  # pylint: disable=too-many-instance-attributes
    """One fault injected and what it cost."""

    kind: str
    target: str
    injected_at: float
    period: Optional[int]
    baseline_round: int
    detail: str = ""
    recovered: bool = False
    seconds_to_recover: Optional[float] = None
    recovery_round: Optional[int] = None
    recovery_period: Optional[int] = None
    periods_lost: Optional[int] = None
    agreeing: List[str] = field(default_factory=list)
    digests: int = 0
    lagging: List[str] = field(default_factory=list)


@dataclass
class PeriodReport:
    """One closed period: accepted (its global round) or incomplete (why, per the agents' logs)."""

    period: int
    accepted: bool
    global_round: Optional[int]
    reasons: List[str]


@dataclass
class ChaosReport:
    """The whole run, as printed and written to JSON."""

    seed: int
    periods_asked: int
    faults_asked: int
    started_at: float
    first_period: Optional[int] = None
    last_period: Optional[int] = None
    faults: List[FaultReport] = field(default_factory=list)
    periods: List[PeriodReport] = field(default_factory=list)
    final_agreement: Dict[str, str] = field(default_factory=dict)
    gave_up: List[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def final_digests(self) -> int:
        """How many model digests the agents that recorded the newest quorum round hold (1: agreement)."""
        return len(set(self.final_agreement.values()) - {LAGGING})

    def summary(self) -> Dict[str, object]:
        """The numbers a reader wants first."""
        lost = [fault.periods_lost for fault in self.faults if fault.periods_lost is not None]
        return {
            "periods": len(self.periods),
            "accepted": sum(1 for period in self.periods if period.accepted),
            "incomplete": sum(1 for period in self.periods if not period.accepted),
            "faults": len(self.faults),
            "faults_recovered": sum(1 for fault in self.faults if fault.recovered),
            "max_periods_lost_per_fault": max(lost, default=None),
            "final_digests": self.final_digests,
            "elapsed_seconds": round(self.elapsed_seconds, 1),
        }

    def to_json(self) -> str:
        """Everything, with the summary on top."""
        return json.dumps({"summary": self.summary(), **asdict(self)}, indent=2)


def quorum_round(service: LocalService) -> Optional[Record]:
    """The newest global round a quorum of agents recorded (agent_0's copy of its record)."""
    counts: Counter = Counter()
    by_round: Dict[int, Record] = {}
    for agent in range(NUMBER_OF_AGENTS):
        for record in records(service, agent):
            counts[record["global_round"]] += 1
            by_round.setdefault(record["global_round"], record)
    agreed = [number for number, count in counts.items() if count >= QUORUM]
    return by_round[max(agreed)] if agreed else None


def service_period(service: LocalService) -> Optional[int]:
    """The highest period any agent has entered."""
    periods = [current_period(service, agent) for agent in range(NUMBER_OF_AGENTS)]
    known = [period for period in periods if period is not None]
    return max(known) if known else None


def agreement(service: LocalService, global_round: int) -> Dict[str, str]:
    """Each agent's recorded digest for `global_round`, or 'lagging' for agents that have no record of it."""
    found = {}
    for agent in range(NUMBER_OF_AGENTS):
        digests = [
            record["global_model_digest"]
            for record in records(service, agent)
            if record["global_round"] == global_round
        ]
        found[agent_name(agent)] = digests[0] if digests else LAGGING
    return found


def period_failures(service: LocalService) -> Dict[int, List[str]]:
    """Per period, the failure events and incomplete-period warnings any agent logged in it."""
    failures: Dict[int, List[str]] = {}
    for agent in range(NUMBER_OF_AGENTS):
        path = service.log_path(agent_name(agent))
        if not path.exists():
            continue
        period = None
        for line in path.read_text(errors="replace").splitlines():
            match = LOG_LINE.match(line)
            if match is None:
                continue
            message = match["message"]
            entered = ROUND_ENTERED.match(message)
            if entered:
                period = int(entered["period"])
                continue
            done = ROUND_DONE.match(message)
            if done and done["event"] not in QUIET_EVENTS and period is not None:
                reason = f"{done['event'].lower()} in {done['round']}"
                failures.setdefault(period, [])
                if reason not in failures[period]:
                    failures[period].append(reason)
            if INCOMPLETE_WARNING in message and ":" in message and period is not None:
                reason = message.split(":", 1)[1].strip()
                failures.setdefault(period - 1, [])
                if reason not in failures[period - 1]:
                    failures[period - 1].append(reason)
    return failures


def period_reports(service: LocalService, first: int, last: int) -> List[PeriodReport]:
    """Every closed period from `first` to `last`: accepted per the records, otherwise with its failures."""
    accepted = {
        record["period"]: record["global_round"]
        for agent in range(NUMBER_OF_AGENTS)
        for record in records(service, agent)
    }
    failures = period_failures(service)
    return [
        PeriodReport(
            period,
            period in accepted,
            accepted.get(period),
            [] if period in accepted else failures.get(period, ["no failure logged (timed out)"]),
        )
        for period in range(first, last + 1)
    ]


class ChaosRun:
    """Runs the service, injects faults one at a time, and measures each (see the module docstring)."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        service: LocalService,
        periods: int,
        faults: int,
        seed: int,
        max_seconds: float,
        on_fault: Callable[[FaultReport], None] = lambda fault: None,
    ) -> None:
        """A run of `periods` periods after the first accepted round, with `faults` faults spread over them."""
        self.service = service
        self.rng = random.Random(seed)
        self.deadline = time.monotonic() + max_seconds
        self.faults_asked = faults
        self.periods_asked = periods
        self.on_fault = on_fault
        self.report = ChaosReport(seed, periods, faults, time.time())

    def run(self) -> ChaosReport:
        """Start the service, inject the faults, stop it; the report (also when the time budget ends early)."""
        started = time.monotonic()
        self.service.prepare()
        try:
            self.service.start()
            first = self._wait(lambda: quorum_round(self.service), FIRST_ROUND_SECONDS)
            if first is None:
                raise RuntimeError(f"no first round within {FIRST_ROUND_SECONDS} s; see {self.service.run_dir}")
            self.report.first_period = first["period"] + 1
            self._inject_all(self.report.first_period + self.periods_asked)
            self._finish()
        finally:
            self.report.gave_up = self.service.supervisor.gave_up()
            self.service.stop()
            self.report.elapsed_seconds = time.monotonic() - started
        return self.report

    def _inject_all(self, end_period: int) -> None:
        """Inject the faults spaced evenly over the periods, then wait for the last period."""
        spacing = max(1, self.periods_asked // max(1, self.faults_asked))
        for _ in range(self.faults_asked):
            period = service_period(self.service) or 0
            if period >= end_period or self._out_of_time():
                return
            self._wait(lambda: (service_period(self.service) or 0) >= period + 1 or None, RECOVERY_SECONDS)
            time.sleep(self.rng.uniform(0, MAX_FAULT_DELAY_SECONDS))  # a random moment in the period
            if self._out_of_time():
                return
            fault = self._inject()
            self._recover(fault)
            self.report.faults.append(fault)
            self.on_fault(fault)
            next_period = (fault.recovery_period or service_period(self.service) or 0) + spacing - 1
            self._wait(lambda: (service_period(self.service) or 0) >= next_period or None, RECOVERY_SECONDS)
        self._wait(lambda: (service_period(self.service) or 0) > end_period or None, RECOVERY_SECONDS)

    def _inject(self) -> FaultReport:
        """One random fault on a random agent, node, or on kubo."""
        kind = self.rng.choice(FAULT_KINDS)
        index = self.rng.randrange(NUMBER_OF_AGENTS)
        baseline = quorum_round(self.service)
        fault = FaultReport(
            kind, "", time.time(), service_period(self.service), baseline["global_round"] if baseline else 0
        )
        if kind == "agent kill -9":
            fault.target = agent_name(index)
            self._kill(fault.target)
        elif kind == "node kill -9":
            fault.target = node_name(index)
            self._kill(fault.target)
        elif kind == "kubo outage":
            fault.target = "ipfs"
            self.service.stop_ipfs()
            time.sleep(KUBO_OUTAGE_SECONDS)  # the length of the fault
            self.service.start_ipfs()
        else:
            fault.target = "all nodes"
            fault.detail = self._junk_burst()
        return fault

    def _kill(self, name: str) -> None:
        """kill -9 a supervised process (the supervisor restarts it)."""
        pid = self.service.supervisor.pid(name)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

    def _junk_burst(self) -> str:
        """JUNK_BURST_TXS bad transactions to random nodes; what they answered, by kind."""
        try:
            makers = junk.junk_makers(self.service, junk.committed_tx(0))
        except (LookupError, KeyError, TypeError) as error:
            return f"no committed transaction to build junk from: {error}"
        sends = [(self.rng.randrange(NUMBER_OF_AGENTS), self.rng.choice(sorted(makers))) for _ in range(JUNK_BURST_TXS)]
        with ThreadPoolExecutor(NUMBER_OF_AGENTS) as pool:
            answers = list(pool.map(lambda send: (send[1], junk.outcome(junk.broadcast(send[0], makers[send[1]]()))), sends))
        let_in = [kind for kind, answer in answers if answer == "accepted" and kind in junk.REFUSED_AT_CHECK_TX]
        tally = Counter(answer for _kind, answer in answers)
        return f"{JUNK_BURST_TXS} txs: {dict(tally)}" + (f"; LET IN: {let_in}" if let_in else "")

    def _recover(self, fault: FaultReport) -> None:
        """Wait for a global round newer than the fault's baseline; note the time, periods lost and agreement."""

        def newer_round() -> Optional[Record]:
            """The newest quorum round, if it is newer than the one before the fault."""
            record = quorum_round(self.service)
            return record if record and record["global_round"] > fault.baseline_round else None

        newer = self._wait(newer_round, RECOVERY_SECONDS)
        if newer is None:
            return
        fault.recovered = True
        fault.seconds_to_recover = round(time.time() - fault.injected_at, 1)
        fault.recovery_round, fault.recovery_period = newer["global_round"], newer["period"]
        fault.periods_lost = max(0, newer["period"] - (fault.period or newer["period"]))
        digests = agreement(self.service, newer["global_round"])
        fault.agreeing = [name for name, digest in digests.items() if digest != LAGGING]
        fault.lagging = [name for name, digest in digests.items() if digest == LAGGING]
        fault.digests = len(set(digests.values()) - {LAGGING})

    def _finish(self) -> None:
        """The closed periods' outcomes and every agent's digest of the newest quorum round."""
        last = (service_period(self.service) or 1) - 1
        self.report.last_period = last
        if self.report.first_period is not None:
            self.report.periods = period_reports(self.service, self.report.first_period, last)
        newest = quorum_round(self.service)
        if newest is not None:
            self.report.final_agreement = agreement(self.service, newest["global_round"])

    def _out_of_time(self) -> bool:
        """Whether the run's time budget is spent."""
        return time.monotonic() > self.deadline

    def _wait(self, condition: Callable[[], Optional[object]], seconds: float) -> Optional[object]:
        """Poll `condition` until it returns something, `seconds` pass or the run's time is up."""
        until = min(self.deadline, time.monotonic() + seconds)
        while time.monotonic() < until:
            found = condition()
            if found:
                return found
            time.sleep(POLL_SECONDS)
        return None
