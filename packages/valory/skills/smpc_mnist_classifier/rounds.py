"""The FSM of the SMPC MNIST app: threshold key generation, local training, encrypted global update.

Concrete rounds realise the abstract specification at the repository root (fsm_specification.yaml):
  RegistrationState      = registration (valory's, with this app's RegistrationStartupRound, which may
                           close with fewer than all agents at a deadline), then the verifiable key
                           generation: KeyExchangeRound, DealingCommitRound, DealingRevealRound,
                           ComplaintRound, JustificationRound, JointKeyRound
  TrainingState          = TrainingRound
  UpdateGlobalModelState = SubmitUpdateRound, AggregationRound, DecryptionShareRound,
                           GlobalModelVoteRound, the settlement of an accepted model through the
                           Safe (PrepareSettlementRound, valory's transaction_settlement_abci,
                           FinalizeModelRound or SettlementFailedRound), the reset/pause that
                           closes each period, and KeyEpochCheckRound, which either keeps the key
                           epoch (training follows) or rotates it (ROTATE_KEY: a new key generation).
Payloads carry only digests, content ids and counters; blobs (key shares, ciphertexts, decryption
shares) travel through IPFS. See composition.py for the chain.
"""

import datetime
import json
from abc import ABC
from collections import Counter
from dataclasses import replace
from enum import Enum
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Set, Tuple, Type, cast

from packages.valory.skills.abstract_round_abci.base import (
    ABCIAppException,
    ABCIAppInternalError,
    AbciApp,
    AbciAppTransitionFunction,
    AppState,
    BaseSynchronizedData,
    BaseTxPayload,
    CollectDifferentUntilThresholdRound,
    CollectionRound,
    CollectSameUntilThresholdRound,
    DegenerateRound,
    DeserializedCollection,
    TransactionNotValidError,
    get_name,
)
from packages.valory.skills.registration_abci.rounds import (
    RegistrationStartupRound as AllAgentsRegistrationStartupRound,
)
from packages.valory.skills.smpc_mnist_classifier.commitments import is_digest_hex
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    AggregationPayload,
    KeyEpochCheckPayload,
    DecryptionSharePayload,
    FinalizeModelPayload,
    GlobalModelVotePayload,
    ComplaintPayload,
    DealingCommitPayload,
    DealingRevealPayload,
    JointKeyPayload,
    JustificationPayload,
    KeyExchangePayload,
    PrepareSettlementPayload,
    SettlementFailedPayload,
    SubmitUpdatePayload,
    TrainingPayload,
)
from packages.valory.skills.transaction_settlement_abci.rounds import (
    SynchronizedData as TxSettlementSynchronizedData,
)

# Placeholder timeouts: SharedState.setup overrides each of them from the skill params.
DEFAULT_TIMEOUT_SECONDS = 60.0
NO_GLOBAL_MODEL = ""
BOX_PUBLIC_KEY_BYTES = 32  # Curve25519
# Blocks a collection round waits after reaching its threshold, so that late agents still count.
LATE_PAYLOAD_BLOCKS = 3
# Key generation runs once per key epoch and a late dealer, complaint or answer costs a key holder its place in
# QUAL (or its share), so its rounds wait longer for late payloads.
KEY_GENERATION_LATE_BLOCKS = 10
# Tendermint stamps a chain's first block with the genesis time, fixed when the network was configured (possibly
# long before it started); the second block is the first stamped with the validators' agreed time.
FIRST_AGREED_TIME_HEIGHT = 2


class Event(Enum):
    """Events of the app: the root specification's alphabet plus internal sub-round events."""

    START_TRAINING = "start_training"
    DONE_TRAINING = "done_training"
    DONE_UPDATE = "done_update"
    NO_MAJORITY = "no_majority"
    UPDATE_TIMEOUT = "update_timeout"
    TRAINING_TIMEOUT = "training_timeout"
    DONE = "done"
    KEY_GENERATION_FAILED = "key_generation_failed"
    KEY_GENERATION_TIMEOUT = "key_generation_timeout"
    SETTLEMENT_FAILED = "settlement_failed"
    SETTLEMENT_RETRY = "settlement_retry"
    SETTLEMENT_TIMEOUT = "settlement_timeout"
    ROTATE_KEY = "rotate_key"


class SynchronizedData(TxSettlementSynchronizedData):
    """The data every agent agrees on, read through typed properties (incl. the tx settlement's)."""

    def _collection(self, key: str) -> DeserializedCollection:
        """A collection stored by a collection round ({} before the round ran)."""
        return CollectionRound.deserialize_collection(self.db.get(key, {}))

    @property
    def key_exchange(self) -> Mapping[str, KeyExchangePayload]:
        """Each key holder's box public key, by agent address."""
        return cast(
            Mapping[str, KeyExchangePayload],
            self._collection(get_name(SynchronizedData.key_exchange)),
        )

    @property
    def key_holders(self) -> List[str]:
        """The agents of this key epoch; party index i+1 is key_holders[i]."""
        return sorted(self.key_exchange)

    @property
    def dealing_commitments(self) -> Mapping[str, DealingCommitPayload]:
        """Each dealer's commitment to its dealing, agreed before any dealing is revealed."""
        return cast(
            Mapping[str, DealingCommitPayload],
            self._collection(get_name(SynchronizedData.dealing_commitments)),
        )

    @property
    def dealing_reveals(self) -> Mapping[str, DealingRevealPayload]:
        """Where each committed dealer's dealing is on IPFS."""
        return cast(
            Mapping[str, DealingRevealPayload],
            self._collection(get_name(SynchronizedData.dealing_reveals)),
        )

    @property
    def complaints(self) -> Mapping[str, ComplaintPayload]:
        """Each recipient's complaints against dealers."""
        return cast(
            Mapping[str, ComplaintPayload],
            self._collection(get_name(SynchronizedData.complaints)),
        )

    @property
    def justifications(self) -> Mapping[str, JustificationPayload]:
        """Where each accused dealer's answers are on IPFS."""
        return cast(
            Mapping[str, JustificationPayload],
            self._collection(get_name(SynchronizedData.justifications)),
        )

    @property
    def joint_key_votes(self) -> Mapping[str, JointKeyPayload]:
        """Every key holder's vote on QUAL and the joint public key."""
        return cast(
            Mapping[str, JointKeyPayload],
            self._collection(get_name(SynchronizedData.joint_key_votes)),
        )

    @property
    def qualified_dealers(self) -> List[str]:
        """QUAL: the dealers whose additive secrets make up the agreed joint key (their updates count)."""
        agreed = cast(str, self.db.get(get_name(SynchronizedData.qualified_dealers), ""))
        return agreed.split(",") if agreed else []

    @property
    def joint_public_key_digest(self) -> str:
        """Digest of the joint public key all key holders agreed on."""
        return cast(
            str, self.db.get(get_name(SynchronizedData.joint_public_key_digest), "")
        )

    @property
    def key_epoch(self) -> int:
        """How many joint keys were agreed so far: the number of the current key epoch (0 before the first)."""
        return cast(int, self.db.get(get_name(SynchronizedData.key_epoch), 0))

    @property
    def key_epoch_start_period(self) -> int:
        """The period in which the current key epoch's joint key was agreed."""
        return cast(int, self.db.get(get_name(SynchronizedData.key_epoch_start_period), 0))

    @property
    def key_epoch_reports(self) -> Mapping[str, KeyEpochCheckPayload]:
        """Each agent's view, at the start of the period, of whether the key epoch must end."""
        return cast(
            Mapping[str, KeyEpochCheckPayload],
            self._collection(get_name(SynchronizedData.key_epoch_reports)),
        )

    @property
    def key_rotation_reason(self) -> str:
        """Why the agents agreed to rotate the key in this period ('' if they kept it)."""
        return cast(str, self.db.get(get_name(SynchronizedData.key_rotation_reason), ""))

    @property
    def training_reports(self) -> Mapping[str, TrainingPayload]:
        """Reports of the agents whose local models are trained this period."""
        return cast(
            Mapping[str, TrainingPayload],
            self._collection(get_name(SynchronizedData.training_reports)),
        )

    @property
    def submitted_updates(self) -> Mapping[str, SubmitUpdatePayload]:
        """Encrypted updates submitted this period (content ids, digests, sample counts)."""
        return cast(
            Mapping[str, SubmitUpdatePayload],
            self._collection(get_name(SynchronizedData.submitted_updates)),
        )

    @property
    def aggregation_votes(self) -> Mapping[str, AggregationPayload]:
        """Every agent's vote on the encrypted average."""
        return cast(
            Mapping[str, AggregationPayload],
            self._collection(get_name(SynchronizedData.aggregation_votes)),
        )

    @property
    def aggregate_digest(self) -> str:
        """Digest of the agreed encrypted average."""
        return cast(
            str, self.db.get_strict(get_name(SynchronizedData.aggregate_digest))
        )

    @property
    def included_updates(self) -> List[str]:
        """The agents whose encrypted updates are in the agreed average (comma-separated in the db)."""
        return cast(
            str, self.db.get_strict(get_name(SynchronizedData.included_updates))
        ).split(",")

    @property
    def excluded_updates(self) -> Dict[str, str]:
        """Senders left out of the agreed sum, with the reason (agreed with the sum)."""
        return cast(
            Dict[str, str],
            json.loads(
                self.db.get(get_name(SynchronizedData.excluded_updates), None) or "{}"
            ),
        )

    @property
    def decryption_shares(self) -> Mapping[str, DecryptionSharePayload]:
        """Published sealed decryption shares (content ids and digests), by key holder."""
        return cast(
            Mapping[str, DecryptionSharePayload],
            self._collection(get_name(SynchronizedData.decryption_shares)),
        )

    @property
    def global_model_votes(self) -> Mapping[str, GlobalModelVotePayload]:
        """The votes cast on the next global model."""
        return cast(
            Mapping[str, GlobalModelVotePayload],
            self._collection(get_name(SynchronizedData.global_model_votes)),
        )

    @property
    def global_model_digest(self) -> str:
        """Digest of the last accepted global model ('' before the first one)."""
        return cast(
            str,
            self.db.get(
                get_name(SynchronizedData.global_model_digest), NO_GLOBAL_MODEL
            ),
        )

    @property
    def weight_commitment(self) -> str:
        """KZG commitment (hex x || y) of the last accepted model's quantised weights ('' before the first one)."""
        return cast(str, self.db.get(get_name(SynchronizedData.weight_commitment), ""))

    @property
    def global_round(self) -> int:
        """How many global models have been accepted so far."""
        return cast(int, self.db.get(get_name(SynchronizedData.global_round), 0))

    @property
    def last_accepted_period(self) -> int:
        """The period in which the last global model was accepted (-1 if none)."""
        return cast(
            int, self.db.get(get_name(SynchronizedData.last_accepted_period), -1)
        )

    @property
    def accepted_round_record(self) -> Dict[str, Any]:
        """What the last accepted round agreed on: round, period, digests, content ids, contributors."""
        return cast(
            Dict[str, Any],
            self.db.get(get_name(SynchronizedData.accepted_round_record), {}),
        )

    @property
    def final_round_record(self) -> Dict[str, Any]:
        """The last round whose settlement on chain was validated, with its settlement tx hash ({} if none)."""
        return cast(
            Dict[str, Any],
            self.db.get(get_name(SynchronizedData.final_round_record), {}),
        )

    @property
    def settlement_preparations(self) -> Mapping[str, PrepareSettlementPayload]:
        """Every agent's Safe transaction for recording the accepted round."""
        return cast(
            Mapping[str, PrepareSettlementPayload],
            self._collection(get_name(SynchronizedData.settlement_preparations)),
        )

    @property
    def finalize_model_votes(self) -> Mapping[str, FinalizeModelPayload]:
        """Every agent's view of the validated settlement transaction."""
        return cast(
            Mapping[str, FinalizeModelPayload],
            self._collection(get_name(SynchronizedData.finalize_model_votes)),
        )

    @property
    def settlement_tx_hash(self) -> str:
        """The validated settlement transaction of this period's accepted round."""
        return cast(
            str, self.db.get_strict(get_name(SynchronizedData.settlement_tx_hash))
        )

    @property
    def settlement_failure_votes(self) -> Mapping[str, SettlementFailedPayload]:
        """Every agent's reason for the failed settlement."""
        return cast(
            Mapping[str, SettlementFailedPayload],
            self._collection(get_name(SynchronizedData.settlement_failure_votes)),
        )

    @property
    def settlement_failure(self) -> str:
        """Why the last settlement failed ('' if the last one did not)."""
        return cast(str, self.db.get(get_name(SynchronizedData.settlement_failure), ""))

    @property
    def previous_update_incomplete(self) -> bool:
        """Whether the previous period ended without an accepted model (timeout or no majority)."""
        return (
            self.period_count > 0 and self.last_accepted_period != self.period_count - 1
        )


class EligibleSendersMixin:  # pylint: disable=too-few-public-methods
    """Only `eligible` agents may send a payload (checked at check_tx and deliver_tx)."""

    synchronized_data: BaseSynchronizedData

    def eligible(self) -> List[str]:
        """Who may send a payload in this round (default: the key holders of this epoch)."""
        return cast(SynchronizedData, self.synchronized_data).key_holders

    def check_payload(self, payload: BaseTxPayload) -> None:
        """Refuse a payload from an agent that is not eligible in this round."""
        super().check_payload(payload)  # type: ignore[misc]
        if payload.sender not in self.eligible():
            raise TransactionNotValidError(
                f"{payload.sender} may not send a {type(payload).__name__} now"
            )


class KeyHolderCollectionRound(
    EligibleSendersMixin, CollectDifferentUntilThresholdRound, ABC
):
    """Collects one payload per eligible agent, then waits a few blocks for late ones."""

    synchronized_data_class = SynchronizedData
    done_event = Event.DONE
    required_block_confirmations = LATE_PAYLOAD_BLOCKS


class RegistrationStartupRound(AllAgentsRegistrationStartupRound):
    """valory's startup registration, which may close with fewer agents at a deadline.

    It closes when every participant registered (valory's rule), or when at least `registration_min_agents`
    registered and `registration_deadline_seconds` of agreed time passed since the chain started. Registrations
    count only with the same setup data (valory's check refuses any other at CheckTx), and the setup data carry
    both params, so only agents configured alike decide together. The deadline is read from block timestamps,
    Tendermint's BFT time (the voting-power-weighted median of the validators' commit times), never from a local
    clock: no agent, nor any minority, decides when registration closes, and every agent (also one replaying the
    chain after a restart) closes it in the same block. A count of blocks would be agreed too, but its length in
    seconds follows the block rate (one a second when idle here, a third of that measured under load), and an
    operator sets a deadline in seconds. An agent left out joins at the next key epoch (KeyExchangeRound).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """No agreed time yet: the deadline is counted from the first block that carries one."""
        super().__init__(*args, **kwargs)
        self._opened_at: Optional[datetime.datetime] = None

    @property
    def minimum_agents(self) -> int:
        """How many agents may start the service once the deadline passed (null param: every participant)."""
        configured: Optional[int] = self.context.params.registration_min_agents
        return self.synchronized_data.max_participants if configured is None else configured

    @property
    def deadline_passed(self) -> bool:
        """Whether the last block's agreed time is registration_deadline_seconds past the chain's start."""
        if self._opened_at is None:
            return False
        deadline = self._opened_at + datetime.timedelta(
            seconds=self.context.params.registration_deadline_seconds
        )
        return bool(self.context.state.round_sequence.last_timestamp >= deadline)

    @property
    def collection_threshold_reached(self) -> bool:
        """Every participant registered, or the minimum did and the deadline passed."""
        registered = len(self.collection)
        return registered >= self.synchronized_data.max_participants or (
            registered >= self.minimum_agents and self.deadline_passed
        )

    @property
    def common_payload_values(self) -> Tuple[Any, ...]:
        """The setup data the registered agents agree on, once at least the minimum of them sent it."""
        values, votes = self.payload_values_count.most_common(1)[0]
        if votes < self.minimum_agents:
            raise ABCIAppInternalError(
                f"{votes} registrations are fewer than registration_min_agents {self.minimum_agents}"
            )
        return cast(Tuple[Any, ...], values)

    def end_block(self) -> Optional[Tuple[BaseSynchronizedData, Enum]]:
        """Start the deadline's clock at the first block with agreed time; close as valory's round does."""
        round_sequence = self.context.state.round_sequence
        if self._opened_at is None and round_sequence.height >= FIRST_AGREED_TIME_HEIGHT:
            self._opened_at = round_sequence.last_timestamp
        result = super().end_block()
        missing = sorted(self.synchronized_data.all_participants - set(self.collection))
        if result is not None and missing:
            self.context.logger.info(
                f"Registration closed at its deadline with {len(self.collection)} agents; "
                f"{missing} join at the next key epoch"
            )
        return result


class KeyExchangeRound(CollectDifferentUntilThresholdRound):
    """Agents joining this key epoch publish a box public key; at least the threshold must join.

    Every participant of the service may join a key epoch, also one that is not active yet because registration
    closed without it (RegistrationStartupRound's deadline): it becomes active here, as valory's RegistrationRound
    lets agents rejoin. From then on it is one of the participants, like an agent that was offline for a while.
    """

    payload_class = KeyExchangePayload
    synchronized_data_class = SynchronizedData
    done_event = Event.DONE
    collection_key = get_name(SynchronizedData.key_exchange)
    required_block_confirmations = LATE_PAYLOAD_BLOCKS
    _allow_rejoin_payloads = True

    def end_block(self) -> Optional[Tuple[BaseSynchronizedData, Enum]]:
        """Close as a collection round; the agents joining the service here become participants."""
        result = super().end_block()
        if result is None:
            return None
        synchronized_data, event = result
        active = set(self.synchronized_data.participants)
        joined = sorted(set(self.collection) - active)
        if not joined:
            return result
        self.context.logger.info(f"{joined} join the service at this key epoch")
        updated = synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            participants=tuple(sorted(active.union(joined))),
        )
        return updated, event

    def check_payload(self, payload: KeyExchangePayload) -> None:  # type: ignore[override]
        """Refuse anything but a 32-byte hex key: one bad key would stall every agent's key sharing."""
        super().check_payload(payload)
        try:
            key = bytes.fromhex(payload.box_public_key)
        except ValueError as error:
            raise TransactionNotValidError(
                f"box public key of {payload.sender} is not hex"
            ) from error
        if len(key) != BOX_PUBLIC_KEY_BYTES:
            raise TransactionNotValidError(
                f"box public key of {payload.sender} has {len(key)} bytes, not {BOX_PUBLIC_KEY_BYTES}"
            )


class DealingCommitRound(KeyHolderCollectionRound):
    """Every key holder commits to its dealing: no dealer can choose its dealing from another's."""

    payload_class = DealingCommitPayload
    collection_key = get_name(SynchronizedData.dealing_commitments)
    required_block_confirmations = KEY_GENERATION_LATE_BLOCKS

    def check_payload(self, payload: DealingCommitPayload) -> None:  # type: ignore[override]
        """Refuse a commitment that is not a SHA-256 hex digest."""
        super().check_payload(payload)
        if not is_digest_hex(payload.dealing_commitment):
            raise TransactionNotValidError(
                f"dealing commitment of {payload.sender} is not a SHA-256 hex digest"
            )


class DealingRevealRound(KeyHolderCollectionRound):
    """Dealers reveal their committed dealings (IPFS content id and digest)."""

    payload_class = DealingRevealPayload
    collection_key = get_name(SynchronizedData.dealing_reveals)
    required_block_confirmations = KEY_GENERATION_LATE_BLOCKS

    def eligible(self) -> List[str]:
        """Only dealers whose commitment was agreed."""
        return sorted(cast(SynchronizedData, self.synchronized_data).dealing_commitments)


class ComplaintRound(KeyHolderCollectionRound):
    """Each recipient names the dealers whose sub-share for it does not open or match the public images."""

    payload_class = ComplaintPayload
    collection_key = get_name(SynchronizedData.complaints)
    required_block_confirmations = KEY_GENERATION_LATE_BLOCKS

    def check_payload(self, payload: ComplaintPayload) -> None:  # type: ignore[override]
        """Refuse anything but distinct revealed dealers other than the complainer."""
        super().check_payload(payload)
        if not payload.complaints:
            return
        accused = payload.complaints.split(",")
        revealed = cast(SynchronizedData, self.synchronized_data).dealing_reveals
        if (
            len(set(accused)) != len(accused)
            or payload.sender in accused
            or not set(accused) <= set(revealed)
        ):
            raise TransactionNotValidError(
                f"complaints of {payload.sender} must name distinct revealed dealers other than itself"
            )


class JustificationRound(KeyHolderCollectionRound):
    """Accused dealers publish the disputed sub-shares in the clear; anyone checks them against the images."""

    payload_class = JustificationPayload
    collection_key = get_name(SynchronizedData.justifications)
    required_block_confirmations = KEY_GENERATION_LATE_BLOCKS

    def check_payload(self, payload: JustificationPayload) -> None:  # type: ignore[override]
        """Refuse a content id without its digest (or the reverse) or a digest that is not SHA-256 hex."""
        super().check_payload(payload)
        cid, digest = payload.justifications_cid, payload.justifications_digest
        if (cid is None) != (digest is None) or (
            digest is not None and not is_digest_hex(digest)
        ):
            raise TransactionNotValidError(
                f"justifications of {payload.sender} need a content id and a SHA-256 hex digest"
            )


class JointKeyRound(EligibleSendersMixin, CollectSameUntilThresholdRound):
    """Key holders vote on QUAL and the joint public key they each derived; agreement starts training."""

    payload_class = JointKeyPayload
    synchronized_data_class = SynchronizedData
    done_event = Event.START_TRAINING
    no_majority_event = Event.KEY_GENERATION_FAILED
    none_event = Event.KEY_GENERATION_FAILED
    collection_key = get_name(SynchronizedData.joint_key_votes)
    selection_key = (
        get_name(SynchronizedData.joint_public_key_digest),
        get_name(SynchronizedData.qualified_dealers),
    )

    def end_block(self) -> Optional[Tuple[BaseSynchronizedData, Enum]]:
        """Start the next key epoch (its number and first period); also write the global model's state,
        so every key persisted across periods exists."""
        result = super().end_block()
        if result is None or result[1] != self.done_event:
            return result
        synchronized_data, event = result
        data = cast(SynchronizedData, synchronized_data)
        persisted = synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            **{
                get_name(SynchronizedData.key_epoch): data.key_epoch + 1,
                get_name(SynchronizedData.key_epoch_start_period): data.period_count,
                get_name(
                    SynchronizedData.global_model_digest
                ): data.global_model_digest,
                get_name(SynchronizedData.global_round): data.global_round,
                get_name(
                    SynchronizedData.last_accepted_period
                ): data.last_accepted_period,
                get_name(
                    SynchronizedData.accepted_round_record
                ): data.accepted_round_record,
                get_name(SynchronizedData.final_round_record): data.final_round_record,
                get_name(SynchronizedData.settlement_failure): data.settlement_failure,
            },
        )
        return persisted, event


class KeyEpochCheckRound(CollectDifferentUntilThresholdRound):
    """At the start of each period, agents report whether the key epoch must end; the agreed reports decide.

    A reason counts once at least f + 1 agents report it (so at least one honest agent saw it): the key
    epoch's periods are used up (`key_epoch_periods`), or the last period's decryption failed or could
    not be verified. Then a new key generation starts (ROTATE_KEY), else training does (DONE). A check that
    does not complete in time also rotates (ROTATE_KEY is its timeout event too): the safe side.
    """

    payload_class = KeyEpochCheckPayload
    synchronized_data_class = SynchronizedData
    done_event = Event.DONE
    collection_key = get_name(SynchronizedData.key_epoch_reports)
    required_block_confirmations = LATE_PAYLOAD_BLOCKS

    def end_block(self) -> Optional[Tuple[BaseSynchronizedData, Enum]]:
        """Rotate the key if enough agents report a reason; record the agreed reason either way."""
        result = super().end_block()
        if result is None or result[1] != self.done_event:
            return result
        synchronized_data, _ = result
        # f + 1 of the service's agents, all participants counted: while some of them are not active yet
        # (registration closed without them) a single agent must not rotate the key alone.
        reason = rotation_reason(
            cast(SynchronizedData, synchronized_data),
            self.synchronized_data.max_participants
            - self.synchronized_data.consensus_threshold
            + 1,
        )
        updated = synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            **{get_name(SynchronizedData.key_rotation_reason): reason},
        )
        return updated, Event.ROTATE_KEY if reason else Event.DONE


def rotation_reason(data: SynchronizedData, quorum: int) -> str:
    """The reasons at least `quorum` agents reported for ending the key epoch ('' if none)."""
    reports = data.key_epoch_reports.values()
    reasons = []
    if sum(report.key_epoch_over for report in reports) >= quorum:
        reasons.append(f"key epoch {data.key_epoch} used up its periods")
    if sum(report.decryption_failed for report in reports) >= quorum:
        reasons.append(f"the decryption of period {data.period_count - 1} failed")
    return "; ".join(reasons)


class TrainingRound(KeyHolderCollectionRound):
    """Key holders report their trained local models and commit to their encrypted updates.

    The threshold of reports closes the round. A report must start from the agreed global model:
    an update computed against a stale model is refused here, before anything is revealed.
    """

    payload_class = TrainingPayload
    done_event = Event.DONE_TRAINING
    collection_key = get_name(SynchronizedData.training_reports)

    def check_payload(self, payload: TrainingPayload) -> None:  # type: ignore[override]
        """Refuse a stale base model or a commitment that is not a SHA-256 digest."""
        super().check_payload(payload)
        agreed = cast(SynchronizedData, self.synchronized_data).global_model_digest
        if payload.base_model_digest != agreed:
            raise TransactionNotValidError(
                f"{payload.sender} trained from model {payload.base_model_digest!r}, "
                f"the agreed global model is {agreed!r}"
            )
        if not is_digest_hex(payload.update_commitment):
            raise TransactionNotValidError(
                f"update commitment of {payload.sender} is not a SHA-256 hex digest"
            )


class SubmitUpdateRound(KeyHolderCollectionRound):
    """Agents that committed to an update reveal it (IPFS content id and digest); every agent checks
    each revealed blob against its commitment before aggregating."""

    payload_class = SubmitUpdatePayload
    collection_key = get_name(SynchronizedData.submitted_updates)

    def eligible(self) -> List[str]:
        """Only agents that reported a trained model this period."""
        return sorted(cast(SynchronizedData, self.synchronized_data).training_reports)


class AggregationRound(EligibleSendersMixin, CollectSameUntilThresholdRound):
    """Agents vote on the encrypted average of the valid updates and on which updates it includes."""

    payload_class = AggregationPayload
    synchronized_data_class = SynchronizedData
    done_event = Event.DONE
    no_majority_event = Event.NO_MAJORITY
    none_event = Event.NO_MAJORITY
    collection_key = get_name(SynchronizedData.aggregation_votes)
    selection_key = (
        get_name(SynchronizedData.aggregate_digest),
        get_name(SynchronizedData.included_updates),
        get_name(SynchronizedData.excluded_updates),
    )


class DecryptionShareRound(KeyHolderCollectionRound):
    """Every key holder publishes its decryption share of the agreed sum, sealed to the key holders;
    the threshold of them closes the round (late ones still count for a few blocks)."""

    payload_class = DecryptionSharePayload
    collection_key = get_name(SynchronizedData.decryption_shares)


class GlobalModelVoteRound(CollectSameUntilThresholdRound):
    """Agents vote on the decrypted new global model; a quorum accepts it. Votes count by their selection
    (digest, round, weight commitment): each voter's model envelope is its own and goes into the round record."""

    payload_class = GlobalModelVotePayload
    synchronized_data_class = SynchronizedData
    done_event = Event.DONE_UPDATE
    no_majority_event = Event.NO_MAJORITY
    none_event = Event.NO_MAJORITY
    collection_key = get_name(SynchronizedData.global_model_votes)
    selection_key = (
        get_name(SynchronizedData.global_model_digest),
        get_name(SynchronizedData.global_round),
        get_name(SynchronizedData.weight_commitment),
    )

    def check_payload(self, payload: GlobalModelVotePayload) -> None:  # type: ignore[override]
        """Refuse a vote for a model without its envelope (content id and SHA-256 hex digest), or a rejection
        with one."""
        super().check_payload(payload)
        cid, digest = payload.model_envelope_cid, payload.model_envelope_digest
        if payload.global_model_digest is None:
            if cid is not None or digest is not None:
                raise TransactionNotValidError(f"the rejection of {payload.sender} names a model envelope")
        elif not cid or digest is None or not is_digest_hex(digest):
            raise TransactionNotValidError(
                f"the vote of {payload.sender} needs its model envelope's content id and SHA-256 hex digest"
            )

    @property
    def payload_values_count(self) -> Counter:
        """How many voters cast each selection."""
        return Counter(payload.selection for payload in cast(List[GlobalModelVotePayload], self.payloads))

    def check_majority_possible(
        self,
        votes_by_participant: Dict[str, BaseTxPayload],
        nb_participants: int,
        exception_cls: Type[ABCIAppException] = ABCIAppException,
    ) -> None:
        """As for any vote, on the votes' selections: the envelopes differ from voter to voter."""
        selections = {
            sender: replace(cast(GlobalModelVotePayload, vote), model_envelope_cid=None, model_envelope_digest=None)
            for sender, vote in votes_by_participant.items()
        }
        super().check_majority_possible(selections, nb_participants, exception_cls)

    def end_block(self) -> Optional[Tuple[BaseSynchronizedData, Enum]]:
        """On acceptance, also record the round: period, digests, content ids and contributors."""
        result = super().end_block()
        if result is None or result[1] != self.done_event:
            return result
        synchronized_data, event = result
        accepted = cast(SynchronizedData, synchronized_data)
        period = self.synchronized_data.period_count
        updated = synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            **{
                get_name(SynchronizedData.last_accepted_period): period,
                get_name(SynchronizedData.accepted_round_record): round_record(
                    accepted, period
                ),
            },
        )
        return updated, event


def round_record(data: SynchronizedData, period: int) -> Dict[str, Any]:
    """The public record of an accepted round (JSON-serialisable, identical for every agent)."""
    submitted, reports = data.submitted_updates, data.training_reports
    return {
        "global_round": data.global_round,
        "period": period,
        "global_model_digest": data.global_model_digest,
        "global_model_envelopes": accepted_model_envelopes(data),
        "key_epoch": data.key_epoch,
        "weight_commitment": data.weight_commitment,
        "joint_public_key_digest": data.joint_public_key_digest,
        "qualified_dealers": data.qualified_dealers,
        "aggregate_digest": data.aggregate_digest,
        "included_updates": {
            sender: {
                "cid": submitted[sender].update_cid,
                "digest": submitted[sender].update_digest,
                "commitment": reports[sender].update_commitment,
                "sample_count": reports[sender].sample_count,
            }
            for sender in data.included_updates
        },
        "excluded_updates": data.excluded_updates,
        "decryption_shares": {
            sender: {"cid": share.shares_cid, "digest": share.shares_digest}
            for sender, share in sorted(data.decryption_shares.items())
        },
    }


def accepted_model_envelopes(data: SynchronizedData) -> Dict[str, Dict[str, str]]:
    """Where each voter for the accepted model put its envelope of it (content id and digest), by voter."""
    accepted = (data.global_model_digest, data.global_round, data.weight_commitment)
    return {
        sender: {"cid": str(vote.model_envelope_cid), "digest": str(vote.model_envelope_digest)}
        for sender, vote in sorted(data.global_model_votes.items())
        if vote.selection == accepted
    }


class PrepareSettlementRound(CollectSameUntilThresholdRound):
    """Agents agree on the Safe transaction that records the accepted round in the ModelRegistry."""

    payload_class = PrepareSettlementPayload
    synchronized_data_class = SynchronizedData
    done_event = Event.DONE
    no_majority_event = Event.SETTLEMENT_FAILED
    none_event = Event.SETTLEMENT_FAILED
    collection_key = get_name(SynchronizedData.settlement_preparations)
    selection_key = get_name(SynchronizedData.most_voted_tx_hash)


class FinalizeModelRound(CollectSameUntilThresholdRound):
    """The settlement was validated on chain: the accepted model becomes final, with its tx hash."""

    payload_class = FinalizeModelPayload
    synchronized_data_class = SynchronizedData
    done_event = Event.DONE
    no_majority_event = Event.SETTLEMENT_RETRY
    none_event = Event.SETTLEMENT_RETRY
    collection_key = get_name(SynchronizedData.finalize_model_votes)
    selection_key = get_name(SynchronizedData.settlement_tx_hash)

    def end_block(self) -> Optional[Tuple[BaseSynchronizedData, Enum]]:
        """Make the accepted round record final, with the settlement tx hash in it."""
        result = super().end_block()
        if result is None or result[1] != self.done_event:
            return result
        synchronized_data, event = result
        data = cast(SynchronizedData, synchronized_data)
        final = {
            **data.accepted_round_record,
            "settlement_tx_hash": data.settlement_tx_hash,
        }
        updated = synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            **{
                get_name(SynchronizedData.accepted_round_record): final,
                get_name(SynchronizedData.final_round_record): final,
                get_name(SynchronizedData.settlement_failure): "",
            },
        )
        return updated, event


class SettlementFailedRound(CollectSameUntilThresholdRound):
    """The settlement failed: the period ends incomplete and the next one retries from the last final model."""

    payload_class = SettlementFailedPayload
    synchronized_data_class = SynchronizedData
    done_event = Event.DONE
    no_majority_event = Event.SETTLEMENT_RETRY
    none_event = Event.SETTLEMENT_RETRY
    collection_key = get_name(SynchronizedData.settlement_failure_votes)
    selection_key = get_name(SynchronizedData.settlement_failure)

    def end_block(self) -> Optional[Tuple[BaseSynchronizedData, Enum]]:
        """Roll the accepted model back to the last final one (the reason stays in the data)."""
        result = super().end_block()
        if result is None or result[1] != self.done_event:
            return result
        synchronized_data, event = result
        final = cast(SynchronizedData, synchronized_data).final_round_record
        updated = synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            **{
                get_name(SynchronizedData.global_model_digest): final.get(
                    "global_model_digest", NO_GLOBAL_MODEL
                ),
                get_name(SynchronizedData.global_round): final.get("global_round", 0),
                get_name(SynchronizedData.last_accepted_period): final.get(
                    "period", -1
                ),
                get_name(SynchronizedData.accepted_round_record): final,
            },
        )
        return updated, event


class FinishedSettlementPreparationRound(DegenerateRound):
    """The Safe transaction is agreed; valory's transaction settlement takes over."""


class FinishedUpdateGlobalModelRound(DegenerateRound):
    """The update is over (accepted, no majority or timed out); the period closes."""


PERSISTED_KEYS: FrozenSet[str] = frozenset(
    {
        get_name(SynchronizedData.key_exchange),
        get_name(SynchronizedData.joint_public_key_digest),
        get_name(SynchronizedData.qualified_dealers),
        get_name(SynchronizedData.key_epoch),
        get_name(SynchronizedData.key_epoch_start_period),
        get_name(SynchronizedData.global_model_digest),
        get_name(SynchronizedData.global_round),
        get_name(SynchronizedData.last_accepted_period),
        get_name(SynchronizedData.accepted_round_record),
        get_name(SynchronizedData.final_round_record),
        get_name(SynchronizedData.settlement_failure),
    }
)

UPDATE_ROUNDS: Tuple[Type[AppState], ...] = (
    SubmitUpdateRound,
    AggregationRound,
    DecryptionShareRound,
    GlobalModelVoteRound,
)


class SmpcMnistClassifierAbciApp(AbciApp[Event]):
    """SmpcMnistClassifierAbciApp

    Initial round: KeyExchangeRound

    Initial states: {FinalizeModelRound, KeyEpochCheckRound, KeyExchangeRound, SettlementFailedRound}

    Transition states:
        0. KeyExchangeRound
            - done: 1.
            - key generation timeout: 0.
        1. DealingCommitRound
            - done: 2.
            - key generation timeout: 0.
        2. DealingRevealRound
            - done: 3.
            - key generation timeout: 0.
        3. ComplaintRound
            - done: 4.
            - key generation timeout: 0.
        4. JustificationRound
            - done: 5.
            - key generation timeout: 0.
        5. JointKeyRound
            - start training: 7.
            - key generation failed: 0.
            - key generation timeout: 0.
        6. KeyEpochCheckRound
            - done: 7.
            - rotate key: 0.
        7. TrainingRound
            - done training: 8.
            - training timeout: 0.
        8. SubmitUpdateRound
            - done: 9.
            - update timeout: 16.
        9. AggregationRound
            - done: 10.
            - no majority: 16.
            - update timeout: 16.
        10. DecryptionShareRound
            - done: 11.
            - update timeout: 16.
        11. GlobalModelVoteRound
            - done update: 12.
            - no majority: 16.
            - update timeout: 16.
        12. PrepareSettlementRound
            - done: 15.
            - settlement failed: 14.
            - settlement timeout: 14.
        13. FinalizeModelRound
            - done: 16.
            - settlement retry: 13.
            - settlement timeout: 13.
        14. SettlementFailedRound
            - done: 16.
            - settlement retry: 14.
            - settlement timeout: 14.
        15. FinishedSettlementPreparationRound
        16. FinishedUpdateGlobalModelRound

    Final states: {FinishedSettlementPreparationRound, FinishedUpdateGlobalModelRound}

    Timeouts:
        key generation timeout: 60.0
        training timeout: 60.0
        update timeout: 60.0
        settlement timeout: 60.0
        rotate key: 60.0
    """

    initial_round_cls: AppState = KeyExchangeRound
    initial_states: Set[AppState] = {
        KeyExchangeRound,
        KeyEpochCheckRound,
        FinalizeModelRound,
        SettlementFailedRound,
    }
    transition_function: AbciAppTransitionFunction = {
        KeyExchangeRound: {
            Event.DONE: DealingCommitRound,
            Event.KEY_GENERATION_TIMEOUT: KeyExchangeRound,
        },
        DealingCommitRound: {
            Event.DONE: DealingRevealRound,
            Event.KEY_GENERATION_TIMEOUT: KeyExchangeRound,
        },
        DealingRevealRound: {
            Event.DONE: ComplaintRound,
            Event.KEY_GENERATION_TIMEOUT: KeyExchangeRound,
        },
        ComplaintRound: {
            Event.DONE: JustificationRound,
            Event.KEY_GENERATION_TIMEOUT: KeyExchangeRound,
        },
        JustificationRound: {
            Event.DONE: JointKeyRound,
            Event.KEY_GENERATION_TIMEOUT: KeyExchangeRound,
        },
        JointKeyRound: {
            Event.START_TRAINING: TrainingRound,
            Event.KEY_GENERATION_FAILED: KeyExchangeRound,
            Event.KEY_GENERATION_TIMEOUT: KeyExchangeRound,
        },
        KeyEpochCheckRound: {
            Event.DONE: TrainingRound,
            Event.ROTATE_KEY: KeyExchangeRound,
        },
        TrainingRound: {
            Event.DONE_TRAINING: SubmitUpdateRound,
            Event.TRAINING_TIMEOUT: KeyExchangeRound,
        },
        SubmitUpdateRound: {
            Event.DONE: AggregationRound,
            Event.UPDATE_TIMEOUT: FinishedUpdateGlobalModelRound,
        },
        AggregationRound: {
            Event.DONE: DecryptionShareRound,
            Event.NO_MAJORITY: FinishedUpdateGlobalModelRound,
            Event.UPDATE_TIMEOUT: FinishedUpdateGlobalModelRound,
        },
        DecryptionShareRound: {
            Event.DONE: GlobalModelVoteRound,
            Event.UPDATE_TIMEOUT: FinishedUpdateGlobalModelRound,
        },
        GlobalModelVoteRound: {
            Event.DONE_UPDATE: PrepareSettlementRound,
            Event.NO_MAJORITY: FinishedUpdateGlobalModelRound,
            Event.UPDATE_TIMEOUT: FinishedUpdateGlobalModelRound,
        },
        PrepareSettlementRound: {
            Event.DONE: FinishedSettlementPreparationRound,
            Event.SETTLEMENT_FAILED: SettlementFailedRound,
            Event.SETTLEMENT_TIMEOUT: SettlementFailedRound,
        },
        FinalizeModelRound: {
            Event.DONE: FinishedUpdateGlobalModelRound,
            Event.SETTLEMENT_RETRY: FinalizeModelRound,
            Event.SETTLEMENT_TIMEOUT: FinalizeModelRound,
        },
        SettlementFailedRound: {
            Event.DONE: FinishedUpdateGlobalModelRound,
            Event.SETTLEMENT_RETRY: SettlementFailedRound,
            Event.SETTLEMENT_TIMEOUT: SettlementFailedRound,
        },
        FinishedSettlementPreparationRound: {},
        FinishedUpdateGlobalModelRound: {},
    }
    final_states: Set[AppState] = {
        FinishedSettlementPreparationRound,
        FinishedUpdateGlobalModelRound,
    }
    event_to_timeout: Dict[Event, float] = {
        Event.KEY_GENERATION_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
        Event.TRAINING_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
        Event.UPDATE_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
        Event.SETTLEMENT_TIMEOUT: DEFAULT_TIMEOUT_SECONDS,
        # a key epoch check that does not complete in time ends the key epoch: the safe side
        Event.ROTATE_KEY: DEFAULT_TIMEOUT_SECONDS,
    }
    cross_period_persisted_keys: FrozenSet[str] = PERSISTED_KEYS
    db_pre_conditions: Dict[AppState, Set[str]] = {
        KeyExchangeRound: set(),
        KeyEpochCheckRound: {
            get_name(SynchronizedData.key_exchange),
            get_name(SynchronizedData.joint_public_key_digest),
            get_name(SynchronizedData.qualified_dealers),
        },
        FinalizeModelRound: {get_name(SynchronizedData.final_tx_hash)},
        SettlementFailedRound: set(),
    }
    db_post_conditions: Dict[AppState, Set[str]] = {
        FinishedSettlementPreparationRound: {
            get_name(SynchronizedData.most_voted_tx_hash)
        },
        FinishedUpdateGlobalModelRound: {get_name(SynchronizedData.training_reports)},
    }


# The name the service documents for its FSM app (autonomy's tooling wants the `AbciApp` suffix).
SmpcMnistClassifierApp = SmpcMnistClassifierAbciApp
