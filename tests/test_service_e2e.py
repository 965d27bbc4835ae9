"""End to end: 4 real agents on 4 real Tendermint nodes and a real kubo node, real TenSEAL ciphertexts.

The honest run checks that every agent cycles Registration -> Training -> UpdateGlobalModel -> Training,
that each accepted global model equals plaintext FedAvg of the same local updates (test-only audited
agents, tests/offenders.py, keep each plaintext update in the agent's own folder), that accuracy rises,
that every final round was settled through the Safe into the ModelRegistry exactly as the agents recorded
it (one Safe transaction per round), and that the service completes and settles a round after one agent
is killed (3 of 4 signatures). The faulty run checks that a malformed update, a wrong-size ciphertext and
a bad decryption share, each from a test-only offender, are each excluded with a clear log line while the
round still completes.
"""

import json
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List

import numpy as np
import pytest
from web3 import Web3

from devnet import chain

from devnet.service import NUMBER_OF_AGENTS, LocalService
from devnet.supervisor import EventKind
from packages.valory.skills.smpc_mnist_classifier import learning
from tests.offenders import (
    AUDIT_FOLDER,
    AuditedAgent,
    BadShareAgent,
    CraftedUpdateAgent,
    RogueDealerAgent,
)

CYCLE = ["training_round", "submit_update_round"]
MODEL_SEED = 1  # the skill's default model_seed
FEDAVG_TOLERANCE = 1e-5
POLL_SECONDS = 5
ROUNDS_DEADLINE_SECONDS = 900
REWARD_WEI = 10**15  # paid by the Safe to each contributor of a final round


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


def chain_view(service: LocalService) -> Web3:
    """web3 on the run's anvil."""
    assert service.deployment is not None
    return Web3(Web3.HTTPProvider(service.deployment.rpc))


def safe_nonce(service: LocalService) -> int:
    """How many transactions the service's Safe executed."""
    assert service.deployment is not None
    safe = chain.safe_contract(chain_view(service), service.deployment.safe)
    return safe.functions.nonce().call()


def assert_settled_as_recorded(
    service: LocalService, agents: Iterable[int], global_round: int
) -> None:
    """The registry's record of the round (with the model's weight commitment) equals each agent's JSON record;
    its tx went through the Safe."""
    assert service.deployment is not None
    w3 = chain_view(service)
    registry = chain.registry(w3, service.deployment.registry)
    (
        number,
        period,
        model,
        aggregate,
        joint_key,
        weight_commitment,
        contributors,
        decryptors,
        excluded,
        reasons,
    ) = registry.functions.getRound(global_round).call()
    for agent in agents:
        record = json.loads(record_path(service, agent, global_round).read_text())
        assert (number, period) == (record["global_round"], record["period"])
        assert model.hex() == record["global_model_digest"]
        assert aggregate.hex() == record["aggregate_digest"]
        assert joint_key.hex() == record["joint_public_key_digest"]
        assert b"".join(weight_commitment).hex() == record["weight_commitment"]
        assert set(contributors) == set(record["included_updates"])
        assert set(decryptors) == set(record["decryption_shares"])
        assert set(excluded) == set(service.addresses()) - set(contributors)
        assert all(reason in (1, 2, 3) for reason in reasons)
        receipt = w3.eth.get_transaction_receipt(record["settlement_tx_hash"])
        assert receipt["status"] == 1 and receipt["to"] == service.deployment.safe


def assert_rewards_follow_contributions(
    service: LocalService, rounds: Iterable[int]
) -> None:
    """Each agent's registry count is the rounds it contributed to; the Safe paid REWARD_WEI for each."""
    assert service.deployment is not None
    w3 = chain_view(service)
    registry = chain.registry(w3, service.deployment.registry)
    records = [
        json.loads(record_path(service, 0, global_round).read_text())
        for global_round in rounds
    ]
    for agent in service.addresses():
        included, _excluded = registry.functions.contribution(agent).call()
        assert included == sum(agent in r["included_updates"] for r in records)
    paid = REWARD_WEI * sum(len(r["included_updates"]) for r in records)
    balance = w3.eth.get_balance(service.deployment.safe)
    assert balance == chain.SAFE_FUNDING_WEI - paid


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
        skill_overrides={"SETTLEMENT_REWARD_WEI": str(REWARD_WEI)},
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
        assert safe_nonce(service) == 2
        for global_round in (1, 2):
            assert_settled_as_recorded(service, range(NUMBER_OF_AGENTS), global_round)
        # Let agent_3 reach the next training round before it goes (the test checks it cycled twice).
        wait_for(
            service,
            lambda: cycles_completed(list(service.rounds_entered(3))) >= 2,
            "agent_3 to start the next period",
        )
        service.take_offline(3)
        wait_for(
            service, rounds_recorded(service, range(3), 3), "a round without agent_3"
        )
        assert safe_nonce(service) == 3
        assert_settled_as_recorded(service, range(3), 3)
        assert_rewards_follow_contributions(service, (1, 2, 3))
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
    """agent_1 sends a crafted update (an oversized weight, to dominate the average), agent_2 a well-formed
    but wrong decryption share: both are named, the honest updates of agents 0, 2 and 3 are averaged."""
    offenders = {1: CraftedUpdateAgent, 2: BadShareAgent}
    service = LocalService(
        tmp_path / "run",
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
    assert sorted(record["included_updates"]) == sorted([agents[0], agents[2], agents[3]])
    assert record["excluded_updates"] == {agents[1]: "weight-too-large"}
    log = service.log_path("agent_0").read_text()
    assert f"Excluding the update of {agents[1]}: weight-too-large" in log
    assert (
        f"Excluding the decryption shares of {agents[2]}: they do not decrypt consistently"
        in log
    )


@pytest.mark.e2e
def test_a_rogue_dealer_is_dropped_and_its_recipient_is_not_blamed(
    tmp_path: Path,
) -> None:
    """agent_1 seals a bad sub-share to the next key holder and does not justify it: agent_1 is left out of
    QUAL, the recipient complains and stays in QUAL, and the others' model is accepted."""
    service = LocalService(
        tmp_path / "run", offenders={1: RogueDealerAgent.__name__}
    )
    service.prepare()
    try:
        service.start()
        wait_for(service, rounds_recorded(service, [0], 1), "a round without the rogue dealer")
    finally:
        service.stop()
    agents = service.addresses()
    holders = sorted(agents)
    rogue = agents[1]
    victim = holders[(holders.index(rogue) + 1) % len(holders)]
    record = json.loads(record_path(service, 0, 1).read_text())
    assert record["qualified_dealers"] == [holder for holder in holders if holder != rogue]
    assert sorted(record["included_updates"]) == sorted(set(agents) - {rogue})
    log = service.log_path("agent_0").read_text()
    assert f"Dealer {rogue} is excluded from QUAL" in log
    assert f"Dealer {victim} is excluded" not in log
    victim_log = service.log_path(f"agent_{agents.index(victim)}").read_text()
    assert f"Complaining about the dealing of {rogue}" in victim_log


def entered(service: LocalService, agent: int, round_name: str, times: int) -> Callable[[], bool]:
    """A condition: agent `agent` entered `round_name` at least `times` times."""
    return lambda: list(service.rounds_entered(agent)).count(round_name) >= times


@pytest.mark.e2e
def test_settlement_fails_without_the_chain_and_the_next_round_settles(
    tmp_path: Path,
) -> None:
    """anvil stops before round 2 settles: that period ends incomplete with its reason; back up, round 2 settles.

    With KEY_EPOCH_PERIODS=1 every period starts a new key epoch, so the two rounds (periods apart) are
    decrypted under different joint keys, and each is still accepted and settled."""
    service = LocalService(tmp_path / "run", skill_overrides={"KEY_EPOCH_PERIODS": "1"})
    service.prepare()
    try:
        service.start()
        wait_for(service, rounds_recorded(service, [0], 1), "round 1")
        # Stop the chain while round 2 trains, well before its settlement is prepared: once the settlement has
        # reached transaction_settlement_abci, valory's randomness round retries until the chain is back.
        wait_for(service, entered(service, 0, "training_round", 2), "round 2's training")
        service.stop_chain()
        wait_for(service, entered(service, 0, "settlement_failed_round", 1), "the failed settlement")
        service.start_chain()
        wait_for(service, rounds_recorded(service, range(NUMBER_OF_AGENTS), 2), "round 2 settled")
        assert safe_nonce(service) == 2
        for global_round in (1, 2):
            assert_settled_as_recorded(service, range(NUMBER_OF_AGENTS), global_round)
    finally:
        service.stop()
    log = service.log_path("agent_0").read_text()
    assert "Global round 2 is not final: the agents agreed on no Safe transaction" in log
    assert "ended without a final global model: the agents agreed on no Safe transaction" in log
    rounds = [json.loads(record_path(service, 0, r).read_text()) for r in (1, 2)]
    assert rounds[1]["period"] > rounds[0]["period"] + 1  # the failed period accepted nothing final
    assert rounds[0]["key_epoch"] == 1 and rounds[1]["key_epoch"] > 2  # one key epoch per period
    assert rounds[0]["joint_public_key_digest"] != rounds[1]["joint_public_key_digest"]
    assert "Rotating the key: key epoch 1 used up its periods; generating key epoch 2" in log
