"""Rounds of the SMPC MNIST app, driven with open-autonomy's round test tools.

Four participants (agent_0..agent_3, consensus threshold 3). Payloads are delivered the way Tendermint's
deliver_tx does it: check_payload (which may refuse with TransactionNotValidError) then process_payload.
Collection rounds wait LATE_PAYLOAD_BLOCKS blocks after their threshold, so late payloads still count.
"""

import datetime
from types import SimpleNamespace
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from unittest.mock import MagicMock

import pytest

from packages.valory.skills.abstract_round_abci.base import (
    AbciAppDB,
    AbstractRound,
    BaseSynchronizedData,
    BaseTxPayload,
    CollectionRound,
    TransactionNotValidError,
    get_name,
)
from packages.valory.skills.abstract_round_abci.test_tools.rounds import (
    BaseCollectSameUntilThresholdRoundTest,
    BaseRoundTestClass,
)
from packages.valory.skills.registration_abci.payloads import RegistrationPayload
from packages.valory.skills.registration_abci.rounds import Event as RegistrationEvent
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    AggregationPayload,
    DecryptionSharePayload,
    FinalizeModelPayload,
    GlobalModelVotePayload,
    JointKeyPayload,
    KeyEpochCheckPayload,
    KeyExchangePayload,
    ComplaintPayload,
    DealingCommitPayload,
    DealingRevealPayload,
    JustificationPayload,
    PrepareSettlementPayload,
    SettlementFailedPayload,
    SubmitUpdatePayload,
    TrainingPayload,
)
from packages.valory.skills.smpc_mnist_classifier.rounds import (
    KEY_GENERATION_LATE_BLOCKS,
    LATE_PAYLOAD_BLOCKS,
    NO_GLOBAL_MODEL,
    PERSISTED_KEYS,
    AggregationRound,
    DecryptionShareRound,
    Event,
    FinalizeModelRound,
    GlobalModelVoteRound,
    JointKeyRound,
    KeyEpochCheckRound,
    KeyExchangeRound,
    ComplaintRound,
    DealingCommitRound,
    DealingRevealRound,
    JustificationRound,
    PrepareSettlementRound,
    RegistrationStartupRound,
    SettlementFailedRound,
    SubmitUpdateRound,
    SmpcMnistClassifierAbciApp,
    SynchronizedData,
    TrainingRound,
    round_record,
)

JOINT_KEY = "11" * 32
OTHER_JOINT_KEY = "12" * 32
AGGREGATE = "ab" * 32
OTHER_AGGREGATE = "cd" * 32
MODEL = "ef" * 32
COMMITMENT = "c0" * 32
OTHER_MODEL = "e0" * 32
WEIGHTS = "c1" * 64  # a model's weight commitment (x || y)
ENVELOPE_DIGEST = "e1" * 32  # a model envelope's digest (each voter's envelope is its own blob)
QUAL = "agent_0,agent_1,agent_2,agent_3"
EXCLUDED = '{"agent_1": "commitment-mismatch"}'
# Enough end_block calls for any collection round to close once its threshold is reached.
PATIENCE = max(LATE_PAYLOAD_BLOCKS, KEY_GENERATION_LATE_BLOCKS) + 5


def report(
    sender: str,
    sample_count: int = 10,
    base_model_digest: str = NO_GLOBAL_MODEL,
    update_commitment: str = COMMITMENT,
) -> TrainingPayload:
    """A training report that starts from the initial model and commits to an update."""
    return TrainingPayload(
        sender,
        local_model_digest=MODEL,
        sample_count=sample_count,
        base_model_digest=base_model_digest,
        update_commitment=update_commitment,
    )


def cast_data(data: Any) -> SynchronizedData:
    """Read synchronized data through this app's typed view."""
    return SynchronizedData(db=data.db)


def serialized(payloads: Iterable[BaseTxPayload]) -> Dict[str, Any]:
    """A collection as a collection round stores it in the db."""
    return CollectionRound.serialize_collection({payload.sender: payload for payload in payloads})


def deliver(test_round: AbstractRound, payload: BaseTxPayload) -> None:
    """Deliver a payload as deliver_tx does: check it, then process it."""
    test_round.check_payload(payload)
    test_round.process_payload(payload)


class SmpcRoundTest(BaseRoundTestClass):
    """Shared set-up: the four test participants and helpers to build this app's synchronized data."""

    _synchronized_data_class = SynchronizedData
    _event_class = Event

    def setup_method(self) -> None:
        """The tool's four participants, in a db that carries PERSISTED_KEYS across periods as the app's does."""
        super().setup_method()
        participants = tuple(self.participants)
        self.synchronized_data = SynchronizedData(
            db=AbciAppDB(
                setup_data=dict(
                    participants=[participants],
                    all_participants=[participants],
                    consensus_threshold=[3],
                    safe_contract_address=["test_address"],
                    final_round_record=[{}],
                    settlement_failure=[""],
                ),
                cross_period_persisted_keys=PERSISTED_KEYS,
            )
        )

    @property
    def agents(self) -> List[str]:
        """The participants in address order (agent_0..agent_3), i.e. party indices 1..4."""
        return sorted(self.participants)

    def data_with(self, base: Optional[BaseSynchronizedData] = None, **values: Any) -> SynchronizedData:
        """`base` (default: the fresh test data) updated with `values`."""
        source = self.synchronized_data if base is None else base
        return cast_data(source.update(synchronized_data_class=SynchronizedData, **values))

    def with_persisted_keys(self, base: Optional[BaseSynchronizedData] = None, **values: Any) -> SynchronizedData:
        """`base` with a value for every key persisted across periods (key epoch 1 agreed in period 0), so
        create() can start a later period; `values` override them."""
        persisted = dict(
            joint_public_key_digest=JOINT_KEY,
            qualified_dealers=QUAL,
            key_epoch=1,
            key_epoch_start_period=0,
            global_model_digest=NO_GLOBAL_MODEL,
            global_round=0,
            last_accepted_period=-1,
            accepted_round_record={},
        )
        return self.data_with(base, **{**persisted, **values})

    def with_key_holders(self, holders: Sequence[str], base: Optional[BaseSynchronizedData] = None) -> SynchronizedData:
        """Synchronized data in which `holders` joined the key epoch."""
        exchange = [
            KeyExchangePayload(sender, box_public_key=f"{index:02x}" * 32) for index, sender in enumerate(holders)
        ]
        return self.data_with(base, key_exchange=serialized(exchange))

    def with_key_material(self, holders: Sequence[str]) -> SynchronizedData:
        """Key holders that committed to and revealed their dealings, without complaints (what JointKeyRound
        starts from)."""
        return self.data_with(
            self.with_key_holders(holders),
            dealing_commitments=serialized(DealingCommitPayload(sender, "01" * 32) for sender in holders),
            dealing_reveals=serialized(DealingRevealPayload(sender, f"dl-{sender}", "02" * 32) for sender in holders),
            complaints=serialized(ComplaintPayload(sender, "") for sender in holders),
            justifications=serialized(JustificationPayload(sender, None, None) for sender in holders),
        )

    def completed_update(self, base: Optional[BaseSynchronizedData] = None) -> SynchronizedData:
        """A period that got as far as the vote: keys, reports, updates, the agreed average and its shares."""
        agents = self.agents
        data = self.with_key_holders(agents, base)
        reports = [report(sender, sample_count=10 * i) for i, sender in enumerate(agents, start=1)]
        updates = [
            SubmitUpdatePayload(sender, update_cid=f"upd-{sender}", update_digest=f"{i:02x}" * 32)
            for i, sender in enumerate(agents, start=1)
        ]
        votes = [AggregationPayload(sender, AGGREGATE, "agent_0,agent_2,agent_3", EXCLUDED) for sender in agents]
        shares = [
            DecryptionSharePayload(sender, f"dec-{sender}", f"{i + 5:02x}" * 32) for i, sender in enumerate(agents)
        ]
        return self.data_with(
            data,
            joint_public_key_digest=JOINT_KEY,
            qualified_dealers=QUAL,
            training_reports=serialized(reports),
            submitted_updates=serialized(updates),
            aggregation_votes=serialized(votes),
            aggregate_digest=AGGREGATE,
            included_updates="agent_0,agent_2,agent_3",
            excluded_updates=EXCLUDED,
            decryption_shares=serialized(reversed(shares[:3])),
        )

    @staticmethod
    def end_after_confirmations(test_round: AbstractRound, blocks: int) -> Optional[Tuple]:
        """Call end_block once per block; return the first non-None result."""
        for _ in range(blocks):
            result = test_round.end_block()
            if result is not None:
                return result
        return None

    @staticmethod
    def blocks_until_done(test_round: AbstractRound, limit: int = PATIENCE) -> Tuple[int, Tuple]:
        """How many end_block calls the round needs to close, and its result."""
        for block in range(1, limit + 1):
            result = test_round.end_block()
            if result is not None:
                return block, result
        raise AssertionError(f"{type(test_round).__name__} did not close within {limit} blocks")


# Tendermint stamps block 1 with the genesis time, set when the network was configured (here: long before).
GENESIS_TIME = datetime.datetime(2022, 5, 20, 16, 0, 21)
CHAIN_START = datetime.datetime(2026, 11, 27, 18, 0, 0)
DEADLINE_SECONDS = 60.0
SETUP = "setup data A"
OTHER_SETUP = "setup data B"


class TestRegistrationStartupRound(SmpcRoundTest):
    """Registration at startup: every participant, or registration_min_agents of them once the deadline, counted
    in block time from the chain's second block, passed; only registrations with the same setup data count."""

    def registration(self, min_agents: Optional[int]) -> RegistrationStartupRound:
        """The startup round of the four test participants with a registration minimum (None: all of them)."""
        context = MagicMock()
        context.params.registration_min_agents = min_agents
        context.params.registration_deadline_seconds = DEADLINE_SECONDS
        context.params.use_slashing = False
        return RegistrationStartupRound(synchronized_data=self.synchronized_data, context=context)

    @staticmethod
    def register(test_round: RegistrationStartupRound, senders: Sequence[str], setup: str = SETUP) -> None:
        """`senders` register with `setup` as their setup data."""
        for sender in senders:
            deliver(test_round, RegistrationPayload(sender, initialisation=setup))

    @staticmethod
    def block(test_round: RegistrationStartupRound, height: int, seconds: float) -> Optional[Tuple]:
        """End block `height`, stamped `seconds` after the chain's start (block 2's time; block 1 carries the
        genesis time)."""
        round_sequence = test_round.context.state.round_sequence
        round_sequence.height = height
        round_sequence.last_timestamp = (
            GENESIS_TIME if height == 1 else CHAIN_START + datetime.timedelta(seconds=seconds)
        )
        return test_round.end_block()

    def blocks_until(self, test_round: RegistrationStartupRound, last_second: int) -> Optional[Tuple]:
        """The genesis block, then one block a second up to `last_second` after the chain's start; the first result."""
        result = self.block(test_round, 1, 0)
        for second in range(last_second + 1):
            if result is not None:
                return result
            result = self.block(test_round, second + 2, second)
        return result

    @pytest.mark.parametrize("min_agents", [None, 3, 4])
    def test_every_participant_registered_closes_the_round_at_once(self, min_agents: Optional[int]) -> None:
        """Four of four: done in the genesis block whatever the minimum, all four active, the setup data synced."""
        test_round = self.registration(min_agents)
        self.register(test_round, self.agents)
        synchronized_data, event = self.block(test_round, 1, 0)
        assert event == RegistrationEvent.DONE
        assert synchronized_data.participants == frozenset(self.agents)
        test_round.context.state.round_sequence.sync_db_and_slashing.assert_called_once_with(SETUP)

    def test_below_the_minimum_the_round_never_closes(self) -> None:
        """Two of a minimum of three: the deadline long passed, still registering."""
        test_round = self.registration(3)
        self.register(test_round, self.agents[:2])
        assert self.blocks_until(test_round, int(10 * DEADLINE_SECONDS)) is None

    def test_the_minimum_closes_the_round_only_once_the_deadline_passed(self) -> None:
        """Three of four: nothing before 60 s of block time after the chain's start (block 1's genesis time does not
        count), done in the first block at or past it, with the three active and a log naming the fourth."""
        test_round = self.registration(3)
        self.register(test_round, self.agents[:3])
        assert self.blocks_until(test_round, int(DEADLINE_SECONDS) - 1) is None
        synchronized_data, event = self.block(test_round, int(DEADLINE_SECONDS) + 2, DEADLINE_SECONDS)
        assert event == RegistrationEvent.DONE
        assert synchronized_data.participants == frozenset(self.agents[:3])
        test_round.context.logger.info.assert_called_once_with(
            f"Registration closed at its deadline with 3 agents; {[self.agents[3]]} join at the next key epoch"
        )

    def test_a_latecomer_before_the_deadline_is_still_registered(self) -> None:
        """The fourth registers before the deadline: done at once with all four."""
        test_round = self.registration(3)
        self.register(test_round, self.agents[:3])
        assert self.blocks_until(test_round, 30) is None
        self.register(test_round, self.agents[3:])
        synchronized_data, event = self.block(test_round, 33, 31)
        assert event == RegistrationEvent.DONE
        assert synchronized_data.participants == frozenset(self.agents)

    def test_without_a_minimum_the_deadline_changes_nothing(self) -> None:
        """registration_min_agents null (the default): valory's rule, every participant, however long it takes."""
        test_round = self.registration(None)
        self.register(test_round, self.agents[:3])
        assert self.blocks_until(test_round, int(10 * DEADLINE_SECONDS)) is None

    def test_different_setup_data_do_not_count_together(self) -> None:
        """An agent configured differently is refused and does not count toward the minimum: two alike stay below
        it past the deadline; a third alike closes the round without the different one."""
        test_round = self.registration(3)
        self.register(test_round, self.agents[:2])
        with pytest.raises(TransactionNotValidError, match="not the same"):
            test_round.check_payload(RegistrationPayload(self.agents[2], initialisation=OTHER_SETUP))
        assert self.blocks_until(test_round, int(2 * DEADLINE_SECONDS)) is None
        self.register(test_round, self.agents[3:])
        synchronized_data, event = self.block(test_round, 200, 2 * DEADLINE_SECONDS + 1)
        assert event == RegistrationEvent.DONE
        assert synchronized_data.participants == frozenset(self.agents[:2] + self.agents[3:])


class TestKeyExchangeRound(SmpcRoundTest):
    """Agents join the key epoch with a box key; the threshold closes the round after the late-payload blocks."""

    def test_threshold_then_late_payload_closes_with_done(self) -> None:
        """Three joiners reach the threshold; a fourth arriving during the confirmation blocks is still a key holder."""
        test_round = KeyExchangeRound(synchronized_data=self.synchronized_data, context=MagicMock())
        early, late = self.agents[:3], self.agents[3]
        for sender in reversed(early):
            deliver(test_round, KeyExchangePayload(sender, box_public_key=sender[-1] * 64))
        assert test_round.collection_threshold_reached
        for _ in range(LATE_PAYLOAD_BLOCKS):
            assert test_round.end_block() is None
        deliver(test_round, KeyExchangePayload(late, box_public_key=late[-1] * 64))
        result = test_round.end_block()
        assert result is not None
        synchronized_data, event = result
        assert event == Event.DONE
        data = cast_data(synchronized_data)
        assert data.key_holders == self.agents
        assert data.key_exchange[late].box_public_key == late[-1] * 64

    def test_threshold_alone_closes_after_exactly_the_confirmation_blocks(self) -> None:
        """Without late payloads the round closes on block LATE_PAYLOAD_BLOCKS + 1 with the three joiners."""
        test_round = KeyExchangeRound(synchronized_data=self.synchronized_data, context=MagicMock())
        for sender in self.agents[1:]:
            deliver(test_round, KeyExchangePayload(sender, box_public_key="00" * 32))
        blocks, (synchronized_data, event) = self.blocks_until_done(test_round)
        assert blocks == LATE_PAYLOAD_BLOCKS + 1
        assert event == Event.DONE
        assert cast_data(synchronized_data).key_holders == self.agents[1:]

    def test_below_threshold_waits(self) -> None:
        """Two joiners never close the round, however many blocks pass."""
        test_round = KeyExchangeRound(synchronized_data=self.synchronized_data, context=MagicMock())
        for sender in self.agents[:2]:
            deliver(test_round, KeyExchangePayload(sender, box_public_key="00" * 32))
        assert self.end_after_confirmations(test_round, 10 * PATIENCE) is None

    def test_a_second_key_from_the_same_agent_is_refused(self) -> None:
        """An agent joins once per epoch."""
        test_round = KeyExchangeRound(synchronized_data=self.synchronized_data, context=MagicMock())
        deliver(test_round, KeyExchangePayload(self.agents[0], box_public_key="00" * 32))
        with pytest.raises(TransactionNotValidError, match="already sent"):
            test_round.check_payload(KeyExchangePayload(self.agents[0], box_public_key="01" * 32))

    @pytest.mark.parametrize("box_public_key", ["zz" * 32, "00" * 31], ids=["not hex", "31 bytes"])
    def test_a_malformed_box_key_is_refused(self, box_public_key: str) -> None:
        """Only a 32-byte hex Curve25519 key can join the epoch.

        BUG (rounds.py, KeyExchangeRound): any string is accepted as box key; the agent becomes a key holder,
        and every honest key holder's dealing then fails (bytes.fromhex ValueError in
        box_public_keys(), or InvalidInputError from the Dealer), so one agent blocks key generation
        in every epoch it joins.
        """
        test_round = KeyExchangeRound(synchronized_data=self.synchronized_data, context=MagicMock())
        with pytest.raises(TransactionNotValidError):
            test_round.check_payload(KeyExchangePayload(self.agents[0], box_public_key=box_public_key))


class TestAgentLeftOutOfRegistration(SmpcRoundTest):
    """Registration closed at its deadline with three of four: the fourth is refused until a key epoch, which it
    joins, becoming active from then on."""

    def three_active(self) -> SynchronizedData:
        """Data of a service whose registration closed with agent_0..agent_2 (agent_3 not active)."""
        return self.data_with(participants=tuple(self.agents[:3]))

    def test_the_agent_left_out_joins_at_the_next_key_epoch(self) -> None:
        """All four send box keys: all four are key holders, and agent_3 is active from then on."""
        test_round = KeyExchangeRound(synchronized_data=self.three_active(), context=MagicMock())
        for sender in self.agents:
            deliver(test_round, KeyExchangePayload(sender, box_public_key="00" * 32))
        _, (synchronized_data, event) = self.blocks_until_done(test_round)
        assert event == Event.DONE
        assert cast_data(synchronized_data).key_holders == self.agents
        assert synchronized_data.participants == frozenset(self.agents)
        test_round.context.logger.info.assert_called_once_with(f"{[self.agents[3]]} join the service at this key epoch")

    def test_a_key_epoch_of_the_active_agents_leaves_the_participants_as_they_are(self) -> None:
        """The agent left out did not come: the three active agents hold the key, nobody joins."""
        test_round = KeyExchangeRound(synchronized_data=self.three_active(), context=MagicMock())
        for sender in self.agents[:3]:
            deliver(test_round, KeyExchangePayload(sender, box_public_key="00" * 32))
        _, (synchronized_data, _) = self.blocks_until_done(test_round)
        assert synchronized_data.participants == frozenset(self.agents[:3])
        test_round.context.logger.info.assert_not_called()

    def test_an_agent_outside_the_service_still_cannot_join(self) -> None:
        """Only the service's participants (all_participants) may join a key epoch."""
        test_round = KeyExchangeRound(synchronized_data=self.three_active(), context=MagicMock())
        with pytest.raises(TransactionNotValidError, match="not in list of participants"):
            test_round.check_payload(KeyExchangePayload("outsider", box_public_key="00" * 32))

    def test_until_then_the_agent_left_out_is_refused(self) -> None:
        """Before its key epoch, the key epoch check (like every round but the key exchange) refuses agent_3."""
        data = self.with_persisted_keys(self.with_key_holders(self.agents[:3], self.three_active()))
        test_round = KeyEpochCheckRound(synchronized_data=data, context=MagicMock())
        with pytest.raises(TransactionNotValidError, match="not in list of participants"):
            test_round.check_payload(KeyEpochCheckPayload(self.agents[3], key_epoch_over=True, decryption_failed=True))

    def test_one_of_three_active_agents_alone_cannot_force_a_rotation(self) -> None:
        """f + 1 counts all four participants: with three active, one report still does not rotate the key."""
        data = self.with_persisted_keys(self.with_key_holders(self.agents[:3], self.three_active()))
        test_round = KeyEpochCheckRound(synchronized_data=data, context=MagicMock())
        reports = [(True, True), (False, False), (False, False)]
        for sender, (over, failed) in zip(self.agents[:3], reports):
            deliver(test_round, KeyEpochCheckPayload(sender, key_epoch_over=over, decryption_failed=failed))
        _, (_, event) = self.blocks_until_done(test_round)
        assert event == Event.DONE


class TestKeyGenerationRounds(SmpcRoundTest):
    """Commit, reveal, complain, justify: only the right agents, only well-formed payloads."""

    def test_a_dealing_commitment_must_be_a_digest_from_a_key_holder(self) -> None:
        """A commitment that is no SHA-256 hex digest, or one from outside the epoch, is refused."""
        test_round = DealingCommitRound(synchronized_data=self.with_key_holders(self.agents[:3]), context=MagicMock())
        with pytest.raises(TransactionNotValidError, match="not a SHA-256 hex digest"):
            test_round.check_payload(DealingCommitPayload(self.agents[0], "zz"))
        with pytest.raises(TransactionNotValidError, match="may not send a DealingCommitPayload"):
            test_round.check_payload(DealingCommitPayload(self.agents[3], "01" * 32))
        for sender in self.agents[:3]:
            deliver(test_round, DealingCommitPayload(sender, "01" * 32))
        blocks, (synchronized_data, event) = self.blocks_until_done(test_round)
        assert event == Event.DONE and blocks == KEY_GENERATION_LATE_BLOCKS + 1
        assert sorted(cast_data(synchronized_data).dealing_commitments) == self.agents[:3]

    def test_only_committed_dealers_reveal(self) -> None:
        """A key holder whose commitment was not agreed cannot reveal a dealing chosen after the others'."""
        data = self.data_with(
            self.with_key_holders(self.agents),
            dealing_commitments=serialized(DealingCommitPayload(sender, "01" * 32) for sender in self.agents[:3]),
        )
        test_round = DealingRevealRound(synchronized_data=data, context=MagicMock())
        with pytest.raises(TransactionNotValidError, match="may not send a DealingRevealPayload"):
            test_round.check_payload(DealingRevealPayload(self.agents[3], "dl", "02" * 32))
        for sender in self.agents[:3]:
            deliver(test_round, DealingRevealPayload(sender, f"dl-{sender}", "02" * 32))
        _, (synchronized_data, event) = self.blocks_until_done(test_round)
        assert event == Event.DONE
        assert cast_data(synchronized_data).dealing_reveals[self.agents[1]].dealing_cid == f"dl-{self.agents[1]}"

    @pytest.mark.parametrize(
        "complaints", ["agent_0", "agent_1,agent_1", "agent_3", "nobody"], ids=["self", "twice", "unrevealed", "unknown"]
    )
    def test_a_complaint_names_distinct_revealed_dealers_other_than_the_complainer(self, complaints: str) -> None:
        """Complaints against oneself, twice against one dealer, or against a dealer that revealed nothing are refused."""
        data = self.data_with(
            self.with_key_holders(self.agents),
            dealing_reveals=serialized(
                DealingRevealPayload(sender, f"dl-{sender}", "02" * 32) for sender in self.agents[:3]
            ),
        )
        test_round = ComplaintRound(synchronized_data=data, context=MagicMock())
        with pytest.raises(TransactionNotValidError, match="distinct revealed dealers"):
            test_round.check_payload(ComplaintPayload("agent_0", complaints))
        deliver(test_round, ComplaintPayload("agent_0", "agent_1,agent_2"))
        deliver(test_round, ComplaintPayload("agent_1", ""))

    @pytest.mark.parametrize(
        "cid, digest", [("jst", None), (None, "03" * 32), ("jst", "zz")], ids=["no digest", "no cid", "not a digest"]
    )
    def test_a_justification_needs_a_content_id_and_its_digest(self, cid: Optional[str], digest: Optional[str]) -> None:
        """Half a reference, or a digest that is no SHA-256 hex, is refused; (None, None) says nothing to answer."""
        test_round = JustificationRound(synchronized_data=self.with_key_holders(self.agents), context=MagicMock())
        with pytest.raises(TransactionNotValidError, match="need a content id"):
            test_round.check_payload(JustificationPayload(self.agents[0], cid, digest))
        deliver(test_round, JustificationPayload(self.agents[0], None, None))
        deliver(test_round, JustificationPayload(self.agents[1], "jst", "03" * 32))


class TestJointKeyRound(BaseCollectSameUntilThresholdRoundTest, SmpcRoundTest):
    """A quorum on the joint key starts training and writes every key persisted across periods."""

    # The tool's no-majority check expects `_event_class.NO_MAJORITY`; this round's no-majority event is
    # KEY_GENERATION_FAILED.
    _event_class = SimpleNamespace(NO_MAJORITY=Event.KEY_GENERATION_FAILED)

    def votes(self, digests: Sequence[Optional[str]]) -> Dict[str, JointKeyPayload]:
        """Agent i votes digests[i]."""
        return {
            sender: JointKeyPayload(
                sender, joint_public_key_digest=digest, qualified_dealers=None if digest is None else QUAL
            )
            for sender, digest in zip(self.agents, digests)
        }

    def test_quorum_starts_training_and_writes_the_persisted_keys(self) -> None:
        """START_TRAINING with the agreed digest; the global-model keys get their initial values."""
        self.synchronized_data = self.with_key_material(self.agents)
        test_round = JointKeyRound(synchronized_data=self.synchronized_data, context=MagicMock())
        self._complete_run(
            self._test_round(
                test_round=test_round,
                round_payloads=self.votes([JOINT_KEY] * 4),
                synchronized_data_update_fn=lambda data, _round: data.update(
                    joint_public_key_digest=JOINT_KEY,
                    qualified_dealers=QUAL,
                    global_model_digest=NO_GLOBAL_MODEL,
                    global_round=0,
                    last_accepted_period=-1,
                    accepted_round_record={},
                ),
                synchronized_data_attr_checks=[
                    lambda data: cast_data(data).joint_public_key_digest,
                    lambda data: cast_data(data).qualified_dealers,
                    lambda data: cast_data(data).global_model_digest,
                    lambda data: cast_data(data).global_round,
                    lambda data: cast_data(data).last_accepted_period,
                    lambda data: cast_data(data).accepted_round_record,
                ],
                most_voted_payload=JOINT_KEY,
                exit_event=Event.START_TRAINING,
            )
        )

    def test_persisted_keys_let_the_period_close(self) -> None:
        """After the quorum every PERSISTED_KEY is in the db, so the reset's create() carries them over."""
        test_round = JointKeyRound(synchronized_data=self.with_key_material(self.agents), context=MagicMock())
        for payload in self.votes([JOINT_KEY] * 4).values():
            deliver(test_round, payload)
        result = test_round.end_block()
        assert result is not None and result[1] == Event.START_TRAINING
        latest = result[0].db.get_latest()
        assert PERSISTED_KEYS <= set(latest), sorted(PERSISTED_KEYS - set(latest))
        next_period = cast_data(result[0].create())
        assert next_period.period_count == 1
        assert next_period.joint_public_key_digest == JOINT_KEY
        assert next_period.qualified_dealers == self.agents
        assert next_period.key_holders == self.agents
        assert next_period.global_round == 0 and next_period.last_accepted_period == -1

    def test_a_new_key_epoch_keeps_the_global_model_state(self) -> None:
        """Re-keying after an accepted model keeps the model's digest, round, period and record."""
        record = {"global_round": 2, "period": 4}
        base = self.data_with(
            self.with_key_material(self.agents),
            global_model_digest=MODEL,
            global_round=2,
            last_accepted_period=4,
            accepted_round_record=record,
        )
        test_round = JointKeyRound(synchronized_data=base, context=MagicMock())
        for payload in self.votes([OTHER_JOINT_KEY] * 3).values():
            deliver(test_round, payload)
        synchronized_data, event = test_round.end_block()
        data = cast_data(synchronized_data)
        assert event == Event.START_TRAINING
        assert (data.joint_public_key_digest, data.global_model_digest, data.global_round) == (
            OTHER_JOINT_KEY,
            MODEL,
            2,
        )
        assert (data.last_accepted_period, data.accepted_round_record) == (4, record)

    def test_each_agreed_joint_key_starts_the_next_key_epoch(self) -> None:
        """Key epoch 1 starts in period 0; a key generation in period 1 starts epoch 2 there (both persisted)."""
        test_round = JointKeyRound(synchronized_data=self.with_key_material(self.agents), context=MagicMock())
        for payload in self.votes([JOINT_KEY] * 4).values():
            deliver(test_round, payload)
        first, _ = test_round.end_block()
        assert (cast_data(first).key_epoch, cast_data(first).key_epoch_start_period) == (1, 0)
        next_period = cast_data(first.create())
        assert (next_period.period_count, next_period.key_epoch, next_period.key_epoch_start_period) == (1, 1, 0)
        test_round = JointKeyRound(synchronized_data=next_period, context=MagicMock())
        for payload in self.votes([OTHER_JOINT_KEY] * 4).values():
            deliver(test_round, payload)
        second, event = test_round.end_block()
        data = cast_data(second)
        assert event == Event.START_TRAINING
        assert (data.joint_public_key_digest, data.key_epoch, data.key_epoch_start_period) == (OTHER_JOINT_KEY, 2, 1)

    def test_split_vote_fails_key_generation(self) -> None:
        """Two against two can never reach the quorum of three: KEY_GENERATION_FAILED, nothing written."""
        test_round = JointKeyRound(synchronized_data=self.with_key_material(self.agents), context=MagicMock())
        for payload in self.votes([JOINT_KEY, OTHER_JOINT_KEY, JOINT_KEY, OTHER_JOINT_KEY]).values():
            deliver(test_round, payload)
        result = test_round.end_block()
        assert result is not None
        synchronized_data, event = result
        assert event == Event.KEY_GENERATION_FAILED
        assert cast_data(synchronized_data).joint_public_key_digest == ""

    def test_none_votes_fail_key_generation(self) -> None:
        """A quorum of agents that could not combine a key (None) is KEY_GENERATION_FAILED."""
        test_round = JointKeyRound(synchronized_data=self.with_key_material(self.agents), context=MagicMock())
        for payload in self.votes([None, None, None]).values():
            deliver(test_round, payload)
        result = test_round.end_block()
        assert result is not None
        synchronized_data, event = result
        assert event == Event.KEY_GENERATION_FAILED
        assert get_name(SynchronizedData.global_round) not in synchronized_data.db.get_latest()


class TestKeyEpochCheckRound(SmpcRoundTest):
    """At a period's start the agreed reports keep the key epoch (DONE) or rotate it (ROTATE_KEY); a reason
    counts once f + 1 = 2 agents report it."""

    def check(self, reports: Sequence[Tuple[bool, bool]]) -> Tuple[SynchronizedData, Event]:
        """Agent i reports reports[i] = (key epoch over, decryption failed) in epoch 3, period 7."""
        data = self.with_persisted_keys(self.with_key_holders(self.agents), key_epoch=3)
        for _ in range(7):
            data = cast_data(data.create())
        test_round = KeyEpochCheckRound(synchronized_data=data, context=MagicMock())
        for sender, (over, failed) in zip(self.agents, reports):
            deliver(test_round, KeyEpochCheckPayload(sender, key_epoch_over=over, decryption_failed=failed))
        _, (synchronized_data, event) = self.blocks_until_done(test_round)
        return cast_data(synchronized_data), event

    def test_no_reason_keeps_the_key_epoch(self) -> None:
        """Nobody reports a reason: training follows in the same key epoch."""
        data, event = self.check([(False, False)] * 4)
        assert event == Event.DONE
        assert data.key_rotation_reason == ""

    def test_used_up_periods_rotate_the_key(self) -> None:
        """The key epoch's periods are used up (every honest agent says so): ROTATE_KEY, with the reason."""
        data, event = self.check([(True, False)] * 3)
        assert event == Event.ROTATE_KEY
        assert data.key_rotation_reason == "key epoch 3 used up its periods"

    def test_a_failed_decryption_rotates_the_key(self) -> None:
        """Two agents could not decrypt the last period's sum: ROTATE_KEY."""
        data, event = self.check([(False, True), (False, False), (False, True), (False, False)])
        assert event == Event.ROTATE_KEY
        assert data.key_rotation_reason == "the decryption of period 6 failed"

    def test_both_reasons_are_recorded(self) -> None:
        """Both reasons, each reported by enough agents, are named."""
        data, event = self.check([(True, True)] * 3)
        assert event == Event.ROTATE_KEY
        assert data.key_rotation_reason == "key epoch 3 used up its periods; the decryption of period 6 failed"

    def test_one_agent_alone_cannot_force_a_rotation(self) -> None:
        """A single (possibly Byzantine) agent's report is not enough: the key epoch is kept."""
        data, event = self.check([(True, True), (False, False), (False, False), (False, False)])
        assert event == Event.DONE
        assert data.key_rotation_reason == ""

    def test_a_check_that_does_not_complete_rotates_the_key(self) -> None:
        """ROTATE_KEY is also the round's timeout event: a check that does not complete ends the key epoch."""
        transitions = SmpcMnistClassifierAbciApp.transition_function[KeyEpochCheckRound]
        assert transitions == {Event.DONE: TrainingRound, Event.ROTATE_KEY: KeyExchangeRound}
        assert Event.ROTATE_KEY in SmpcMnistClassifierAbciApp.event_to_timeout


class TestTrainingRound(SmpcRoundTest):
    """Training closes with DONE_TRAINING; only key holders may report."""

    def test_reports_close_the_round(self) -> None:
        """The reports of the threshold of key holders are kept with their sample counts."""
        holders = self.agents
        test_round = TrainingRound(synchronized_data=self.with_key_holders(holders), context=MagicMock())
        for count, sender in enumerate(holders[:3], start=1):
            deliver(test_round, report(sender, sample_count=100 * count))
        result = self.end_after_confirmations(test_round, PATIENCE)
        assert result is not None
        synchronized_data, event = result
        assert event == Event.DONE_TRAINING
        reports = cast_data(synchronized_data).training_reports
        assert {sender: report.sample_count for sender, report in reports.items()} == {
            holders[0]: 100,
            holders[1]: 200,
            holders[2]: 300,
        }

    def test_agent_without_key_material_is_refused(self) -> None:
        """A report from an agent that missed key generation is not valid."""
        holders = self.agents
        test_round = TrainingRound(synchronized_data=self.with_key_holders(holders[:3]), context=MagicMock())
        outsider = report(holders[3], sample_count=1)
        with pytest.raises(TransactionNotValidError, match="may not send a TrainingPayload"):
            test_round.check_payload(outsider)

    def test_update_against_a_stale_model_is_refused(self) -> None:
        """A report that trained from another model than the agreed one is refused before any reveal."""
        holders = self.agents
        data = self.data_with(self.with_key_holders(holders), global_model_digest=MODEL, global_round=4)
        test_round = TrainingRound(synchronized_data=data, context=MagicMock())
        test_round.check_payload(report(holders[0], base_model_digest=MODEL))
        for stale in (NO_GLOBAL_MODEL, "0d" * 32):
            with pytest.raises(TransactionNotValidError, match="the agreed global model is"):
                test_round.check_payload(report(holders[0], base_model_digest=stale))

    @pytest.mark.parametrize("commitment", ["", "ab" * 31, "AB" * 32, "zz" * 32, "ab" * 33])
    def test_malformed_commitment_is_refused(self, commitment: str) -> None:
        """A commitment must be a lowercase SHA-256 hex digest."""
        test_round = TrainingRound(synchronized_data=self.with_key_holders(self.agents), context=MagicMock())
        with pytest.raises(TransactionNotValidError, match="not a SHA-256 hex digest"):
            test_round.check_payload(report(self.agents[0], update_commitment=commitment))


class TestSubmitUpdateRound(SmpcRoundTest):
    """Only the agents that reported a trained model may submit an encrypted update."""

    def trained(self, senders: Sequence[str]) -> SynchronizedData:
        """Every agent holds a key; `senders` reported training."""
        reports = [report(sender) for sender in senders]
        return self.data_with(self.with_key_holders(self.agents), training_reports=serialized(reports))

    @staticmethod
    def update(sender: str) -> SubmitUpdatePayload:
        """An encrypted update's reveal."""
        return SubmitUpdatePayload(sender, update_cid=f"upd-{sender}", update_digest="03" * 32)

    def test_trained_agents_submit_and_close_the_round(self) -> None:
        """The updates of the three trained agents close the round with DONE."""
        trained = self.agents[1:]
        test_round = SubmitUpdateRound(synchronized_data=self.trained(trained), context=MagicMock())
        for sender in trained:
            deliver(test_round, self.update(sender))
        _, (synchronized_data, event) = self.blocks_until_done(test_round)
        assert event == Event.DONE
        submitted = cast_data(synchronized_data).submitted_updates
        assert {sender: update.update_cid for sender, update in submitted.items()} == {
            sender: f"upd-{sender}" for sender in trained
        }

    def test_key_holder_that_did_not_train_is_refused(self) -> None:
        """Holding a key share is not enough: an agent without a training report cannot submit."""
        test_round = SubmitUpdateRound(synchronized_data=self.trained(self.agents[1:]), context=MagicMock())
        with pytest.raises(TransactionNotValidError, match="may not send a SubmitUpdatePayload"):
            test_round.check_payload(self.update(self.agents[0]))


class TestAggregationRound(BaseCollectSameUntilThresholdRoundTest, SmpcRoundTest):
    """Key holders agree on the encrypted average and the updates it includes."""

    INCLUDED = "agent_0,agent_1,agent_2"

    def setup_method(self) -> None:
        """Every participant holds key material: only key holders may vote on the average."""
        super().setup_method()
        self.synchronized_data = self.with_key_holders(self.agents)

    def test_an_agent_without_key_material_may_not_vote(self) -> None:
        """A vote from outside the key epoch is not valid."""
        self.synchronized_data = self.with_key_holders(self.agents[:3])
        test_round = AggregationRound(synchronized_data=self.synchronized_data, context=MagicMock())
        outsider = AggregationPayload(
            self.agents[3], aggregate_digest=AGGREGATE, included_updates=self.INCLUDED, excluded_updates=EXCLUDED
        )
        with pytest.raises(TransactionNotValidError, match="may not send"):
            test_round.check_payload(outsider)

    def votes(self, values: Sequence[Tuple[Optional[str], Optional[str]]]) -> Dict[str, AggregationPayload]:
        """Agent i votes values[i] = (aggregate digest, included updates), with EXCLUDED unless it votes None."""
        return {
            sender: AggregationPayload(
                sender,
                aggregate_digest=digest,
                included_updates=included,
                excluded_updates=None if digest is None else EXCLUDED,
            )
            for sender, (digest, included) in zip(self.agents, values)
        }

    def test_agreement_is_done_with_digest_and_included_updates(self) -> None:
        """DONE stores the agreed digest and the included updates (a list in the typed view)."""
        test_round = AggregationRound(synchronized_data=self.synchronized_data, context=MagicMock())
        self._complete_run(
            self._test_round(
                test_round=test_round,
                round_payloads=self.votes([(AGGREGATE, self.INCLUDED)] * 4),
                synchronized_data_update_fn=lambda data, _round: data.update(
                    aggregate_digest=AGGREGATE, included_updates=self.INCLUDED, excluded_updates=EXCLUDED
                ),
                synchronized_data_attr_checks=[
                    lambda data: cast_data(data).aggregate_digest,
                    lambda data: cast_data(data).included_updates,
                    lambda data: cast_data(data).excluded_updates,
                ],
                most_voted_payload=AGGREGATE,
                exit_event=Event.DONE,
            )
        )

    def test_agreed_values_are_read_back(self) -> None:
        """A 3-of-4 agreement is stored; the dissenting vote stays in the collection."""
        test_round = AggregationRound(synchronized_data=self.synchronized_data, context=MagicMock())
        values = [(AGGREGATE, self.INCLUDED)] * 3 + [(OTHER_AGGREGATE, "agent_3")]
        for payload in self.votes(values).values():
            deliver(test_round, payload)
        synchronized_data, event = test_round.end_block()
        data = cast_data(synchronized_data)
        assert event == Event.DONE
        assert data.aggregate_digest == AGGREGATE
        assert data.included_updates == ["agent_0", "agent_1", "agent_2"]
        assert data.excluded_updates == {"agent_1": "commitment-mismatch"}
        assert data.aggregation_votes["agent_3"].aggregate_digest == OTHER_AGGREGATE

    def test_none_votes_are_no_majority(self) -> None:
        """A quorum of (None, None) votes (too few valid updates) is NO_MAJORITY."""
        test_round = AggregationRound(synchronized_data=self.synchronized_data, context=MagicMock())
        for payload in self.votes([(None, None)] * 3).values():
            deliver(test_round, payload)
        result = test_round.end_block()
        assert result is not None and result[1] == Event.NO_MAJORITY

    def test_split_vote_is_no_majority(self) -> None:
        """Two averages with two votes each: NO_MAJORITY."""
        test_round = AggregationRound(synchronized_data=self.synchronized_data, context=MagicMock())
        values = [(AGGREGATE, self.INCLUDED), (OTHER_AGGREGATE, self.INCLUDED)] * 2
        for payload in self.votes(values).values():
            deliver(test_round, payload)
        result = test_round.end_block()
        assert result is not None and result[1] == Event.NO_MAJORITY


class TestDecryptionShareRound(SmpcRoundTest):
    """Every key holder publishes a sealed share of the agreed sum; nobody else may."""

    @staticmethod
    def shares(sender: str) -> DecryptionSharePayload:
        """A key holder's published sealed share."""
        return DecryptionSharePayload(sender, shares_cid=f"dec-{sender}", shares_digest="04" * 32)

    def test_the_threshold_of_key_holders_closes_the_round(self) -> None:
        """Three key holders' shares close the round with DONE, after the late-payload blocks."""
        test_round = DecryptionShareRound(synchronized_data=self.with_key_holders(self.agents), context=MagicMock())
        for sender in self.agents[:3]:
            deliver(test_round, self.shares(sender))
        blocks, (synchronized_data, event) = self.blocks_until_done(test_round)
        assert event == Event.DONE and blocks == LATE_PAYLOAD_BLOCKS + 1
        assert sorted(cast_data(synchronized_data).decryption_shares) == self.agents[:3]

    def test_an_agent_outside_the_key_epoch_is_refused(self) -> None:
        """An agent that holds no key share of the epoch publishes no share."""
        test_round = DecryptionShareRound(
            synchronized_data=self.with_key_holders(self.agents[:3]), context=MagicMock()
        )
        with pytest.raises(TransactionNotValidError, match="may not send a DecryptionSharePayload"):
            test_round.check_payload(self.shares(self.agents[3]))


class TestGlobalModelVoteRound(BaseCollectSameUntilThresholdRoundTest, SmpcRoundTest):
    """The vote accepts the quorum's model and records the accepted round."""

    def votes(self, values: Sequence[Tuple[Optional[str], Optional[int]]]) -> Dict[str, GlobalModelVotePayload]:
        """Agent i votes values[i] = (model digest, global round), with the digest's weight commitment and its
        own envelope of the model (content id env-<agent>)."""
        return {
            sender: GlobalModelVotePayload(
                sender,
                global_model_digest=digest,
                global_round=round_,
                weight_commitment=None if digest is None else WEIGHTS if digest == MODEL else "c2" * 64,
                model_envelope_cid=None if digest is None else f"env-{sender}",
                model_envelope_digest=None if digest is None else ENVELOPE_DIGEST,
            )
            for sender, (digest, round_) in zip(self.agents, values)
        }

    def test_quorum_accepts_and_records_the_round(self) -> None:
        """DONE_UPDATE stores digest, round, period of acceptance and round_record(...) of the accepted data."""
        self.synchronized_data = self.completed_update()
        test_round = GlobalModelVoteRound(synchronized_data=self.synchronized_data, context=MagicMock())

        def expected(data: BaseSynchronizedData, voted: GlobalModelVoteRound) -> BaseSynchronizedData:
            """The update the round should make (the record names the voters' envelopes)."""
            accepted = cast_data(
                data.update(
                    global_model_digest=MODEL,
                    global_round=1,
                    weight_commitment=WEIGHTS,
                    global_model_votes=voted.serialized_collection,
                )
            )
            return accepted.update(last_accepted_period=0, accepted_round_record=round_record(accepted, 0))

        self._complete_run(
            self._test_round(
                test_round=test_round,
                round_payloads=self.votes([(MODEL, 1)] * 4),
                synchronized_data_update_fn=expected,
                synchronized_data_attr_checks=[
                    lambda data: cast_data(data).global_model_digest,
                    lambda data: cast_data(data).global_round,
                    lambda data: cast_data(data).weight_commitment,
                    lambda data: cast_data(data).last_accepted_period,
                    lambda data: cast_data(data).accepted_round_record,
                ],
                most_voted_payload=MODEL,
                exit_event=Event.DONE_UPDATE,
            )
        )

    def test_the_record_names_what_was_agreed(self) -> None:
        """The record holds the envelopes of the accepted model's voters only, the included updates only (cid,
        digest, count) and every published share bundle."""
        test_round = GlobalModelVoteRound(synchronized_data=self.completed_update(), context=MagicMock())
        for payload in self.votes([(MODEL, 1)] * 3 + [(OTHER_MODEL, 1)]).values():
            deliver(test_round, payload)
        synchronized_data, event = test_round.end_block()
        data = cast_data(synchronized_data)
        assert event == Event.DONE_UPDATE
        assert data.accepted_round_record == round_record(data, 0)
        assert data.accepted_round_record == {
            "global_round": 1,
            "period": 0,
            "global_model_digest": MODEL,
            "global_model_envelopes": {
                agent: {"cid": f"env-{agent}", "digest": ENVELOPE_DIGEST} for agent in ("agent_0", "agent_1", "agent_2")
            },
            "key_epoch": 0,
            "weight_commitment": WEIGHTS,
            "joint_public_key_digest": JOINT_KEY,
            "qualified_dealers": ["agent_0", "agent_1", "agent_2", "agent_3"],
            "aggregate_digest": AGGREGATE,
            "included_updates": {
                "agent_0": {"cid": "upd-agent_0", "digest": "01" * 32, "commitment": COMMITMENT, "sample_count": 10},
                "agent_2": {"cid": "upd-agent_2", "digest": "03" * 32, "commitment": COMMITMENT, "sample_count": 30},
                "agent_3": {"cid": "upd-agent_3", "digest": "04" * 32, "commitment": COMMITMENT, "sample_count": 40},
            },
            "excluded_updates": {"agent_1": "commitment-mismatch"},
            "decryption_shares": {
                "agent_0": {"cid": "dec-agent_0", "digest": "05" * 32},
                "agent_1": {"cid": "dec-agent_1", "digest": "06" * 32},
                "agent_2": {"cid": "dec-agent_2", "digest": "07" * 32},
            },
        }
        assert list(data.accepted_round_record["decryption_shares"]) == ["agent_0", "agent_1", "agent_2"]

    def test_acceptance_records_the_current_period(self) -> None:
        """A model accepted in period 2 sets last_accepted_period to 2."""
        data = self.with_persisted_keys(self.with_key_material(self.agents))
        later = cast_data(data.create().create())
        test_round = GlobalModelVoteRound(synchronized_data=self.completed_update(later), context=MagicMock())
        for payload in self.votes([(MODEL, 1)] * 3).values():
            deliver(test_round, payload)
        synchronized_data, event = test_round.end_block()
        accepted = cast_data(synchronized_data)
        assert event == Event.DONE_UPDATE and accepted.period_count == 2
        assert accepted.last_accepted_period == 2 and accepted.accepted_round_record["period"] == 2

    def test_reject_votes_are_no_majority(self) -> None:
        """A quorum of (None, None) rejections is NO_MAJORITY and records nothing."""
        test_round = GlobalModelVoteRound(synchronized_data=self.completed_update(), context=MagicMock())
        for payload in self.votes([(None, None)] * 4).values():
            deliver(test_round, payload)
        result = test_round.end_block()
        assert result is not None
        synchronized_data, event = result
        assert event == Event.NO_MAJORITY
        data = cast_data(synchronized_data)
        assert (data.global_round, data.last_accepted_period, data.accepted_round_record) == (0, -1, {})

    def test_votes_with_different_envelopes_still_agree(self) -> None:
        """Three votes for one model, each with its own envelope: the quorum is reached as soon as the third
        arrives (envelopes are not part of what the voters agree on)."""
        test_round = GlobalModelVoteRound(synchronized_data=self.completed_update(), context=MagicMock())
        votes = list(self.votes([(MODEL, 1)] * 3 + [(OTHER_MODEL, 1)]).values())
        for payload in [votes[3], votes[0], votes[1]]:
            deliver(test_round, payload)
            assert test_round.end_block() is None
        deliver(test_round, votes[2])
        synchronized_data, event = test_round.end_block()
        assert event == Event.DONE_UPDATE
        assert sorted(cast_data(synchronized_data).accepted_round_record["global_model_envelopes"]) == self.agents[:3]

    @pytest.mark.parametrize(
        "cid, digest, message",
        [
            (None, None, "needs its model envelope"),
            ("", ENVELOPE_DIGEST, "needs its model envelope"),
            ("env", None, "needs its model envelope"),
            ("env", "not-hex", "needs its model envelope"),
        ],
    )
    def test_a_vote_for_a_model_without_its_envelope_is_refused(
        self, cid: Optional[str], digest: Optional[str], message: str
    ) -> None:
        """Every vote for a model leaves an agent that misses the round a way to take it."""
        test_round = GlobalModelVoteRound(synchronized_data=self.completed_update(), context=MagicMock())
        payload = GlobalModelVotePayload(self.agents[0], MODEL, 1, WEIGHTS, cid, digest)
        with pytest.raises(TransactionNotValidError, match=message):
            test_round.check_payload(payload)

    def test_a_rejection_naming_an_envelope_is_refused(self) -> None:
        """A rejection carries no model, so no envelope."""
        test_round = GlobalModelVoteRound(synchronized_data=self.completed_update(), context=MagicMock())
        payload = GlobalModelVotePayload(self.agents[0], None, None, None, "env", ENVELOPE_DIGEST)
        with pytest.raises(TransactionNotValidError, match="names a model envelope"):
            test_round.check_payload(payload)

    def test_split_vote_is_no_majority(self) -> None:
        """Two against two can never reach the quorum of three."""
        test_round = GlobalModelVoteRound(synchronized_data=self.completed_update(), context=MagicMock())
        for payload in self.votes([(MODEL, 1), (OTHER_MODEL, 1)] * 2).values():
            deliver(test_round, payload)
        result = test_round.end_block()
        assert result is not None and result[1] == Event.NO_MAJORITY


class TestSynchronizedData(SmpcRoundTest):
    """Derived properties of the synchronized data."""

    def test_defaults_before_any_round(self) -> None:
        """Empty collections, no global model, no accepted period, nothing incomplete in period 0."""
        data = cast_data(self.synchronized_data)
        assert data.key_holders == [] and dict(data.training_reports) == {}
        assert (data.global_model_digest, data.global_round, data.last_accepted_period) == (NO_GLOBAL_MODEL, 0, -1)
        assert data.accepted_round_record == {} and data.joint_public_key_digest == ""
        assert not data.previous_update_incomplete

    def test_key_holders_are_in_address_order(self) -> None:
        """Party index i + 1 is key_holders[i], whatever order the agents joined in."""
        joined = ["agent_3", "agent_0", "agent_2"]
        assert self.with_key_holders(joined).key_holders == ["agent_0", "agent_2", "agent_3"]

    def test_previous_update_incomplete_across_periods(self) -> None:
        """Accepted in period 0, nothing in 1: period 1 sees a complete predecessor, period 2 an incomplete one."""
        participants = self.agents
        key_generation = JointKeyRound(synchronized_data=self.with_key_material(participants), context=MagicMock())
        for sender in participants:
            deliver(key_generation, JointKeyPayload(sender, JOINT_KEY, QUAL))
        data = cast_data(key_generation.end_block()[0])
        assert data.period_count == 0 and not data.previous_update_incomplete

        vote = GlobalModelVoteRound(synchronized_data=self.completed_update(data), context=MagicMock())
        for sender in participants:
            deliver(vote, GlobalModelVotePayload(sender, MODEL, 1, WEIGHTS, f"env-{sender}", ENVELOPE_DIGEST))
        data = cast_data(vote.end_block()[0])
        assert data.last_accepted_period == 0

        data = cast_data(data.create())
        assert data.period_count == 1 and not data.previous_update_incomplete
        assert (data.global_model_digest, data.global_round) == (MODEL, 1)
        data = cast_data(data.create())
        assert data.period_count == 2 and data.previous_update_incomplete
        assert data.accepted_round_record["period"] == 0


class TestSettlementRounds(SmpcRoundTest):
    """Settlement: agree on the Safe tx; on validation the model is final, on failure it rolls back."""

    FINAL = {"global_round": 1, "period": 0, "global_model_digest": OTHER_MODEL, "settlement_tx_hash": "0xaa"}

    def accepted(self) -> SynchronizedData:
        """Round 2 accepted in period 1 on top of the final round 1."""
        record = {"global_round": 2, "period": 1, "global_model_digest": MODEL}
        return self.data_with(
            global_model_digest=MODEL,
            global_round=2,
            last_accepted_period=1,
            accepted_round_record=record,
            final_round_record=self.FINAL,
            settlement_failure="",
        )

    def close(self, test_round: AbstractRound, payloads: Iterable[BaseTxPayload]) -> Tuple:
        """Deliver the payloads and end the block."""
        for payload in payloads:
            deliver(test_round, payload)
        result = test_round.end_block()
        assert result is not None
        return result

    def test_agreed_safe_tx_goes_to_tx_settlement(self) -> None:
        """A quorum on one hash payload is DONE with most_voted_tx_hash set."""
        test_round = PrepareSettlementRound(synchronized_data=self.accepted(), context=MagicMock())
        data, event = self.close(test_round, [PrepareSettlementPayload(a, tx_hash="0x12") for a in self.agents])
        assert event == Event.DONE and cast_data(data).most_voted_tx_hash == "0x12"

    def test_no_safe_tx_fails_settlement(self) -> None:
        """A quorum of None (the call could not be built) is SETTLEMENT_FAILED."""
        test_round = PrepareSettlementRound(synchronized_data=self.accepted(), context=MagicMock())
        _, event = self.close(test_round, [PrepareSettlementPayload(a, tx_hash=None) for a in self.agents])
        assert event == Event.SETTLEMENT_FAILED

    def test_validated_settlement_makes_the_model_final(self) -> None:
        """The accepted record becomes final, with the settlement tx hash in it."""
        test_round = FinalizeModelRound(synchronized_data=self.accepted(), context=MagicMock())
        data, event = self.close(test_round, [FinalizeModelPayload(a, settlement_tx_hash="0xbb") for a in self.agents])
        final = cast_data(data).final_round_record
        assert event == Event.DONE
        assert final == {"global_round": 2, "period": 1, "global_model_digest": MODEL, "settlement_tx_hash": "0xbb"}
        assert cast_data(data).accepted_round_record == final and cast_data(data).global_round == 2

    def test_failed_settlement_rolls_back_to_the_last_final_model(self) -> None:
        """Round, digest, period and record return to the final round 1; the reason is kept."""
        test_round = SettlementFailedRound(synchronized_data=self.accepted(), context=MagicMock())
        data, event = self.close(test_round, [SettlementFailedPayload(a, reason="chain down") for a in self.agents])
        rolled = cast_data(data)
        assert event == Event.DONE
        assert (rolled.global_round, rolled.global_model_digest, rolled.last_accepted_period) == (1, OTHER_MODEL, 0)
        assert rolled.accepted_round_record == self.FINAL and rolled.settlement_failure == "chain down"

    def test_failed_first_settlement_rolls_back_to_no_model(self) -> None:
        """Without any final round the rollback leaves no global model."""
        data = self.data_with(self.accepted(), final_round_record={})
        test_round = SettlementFailedRound(synchronized_data=data, context=MagicMock())
        rolled, _ = self.close(test_round, [SettlementFailedPayload(a, reason="x") for a in self.agents])
        rolled = cast_data(rolled)
        assert (rolled.global_round, rolled.global_model_digest, rolled.last_accepted_period) == (0, NO_GLOBAL_MODEL, -1)
