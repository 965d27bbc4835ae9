"""The chaos run's reading of a service's records and logs: quorum rounds, agreement, period outcomes."""

import json
from pathlib import Path
from typing import List

import pytest
from _pytest.monkeypatch import MonkeyPatch

from devnet.chaos import ChaosReport, FaultReport, agreement, period_reports, quorum_round
from devnet.service import NUMBER_OF_AGENTS, LocalService, agent_name

ADDRESSES = [f"0x{index:040x}" for index in range(1, NUMBER_OF_AGENTS + 1)]


def log_line(message: str, second: int = 0) -> str:
    """One line as an agent's logging writes it."""
    return f"[2026-11-27 06:00:{second:02d},000] [INFO] [agent_x] {message}\n"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: MonkeyPatch) -> LocalService:
    """A service folder with no processes: agents with fixed addresses, logs and records written by the test."""
    monkeypatch.setattr(LocalService, "addresses", lambda self: ADDRESSES)
    local = LocalService(tmp_path / "run")
    (local.run_dir / "logs").mkdir(parents=True)
    return local


def record(service: LocalService, agent: int, global_round: int, period: int, digest: str, contributors: List[str]) -> None:
    """Agent `agent` records an accepted round."""
    folder = service.agent_output(agent) / "rounds"
    folder.mkdir(parents=True, exist_ok=True)
    content = {
        "global_round": global_round,
        "period": period,
        "global_model_digest": digest,
        "included_updates": {address: {} for address in contributors},
    }
    (folder / f"round_{global_round:04d}.json").write_text(json.dumps(content))


def test_the_newest_round_a_quorum_recorded_and_who_agrees_on_it(service: LocalService) -> None:
    """Round 2 recorded by two agents is no quorum yet; round 1, recorded by three, is; agent_3 lags."""
    for agent in range(3):
        record(service, agent, 1, 0, "aa", ADDRESSES[:3])
    for agent in range(2):
        record(service, agent, 2, 1, "bb", ADDRESSES[:3])
    newest = quorum_round(service)
    assert newest is not None and newest["global_round"] == 1
    assert agreement(service, 1) == {
        agent_name(0): "aa", agent_name(1): "aa", agent_name(2): "aa", agent_name(3): "lagging"
    }


def test_each_period_is_accepted_or_incomplete_with_what_the_agents_logged(service: LocalService) -> None:
    """Period 1 failed (a failed vote, and the warning of period 2 names the settlement); period 3 timed out."""
    record(service, 0, 1, 0, "aa", ADDRESSES)
    record(service, 1, 2, 2, "bb", ADDRESSES)
    service.log_path(agent_name(0)).write_text(
        log_line("Entered in the 'training_round' round for period 1")
        + log_line("'training_round' round is done with event: Event.DONE_TRAINING", 1)
        + log_line("'global_model_vote_round' round is done with event: Event.NO_MAJORITY", 2)
        + log_line("Entered in the 'training_round' round for period 2", 3)
        + log_line("Period 1 ended without a final global model: the Safe transaction was not validated", 4)
    )
    reports = period_reports(service, 0, 3)
    assert [(report.period, report.accepted, report.global_round) for report in reports] == [
        (0, True, 1), (1, False, None), (2, True, 2), (3, False, None)
    ]
    assert reports[1].reasons == [
        "no_majority in global_model_vote_round", "the Safe transaction was not validated"
    ]
    assert reports[3].reasons == ["no failure logged (timed out)"]


def test_the_summary_counts_periods_faults_and_the_worst_fault() -> None:
    """Max periods lost over the recovered faults; final digests counted without the lagging agents."""
    report = ChaosReport(seed=1, periods_asked=4, faults_asked=2, started_at=0.0)
    report.faults = [
        FaultReport("node kill -9", "node_1", 0.0, 1, 0, recovered=True, periods_lost=0),
        FaultReport("kubo outage", "ipfs", 0.0, 2, 1, recovered=True, periods_lost=2),
    ]
    report.final_agreement = {"agent_0": "aa", "agent_1": "aa", "agent_2": "lagging"}
    summary = report.summary()
    assert (summary["faults"], summary["faults_recovered"], summary["max_periods_lost_per_fault"]) == (2, 2, 2)
    assert summary["final_digests"] == 1
    assert json.loads(report.to_json())["summary"] == summary
