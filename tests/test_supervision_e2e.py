"""End to end: the runner's supervisor brings back a killed Tendermint node and a killed agent, and the
service accepts another global model; the agent, killed while it trains, takes its key share back from its
encrypted key store (no new key generation) and decrypts and contributes again; stopping (nodes, then agents,
then kubo) logs no errors. The same scenario with the agent hung through two accepted rounds before its kill and its
saved models lost, so that it catches up from a voter's sealed model envelope, is
tests_long/test_far_behind_catch_up.py (opt-in: the two extra periods do not fit CI's budget)."""

import os
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Callable, List, Optional

import pytest

from devnet.records import Record, records
from devnet.service import NUMBER_OF_AGENTS, LocalService, agent_name, node_name
from devnet.supervisor import EventKind
from packages.valory.skills.smpc_mnist_classifier import threshold_ckks as ckks
from packages.valory.skills.smpc_mnist_classifier.behaviours import KEYSTORE_FILE, MODELS_FOLDER

POLL_SECONDS = 2
DEADLINE_SECONDS = 900
# Tendermint's error lines (E[...]) and Python tracebacks or ERROR records.
ERROR_LINE = re.compile(r"^E\[|Traceback|\[ERROR\]")
RESTARTED_AGENT = 2
# The operator's secret for the restarted agent's key store (the others keep the packaged default).
KEYSTORE_PASSWORD = "supervision-test-password"
PACKAGED_KEYSTORE_PASSWORD = "development-only-change-me"


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


def rejoined_round(service: LocalService, agent: int, after: int) -> Optional[Record]:
    """The first round after global round `after` that `agent` recorded with its own update and decryption share in it."""
    address = service.addresses()[agent]
    return next(
        (
            record
            for record in records(service, agent)
            if record["global_round"] > after
            and address in record["included_updates"]
            and address in record["decryption_shares"]
        ),
        None,
    )


def lines_after(path: Path, offset: int) -> List[str]:
    """The lines a log gained after `offset` bytes."""
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace").splitlines()


@pytest.mark.e2e
def test_a_killed_node_and_agent_come_back_and_the_restarted_agent_rejoins_its_key_epoch(tmp_path: Path) -> None:
    """kill -9 node_1 after the first accepted round and agent_2 as it starts training the next period: both
    restart, and in a later accepted round agent_2's update and decryption share are in, under the same joint key."""
    restart_after_missed_rounds(tmp_path, rounds_missed=0, saved_models_lost=False)


def restart_after_missed_rounds(tmp_path: Path, rounds_missed: int, saved_models_lost: bool) -> None:
    """agent_2 hangs (SIGSTOP) as it starts training after the first accepted round; `rounds_missed` rounds later
    node_1 and agent_2 are killed (kill -9): both restart, and in a later accepted round agent_2's update and
    decryption share are in, under the same joint key and on the same model digest. With its saved models lost
    it holds no base to rebuild a missed round from its record, so it must open a voter's model envelope."""
    service = LocalService(
        tmp_path / "run", agent_overrides={RESTARTED_AGENT: {"KEYSTORE_PASSWORD": KEYSTORE_PASSWORD}}
    )
    service.prepare()
    try:
        service.start()
        wait_for(service, lambda: accepted_rounds(service, 0) >= 1, "a first accepted round")
        wait_for(
            service,
            lambda: list(service.rounds_entered(RESTARTED_AGENT)).count("training_round") >= 2,
            f"agent_{RESTARTED_AGENT} to train the next period",
        )
        before = records(service, 0)[-1]
        service.supervisor.freeze([agent_name(RESTARTED_AGENT)])
        wait_for(
            service,
            lambda: records(service, 0)[-1]["global_round"] >= before["global_round"] + rounds_missed,
            f"{rounds_missed} rounds accepted without agent_{RESTARTED_AGENT}",
        )
        missed = records(service, 0)[-1]
        if saved_models_lost:
            shutil.rmtree(service.agent_output(RESTARTED_AGENT) / MODELS_FOLDER)
        os.kill(service.supervisor.pid(node_name(1)), signal.SIGKILL)  # type: ignore[arg-type]
        os.killpg(service.supervisor.pid(agent_name(RESTARTED_AGENT)), signal.SIGKILL)  # type: ignore[arg-type]
        wait_for(
            service,
            lambda: restarted(service, node_name(1)) and restarted(service, agent_name(RESTARTED_AGENT)),
            f"node_1 and agent_{RESTARTED_AGENT} to restart",
        )
        wait_for(
            service,
            lambda: rejoined_round(service, RESTARTED_AGENT, missed["global_round"]) is not None,
            f"a round with agent_{RESTARTED_AGENT}'s update and decryption share after its restart",
        )
        logs = [service.console_path(node_name(i)) for i in range(NUMBER_OF_AGENTS)]
        logs += [service.log_path(agent_name(i)) for i in range(NUMBER_OF_AGENTS)]
        offsets = {path: path.stat().st_size for path in logs}
    finally:
        service.stop()
    assert service.processes == []
    crashed = {event.name for event in service.supervisor.events if event.kind == EventKind.CRASHED}
    assert {node_name(1), agent_name(RESTARTED_AGENT)} <= crashed
    rejoined = rejoined_round(service, RESTARTED_AGENT, missed["global_round"])
    assert rejoined is not None
    joint_key = before["joint_public_key_digest"]
    assert rejoined["joint_public_key_digest"] == joint_key  # no new key generation
    log = service.log_path(agent_name(RESTARTED_AGENT)).read_text()
    assert f"Key material restored from the key store (key epoch {joint_key})" in log
    if saved_models_lost:
        caught_up = re.search(r"Caught up: global round (\d+) \(this agent held round \d+\) opened from the envelope", log)
        assert caught_up and int(caught_up[1]) > before["global_round"], "agent_2 did not catch up from an envelope"
    own = {record["global_round"]: record for record in records(service, RESTARTED_AGENT)}
    assert own[rejoined["global_round"]]["global_model_digest"] == rejoined["global_model_digest"]
    keystore = service.agent_output(RESTARTED_AGENT) / KEYSTORE_FILE
    assert ckks.Keystore(str(keystore), KEYSTORE_PASSWORD).load().key_share.epoch.hex() == joint_key
    with pytest.raises(ckks.KeystoreError):  # encrypted under the operator's password, not the packaged one
        ckks.Keystore(str(keystore), PACKAGED_KEYSTORE_PASSWORD).load()
    errors = [f"{path.name}: {line}" for path, offset in offsets.items() for line in lines_after(path, offset)
              if ERROR_LINE.search(line)]
    assert not errors, "stopping logged errors:\n" + "\n".join(errors[:20])
