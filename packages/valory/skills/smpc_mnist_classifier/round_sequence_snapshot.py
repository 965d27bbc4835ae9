"""Capture and restore valory's round sequence for the consensus snapshot (consensus_snapshot holds the format).

Only the AbciAppDB is in the app hash, but replaying blocks S+1.. must behave exactly as the agents that never
stopped: the restored round sequence needs the current round (and the one before it), the round count payloads
carry, the round height the behaviours switch on, the current round's timeouts, the ABCI time and the transition
fields. These are protected fields of open-autonomy 0.21.30's RoundSequence and AbciApp (no public setter exists);
they are touched only here, and test_consensus_snapshot's determinism test fails if one is missed. A snapshot is
taken only when the current and background rounds hold nothing yet, so nothing round-local needs saving.
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple, TypeVar

from packages.valory.skills.abstract_round_abci.base import (
    ABCIAppInternalError,
    AbciApp,
    AbciAppDB,
    AbstractRound,
    Blockchain,
    RoundSequence,
)
from packages.valory.skills.smpc_mnist_classifier.consensus_snapshot import (
    ConsensusSnapshot,
    SnapshotError,
    from_microseconds,
    to_microseconds,
)

_Value = TypeVar("_Value")
# what a round instance holds that is not its own state
_FRAMEWORK_ATTRIBUTES = frozenset({"_synchronized_data", "context"})

# pylint: disable=protected-access


def class_key(cls: type) -> str:
    """A class by module and name, as a snapshot names it."""
    return f"{cls.__module__}.{cls.__qualname__}"


def event_key(event: Any) -> str:
    """An event (a member of some round app's Event enum) by its enum's class key and its name."""
    return f"{class_key(type(event))}.{event.name}"


def _round_state(round_: AbstractRound) -> Dict[str, Any]:
    """A round's own attributes: its collection, confirmations, and whatever a subclass keeps."""
    return {name: value for name, value in vars(round_).items() if name not in _FRAMEWORK_ATTRIBUTES}


def is_pristine(round_: AbstractRound) -> bool:
    """Whether the round holds nothing a fresh instance of its class would not: no payload, no confirmation, no
    opened clock (then a new instance with the same previous payload class is the same round)."""
    fresh = type(round_)(round_.synchronized_data, round_.context, round_._previous_round_payload_class)
    return _round_state(round_) == _round_state(fresh)


def _rounds_in_play(abci_app: AbciApp) -> List[AbstractRound]:
    """The current round and every background round."""
    backgrounds = [app.background_round for group in abci_app.bg_apps_prioritized for app in group]
    return [abci_app.current_round, *backgrounds]


def _capturable(round_sequence: RoundSequence) -> bool:
    """A snapshot restores exactly only between rounds' payloads, after registration's first transition, on the
    chain as Tendermint started it (no hard reset, no termination app switched in) and without slashing (whose
    pending offences it does not carry)."""
    abci_app = round_sequence.abci_app
    return (
        not round_sequence._slashing_enabled
        and not abci_app.is_finished
        and round_sequence.blockchain.is_init
        and round_sequence._last_round_transition_height > 0
        and abci_app._last_timestamp is not None
        and abci_app._transition_backup.transition_function is None
        and all(is_pristine(round_) for round_ in _rounds_in_play(abci_app))
    )


def _timeouts(abci_app: AbciApp) -> Tuple[Tuple[int, str], ...]:
    """The current round's pending timeouts, in the order they were scheduled (their tie-break)."""
    pending = []
    for entry_id in abci_app._current_timeout_entries:
        entry = abci_app._timeouts._entry_finder.get(entry_id)
        if entry is not None and not entry.cancelled:
            pending.append((to_microseconds(entry.deadline), event_key(entry.event)))
    return tuple(pending)


def _optional_microseconds(moment: Any) -> Optional[int]:
    """A block time as POSIX microseconds, if there is one."""
    return None if moment is None else to_microseconds(moment)


def capture(round_sequence: RoundSequence, agent: str, service: str) -> Optional[ConsensusSnapshot]:
    """The round sequence just after a Commit, or None if it cannot be restored exactly from a snapshot now."""
    if not _capturable(round_sequence):
        return None
    abci_app = round_sequence.abci_app
    db = abci_app.synchronized_data.db
    serialized = db.serialize()
    current = abci_app.current_round
    last_round = abci_app._last_round
    known_last = last_round is not None and type(last_round) in abci_app.transition_function
    return ConsensusSnapshot(
        agent=agent,
        service=service,
        height=round_sequence.height,
        app_hash=db.hash().hex(),  # valory's app hash, as Info answers it
        db=serialized,
        round_count=db.round_count,
        round_id=type(current).auto_round_id(),
        last_round_id=type(last_round).auto_round_id() if known_last else None,
        round_height=abci_app.current_round_height,
        previous_round_payload=(
            None if current._previous_round_payload_class is None else class_key(current._previous_round_payload_class)
        ),
        abci_time=to_microseconds(abci_app._last_timestamp),
        timeouts=_timeouts(abci_app),
        last_transition_time=_optional_microseconds(round_sequence._last_round_transition_timestamp),
        last_transition_height=round_sequence._last_round_transition_height,
        last_transition_root_hash=round_sequence._last_round_transition_root_hash.hex(),
        last_transition_tm_height=round_sequence._last_round_transition_tm_height,
        tm_height=round_sequence._tm_height,
    )


def _lookup(known: Mapping[str, _Value], key: str, what: str) -> _Value:
    """`known[key]`, or a SnapshotError naming what is unknown (e.g. a round of another version of the app)."""
    if key not in known:
        raise SnapshotError(f"unknown {what} {key!r}")
    return known[key]


def _check_db(snapshot: ConsensusSnapshot) -> None:
    """The snapshot's db loads into an AbciAppDB and hashes to its app hash there (not only as text): a change
    of the db's serialisation would otherwise only show as a node halting on the next block."""
    scratch = AbciAppDB(setup_data={})
    try:
        scratch.sync(snapshot.db)
    # sync raises ABCIAppInternalError, and its data check ValueError, LookupError or TypeError on a bad shape
    except (ABCIAppInternalError, ValueError, LookupError, TypeError) as error:
        raise SnapshotError(f"the db does not load: {type(error).__name__}") from error
    if scratch.hash().hex() != snapshot.app_hash:
        raise SnapshotError("the loaded db does not hash to the snapshot's app hash")


def restore(round_sequence: RoundSequence, snapshot: ConsensusSnapshot) -> None:
    """Put a freshly set up round sequence at the snapshot's height; SnapshotError (leaving it untouched) if the
    snapshot names rounds, events or payloads this app does not have, or its db does not load and hash."""
    abci_app = round_sequence.abci_app
    rounds = {cls.auto_round_id(): cls for cls in abci_app.transition_function}
    round_cls = _lookup(rounds, snapshot.round_id, "round")
    last_round_cls = None if snapshot.last_round_id is None else _lookup(rounds, snapshot.last_round_id, "round")
    events = {event_key(event): event for event in abci_app.transition_function[round_cls]}
    timeouts = [
        (from_microseconds(deadline), _lookup(events, key, f"event of {snapshot.round_id}"))
        for deadline, key in snapshot.timeouts
    ]
    payloads = {class_key(cls.payload_class): cls.payload_class for cls in rounds.values() if cls.payload_class}
    previous_payload = (
        None
        if snapshot.previous_round_payload is None
        else _lookup(payloads, snapshot.previous_round_payload, "payload class")
    )
    _check_db(snapshot)

    db = abci_app.synchronized_data.db
    db.sync(snapshot.db)
    db.round_count = snapshot.round_count - 1  # schedule_round counts the restored round
    abci_app.cleanup_timeouts()  # no timeouts are scheduled without an ABCI time: the saved ones are re-added
    abci_app.schedule_round(round_cls)
    abci_app._last_round = (
        None if last_round_cls is None else last_round_cls(abci_app.synchronized_data, abci_app.context)
    )
    abci_app.current_round._previous_round_payload_class = previous_payload
    for deadline, event in timeouts:
        abci_app._current_timeout_entries.append(abci_app._timeouts.add_timeout(deadline, event))
    abci_app._last_timestamp = from_microseconds(snapshot.abci_time)
    abci_app._current_round_height = snapshot.round_height

    round_sequence.blockchain = Blockchain(height_offset=snapshot.height)
    round_sequence._last_round_transition_timestamp = (
        None if snapshot.last_transition_time is None else from_microseconds(snapshot.last_transition_time)
    )
    round_sequence._last_round_transition_height = snapshot.last_transition_height
    round_sequence._last_round_transition_root_hash = bytes.fromhex(snapshot.last_transition_root_hash)
    round_sequence._last_round_transition_tm_height = snapshot.last_transition_tm_height
    round_sequence._tm_height = snapshot.tm_height
