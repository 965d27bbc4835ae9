"""Handlers: valory's abstract_round_abci handlers, with the ABCI one behind a hardened boundary.

Tendermint hands the ABCI handler raw bytes that anyone on the host can send to a node's RPC. valory's
handler catches only the errors of well-formed transactions, so junk bytes raised out of the skill and
stopped the agent. Here every transaction is screened first (size, encoding, payload fields, signature,
sender) and anything refused gets a non-zero code and one log line.
"""

from dataclasses import fields
from typing import Any, Callable, FrozenSet, cast, get_type_hints

from packages.valory.protocols.abci import AbciMessage
from packages.valory.skills.abstract_round_abci import handlers as base
from packages.valory.skills.abstract_round_abci.base import (
    OK_CODE,
    BaseTxPayload,
    Transaction,
)
from packages.valory.skills.abstract_round_abci.dialogues import AbciDialogue

HttpHandler = base.HttpHandler
SigningHandler = base.SigningHandler
LedgerApiHandler = base.LedgerApiHandler
ContractApiHandler = base.ContractApiHandler
TendermintHandler = base.TendermintHandler
IpfsHandler = base.IpfsHandler

NONE_TYPE = type(None)


class TransactionRefused(Exception):
    """A transaction this agent takes neither into its mempool nor into a round."""


def decode_transaction(tx: bytes, max_bytes: int) -> Transaction:
    """Decode untrusted bytes into a transaction whose payload fields have their declared types."""
    if len(tx) > max_bytes:
        raise TransactionRefused(f"{len(tx)} bytes, more than the {max_bytes} allowed")
    try:
        transaction = Transaction.decode(tx)
    # Untrusted bytes: json, UTF-8, missing keys, unknown payload classes and wrong arguments each raise
    # their own type; all of them mean "not a transaction of this service".
    except Exception as error:  # pylint: disable=broad-except
        raise TransactionRefused(f"undecodable ({type(error).__name__})") from error
    if not isinstance(transaction.signature, str):
        raise TransactionRefused("the signature is not a string")
    check_field_types(transaction.payload)
    return transaction


def check_field_types(payload: BaseTxPayload) -> None:
    """Every payload field holds a value of its declared type (json gives no such guarantee)."""
    hints = get_type_hints(type(payload))
    for field in fields(payload):
        value = getattr(payload, field.name)
        if not has_type(value, hints[field.name]):
            raise TransactionRefused(
                f"field {field.name} of {type(payload).__name__} is not {hints[field.name]}"
            )


def has_type(value: Any, annotation: Any) -> bool:
    """Whether a json value fits a payload annotation: str, int, float, bool or Optional of one."""
    options = getattr(annotation, "__args__", (annotation,))
    if value is None:
        return NONE_TYPE in options
    if isinstance(value, bool):
        return bool in options
    return any(
        isinstance(option, type) and option is not bool and isinstance(value, option)
        for option in options
    )


def verify_sender(
    transaction: Transaction, ledger_id: str, participants: FrozenSet[str]
) -> None:
    """The sender is one of the service's participants and signed this payload."""
    sender = transaction.payload.sender
    if sender not in participants:
        raise TransactionRefused(f"sender {sender!r} is not a participant")
    try:
        transaction.verify(ledger_id)
    # The ledger plugin raises its own errors (bad hex, bad recovery id, bad point) for forged signatures.
    except Exception as error:  # pylint: disable=broad-except
        raise TransactionRefused(
            f"the signature of {sender} does not verify ({type(error).__name__})"
        ) from error


class ABCIHandler(base.ABCIRoundHandler):
    """valory's round handler; refuses, with a non-zero code and one log line, what the service must not take."""

    def check_tx(self, message: AbciMessage, dialogue: AbciDialogue) -> AbciMessage:
        """Admit to the mempool only well-formed, signed transactions of participants, within the size limit."""
        try:
            self.screen(message.tx)
            # ValueError: the round sequence has finished (the agent is stopping)
            self.context.state.round_sequence.check_is_finished()
        except (TransactionRefused, ValueError) as refusal:
            return self._refuse("check_tx", refusal, message, dialogue, self._check_tx_failed)
        reply = dialogue.reply(
            performative=AbciMessage.Performative.RESPONSE_CHECK_TX,
            target_message=message,
            code=OK_CODE,
            data=b"",
            log="",
            info="check_tx succeeded",
            gas_wanted=0,
            gas_used=0,
            events=base.Events([]),
            codespace="",
        )
        return cast(AbciMessage, reply)

    def deliver_tx(self, message: AbciMessage, dialogue: AbciDialogue) -> AbciMessage:
        """Screen like check_tx (a block may still carry junk), then let the round take the transaction."""
        try:
            self.screen(message.tx)
            self.context.state.round_sequence.check_is_finished()
        except (TransactionRefused, ValueError) as refusal:
            return self._refuse(
                "deliver_tx", refusal, message, dialogue, self._deliver_tx_failed
            )
        try:
            return super().deliver_tx(message, dialogue)
        # A participant's well-formed payload that a round cannot process is a bug to fix, not a reason
        # to leave Tendermint without an answer (the node would hang, and replay the same block on restart).
        except Exception:  # pylint: disable=broad-except
            self.context.logger.exception("A round failed to process a transaction")
            return self._deliver_tx_failed(message, dialogue, "the round failed")

    def screen(self, tx: bytes) -> Transaction:
        """The transaction in `tx`, if it is one this service takes; TransactionRefused otherwise."""
        params = self.context.params
        transaction = decode_transaction(tx, params.max_transaction_bytes)
        verify_sender(
            transaction,
            self.context.default_ledger_id,
            frozenset(params.setup_params.get("all_participants") or ()),
        )
        return transaction

    def _refuse(
        self,
        request: str,
        refusal: Exception,
        message: AbciMessage,
        dialogue: AbciDialogue,
        reply: Callable[[AbciMessage, AbciDialogue, str], AbciMessage],
    ) -> AbciMessage:
        """One log line and a non-zero code."""
        self.context.logger.warning(f"Refusing a transaction at {request}: {refusal}")
        return reply(message, dialogue, f"refused: {refusal}")
