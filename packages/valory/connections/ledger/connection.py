"""Ledger connection stand-in: serves LedgerApiMessage and ContractApiMessage requests."""

import asyncio
import concurrent.futures
import traceback
from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional, Set, Tuple

from aea.configurations.base import PublicId
from aea.connections.base import Connection, ConnectionStates
from aea.contracts.base import Contract, contract_registry, snake_to_camel
from aea.crypto.base import LedgerApi
from aea.crypto.registries import make_ledger_api
from aea.mail.base import Envelope
from aea.protocols.base import Message
from aea.protocols.dialogue.base import Dialogue

from packages.valory.protocols.contract_api.custom_types import (
    RawMessage,
    RawTransaction,
    State,
)
from packages.valory.protocols.contract_api.dialogues import ContractApiDialogue
from packages.valory.protocols.contract_api.dialogues import (
    ContractApiDialogues as BaseContractApiDialogues,
)
from packages.valory.protocols.contract_api.message import ContractApiMessage
from packages.valory.protocols.ledger_api.custom_types import (
    RawTransaction as LedgerRawTransaction,
)
from packages.valory.protocols.ledger_api.custom_types import State as LedgerState
from packages.valory.protocols.ledger_api.custom_types import (
    TransactionDigest,
    TransactionDigests,
    TransactionReceipt,
)
from packages.valory.protocols.ledger_api.dialogues import LedgerApiDialogue
from packages.valory.protocols.ledger_api.dialogues import (
    LedgerApiDialogues as BaseLedgerApiDialogues,
)
from packages.valory.protocols.ledger_api.message import LedgerApiMessage


PUBLIC_ID = PublicId.from_str("valory/ledger:0.19.0")

ERROR_CODE = 500
DEFAULT_RETRY_ATTEMPTS = 120
DEFAULT_RETRY_TIMEOUT = 1.0
DEFAULT_MAX_WORKERS = 4
# kwarg that selects the `ledger_apis` config entry; it is removed before calling the ledger
CHAIN_ID_KWARG = "chain_id"


class RequestError(Exception):
    """A request that cannot be served; its text becomes the ERROR message."""


def _error_text(error: BaseException) -> str:
    """Render an exception as one readable line (type and message)."""
    if isinstance(error, RequestError):
        return str(error)
    return "".join(traceback.format_exception_only(type(error), error)).strip()


def _ledger_role(  # pylint: disable=unused-argument
    message: Message, receiver_address: str
) -> Dialogue.Role:
    """The connection answers on behalf of the ledger."""
    return LedgerApiDialogue.Role.LEDGER


def _contract_role(  # pylint: disable=unused-argument
    message: Message, receiver_address: str
) -> Dialogue.Role:
    """The connection answers on behalf of the ledger."""
    return ContractApiDialogue.Role.LEDGER


class LedgerApiDialogues(BaseLedgerApiDialogues):
    """Ledger API dialogues kept by the connection (ledger role)."""

    def __init__(self, self_address: str) -> None:
        """Initialise the dialogues."""
        super().__init__(
            self_address=self_address, role_from_first_message=_ledger_role
        )


class ContractApiDialogues(BaseContractApiDialogues):
    """Contract API dialogues kept by the connection (ledger role)."""

    def __init__(self, self_address: str) -> None:
        """Initialise the dialogues."""
        super().__init__(
            self_address=self_address, role_from_first_message=_contract_role
        )


class LedgerConnection(Connection):  # pylint: disable=too-many-instance-attributes
    """Serve ledger_api and contract_api requests with aea's ledger APIs and contract registry."""

    connection_id = PUBLIC_ID

    def __init__(self, **kwargs: Any) -> None:
        """Initialise the connection from its config (ledger_apis, retry_attempts, retry_timeout)."""
        super().__init__(**kwargs)
        config = self.configuration.config
        self.api_configs: Dict[str, Dict[str, Any]] = dict(
            config.get("ledger_apis") or {}
        )
        self.retry_attempts = int(
            config.get("retry_attempts") or DEFAULT_RETRY_ATTEMPTS
        )
        self.retry_timeout = float(config.get("retry_timeout") or DEFAULT_RETRY_TIMEOUT)
        self.max_workers = int(config.get("max_workers") or DEFAULT_MAX_WORKERS)
        self.ledger_dialogues = LedgerApiDialogues(str(self.connection_id))
        self.contract_dialogues = ContractApiDialogues(str(self.connection_id))
        self._apis: Dict[Tuple[str, str], LedgerApi] = {}
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._responses: Optional[asyncio.Queue] = None
        self._tasks: Set[asyncio.Future] = set()

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Start the thread executor used for blocking ledger calls."""
        if self.is_connected:
            return
        with self._connect_context():
            self._responses = asyncio.Queue()
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.max_workers, thread_name_prefix="ledger_connection"
            )

    async def disconnect(self) -> None:
        """Cancel pending requests and stop the executor."""
        if self.is_disconnected:
            return
        self.state = ConnectionStates.disconnecting
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._responses = None
        self.state = ConnectionStates.disconnected

    async def send(self, envelope: Envelope) -> None:
        """Start serving a ledger_api or contract_api request in the background."""
        self._ensure_connected()
        message = envelope.message
        if isinstance(message, LedgerApiMessage):
            dialogue = self.ledger_dialogues.update(message)
            handler: Callable = self._serve_ledger
        elif isinstance(message, ContractApiMessage):
            dialogue = self.contract_dialogues.update(message)
            handler = self._serve_contract
        else:
            self.logger.warning(f"ledger: dropping unsupported envelope {envelope}")
            return
        if dialogue is None:
            self.logger.warning(f"ledger: could not update dialogue for {message}")
            return
        task = asyncio.ensure_future(self._serve(handler, message, dialogue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def receive(self, *args: Any, **kwargs: Any) -> Optional[Envelope]:
        """Return the next response envelope."""
        self._ensure_connected()
        if self._responses is None:
            return None
        try:
            return await self._responses.get()
        except asyncio.CancelledError:
            return None

    # ------------------------------------------------------------------ plumbing

    async def _serve(self, handler: Callable, message: Message, dialogue: Any) -> None:
        """Run a handler; turn any failure into the protocol's ERROR reply."""
        try:
            response = await handler(message, dialogue)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # pylint: disable=broad-except
            text = _error_text(error)
            self.logger.debug(f"ledger: request {message} failed: {text}")
            response = dialogue.reply(
                performative=message.Performative.ERROR,
                target_message=message,
                code=ERROR_CODE,
                message=text,
                data=b"",
            )
        if self._responses is not None:
            await self._responses.put(
                Envelope(to=response.to, sender=response.sender, message=response)
            )

    async def _blocking(self, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking callable in the thread executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: func(*args, **kwargs))

    def _api(self, ledger_id: str, chain_id: Optional[str]) -> LedgerApi:
        """Return (and cache) the ledger API for ledger_id configured by ledger_apis[chain_id]."""
        config_key = chain_id or ledger_id
        key = (ledger_id, config_key)
        if key not in self._apis:
            if config_key not in self.api_configs:
                raise RequestError(
                    f"No ledger_apis config for '{config_key}' (known: {sorted(self.api_configs)})"
                )
            self._apis[key] = make_ledger_api(ledger_id, **self.api_configs[config_key])
        return self._apis[key]

    @staticmethod
    def _split_kwargs(
        body: Optional[Dict[str, Any]]
    ) -> Tuple[Dict[str, Any], Optional[str]]:
        """Copy the request kwargs and take out the chain id (a ledger_apis key)."""
        kwargs = dict(body or {})
        chain_id = kwargs.pop(CHAIN_ID_KWARG, None)
        return kwargs, (str(chain_id) if chain_id else None)

    # ------------------------------------------------------------------ ledger_api

    async def _serve_ledger(
        self, message: LedgerApiMessage, dialogue: LedgerApiDialogue
    ) -> LedgerApiMessage:
        """Serve one LedgerApiMessage request."""
        performative = message.performative
        perf = LedgerApiMessage.Performative
        if performative == perf.GET_BALANCE:
            api = self._api(message.ledger_id, None)
            balance = await self._blocking(
                api.get_balance, message.address, raise_on_try=True
            )
            if balance is None:
                raise RequestError(f"No balance returned for {message.address}")
            return dialogue.reply(
                performative=perf.BALANCE,
                target_message=message,
                ledger_id=message.ledger_id,
                balance=int(balance),
            )
        if performative == perf.GET_STATE:
            kwargs, chain_id = self._split_kwargs(message.kwargs.body)
            api = self._api(message.ledger_id, chain_id)
            state = await self._blocking(
                api.get_state,
                message.callable,
                *message.args,
                raise_on_try=True,
                **kwargs,
            )
            if state is None:
                raise RequestError(f"No state returned by '{message.callable}'")
            return dialogue.reply(
                performative=perf.STATE,
                target_message=message,
                ledger_id=message.ledger_id,
                state=LedgerState(message.ledger_id, dict(state)),
            )
        if performative == perf.GET_RAW_TRANSACTION:
            return await self._raw_transfer(message, dialogue)
        if performative == perf.SEND_SIGNED_TRANSACTION:
            kwargs, chain_id = self._split_kwargs(message.kwargs.body)
            signed = message.signed_transaction
            api = self._api(signed.ledger_id, chain_id)
            digest = await self._blocking(
                api.send_signed_transaction, signed.body, raise_on_try=True
            )
            if digest is None:
                raise RequestError("No transaction digest returned")
            return dialogue.reply(
                performative=perf.TRANSACTION_DIGEST,
                target_message=message,
                transaction_digest=TransactionDigest(signed.ledger_id, digest),
            )
        if performative == perf.SEND_SIGNED_TRANSACTIONS:
            kwargs, chain_id = self._split_kwargs(message.kwargs.body)
            bundle = message.signed_transactions
            api = self._api(bundle.ledger_id, chain_id)
            digests = await self._blocking(
                api.send_signed_transactions,
                bundle.signed_transactions,
                raise_on_try=True,
                **kwargs,
            )
            if not digests:
                raise RequestError("No transaction digests returned")
            return dialogue.reply(
                performative=perf.TRANSACTION_DIGESTS,
                target_message=message,
                transaction_digests=TransactionDigests(bundle.ledger_id, list(digests)),
            )
        if performative == perf.GET_TRANSACTION_RECEIPT:
            return await self._receipt(message, dialogue)
        raise RequestError(f"Unsupported ledger_api performative {performative}")

    async def _raw_transfer(
        self, message: LedgerApiMessage, dialogue: LedgerApiDialogue
    ) -> LedgerApiMessage:
        """Build a transfer transaction from the request's terms."""
        terms = message.terms
        # here `chain_id` (if any) is the numeric EVM chain id of the transfer, not a config key
        kwargs = dict(terms.kwargs or {})
        api = self._api(terms.ledger_id, None)
        transaction = await self._blocking(
            api.get_transfer_transaction,
            sender_address=terms.sender_address,
            destination_address=terms.counterparty_address,
            amount=terms.sender_payable_amount,
            tx_fee=terms.fee if terms.has_fee else 0,
            tx_nonce=terms.nonce,
            raise_on_try=True,
            **kwargs,
        )
        if transaction is None:
            raise RequestError("No transfer transaction returned")
        return dialogue.reply(
            performative=LedgerApiMessage.Performative.RAW_TRANSACTION,
            target_message=message,
            raw_transaction=LedgerRawTransaction(terms.ledger_id, transaction),
        )

    async def _receipt(
        self, message: LedgerApiMessage, dialogue: LedgerApiDialogue
    ) -> LedgerApiMessage:
        """Poll for a receipt; reply when the transaction is settled, ERROR if it reverted or never shows."""
        digest = message.transaction_digest
        _, chain_id = self._split_kwargs(message.kwargs.body if message.is_set("kwargs") else None)  # type: ignore
        api = self._api(digest.ledger_id, chain_id)
        attempts = message.retry_attempts or self.retry_attempts
        pause = message.retry_timeout or self.retry_timeout
        receipt = None
        for attempt in range(attempts):
            receipt = await self._blocking(api.get_transaction_receipt, digest.body)
            if receipt is not None:
                break
            if attempt + 1 < attempts:
                await asyncio.sleep(pause)
        if receipt is None:
            raise RequestError(
                f"Transaction receipt for {digest.body} not found after {attempts} attempts"
            )
        if not api.is_transaction_settled(receipt):
            reason = (
                receipt.get("revert_reason", "") if isinstance(receipt, Mapping) else ""
            )
            raise RequestError(
                f"Transaction {digest.body} was mined but did not succeed (status="
                f"{receipt.get('status') if isinstance(receipt, Mapping) else '?'}) {reason}".strip()
            )
        transaction = await self._blocking(api.get_transaction, digest.body)
        return dialogue.reply(
            performative=LedgerApiMessage.Performative.TRANSACTION_RECEIPT,
            target_message=message,
            transaction_receipt=TransactionReceipt(
                digest.ledger_id, dict(receipt), dict(transaction or {})
            ),
        )

    # ------------------------------------------------------------------ contract_api

    async def _serve_contract(
        self, message: ContractApiMessage, dialogue: ContractApiDialogue
    ) -> ContractApiMessage:
        """Serve one ContractApiMessage request by calling the contract package's callable."""
        kwargs, chain_id = self._split_kwargs(message.kwargs.body)
        api = self._api(message.ledger_id, chain_id)
        if message.contract_id not in contract_registry.specs:
            raise RequestError(
                f"Contract {message.contract_id} is not loaded (add it to the agent's contracts)"
            )
        contract = contract_registry.make(message.contract_id)
        perf = ContractApiMessage.Performative
        performative = message.performative
        result = await self._blocking(
            self._call_contract, contract, api, message, kwargs
        )
        if result is None:
            raise RequestError(
                f"{message.contract_id}.{message.callable} returned nothing"
            )
        if performative == perf.GET_STATE:
            if not isinstance(result, Mapping):
                result = {f"{message.callable}_result": result}
            return dialogue.reply(
                performative=perf.STATE,
                target_message=message,
                state=State(message.ledger_id, dict(result)),
            )
        if performative in (perf.GET_RAW_TRANSACTION, perf.GET_DEPLOY_TRANSACTION):
            if not isinstance(result, Mapping):
                raise RequestError(
                    f"{message.callable} returned {type(result).__name__}, expected a transaction dict"
                )
            return dialogue.reply(
                performative=perf.RAW_TRANSACTION,
                target_message=message,
                raw_transaction=RawTransaction(message.ledger_id, dict(result)),
            )
        if performative == perf.GET_RAW_MESSAGE:
            if not isinstance(result, bytes):
                raise RequestError(
                    f"{message.callable} returned {type(result).__name__}, expected bytes"
                )
            return dialogue.reply(
                performative=perf.RAW_MESSAGE,
                target_message=message,
                raw_message=RawMessage(message.ledger_id, result),
            )
        raise RequestError(f"Unsupported contract_api performative {performative}")

    @staticmethod
    def _call_contract(
        contract: Contract,
        api: LedgerApi,
        message: ContractApiMessage,
        kwargs: Dict[str, Any],
    ) -> Any:
        """Call the contract package's classmethod named by the request, or the ABI function."""
        method = getattr(type(contract), message.callable, None) or getattr(
            contract, message.callable, None
        )
        is_deploy = (
            message.performative
            == ContractApiMessage.Performative.GET_DEPLOY_TRANSACTION
        )
        if callable(method):
            if is_deploy:
                return method(api, **kwargs)
            return method(api, message.contract_address, **kwargs)
        if message.performative != ContractApiMessage.Performative.GET_STATE:
            raise RequestError(
                f"{message.contract_id} has no callable '{message.callable}'"
            )
        # plain read of an ABI function, e.g. callable `get_threshold` -> getThreshold()
        return contract.default_method_call(
            api, message.contract_address, snake_to_camel(message.callable), **kwargs
        )
