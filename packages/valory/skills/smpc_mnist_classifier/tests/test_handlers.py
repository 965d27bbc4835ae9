"""The ABCI boundary: every refused transaction gets a non-zero code and one log line, never an exception."""

import json
import os
from typing import Callable, Dict, cast
from unittest.mock import MagicMock

import pytest
from aea.configurations.data_types import PublicId
from aea_ledger_ethereum import EthereumCrypto

from packages.valory.protocols.abci import AbciMessage
from packages.valory.protocols.abci.custom_types import CheckTxType, CheckTxTypeEnum
from packages.valory.skills.abstract_round_abci.base import (
    ERROR_CODE,
    OK_CODE,
    BaseTxPayload,
    Transaction,
)
from packages.valory.skills.abstract_round_abci.dialogues import (
    AbciDialogue,
    AbciDialogues,
)
from packages.valory.skills.smpc_mnist_classifier.handlers import ABCIHandler
from packages.valory.skills.transaction_settlement_abci.payloads import FinalizationTxPayload
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    GlobalModelVotePayload,
    TrainingPayload,
)

MAX_BYTES = 4096


def training(sender: str, local_model_digest: str, sample_count: int) -> TrainingPayload:
    """A training report from the initial model, committing to an update."""
    return TrainingPayload(sender, local_model_digest, sample_count, "", "c0" * 32)


def signed(crypto: EthereumCrypto, payload: BaseTxPayload) -> bytes:
    """A transaction as an agent sends it: the payload and the sender's signature of it."""
    signature = crypto.sign_message(payload.encode())
    return Transaction(payload, signature).encode()


def flip_signature(tx: bytes) -> bytes:
    """The same transaction with one hex character of its signature changed."""
    data = json.loads(tx)
    last = data["signature"][-3]
    data["signature"] = data["signature"][:-3] + ("1" if last != "1" else "2") + data["signature"][-2:]
    return json.dumps(data, sort_keys=True).encode()


def with_payload_field(tx: bytes, name: str, value: object) -> bytes:
    """The same transaction with one payload field replaced (the signature no longer matters first)."""
    data = json.loads(tx)
    data["payload"][name] = value
    return json.dumps(data, sort_keys=True).encode()


class TestABCIHandler:
    """check_tx and deliver_tx on real signed transactions and on junk."""

    def setup_method(self) -> None:
        """A handler whose service has two participants; an outsider holds a third key."""
        self.participant, self.other, self.outsider = (EthereumCrypto() for _ in range(3))
        self.context = MagicMock(skill_id=PublicId.from_str("dummy/skill:0.1.0"))
        self.context.default_ledger_id = "ethereum"
        self.context.params.max_transaction_bytes = MAX_BYTES
        self.context.params.setup_params = {
            "all_participants": [self.participant.address, self.other.address]
        }
        self.context.state.round_sequence.is_finished = False
        self.dialogues = AbciDialogues(name="", skill_context=self.context)
        self.handler = ABCIHandler(name="abci", skill_context=self.context)

    def good_tx(self, crypto: EthereumCrypto) -> bytes:
        """A well-formed training report signed by `crypto`."""
        return signed(crypto, training(crypto.address, "ab" * 32, 1000))

    def check(self, tx: bytes) -> AbciMessage:
        """The handler's answer to a CheckTx request for `tx`."""
        message, dialogue = self.dialogues.create(
            counterparty="",
            performative=AbciMessage.Performative.REQUEST_CHECK_TX,
            tx=tx,
            type=CheckTxType(CheckTxTypeEnum.NEW),
        )
        return self.handler.check_tx(cast(AbciMessage, message), cast(AbciDialogue, dialogue))

    def deliver(self, tx: bytes) -> AbciMessage:
        """The handler's answer to a DeliverTx request for `tx`."""
        message, dialogue = self.dialogues.create(
            counterparty="",
            performative=AbciMessage.Performative.REQUEST_DELIVER_TX,
            tx=tx,
        )
        return self.handler.deliver_tx(cast(AbciMessage, message), cast(AbciDialogue, dialogue))

    def junk(self) -> Dict[str, bytes]:
        """Every kind of transaction the service must refuse, by name."""
        good = self.good_tx(self.participant)
        return {
            "random": os.urandom(64),
            "empty": b"",
            "truncated": good[: len(good) // 2],
            "flipped signature": flip_signature(good),
            "outsider": self.good_tx(self.outsider),
            "oversized": signed(
                self.participant,
                training(self.participant.address, "ab" * MAX_BYTES, 1),
            ),
            "json list": b"[1, 2]",
            "unknown payload class": with_payload_field(
                good, "_metaclass_registry_key", "packages.nowhere.Payload"
            ),
            "missing field": json.dumps(
                {"signature": "00", "payload": {"sender": self.participant.address}}
            ).encode(),
            "wrong field type": with_payload_field(good, "sample_count", "many"),
            "bool for int": with_payload_field(good, "sample_count", True),
            "sender not a string": with_payload_field(good, "sender", 7),
            "dict where a string is due": with_payload_field(good, "local_model_digest", {"a": 1}),
            "signature not a string": json.dumps(
                {**json.loads(good), "signature": 7}
            ).encode(),
            "non-hex signature": json.dumps(
                {**json.loads(good), "signature": "zz"}
            ).encode(),
        }

    def test_a_participants_signed_transaction_passes_check_tx(self) -> None:
        """The honest case still works."""
        assert self.check(self.good_tx(self.participant)).code == OK_CODE

    def test_optional_fields_accept_none(self) -> None:
        """A vote to reject (all fields None) is a well-formed payload."""
        payload = GlobalModelVotePayload(self.other.address, None, None, None, None, None)
        assert self.check(signed(self.other, payload)).code == OK_CODE

    def test_chained_valory_payloads_with_nested_fields_pass(self) -> None:
        """transaction_settlement_abci's payloads carry a dict of scalars; it passes, a nested list does not."""
        tx_data = {"status_value": 1, "tx_digest": "0x" + "ab" * 32, "blacklisted_keepers": "", "keepers": "01"}
        payload = FinalizationTxPayload(self.other.address, tx_data)
        assert self.check(signed(self.other, payload)).code == OK_CODE
        nested = with_payload_field(signed(self.other, payload), "tx_data", {"keepers": [1, 2]})
        assert self.check(nested).code != OK_CODE

    @pytest.mark.parametrize("request_name", ["check", "deliver"])
    def test_every_junk_kind_is_refused_with_one_log_line(self, request_name: str) -> None:
        """Non-zero code, one warning line naming the reason, no exception, nothing reaches the round."""
        answer: Callable[[bytes], AbciMessage] = getattr(self, request_name)
        for name, tx in self.junk().items():
            self.context.logger.reset_mock()
            response = answer(tx)
            assert response.code == ERROR_CODE, name
            assert self.context.logger.warning.call_count == 1, name
            assert "Refusing a transaction" in self.context.logger.warning.call_args[0][0]
        self.context.state.round_sequence.deliver_tx.assert_not_called()

    def test_outsiders_and_oversized_payloads_are_named(self) -> None:
        """The log line says why: an outsider's address, or the size against the limit."""
        junk = self.junk()
        self.check(junk["outsider"])
        assert "is not a participant" in self.context.logger.warning.call_args[0][0]
        self.check(junk["oversized"])
        assert f"the {MAX_BYTES} allowed" in self.context.logger.warning.call_args[0][0]

    @pytest.mark.parametrize("request_name", ["check", "deliver"])
    def test_a_finished_round_sequence_refuses(self, request_name: str) -> None:
        """A stopping agent answers with a code instead of raising."""
        self.context.state.round_sequence.check_is_finished.side_effect = ValueError(
            "round sequence is finished"
        )
        response = getattr(self, request_name)(self.good_tx(self.participant))
        assert response.code == ERROR_CODE
        assert "round sequence is finished" in self.context.logger.warning.call_args[0][0]

    def test_a_participants_transaction_reaches_the_round_at_deliver_tx(self) -> None:
        """Screened transactions go on to valory's handler and the round sequence."""
        response = self.deliver(self.good_tx(self.participant))
        assert response.code == OK_CODE
        self.context.state.round_sequence.deliver_tx.assert_called_once()

    def test_a_round_that_raises_still_gets_an_answer(self) -> None:
        """Tendermint always gets a DeliverTx answer; a round's bug is logged with its traceback."""
        self.context.state.round_sequence.deliver_tx.side_effect = KeyError("bug")
        response = self.deliver(self.good_tx(self.participant))
        assert response.code == ERROR_CODE
        assert self.context.logger.exception.call_count == 1


class TestCommit:
    """Commit answers valory's app hash, takes the consensus snapshot when due, and a retain height that keeps the
    last retain_blocks blocks and every block above the snapshot."""

    def setup_method(self) -> None:
        """A handler whose round sequence has just committed block 1000, with a snapshot at 950."""
        self.context = MagicMock(skill_id=PublicId.from_str("dummy/skill:0.1.0"))
        self.context.state.round_sequence.height = 1000
        self.context.state.round_sequence.root_hash = b"app hash"
        self.context.state.snapshot_height = 950
        self.dialogues = AbciDialogues(name="", skill_context=self.context)
        self.handler = ABCIHandler(name="abci", skill_context=self.context)

    def commit(self, retain_blocks: int) -> AbciMessage:
        """The handler's answer to a Commit request with `retain_blocks` set."""
        self.context.params.retain_blocks = retain_blocks
        message, dialogue = self.dialogues.create(
            counterparty="", performative=AbciMessage.Performative.REQUEST_COMMIT
        )
        return self.handler.commit(cast(AbciMessage, message), cast(AbciDialogue, dialogue))

    @pytest.mark.parametrize(("retain_blocks", "expected"), [(0, 0), (20, 950), (300, 701), (1000, 1), (5000, 1)])
    def test_the_retain_height_keeps_the_window_and_the_blocks_above_the_snapshot(
        self, retain_blocks: int, expected: int
    ) -> None:
        """0 keeps every block; otherwise min(height - retain_blocks + 1, S), at least 1 (consensus_snapshot)."""
        response = self.commit(retain_blocks)
        assert response.performative == AbciMessage.Performative.RESPONSE_COMMIT
        assert response.retain_height == expected
        assert response.data == b"app hash"
        self.context.state.round_sequence.commit.assert_called_once()
        self.context.state.snapshot_after_commit.assert_called_once_with(retain_blocks)

    def test_the_retain_height_reaches_the_abci_connection(self) -> None:
        """The set field is part of the message valory's ABCI protocol carries to the connection (which hands it
        to Tendermint's ResponseCommit)."""
        response = self.commit(300)
        decoded = AbciMessage.serializer.decode(AbciMessage.serializer.encode(response))
        assert decoded.retain_height == 701
