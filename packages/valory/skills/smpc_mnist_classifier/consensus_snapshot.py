"""The consensus snapshot: the round sequence at a committed height S, sealed on this agent's disk.

A restarted agent restores it, answers Tendermint's Info with (S, app hash of S), and Tendermint replays only
blocks S+1.. from its own store; so the node may prune every block below S (retain_height). Its contents are
consensus data every node holds (the AbciAppDB plus the round sequence's position and clock), sealed like the key
store (sealed_file) for tamper evidence: an unusable, tampered or foreign file is refused with a SnapshotError,
and the agent then starts empty, as it did before snapshots existed. Plain module: no AEA imports; the capture
and restore of the framework's objects live in round_sequence_snapshot.
"""

import datetime
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import (
    Any,
    Dict,
    Mapping,
    Optional,
    Tuple,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from packages.valory.skills.smpc_mnist_classifier.sealed_file import (
    Password,
    SealedFile,
    SealedFileError,
)

SNAPSHOT_VERSION = 1
_MAGIC = b"SMCS"
_MICROSECONDS = 1_000_000
# A node keeps at least this many blocks, so a peer that missed a few seconds can still block-sync from it.
MIN_RETAIN_BLOCKS = 20
# A hard reset starts a new chain: a snapshot's height would name a block of the old one. reset_tendermint_after
# counts periods; at this many (about four years of two-minute periods) the hard reset never comes.
NO_HARD_RESET_PERIODS = 1_000_000


class SnapshotError(ValueError):
    """A snapshot cannot be written, read or used: the agent starts empty (Tendermint replays the chain)."""


class PruningParamsError(ValueError):
    """retain_blocks (or a param it depends on) would prune blocks a restart still needs."""


def to_microseconds(moment: datetime.datetime) -> int:
    """A naive local block time as exact POSIX microseconds (a float would round; an ISO string would shift
    with the time zone, while the next blocks' times follow it)."""
    return int(moment.replace(microsecond=0).timestamp()) * _MICROSECONDS + moment.microsecond


def from_microseconds(microseconds: int) -> datetime.datetime:
    """The naive local time of POSIX microseconds, as the ABCI protocol builds block times."""
    seconds, fraction = divmod(microseconds, _MICROSECONDS)
    return datetime.datetime.fromtimestamp(seconds) + datetime.timedelta(microseconds=fraction)


def service_id(setup: Mapping[str, Any]) -> str:
    """The digest of a service's registration setup data (participants, Safe, agreed params): which service a
    snapshot belongs to."""
    return hashlib.sha256(json.dumps(setup, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ConsensusSnapshot:  # pylint: disable=too-many-instance-attributes
    """The round sequence after committing block `height`, in a round that holds no payload yet.

    Times are POSIX microseconds (to_microseconds); timeouts are (deadline, event key) pairs of the current round.
    """

    agent: str  # the address of the agent that wrote it
    service: str  # service_id of its setup data
    height: int
    app_hash: str  # hex SHA-256 of db: valory's app hash
    db: str  # AbciAppDB.serialize()
    round_count: int
    round_id: str
    last_round_id: Optional[str]  # the round before it (behaviours wait on "our round ended")
    round_height: int  # how many rounds ended before this one: the behaviours switch on it
    previous_round_payload: Optional[str]  # the payload class the round refuses as late, by its class key
    abci_time: int
    timeouts: Tuple[Tuple[int, str], ...]
    last_transition_time: Optional[int]
    last_transition_height: int
    last_transition_root_hash: str  # hex
    last_transition_tm_height: Optional[int]
    tm_height: Optional[int]


def _json_types(annotation: Any) -> Tuple[type, ...]:
    """The JSON value types a field of `annotation` decodes from (a tuple is a JSON list)."""
    if get_origin(annotation) is Union:
        return tuple(option for argument in get_args(annotation) for option in _json_types(argument))
    if get_origin(annotation) is tuple:
        return (list,)
    return (annotation,)


_FIELD_TYPES: Dict[str, Tuple[type, ...]] = {
    name: _json_types(annotation) for name, annotation in get_type_hints(ConsensusSnapshot).items()
}


def encode(snapshot: ConsensusSnapshot) -> bytes:
    """The snapshot as versioned, canonical JSON."""
    return json.dumps({"version": SNAPSHOT_VERSION, **asdict(snapshot)}, sort_keys=True).encode()


def decode(plaintext: bytes) -> ConsensusSnapshot:
    """The snapshot in `plaintext`; SnapshotError for another version, missing or extra fields, wrong types or an
    app hash that is not the db's."""
    try:
        data = json.loads(plaintext)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SnapshotError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or data.pop("version", None) != SNAPSHOT_VERSION:
        raise SnapshotError(f"not a version {SNAPSHOT_VERSION} snapshot")
    if set(data) != set(_FIELD_TYPES):
        raise SnapshotError(f"fields {sorted(set(data) ^ set(_FIELD_TYPES))} missing or unknown")
    for name, types in _FIELD_TYPES.items():
        if isinstance(data[name], bool) or not isinstance(data[name], types):
            raise SnapshotError(f"field {name} is not {' or '.join(t.__name__ for t in types)}")
    data["timeouts"] = _timeouts(data["timeouts"])
    snapshot = ConsensusSnapshot(**data)
    _check_values(snapshot)
    return snapshot


def _timeouts(value: Any) -> Tuple[Tuple[int, str], ...]:
    """(deadline, event key) pairs from JSON lists."""
    pairs = []
    for pair in value:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], int)
            and not isinstance(pair[0], bool)
            and isinstance(pair[1], str)
        ):
            raise SnapshotError(f"timeout {pair!r} is not a [deadline, event] pair")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def _check_values(snapshot: ConsensusSnapshot) -> None:
    """Heights are positive, times are dates, hashes are hex, and the app hash is the db's SHA-256."""
    if snapshot.height < 1 or snapshot.round_height < 1 or snapshot.round_count < 0:
        raise SnapshotError("height, round height or round count out of range")
    times = [snapshot.abci_time, *(deadline for deadline, _ in snapshot.timeouts)]
    if snapshot.last_transition_time is not None:
        times.append(snapshot.last_transition_time)
    for microseconds in times:
        try:
            from_microseconds(microseconds)
        except (OverflowError, OSError, ValueError) as error:
            raise SnapshotError(f"time {microseconds} out of range") from error
    try:
        bytes.fromhex(snapshot.last_transition_root_hash)
    except ValueError as error:
        raise SnapshotError("the last transition's root hash is not hex") from error
    if hashlib.sha256(snapshot.db.encode()).hexdigest() != snapshot.app_hash:
        raise SnapshotError("the app hash is not the hash of the db")


def retain_height(height: int, retain_blocks: int, snapshot_height: int) -> int:
    """The lowest block Tendermint keeps after committing `height`: the last `retain_blocks` blocks, and never a
    block above the snapshot's height S (0: keep every block).

    A restart replays blocks S+1.. into the restored round sequence, and replaying block S+1 reads the validator
    set stored at height S, which pruning to S+1 would delete (Tendermint 0.34 PruneStates): hence at most S, not
    S+1. Without a snapshot nothing is pruned.
    """
    if retain_blocks == 0 or snapshot_height == 0:
        return 0
    return max(1, min(height - retain_blocks + 1, snapshot_height))


def check_pruning_params(retain_blocks: int, reset_tendermint_after: int) -> None:
    """Refuse pruning params a restart could not recover from; PruningParamsError names the fix."""
    if retain_blocks == 0:
        return
    if retain_blocks < MIN_RETAIN_BLOCKS:
        raise PruningParamsError(
            f"retain_blocks {retain_blocks} must be 0 (keep every block) or at least {MIN_RETAIN_BLOCKS}"
        )
    if reset_tendermint_after < NO_HARD_RESET_PERIODS:
        raise PruningParamsError(
            f"retain_blocks needs hard resets off (reset_tendermint_after >= {NO_HARD_RESET_PERIODS}, found "
            f"{reset_tendermint_after}): a hard reset starts a new chain the snapshot's height does not belong to"
        )


class SnapshotFile:
    """This agent's sealed snapshot file and the height S of the snapshot it last wrote or restored."""

    def __init__(self, path: str, password: Password, agent: str, service: str) -> None:
        """Nothing is read or derived yet; S is 0 until a snapshot is written or restored."""
        try:
            self._file = SealedFile(path, password, _MAGIC, "consensus snapshot")
        except SealedFileError as error:
            raise SnapshotError(str(error)) from error
        self.agent = agent
        self.service = service
        self.height = 0
        self.round_height = 0

    @property
    def path(self) -> str:
        """Where the snapshot lives."""
        return self._file.path

    def prepare(self) -> None:
        """Derive the sealing key now (about a second), so no Commit waits for it."""
        self._file.prepare()

    def due(self, height: int, round_height: int, retain_blocks: int) -> bool:
        """Whether Commit should try a snapshot: pruning is on, and this round has none yet or the last one is a
        quarter of the retained blocks old (a round may outlast the window, e.g. a day of training)."""
        if retain_blocks == 0:
            return False
        return round_height != self.round_height or height - self.height >= max(1, retain_blocks // 4)

    def save(self, snapshot: ConsensusSnapshot) -> None:
        """Seal and atomically replace the file; S becomes the snapshot's height. SnapshotError if not written."""
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._file.save(encode(snapshot))
        except (OSError, SealedFileError) as error:
            raise SnapshotError(f"not written: {error}") from error
        self.adopt(snapshot)

    def adopt(self, snapshot: ConsensusSnapshot) -> None:
        """The round sequence now holds `snapshot` (written, or restored from this file)."""
        self.height, self.round_height = snapshot.height, snapshot.round_height

    def load(self) -> Optional[ConsensusSnapshot]:
        """This agent's snapshot of this service, or None if there is no file; SnapshotError if it is unusable
        (wrong password, tampered, truncated, malformed) or belongs to another agent or service."""
        if not os.path.exists(self.path):
            return None
        try:
            snapshot = decode(self._file.load())
        except SealedFileError as error:
            raise SnapshotError(str(error)) from error
        if snapshot.agent != self.agent:
            raise SnapshotError(f"written by agent {snapshot.agent}, not by this agent {self.agent}")
        if snapshot.service != self.service:
            raise SnapshotError("written for another service (its registration setup data differ)")
        return snapshot
