"""The consensus snapshot: format and sealing (plain), capture and restore of valory's real round sequence.

The determinism test is the guard of round_sequence_snapshot: an agent restored from a snapshot and an agent that
never stopped are fed the same blocks (payloads, a timeout firing at a restored deadline, round transitions) and
must answer the same app hash, round and round count after every commit, and write byte-identical snapshots.
"""

import dataclasses
import datetime
import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterable, Optional, Sequence, cast
from unittest.mock import MagicMock

import pytest
import yaml
from aea.configurations.data_types import PublicId
from aea.exceptions import AEAEnforceError

from packages.valory.protocols.abci import AbciMessage
from packages.valory.skills.abstract_round_abci.base import BaseTxPayload, Transaction
from packages.valory.skills.abstract_round_abci.dialogues import AbciDialogue, AbciDialogues
from packages.valory.skills.registration_abci.payloads import RegistrationPayload
from packages.valory.skills.reset_pause_abci.payloads import ResetPausePayload
from packages.valory.skills.reset_pause_abci.rounds import ResetAndPauseRound
from packages.valory.skills.smpc_mnist_classifier.behaviours import (
    KeyExchangeBehaviour,
    RegistrationStartupBehaviour,
    SmpcMnistRoundBehaviour,
)
from packages.valory.skills.smpc_mnist_classifier.consensus_snapshot import (
    MIN_RETAIN_BLOCKS,
    NO_HARD_RESET_PERIODS,
    ConsensusSnapshot,
    PruningParamsError,
    SnapshotError,
    SnapshotFile,
    check_pruning_params,
    decode,
    encode,
    from_microseconds,
    retain_height,
    to_microseconds,
)
from packages.valory.skills.smpc_mnist_classifier.handlers import ABCIHandler
from packages.valory.skills.smpc_mnist_classifier.models import SNAPSHOT_FILE, Params, SharedState
from packages.valory.skills.smpc_mnist_classifier.payloads import KeyExchangePayload
from packages.valory.skills.smpc_mnist_classifier.round_sequence_snapshot import capture, is_pristine
from packages.valory.skills.smpc_mnist_classifier.rounds import (
    DealingCommitRound,
    KeyEpochCheckRound,
    KeyExchangeRound,
    RegistrationStartupRound,
)

SKILL_YAML = Path(__file__).resolve().parents[1] / "skill.yaml"
AGENTS = tuple(f"0x{index:040x}" for index in range(1, 5))
SETUP = {"all_participants": list(AGENTS), "safe_contract_address": "0x" + "5" * 40, "consensus_threshold": None}
RETAIN_BLOCKS = 100
START = datetime.datetime(2026, 11, 27, 21, 0, 0, 250_001)
KEY_GENERATION_TIMEOUT = 120.0
# Enough blocks for a collection round to close once its threshold is reached (late payload confirmations).
PATIENCE = 10


def sha256_hex(text: str) -> str:
    """The app hash of a db serialised as `text`."""
    return hashlib.sha256(text.encode()).hexdigest()


def make_state(
    run_dir: Path, agent: str = AGENTS[0], setup: Optional[Dict[str, Any]] = None, retain_blocks: int = RETAIN_BLOCKS
) -> SharedState:
    """An agent's shared state set up as the skill does at start (restoring its snapshot, if any)."""
    args: Dict[str, Any] = yaml.safe_load(SKILL_YAML.read_text())["models"]["params"]["args"]
    args.update(
        setup=setup or SETUP,
        run_dir=str(run_dir),
        retain_blocks=retain_blocks,
        key_generation_timeout=KEY_GENERATION_TIMEOUT,
    )
    context = MagicMock(is_abstract_component=False, agent_address=agent, skill_id=PublicId.from_str("a/b:0.1.0"))
    context.params = Params(name="params", skill_context=context, **args)
    state = SharedState(name="state", skill_context=context)
    context.state = state
    state.setup()
    return state


def in_round(state: SharedState, payload: BaseTxPayload) -> BaseTxPayload:
    """The payload stamped with the round count its round expects, as an agent sends it."""
    round_count = state.round_sequence.abci_app.synchronized_data.db.round_count
    return BaseTxPayload.from_json({**payload.json, "round_count": round_count})


def feed(state: SharedState, height: int, seconds: float, payloads: Iterable[BaseTxPayload] = ()) -> None:
    """One block as Tendermint delivers it, committed through the skill's handler (snapshot, trimming)."""
    round_sequence = state.round_sequence
    header = SimpleNamespace(height=height, timestamp=START + datetime.timedelta(seconds=seconds))
    round_sequence.begin_block(header, MagicMock(), MagicMock())
    for payload in payloads:
        round_sequence.deliver_tx(Transaction(in_round(state, payload), "00"))
    round_sequence.tm_height = height
    round_sequence.end_block()
    reply = commit(state)
    assert reply.data == round_sequence.root_hash


def commit(state: SharedState) -> AbciMessage:
    """The skill's ABCI handler answers Tendermint's Commit request."""
    handler = ABCIHandler(name="abci", skill_context=state.context)
    dialogues = AbciDialogues(name="", skill_context=state.context)
    message, dialogue = dialogues.create(counterparty="", performative=AbciMessage.Performative.REQUEST_COMMIT)
    return handler.commit(cast(AbciMessage, message), cast(AbciDialogue, dialogue))


def registrations(state: SharedState) -> Sequence[BaseTxPayload]:
    """Every participant registers with the same setup data (valory's startup round syncs the db from it)."""
    initialisation = state.round_sequence.abci_app.synchronized_data.db.serialize()
    return [RegistrationPayload(agent, initialisation=initialisation) for agent in AGENTS]


def box_keys(senders: Sequence[str]) -> Sequence[BaseTxPayload]:
    """Key exchange payloads: a distinct 32-byte box public key from each sender."""
    return [KeyExchangePayload(sender, f"{index + 1:02x}" * 32) for index, sender in enumerate(senders)]


def snapshot_file(state: SharedState) -> Path:
    """Where the state's agent keeps its snapshot."""
    params = cast(Params, state.context.params)
    return params.agent_folder(state.context.agent_address) / SNAPSHOT_FILE


def view(state: SharedState) -> Dict[str, Any]:
    """What two agents at the same height must agree on, and what the restored agent's behaviours read."""
    round_sequence = state.round_sequence
    abci_app = round_sequence.abci_app
    return {
        "height": round_sequence.height,
        "root_hash": round_sequence.root_hash,
        "round": round_sequence.current_round_id,
        "last_round": round_sequence.last_round_id,
        "round_count": abci_app.synchronized_data.db.round_count,
        "round_height": round_sequence.current_round_height,
        "period": abci_app.synchronized_data.period_count,
        "abci_time": abci_app.last_timestamp,
        "previous_payload": abci_app.current_round._previous_round_payload_class,  # pylint: disable=protected-access
        "timeouts": sorted(
            (entry.deadline, str(entry.event))
            for entry in abci_app._timeouts._heap  # pylint: disable=protected-access
            if not entry.cancelled
        ),
        "last_transition": (
            round_sequence.last_round_transition_timestamp,
            round_sequence.last_round_transition_height,
            round_sequence.last_round_transition_root_hash,
            round_sequence.last_round_transition_tm_height,
        ),
        "tm_height": round_sequence.tm_height,
    }


@pytest.fixture(name="registered")
def registered_fixture(tmp_path: Path) -> SharedState:
    """Agent 0 after block 1, where every participant registered: it entered the key exchange and took a
    snapshot there."""
    state = make_state(tmp_path / "never-stopped")
    feed(state, 1, 0, registrations(state))
    return state


def restored_copy(state: SharedState, run_dir: Path) -> SharedState:
    """The same agent, started afresh on another disk holding a copy of its snapshot."""
    copy = run_dir / state.context.agent_address / SNAPSHOT_FILE
    copy.parent.mkdir(parents=True)
    shutil.copy(snapshot_file(state), copy)
    return make_state(run_dir)


def test_a_restored_agent_and_one_that_never_stopped_stay_identical(registered: SharedState, tmp_path: Path) -> None:
    """Same blocks, same app hash, round, round count, round height, clock and timeouts after every commit, through
    payloads, a key generation timeout firing at the restored deadline and a transition; same snapshots."""
    assert registered.snapshot_height == 1
    assert registered.round_sequence.current_round_id == KeyExchangeRound.auto_round_id()
    restored = restored_copy(registered, tmp_path / "restarted")
    assert restored.snapshot_height == 1
    assert view(restored) == view(registered)
    assert view(restored)["timeouts"], "the key exchange's timeout was not restored"
    restored.context.logger.info.assert_any_call(
        "Restored the round sequence at height 1 (round key_exchange_round, period 0) from the local snapshot"
    )

    blocks = [(2, 1.0, box_keys(AGENTS[:2])), (3, KEY_GENERATION_TIMEOUT + 1, ())]
    blocks += [
        (height, KEY_GENERATION_TIMEOUT + height, box_keys(AGENTS) if height == 4 else ())
        for height in range(4, 4 + PATIENCE)
    ]
    agents = [registered, restored]
    rounds_seen = []
    for height, seconds, payloads in blocks:
        for state in agents:
            feed(state, height, seconds, payloads)
        if height == 3:  # the timeout re-entered the key exchange: a second restart, from this snapshot
            assert registered.snapshot_height == 3
            agents.append(restored_copy(registered, tmp_path / "restarted again"))
        for state in agents[1:]:
            assert view(state) == view(registered), f"diverged at block {height}"
            assert capture(state.round_sequence, "a", "s") == capture(registered.round_sequence, "a", "s")
        rounds_seen.append((registered.round_sequence.current_round_id, registered.round_sequence.current_round_height))
    assert (KeyExchangeRound.auto_round_id(), 2) in rounds_seen, "the restored timeout did not fire"
    assert rounds_seen[-1] == (DealingCommitRound.auto_round_id(), 3)
    assert all(state.snapshot_height == registered.snapshot_height > 3 for state in agents)


def test_valorys_info_answers_the_snapshots_height_and_app_hash(registered: SharedState, tmp_path: Path) -> None:
    """Tendermint's handshake asks Info: the restored agent answers (S, app hash of S), so only blocks above S are
    replayed."""
    restored = restored_copy(registered, tmp_path / "restarted")
    handler = ABCIHandler(name="abci", skill_context=restored.context)
    dialogues = AbciDialogues(name="", skill_context=restored.context)
    message, dialogue = dialogues.create(
        counterparty="", performative=AbciMessage.Performative.REQUEST_INFO, version="", block_version=0, p2p_version=0
    )
    reply = handler.info(cast(AbciMessage, message), cast(AbciDialogue, dialogue))
    assert reply.last_block_height == 1
    assert reply.last_block_app_hash == registered.round_sequence.root_hash


def test_the_behaviours_resume_in_the_restored_round(registered: SharedState, tmp_path: Path) -> None:
    """valory's round behaviour switches on the round height: restored, it leaves registration for the key
    exchange at once (left at 0, it would run the registration behaviour while the FSM is elsewhere)."""
    restored = restored_copy(registered, tmp_path / "restarted")
    behaviour = SmpcMnistRoundBehaviour(name="main", skill_context=restored.context)
    behaviour.setup()
    assert isinstance(behaviour.current_behaviour, RegistrationStartupBehaviour)
    behaviour._process_current_round()  # pylint: disable=protected-access
    assert isinstance(behaviour.current_behaviour, KeyExchangeBehaviour)


def test_a_commit_writes_the_snapshot_and_bounds_the_retain_height(tmp_path: Path) -> None:
    """Through the skill's ABCI handler: the commit that enters a round writes a snapshot; the retain height
    never passes it."""
    state = make_state(tmp_path)
    round_sequence = state.round_sequence
    round_sequence.begin_block(SimpleNamespace(height=1, timestamp=START), MagicMock(), MagicMock())
    for payload in registrations(state):
        round_sequence.deliver_tx(Transaction(in_round(state, payload), "00"))
    round_sequence.tm_height = 1
    round_sequence.end_block()
    reply = commit(state)
    assert reply.data == round_sequence.root_hash
    assert reply.retain_height == 1  # min(1 - 100 + 1, S = 1), at least 1
    assert state.snapshot_height == 1 and snapshot_file(state).exists()


def test_a_period_start_trims_the_db_to_its_last_period_in_every_agent(registered: SharedState, tmp_path: Path) -> None:
    """Reset and pause opens period 1; in its first round, before the app hash, the never-stopped agent and one
    restored from the snapshot taken on entering it both drop period 0 (cleanup_history_depth 1) and stay equal."""
    # the one shortcut: the FSM jumps to the period's last round (training and settlement need real key material)
    registered.round_sequence.abci_app.schedule_round(ResetAndPauseRound)
    feed(registered, 2, 1.0, [ResetPausePayload(agent, 1) for agent in AGENTS])
    db = registered.round_sequence.abci_app.synchronized_data.db
    assert registered.round_sequence.current_round_id == KeyEpochCheckRound.auto_round_id()
    assert db.get_latest_from_reset_index(0), "period 0 was trimmed before the period started"
    assert registered.snapshot_height == 2
    restored = restored_copy(registered, tmp_path / "restarted")
    for state in (registered, restored):
        feed(state, 3, 2.0)
        trimmed = state.round_sequence.abci_app.synchronized_data.db
        assert trimmed.reset_index == 1 and not trimmed.get_latest_from_reset_index(0)
    assert view(restored) == view(registered)
    assert len(registered.round_sequence.blockchain.blocks) == 1, "every block stays in memory"


def test_a_round_holding_payloads_is_not_captured(registered: SharedState) -> None:
    """Two box keys collected: the round is not pristine, no snapshot (its payloads are in no block after S)."""
    feed(registered, 2, 1.0, box_keys(AGENTS[:2]))
    assert not is_pristine(registered.round_sequence.current_round)
    assert capture(registered.round_sequence, AGENTS[0], "service") is None
    assert registered.snapshot_height == 1


def test_registration_with_its_clock_started_is_not_pristine(tmp_path: Path) -> None:
    """The startup round opens its deadline's clock at block 2: from then on it holds state of its own."""
    state = make_state(tmp_path)
    feed(state, 1, 0)
    assert is_pristine(state.round_sequence.current_round)
    feed(state, 2, 1.0)
    assert isinstance(state.round_sequence.current_round, RegistrationStartupRound)
    assert not is_pristine(state.round_sequence.current_round)
    assert state.snapshot_height == 0 and not snapshot_file(state).exists()


def test_nothing_is_captured_with_slashing_on(registered: SharedState) -> None:
    """Pending offences are not in the snapshot: with slashing on there is none."""
    assert capture(registered.round_sequence, AGENTS[0], "service") is not None
    registered.round_sequence.enable_slashing()
    assert capture(registered.round_sequence, AGENTS[0], "service") is None


def test_without_pruning_nothing_is_written_or_derived(tmp_path: Path) -> None:
    """retain_blocks 0 (the default) keeps today's behaviour: no snapshot, no key derivation, nothing pruned."""
    state = make_state(tmp_path, retain_blocks=0)
    feed(state, 1, 0, registrations(state))
    assert state.snapshots is None and state.snapshot_height == 0
    assert not snapshot_file(state).exists()


def snapshot_warnings(state: SharedState) -> Sequence[str]:
    """The warnings the agent logged about its snapshot (valory's setup logs others)."""
    return [call[0][0] for call in state.context.logger.warning.call_args_list if "snapshot" in call[0][0]]


def assert_refused(state: SharedState, reason: str) -> None:
    """The agent started empty (Tendermint replays from block 1) and said why in one warning."""
    assert state.round_sequence.height == 0
    assert state.round_sequence.current_round_id == RegistrationStartupRound.auto_round_id()
    assert state.snapshot_height == 0
    warnings = snapshot_warnings(state)
    assert len(warnings) == 1 and reason in warnings[0], warnings


def rewrite(state: SharedState, **changes: Any) -> None:
    """Seal a changed copy of the state's snapshot in its place."""
    snapshots = cast(SnapshotFile, state.snapshots)
    loaded = cast(ConsensusSnapshot, snapshots.load())
    snapshots.save(dataclasses.replace(loaded, **changes))


def reserialized(db: str) -> str:
    """The same db written with other whitespace: it loads, but not to the text it was hashed as."""
    return json.dumps(json.loads(db), indent=1)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"round_id": "no_such_round"}, "unknown round 'no_such_round'"),
        ({"timeouts": ((0, "packages.nowhere.Event.TIMEOUT"),)}, "unknown event of key_exchange_round"),
        ({"previous_round_payload": "packages.nowhere.Payload"}, "unknown payload class"),
        ({"db": "{}", "app_hash": sha256_hex("{}")}, "db does not load"),
    ],
)
def test_a_snapshot_naming_what_this_app_lacks_is_refused(
    registered: SharedState, tmp_path: Path, changes: Dict[str, Any], reason: str
) -> None:
    """Unknown rounds, events or payload classes (another version of the app) and a db that does not load."""
    rewrite(registered, **changes)
    assert_refused(restored_copy(registered, tmp_path / "restarted"), reason)


def test_a_db_that_hashes_differently_once_loaded_is_refused(registered: SharedState, tmp_path: Path) -> None:
    """A db whose text hashes to the app hash but loads into another hash (serialisation drift) is refused
    before a node would halt on it."""
    loaded = cast(ConsensusSnapshot, cast(SnapshotFile, registered.snapshots).load())
    text = reserialized(loaded.db)
    rewrite(registered, db=text, app_hash=sha256_hex(text))
    assert_refused(restored_copy(registered, tmp_path / "restarted"), "does not hash to the snapshot's app hash")


def test_a_tampered_snapshot_is_refused(registered: SharedState, tmp_path: Path) -> None:
    """One flipped bit: the MAC fails, the agent starts empty."""
    data = bytearray(snapshot_file(registered).read_bytes())
    data[-5] ^= 0x01
    snapshot_file(registered).write_bytes(bytes(data))
    assert_refused(restored_copy(registered, tmp_path / "restarted"), "wrong password or tampered file")


def test_another_agents_snapshot_is_refused(registered: SharedState, tmp_path: Path) -> None:
    """Agent 1 finds agent 0's snapshot in its folder (same password): refused."""
    copy = tmp_path / "other" / AGENTS[1] / SNAPSHOT_FILE
    copy.parent.mkdir(parents=True)
    shutil.copy(snapshot_file(registered), copy)
    assert_refused(make_state(tmp_path / "other", agent=AGENTS[1]), f"written by agent {AGENTS[0]}")


def test_another_services_snapshot_is_refused(registered: SharedState, tmp_path: Path) -> None:
    """Same agent, another service (another Safe in its setup data): refused."""
    copy = tmp_path / "other" / AGENTS[0] / SNAPSHOT_FILE
    copy.parent.mkdir(parents=True)
    shutil.copy(snapshot_file(registered), copy)
    other_service = {**SETUP, "safe_contract_address": "0x" + "6" * 40}
    assert_refused(make_state(tmp_path / "other", setup=other_service), "written for another service")


def test_no_snapshot_starts_empty_without_a_warning(tmp_path: Path) -> None:
    """The first start of an agent: nothing to restore, nothing to warn about."""
    state = make_state(tmp_path)
    assert state.round_sequence.height == 0 and state.snapshot_height == 0
    assert not snapshot_warnings(state)


# The plain module: format, times, retain height, params.


def snapshot(**changes: Any) -> ConsensusSnapshot:
    """A well-formed snapshot with `changes`."""
    db = '{"db_data": {"0": {}}, "slashing_config": ""}'
    fields = dict(
        agent=AGENTS[0],
        service="s",
        height=7,
        app_hash=sha256_hex(db),
        db=db,
        round_count=3,
        round_id="r",
        last_round_id=None,
        round_height=2,
        previous_round_payload=None,
        abci_time=1,
        timeouts=((5, "e"),),
        last_transition_time=None,
        last_transition_height=6,
        last_transition_root_hash="ab",
        last_transition_tm_height=None,
        tm_height=7,
    )
    fields.update(changes)
    return ConsensusSnapshot(**fields)


def test_the_format_round_trips() -> None:
    """decode(encode(s)) == s, timeouts included."""
    assert decode(encode(snapshot())) == snapshot()


@pytest.mark.parametrize(
    ("plaintext", "reason"),
    [
        (b"\xff", "not JSON"),
        (b"[]", "not a version 1 snapshot"),
        (json.dumps({**json.loads(encode(snapshot())), "version": 2}).encode(), "not a version 1 snapshot"),
        (json.dumps({**json.loads(encode(snapshot())), "extra": 1}).encode(), "missing or unknown"),
        (json.dumps({**json.loads(encode(snapshot())), "height": "7"}).encode(), "field height is not int"),
        (json.dumps({**json.loads(encode(snapshot())), "height": True}).encode(), "field height is not int"),
        (json.dumps({**json.loads(encode(snapshot())), "timeouts": [[1]]}).encode(), "not a \\[deadline, event\\] pair"),
        (encode(snapshot(height=0)), "out of range"),
        (encode(snapshot(abci_time=10**30)), "time 1000000000000000000000000000000 out of range"),
        (encode(snapshot(timeouts=((-(10**30), "e"),))), "out of range"),
        (encode(snapshot(last_transition_root_hash="zz")), "not hex"),
        (encode(snapshot(app_hash="00" * 32)), "app hash is not the hash of the db"),
    ],
)
def test_malformed_snapshots_are_refused(plaintext: bytes, reason: str) -> None:
    """Every malformed snapshot is a SnapshotError naming the problem."""
    with pytest.raises(SnapshotError, match=reason):
        decode(plaintext)


@pytest.mark.parametrize("microsecond", [0, 1, 250_001, 999_999])
def test_block_times_round_trip_exactly(microsecond: int) -> None:
    """Naive local block times survive to the microsecond (a float of POSIX seconds would not always)."""
    moment = START.replace(microsecond=microsecond)
    assert from_microseconds(to_microseconds(moment)) == moment


@pytest.mark.parametrize(
    ("height", "retain_blocks", "snapshot_height", "expected"),
    [
        (1000, 0, 900, 0),  # pruning off
        (1000, 100, 0, 0),  # no snapshot yet: keep every block
        (1000, 100, 990, 901),  # the window binds
        (1000, 100, 850, 850),  # the snapshot binds: block S itself is kept (S+1 would lose S's validators)
        (50, 100, 40, 1),  # young chain: never below 1
    ],
)
def test_the_retain_height_keeps_the_window_and_everything_above_the_snapshot(
    height: int, retain_blocks: int, snapshot_height: int, expected: int
) -> None:
    """min(height - retain_blocks + 1, S): the bound is S, not S + 1 (replaying S+1 reads S's validator set)."""
    assert retain_height(height, retain_blocks, snapshot_height) == expected


def test_pruning_params_are_checked() -> None:
    """0 or at least MIN_RETAIN_BLOCKS, and never with hard resets."""
    check_pruning_params(0, 10)
    check_pruning_params(MIN_RETAIN_BLOCKS, NO_HARD_RESET_PERIODS)
    with pytest.raises(PruningParamsError, match="must be 0 \\(keep every block\\) or at least"):
        check_pruning_params(MIN_RETAIN_BLOCKS - 1, NO_HARD_RESET_PERIODS)
    with pytest.raises(PruningParamsError, match="needs hard resets off"):
        check_pruning_params(MIN_RETAIN_BLOCKS, NO_HARD_RESET_PERIODS - 1)


def test_bad_pruning_params_stop_the_agent_at_startup(tmp_path: Path) -> None:
    """Params refuse them with a clear error before anything runs."""
    with pytest.raises(AEAEnforceError, match="retain_blocks -1 must be 0"):
        make_state(tmp_path, retain_blocks=-1)


def test_a_snapshot_is_due_at_each_new_round_and_every_quarter_window() -> None:
    """Once per round (at its first pristine commit), and again a quarter of the window later."""
    snapshots = SnapshotFile("unused", "password", AGENTS[0], "s")
    assert not snapshots.due(10, 1, 0)
    assert snapshots.due(10, 1, RETAIN_BLOCKS)
    snapshots.adopt(snapshot(height=10, round_height=1))
    assert not snapshots.due(11, 1, RETAIN_BLOCKS)
    assert snapshots.due(11, 2, RETAIN_BLOCKS)
    assert snapshots.due(10 + RETAIN_BLOCKS // 4, 1, RETAIN_BLOCKS)
