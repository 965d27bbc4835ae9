"""The FSM of one federated round: key generation, local training, global model update.

Concrete rounds realise the abstract specification at the repository root
(fsm_specification.yaml): KeyGenerationRound belongs to RegistrationState (after the valory
registration app), TrainingRound is TrainingState, UpdateGlobalModelRound and the reset/pause
that closes each period are UpdateGlobalModelState. See composition.py for the chain.
"""

from enum import Enum
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Set, Tuple, cast

from packages.valory.skills.abstract_round_abci.base import (
    AbciApp,
    AbciAppTransitionFunction,
    AppState,
    BaseSynchronizedData,
    CollectDifferentUntilThresholdRound,
    CollectSameUntilThresholdRound,
    CollectionRound,
    DegenerateRound,
    DeserializedCollection,
    TransactionNotValidError,
    get_name,
)
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    KeyGenerationPayload,
    TrainingPayload,
    UpdateGlobalModelPayload,
)

# Placeholder timeouts: SharedState.setup overrides each of them from the skill params.
DEFAULT_TIMEOUT_SECONDS = 60.0
NO_GLOBAL_MODEL = ""


class Event(Enum):
    """Events of the SMPC MNIST classifier app (the root spec's alphabet plus internal ones)."""

    START_TRAINING = "start_training"
    DONE_TRAINING = "done_training"
    DONE_UPDATE = "done_update"
    NO_MAJORITY = "no_majority"
    UPDATE_TIMEOUT = "update_timeout"
    TRAINING_TIMEOUT = "training_timeout"
    KEY_GENERATION_TIMEOUT = "key_generation_timeout"


class SynchronizedData(BaseSynchronizedData):
    """The data every agent agrees on, read through typed properties."""

    def _collection(self, key: str) -> DeserializedCollection:
        """Deserialize a collection stored by a collection round."""
        serialized = self.db.get_strict(key)
        return CollectionRound.deserialize_collection(serialized)

    @property
    def key_registrations(self) -> Mapping[str, KeyGenerationPayload]:
        """Each key holder's public key material, by agent address."""
        return cast(Mapping[str, KeyGenerationPayload], self._collection(get_name(SynchronizedData.key_registrations)))

    @property
    def key_holders(self) -> List[str]:
        """Agents that hold key material for this key epoch, in a fixed order."""
        return sorted(self.key_registrations)

    @property
    def training_reports(self) -> Mapping[str, TrainingPayload]:
        """The reports of the agents whose local models enter this round's update."""
        return cast(Mapping[str, TrainingPayload], self._collection(get_name(SynchronizedData.training_reports)))

    @property
    def global_model_votes(self) -> Mapping[str, UpdateGlobalModelPayload]:
        """The votes cast for the last global model."""
        return cast(Mapping[str, UpdateGlobalModelPayload], self._collection(get_name(SynchronizedData.global_model_votes)))

    @property
    def global_model_digest(self) -> str:
        """Digest of the last accepted global model ('' before the first one)."""
        return cast(str, self.db.get(get_name(SynchronizedData.global_model_digest), NO_GLOBAL_MODEL))

    @property
    def global_round(self) -> int:
        """How many global models have been accepted so far."""
        return cast(int, self.db.get(get_name(SynchronizedData.global_round), 0))

    @property
    def last_accepted_period(self) -> int:
        """The period in which the last global model was accepted (-1 if none)."""
        return cast(int, self.db.get(get_name(SynchronizedData.last_accepted_period), -1))

    @property
    def accepted_round_record(self) -> Dict[str, Any]:
        """What the last accepted round agreed on: round, period, model digest and contributions."""
        return cast(Dict[str, Any], self.db.get(get_name(SynchronizedData.accepted_round_record), {}))

    @property
    def previous_update_incomplete(self) -> bool:
        """Whether the previous period ended without an accepted model (timeout or no majority)."""
        return self.period_count > 0 and self.last_accepted_period != self.period_count - 1


class KeyGenerationRound(CollectDifferentUntilThresholdRound):
    """Agents publish their key material; at least the threshold of them must take part."""

    payload_class = KeyGenerationPayload
    synchronized_data_class = SynchronizedData
    done_event = Event.START_TRAINING
    collection_key = get_name(SynchronizedData.key_registrations)
    # Give late agents a few blocks to join before the key epoch is fixed.
    required_block_confirmations = 3

    def end_block(self) -> Optional[Tuple[BaseSynchronizedData, Enum]]:
        """Also write the global model's state, so every key persisted across periods exists."""
        result = super().end_block()
        if result is None:
            return None
        synchronized_data, event = result
        data = cast(SynchronizedData, synchronized_data)
        persisted = synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            **{
                get_name(SynchronizedData.global_model_digest): data.global_model_digest,
                get_name(SynchronizedData.global_round): data.global_round,
                get_name(SynchronizedData.last_accepted_period): data.last_accepted_period,
                get_name(SynchronizedData.accepted_round_record): data.accepted_round_record,
            },
        )
        return persisted, event


class TrainingRound(CollectDifferentUntilThresholdRound):
    """Agents report their trained local models; a threshold of reports closes the round."""

    payload_class = TrainingPayload
    synchronized_data_class = SynchronizedData
    done_event = Event.DONE_TRAINING
    collection_key = get_name(SynchronizedData.training_reports)
    required_block_confirmations = 3

    def check_payload(self, payload: TrainingPayload) -> None:  # type: ignore[override]
        """Only key holders of this epoch may contribute a model (checked at check_tx and deliver_tx)."""
        super().check_payload(payload)
        self._check_key_holder(payload.sender)

    def _check_key_holder(self, sender: str) -> None:
        """Refuse a report from an agent without key material for this epoch."""
        if sender not in cast(SynchronizedData, self.synchronized_data).key_registrations:
            raise TransactionNotValidError(f"{sender} holds no key material for this key epoch")


class UpdateGlobalModelRound(CollectSameUntilThresholdRound):
    """Agents vote on the next global model; a quorum accepts it."""

    payload_class = UpdateGlobalModelPayload
    synchronized_data_class = SynchronizedData
    done_event = Event.DONE_UPDATE
    no_majority_event = Event.NO_MAJORITY
    none_event = Event.NO_MAJORITY
    collection_key = get_name(SynchronizedData.global_model_votes)
    selection_key = (
        get_name(SynchronizedData.global_model_digest),
        get_name(SynchronizedData.global_round),
    )

    def end_block(self) -> Optional[Tuple[BaseSynchronizedData, Enum]]:
        """On acceptance, also remember in which period it happened."""
        result = super().end_block()
        if result is None or result[1] != self.done_event:
            return result
        synchronized_data, event = result
        accepted = cast(SynchronizedData, synchronized_data)
        period = self.synchronized_data.period_count
        record = {
            "global_round": accepted.global_round,
            "period": period,
            "global_model_digest": accepted.global_model_digest,
            "contributions": {
                sender: {"local_model_digest": report.local_model_digest, "sample_count": report.sample_count}
                for sender, report in sorted(accepted.training_reports.items())
            },
        }
        updated = synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            **{
                get_name(SynchronizedData.last_accepted_period): period,
                get_name(SynchronizedData.accepted_round_record): record,
            },
        )
        return updated, event


class FinishedUpdateGlobalModelRound(DegenerateRound):
    """The update is over (accepted, no majority or timed out); the period closes."""


PERSISTED_KEYS: FrozenSet[str] = frozenset(
    {
        get_name(SynchronizedData.key_registrations),
        get_name(SynchronizedData.global_model_digest),
        get_name(SynchronizedData.global_round),
        get_name(SynchronizedData.last_accepted_period),
        get_name(SynchronizedData.accepted_round_record),
    }
)


class SmpcMnistClassifierAbciApp(AbciApp[Event]):
    """SmpcMnistClassifierAbciApp

    Initial round: KeyGenerationRound

    Initial states: {KeyGenerationRound, TrainingRound}

    Transition states:
        0. KeyGenerationRound
            - start training: 1.
            - key generation timeout: 0.
        1. TrainingRound
            - done training: 2.
            - training timeout: 0.
        2. UpdateGlobalModelRound
            - done update: 3.
            - no majority: 3.
            - update timeout: 3.
        3. FinishedUpdateGlobalModelRound

    Final states: {FinishedUpdateGlobalModelRound}

    Timeouts:
        key generation timeout: 60.0
        training timeout: 60.0
        update timeout: 60.0
    """

    initial_round_cls: AppState = KeyGenerationRound
    initial_states: Set[AppState] = {KeyGenerationRound, TrainingRound}
    transition_function: AbciAppTransitionFunction = {
        KeyGenerationRound: {
            Event.START_TRAINING: TrainingRound,
            Event.KEY_GENERATION_TIMEOUT: KeyGenerationRound,
        },
        TrainingRound: {
            Event.DONE_TRAINING: UpdateGlobalModelRound,
            Event.TRAINING_TIMEOUT: KeyGenerationRound,
        },
        UpdateGlobalModelRound: {
            Event.DONE_UPDATE: FinishedUpdateGlobalModelRound,
            Event.NO_MAJORITY: FinishedUpdateGlobalModelRound,
            Event.UPDATE_TIMEOUT: FinishedUpdateGlobalModelRound,
        },
        FinishedUpdateGlobalModelRound: {},
    }
    final_states: Set[AppState] = {FinishedUpdateGlobalModelRound}
    event_to_timeout: Dict[Event, float] = {
        Event.KEY_GENERATION_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
        Event.TRAINING_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
        Event.UPDATE_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
    }
    cross_period_persisted_keys: FrozenSet[str] = PERSISTED_KEYS
    db_pre_conditions: Dict[AppState, Set[str]] = {
        KeyGenerationRound: set(),
        TrainingRound: {get_name(SynchronizedData.key_registrations)},
    }
    db_post_conditions: Dict[AppState, Set[str]] = {
        FinishedUpdateGlobalModelRound: {get_name(SynchronizedData.training_reports)},
    }


# The name the service documents for its FSM app (autonomy's tooling wants the `AbciApp` suffix).
SmpcMnistClassifierApp = SmpcMnistClassifierAbciApp
