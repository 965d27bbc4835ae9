"""Rounds of the SMPC MNIST app, driven with open-autonomy's round test tools."""

from typing import Dict, Optional, Tuple
from unittest.mock import MagicMock

import pytest

from packages.valory.skills.abstract_round_abci.base import (
    AbciAppDB,
    CollectionRound,
    TransactionNotValidError,
)
from packages.valory.skills.abstract_round_abci.test_tools.rounds import (
    BaseCollectSameUntilThresholdRoundTest,
    BaseRoundTestClass,
)
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    KeyExchangePayload,
    TrainingPayload,
    GlobalModelVotePayload,
)
from packages.valory.skills.smpc_mnist_classifier.rounds import (
    Event,
    PERSISTED_KEYS,
    KeyExchangeRound,
    SynchronizedData,
    TrainingRound,
    GlobalModelVoteRound,
)

DIGEST = "ab" * 32


class SmpcRoundTest(BaseRoundTestClass):
    """Shared set-up: the four test participants and this app's synchronized data."""

    _synchronized_data_class = SynchronizedData
    _event_class = Event

    def with_key_holders(self, holders: Tuple[str, ...]) -> SynchronizedData:
        """Synchronized data in which `holders` registered key material."""
        collection = {sender: KeyExchangePayload(sender, box_public_key="00" * 32) for sender in holders}
        return self.synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            key_exchange=CollectionRound.serialize_collection(collection),
        )

    @staticmethod
    def end_after_confirmations(test_round: object, blocks: int) -> Optional[Tuple]:
        """Call end_block once per block; return the first non-None result."""
        for _ in range(blocks):
            result = test_round.end_block()  # type: ignore[attr-defined]
            if result is not None:
                return result
        return None


class TestKeyExchangeRound(SmpcRoundTest):
    """Key generation closes with START_TRAINING once the threshold registered and blocks confirmed."""

    def test_threshold_starts_training(self) -> None:
        """Three of four agents suffice; their key material is stored."""
        test_round = KeyExchangeRound(synchronized_data=self.synchronized_data, context=MagicMock())
        senders = sorted(self.participants)[:3]
        for sender in senders:
            test_round.process_payload(KeyExchangePayload(sender, box_public_key=sender[-4:] * 16))
        result = self.end_after_confirmations(test_round, KeyExchangeRound.required_block_confirmations + 1)
        assert result is not None
        synchronized_data, event = result
        assert event == Event.START_TRAINING
        assert cast_data(synchronized_data).key_holders == senders

    def test_below_threshold_waits(self) -> None:
        """Two registrations never close the round."""
        test_round = KeyExchangeRound(synchronized_data=self.synchronized_data, context=MagicMock())
        for sender in sorted(self.participants)[:2]:
            test_round.process_payload(KeyExchangePayload(sender, box_public_key="00" * 32))
        assert self.end_after_confirmations(test_round, 10) is None


class TestTrainingRound(SmpcRoundTest):
    """Training closes with DONE_TRAINING; only key holders may report."""

    def test_reports_close_the_round(self) -> None:
        """The reports of the threshold of key holders are kept."""
        holders = tuple(sorted(self.participants))
        test_round = TrainingRound(synchronized_data=self.with_key_holders(holders), context=MagicMock())
        for count, sender in enumerate(holders[:3], start=1):
            payload = TrainingPayload(sender, local_model_digest=DIGEST, sample_count=100 * count)
            test_round.check_payload(payload)
            test_round.process_payload(payload)
        result = self.end_after_confirmations(test_round, TrainingRound.required_block_confirmations + 1)
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
        holders = tuple(sorted(self.participants))
        test_round = TrainingRound(synchronized_data=self.with_key_holders(holders[:3]), context=MagicMock())
        outsider = TrainingPayload(holders[3], local_model_digest=DIGEST, sample_count=1)
        with pytest.raises(TransactionNotValidError, match="holds no key material"):
            test_round.check_payload(outsider)


class TestGlobalModelVoteRound(BaseCollectSameUntilThresholdRoundTest, SmpcRoundTest):
    """The update round accepts the quorum's model and records the period of acceptance."""

    def payloads(self, digest: str) -> Dict[str, GlobalModelVotePayload]:
        """Every participant votes for `digest` as global round 1."""
        return {
            sender: GlobalModelVotePayload(sender, global_model_digest=digest, global_round=1)
            for sender in self.participants
        }

    def with_training_reports(self) -> SynchronizedData:
        """Synchronized data in which every participant reported 10 samples."""
        reports = {
            sender: TrainingPayload(sender, local_model_digest=DIGEST, sample_count=10) for sender in self.participants
        }
        return self.synchronized_data.update(
            synchronized_data_class=SynchronizedData,
            training_reports=CollectionRound.serialize_collection(reports),
        )

    def test_quorum_accepts(self) -> None:
        """DONE_UPDATE, with the digest, the round, the period and the round's record stored."""
        self.synchronized_data = self.with_training_reports()
        test_round = GlobalModelVoteRound(synchronized_data=self.synchronized_data, context=MagicMock())
        expected_record = {
            "global_round": 1,
            "period": 0,
            "global_model_digest": DIGEST,
            "contributions": {
                sender: {"local_model_digest": DIGEST, "sample_count": 10} for sender in sorted(self.participants)
            },
        }
        self._complete_run(
            self._test_round(
                test_round=test_round,
                round_payloads=self.payloads(DIGEST),
                synchronized_data_update_fn=lambda data, _round: data.update(
                    global_model_digest=DIGEST,
                    global_round=1,
                    last_accepted_period=0,
                    accepted_round_record=expected_record,
                ),
                synchronized_data_attr_checks=[
                    lambda data: cast_data(data).global_model_digest,
                    lambda data: cast_data(data).global_round,
                    lambda data: cast_data(data).last_accepted_period,
                    lambda data: cast_data(data).accepted_round_record,
                ],
                most_voted_payload=DIGEST,
                exit_event=Event.DONE_UPDATE,
            )
        )

    def test_split_vote_is_no_majority(self) -> None:
        """Two against two can never reach the quorum of three."""
        test_round = GlobalModelVoteRound(synchronized_data=self.synchronized_data, context=MagicMock())
        for index, sender in enumerate(sorted(self.participants)):
            digest = DIGEST if index % 2 else "cd" * 32
            test_round.process_payload(GlobalModelVotePayload(sender, global_model_digest=digest, global_round=1))
        result = test_round.end_block()
        assert result is not None and result[1] == Event.NO_MAJORITY


class TestIncompleteUpdates(SmpcRoundTest):
    """A period that ends without an accepted model is seen as incomplete by the next one."""

    def test_accepted_then_timed_out(self) -> None:
        """Period 0 accepted; period 1 timed out; period 2 sees period 1 as incomplete."""
        participants = tuple(self.participants)
        db = AbciAppDB(
            setup_data={
                "participants": [participants],
                "all_participants": [participants],
                "consensus_threshold": [3],
                "safe_contract_address": ["0x0"],
            },
            cross_period_persisted_keys=PERSISTED_KEYS,
        )
        key_generation = KeyExchangeRound(synchronized_data=SynchronizedData(db), context=MagicMock())
        for sender in participants:
            key_generation.process_payload(KeyExchangePayload(sender, box_public_key="00" * 32))
        result = self.end_after_confirmations(key_generation, KeyExchangeRound.required_block_confirmations + 1)
        assert result is not None
        data = cast_data(result[0])
        assert not data.previous_update_incomplete
        data = cast_data(data.update(last_accepted_period=0).create())
        assert data.period_count == 1 and not data.previous_update_incomplete
        data = cast_data(data.create())
        assert data.period_count == 2 and data.previous_update_incomplete


def cast_data(data: object) -> SynchronizedData:
    """Read synchronized data through this app's typed view."""
    return SynchronizedData(db=data.db)  # type: ignore[attr-defined]
