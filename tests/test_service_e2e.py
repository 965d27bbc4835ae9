"""End to end: 4 real agents on 4 real Tendermint nodes and a real kubo node, real TenSEAL ciphertexts.

The honest run checks that every agent cycles Registration -> Training -> UpdateGlobalModel -> Training,
that each accepted global model equals plaintext FedAvg of the same local updates (test-only audited
agents, tests/offenders.py, keep each plaintext update in the agent's own folder), that accuracy rises, and that the service
completes a round after one agent is killed. The faulty run checks that a malformed update, a
wrong-size ciphertext and a bad decryption share, each from a test-only offender, are each excluded with a clear log line while the
round still completes.
"""

import json
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List

import numpy as np
import pytest


from devnet.service import NUMBER_OF_AGENTS, LocalService
from devnet.supervisor import EventKind
from packages.valory.skills.smpc_mnist_classifier import learning
from tests.offenders import (
    AUDIT_FOLDER,
    AuditedAgent,
    BadShareAgent,
    MalformedUpdateAgent,
    WrongSizeUpdateAgent,
)

CYCLE = ["training_round", "submit_update_round"]
MODEL_SEED = 1  # the skill's default model_seed
FEDAVG_TOLERANCE = 1e-5
POLL_SECONDS = 5
ROUNDS_DEADLINE_SECONDS = 900


def cycles_completed(rounds: List[str]) -> int:
    """How many Training -> UpdateGlobalModel -> Training passes follow key generation."""
    if "key_exchange_round" not in rounds:
        return 0
    visits = [
        name for name in rounds[rounds.index("key_exchange_round") :] if name in CYCLE
    ]
    return sum(
        1
        for before, update, after in zip(visits, visits[1:], visits[2:])
        if (before, update, after)
        == ("training_round", "submit_update_round", "training_round")
    )


def tail(path: Path, lines: int = 40) -> str:
    """The end of a log, to show why a process died."""
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        if path.exists()
        else ""
    )


def record_path(service: LocalService, agent: int, global_round: int) -> Path:
    """Where agent `agent` writes the record of an accepted global round."""
    return service.agent_output(agent) / "rounds" / f"round_{global_round:04d}.json"


def wait_for(service: LocalService, condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds; fail with the logs of any process that crashed, or at the deadline."""
    deadline = time.monotonic() + ROUNDS_DEADLINE_SECONDS
    while not condition():
        crashed = [
            event.name
            for event in service.supervisor.events
            if event.kind == EventKind.CRASHED
        ]
        assert not crashed, f"{crashed} crashed:\n" + "\n".join(
            tail(service.console_path(name)) for name in crashed
        )
        assert (
            time.monotonic() < deadline
        ), f"timed out waiting for {what}; logs in {service.run_dir}"
        time.sleep(POLL_SECONDS)


def rounds_recorded(
    service: LocalService, agents: Iterable[int], global_round: int
) -> Callable[[], bool]:
    """A condition: every agent in `agents` recorded global round `global_round`."""
    return lambda: all(
        record_path(service, agent, global_round).exists() for agent in agents
    )


def expected_global_model(
    service: LocalService, record: Dict, previous: np.ndarray
) -> np.ndarray:
    """Plaintext FedAvg of the audited local updates of the included agents, applied to the previous model."""
    agents = service.addresses()
    updates, counts = [], []
    for sender, included in record["included_updates"].items():
        audit = (
            service.agent_output(agents.index(sender))
            / AUDIT_FOLDER
            / f"period_{record['period']:04d}.npy"
        )
        updates.append(np.load(audit))
        counts.append(included["sample_count"])
    return previous + learning.fedavg_vectors(updates, counts)


def test_cycles_completed_counts_whole_cycles() -> None:
    """Training, update, training is one cycle; two need a third training."""
    one = [
        "registration_startup_round",
        "key_exchange_round",
        "training_round",
        "submit_update_round",
        "aggregation_round",
        "reset_and_pause_round",
        "training_round",
    ]
    assert cycles_completed(one) == 1
    assert cycles_completed(one + ["submit_update_round", "training_round"]) == 2
    assert (
        cycles_completed(["training_round", "submit_update_round", "training_round"])
        == 0
    )


@pytest.mark.e2e
def test_encrypted_rounds_match_fedavg_and_survive_an_agent_loss(
    tmp_path: Path,
) -> None:
    """3 global rounds: FedAvg-exact, accuracy rising, the third one without the killed agent_3."""
    service = LocalService(
        tmp_path / "run",
        offenders=dict.fromkeys(range(NUMBER_OF_AGENTS), AuditedAgent.__name__),
    )
    service.prepare()
    try:
        service.start()
        wait_for(
            service,
            rounds_recorded(service, range(NUMBER_OF_AGENTS), 2),
            "2 accepted rounds",
        )
        # Rounds are recorded as the vote ends: let agent_3 reach the next training round before it goes.
        wait_for(
            service,
            lambda: cycles_completed(list(service.rounds_entered(3))) >= 2,
            "agent_3 to start the next period",
        )
        service.take_offline(3)
        wait_for(
            service, rounds_recorded(service, range(3), 3), "a round without agent_3"
        )
    finally:
        service.stop()
    assert service.processes == []
    for agent in range(NUMBER_OF_AGENTS):
        assert (
            cycles_completed(list(service.rounds_entered(agent))) >= 2
        ), f"agent_{agent} did not cycle twice"
    for agent in range(3):
        previous = learning.flatten_model(learning.build_model(MODEL_SEED))
        accuracies = []
        for global_round in (1, 2, 3):
            record = json.loads(record_path(service, agent, global_round).read_text())
            model_file = (
                service.agent_output(agent) / "models" / f"round_{global_round:04d}.pt"
            )
            model = learning.flatten_model(learning.load_model(model_file))
            expected = expected_global_model(service, record, previous)
            assert (
                np.max(np.abs(model - expected)) <= FEDAVG_TOLERANCE
            ), f"agent_{agent} round {global_round}"
            accuracies.append(record["validation_accuracy"])
            previous = model
        assert (
            accuracies[-1] > accuracies[0]
        ), f"agent_{agent} accuracy did not rise: {accuracies}"
        assert service.addresses()[3] not in record["included_updates"]


@pytest.mark.e2e
def test_bad_updates_and_shares_are_excluded_and_the_round_completes(
    tmp_path: Path,
) -> None:
    """agent_1 sends a malformed update, agent_2 a bad decryption share, agent_3 a wrong-size ciphertext."""
    offenders = {1: MalformedUpdateAgent, 2: BadShareAgent, 3: WrongSizeUpdateAgent}
    service = LocalService(
        tmp_path / "run",
        skill_overrides={"MIN_UPDATES": "2"},
        offenders={agent: cls.__name__ for agent, cls in offenders.items()},
    )
    service.prepare()
    try:
        service.start()
        wait_for(
            service, rounds_recorded(service, [0], 1), "a round despite the faults"
        )
    finally:
        service.stop()
    agents = service.addresses()
    record = json.loads(record_path(service, 0, 1).read_text())
    assert sorted(record["included_updates"]) == sorted([agents[0], agents[2]])
    log = service.log_path("agent_0").read_text()
    assert f"Excluding the update of {agents[1]}" in log
    assert f"Excluding the update of {agents[3]}: it has" in log
    assert (
        f"Excluding the decryption shares of {agents[2]}: they do not decrypt consistently"
        in log
    )
