"""Handlers: valory's abstract_round_abci handlers, the ABCI one behind a hardened boundary, and the
HTTP one serving the prediction API and web page.

Tendermint hands the ABCI handler raw bytes that anyone on the host can send to a node's RPC. valory's
handler catches only the errors of well-formed transactions, so junk bytes raised out of the skill and
stopped the agent. Here every transaction is screened first (size, encoding, payload fields, signature,
sender) and anything refused gets a non-zero code and one log line.
"""

import asyncio
from collections import abc
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from email.parser import HeaderParser
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Optional,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)
from urllib.parse import parse_qs, urlsplit

import numpy as np
from aea.components.utils import _enlist_component_packages
from aea.protocols.base import Message
from aea.skills.tasks import PROCESS_POOL_MODE, _init_worker

from packages.valory.connections.http_server.connection import (
    PUBLIC_ID as HTTP_SERVER_PUBLIC_ID,
)
from packages.valory.protocols.abci import AbciMessage
from packages.valory.protocols.http.message import HttpMessage
from packages.valory.skills.abstract_round_abci import handlers as base
from packages.valory.skills.abstract_round_abci.base import (
    OK_CODE,
    BaseTxPayload,
    Transaction,
)
from packages.valory.skills.abstract_round_abci.dialogues import AbciDialogue
from packages.valory.skills.smpc_mnist_classifier import images, learning, zk_jobs
from packages.valory.skills.smpc_mnist_classifier.behaviours import RECORDS_FOLDER
from packages.valory.skills.smpc_mnist_classifier.consensus_snapshot import retain_height
from packages.valory.skills.smpc_mnist_classifier.dialogues import HttpDialogue
from packages.valory.skills.smpc_mnist_classifier.zk_inference import (
    InferenceProof,
    ZkInferenceError,
    mnist_image,
)
from packages.valory.skills.smpc_mnist_classifier.models import (
    AgentPrivateState,
    Params,
    PrivateState,
    SharedState,
)

WEB_FOLDER = Path(__file__).parent / "web"
# path -> (file in WEB_FOLDER, content type)
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
HEALTHCHECK_PATH = "/healthcheck"
MODEL_PATH = "/model"
PREDICT_PATH = "/predict"
PROOFS_PATH = "/proofs/"  # + job id
PROOF_PARAMETER = "proof"  # POST /predict?proof=true also queues a proof of the prediction
PROOF_FLAGS = {"true": True, "1": True, "false": False, "0": False}
JSON_HEADERS = "Content-Type: application/json\n"
# Predictions waiting for the worker beyond this are refused (503) rather than queued without bound.
MAX_PENDING_PREDICTIONS = 8

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
    """Whether a json value fits a payload annotation: a scalar, Any, Optional/Union, or a list, tuple or
    dict of such (the chained valory payloads carry e.g. Optional[Dict[str, Union[str, int, bool]]])."""
    if annotation is Any:
        return True
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is Union:
        return any(has_type(value, option) for option in arguments)
    if annotation is NONE_TYPE:
        return value is None
    if origin in (dict, abc.Mapping):
        key_type, value_type = arguments or (Any, Any)
        return isinstance(value, dict) and all(
            has_type(key, key_type) and has_type(item, value_type)
            for key, item in value.items()
        )
    if origin in (list, tuple, abc.Sequence):
        item_types = [option for option in arguments if option is not Ellipsis] or [Any]
        return isinstance(value, (list, tuple)) and all(
            any(has_type(item, item_type) for item_type in item_types) for item in value
        )
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is float:  # json may give an integral float as an int
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return (
        isinstance(annotation, type)
        and isinstance(value, annotation)
        and not (isinstance(value, bool) and annotation is not bool)
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

    def commit(self, message: AbciMessage, dialogue: AbciDialogue) -> AbciMessage:
        """valory's commit on a db trimmed to its last periods at a period's start, then the consensus snapshot when
        one is due, and a retain height: Tendermint prunes the blocks below it, keeping the last retain_blocks
        blocks and every block above the snapshot (retain_height)."""
        state = cast(SharedState, self.context.state)
        state.forget_old_periods()
        reply = super().commit(message, dialogue)
        state.forget_old_blocks()
        retain_blocks = cast(Params, self.context.params).retain_blocks
        state.snapshot_after_commit(retain_blocks)
        reply.set(
            "retain_height",
            retain_height(state.round_sequence.height, retain_blocks, state.snapshot_height),
        )
        return reply

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


class HttpHandler(base.HttpHandler):
    """Serves the prediction API and the web page; other HTTP messages (answers to this skill's own requests) go to the base handler.

    Requests come from the http_server connection. Predictions run on a one-thread executor, off the agent's
    main loop, and the answer is sent from the loop when they finish, so the FSM never waits for them.
    """

    def setup(self) -> None:
        """Start the prediction worker and load the page's files."""
        super().setup()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._pending_predictions = 0
        params = cast(Params, self.context.params)
        # The prover is a spawned process: aea's own process-pool initializer loads this agent's packages there.
        self._proofs = zk_jobs.ProofJobs(
            params.proof_circuit,
            zk_jobs.mnist_setup_inputs(params.model_seed),
            worker_initializer=(
                _init_worker,
                (PROCESS_POOL_MODE, _enlist_component_packages()),
            ),
        )
        self._static = {
            path: (content_type, (WEB_FOLDER / name).read_bytes())
            for path, (name, content_type) in STATIC_FILES.items()
        }
        self._routes: Dict[
            str, Dict[str, Callable[[HttpMessage, HttpDialogue], None]]
        ] = {
            HEALTHCHECK_PATH: {"GET": self._get_health},
            MODEL_PATH: {"GET": self._get_model},
            PREDICT_PATH: {"POST": self._post_predict},
            **{path: {"GET": self._get_static} for path in self._static},
        }

    def teardown(self) -> None:
        """Stop the prediction worker; queued predictions are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._proofs.shutdown(wait=False)
        super().teardown()

    def handle(self, message: Message) -> None:
        """Route a request from the http_server connection; pass anything else to the base handler."""
        http_message = cast(HttpMessage, message)
        if (
            http_message.performative != HttpMessage.Performative.REQUEST
            or http_message.sender != str(HTTP_SERVER_PUBLIC_ID.without_hash())
        ):
            super().handle(message)
            return
        dialogue = cast(
            Optional[HttpDialogue], self.context.http_dialogues.update(http_message)
        )
        if dialogue is None:
            self.context.logger.warning(
                f"HTTP request outside any dialogue: {http_message}"
            )
            return
        path = urlsplit(http_message.url).path
        methods = self._routes.get(path)
        if methods is None and path.startswith(PROOFS_PATH):
            methods = {"GET": self._get_proof}
        if methods is None:
            self._reply_json(
                http_message,
                dialogue,
                HTTPStatus.NOT_FOUND,
                {"error": f"no such path: {path}"},
            )
        elif http_message.method.upper() not in methods:
            self._reply_json(
                http_message,
                dialogue,
                HTTPStatus.METHOD_NOT_ALLOWED,
                {
                    "error": f"{http_message.method} is not allowed on {path}; use {', '.join(methods)}"
                },
                extra_headers=f"Allow: {', '.join(methods)}\n",
            )
        else:
            methods[http_message.method.upper()](http_message, dialogue)

    @property
    def _agent(self) -> AgentPrivateState:
        """This agent's private state (its adopted global model)."""
        return cast(PrivateState, self.context.private_state).agent

    def _get_static(self, message: HttpMessage, dialogue: HttpDialogue) -> None:
        """The web page and its script and style."""
        content_type, body = self._static[urlsplit(message.url).path]
        self._reply(
            message, dialogue, HTTPStatus.OK, f"Content-Type: {content_type}\n", body
        )

    def _get_health(self, message: HttpMessage, dialogue: HttpDialogue) -> None:
        """Olas healthcheck: current round, period, seconds since the last transition, is_healthy."""
        round_sequence = cast(SharedState, self.context.state).round_sequence
        app_started = (
            round_sequence._abci_app is not None
        )  # pylint: disable=protected-access
        last = (
            round_sequence._last_round_transition_timestamp
        )  # pylint: disable=protected-access
        seconds = None if last is None else time.time() - last.timestamp()
        is_tm_healthy = not round_sequence.block_stall_deadline_expired
        longest_round = (
            max(round_sequence.abci_app.event_to_timeout.values())
            if app_started
            else 0.0
        )
        self._reply_json(
            message,
            dialogue,
            HTTPStatus.OK,
            {
                "current_round": (
                    round_sequence.current_round_id if app_started else None
                ),
                "period": (
                    round_sequence.latest_synchronized_data.period_count
                    if app_started
                    else None
                ),
                "seconds_since_last_transition": seconds,
                "is_tm_healthy": is_tm_healthy,
                "is_healthy": is_tm_healthy
                and seconds is not None
                and seconds < longest_round,
            },
        )

    def _get_model(self, message: HttpMessage, dialogue: HttpDialogue) -> None:
        """The adopted global model: round, digest, contributors, and this agent's accuracy per round."""
        params = cast(Params, self.context.params)
        records_folder = (
            params.agent_folder(self.context.agent_address) / RECORDS_FOLDER
        )
        records = [
            json.loads(path.read_text())
            for path in sorted(records_folder.glob("round_*.json"))
        ]
        latest = records[-1] if records else {}
        self._reply_json(
            message,
            dialogue,
            HTTPStatus.OK,
            {
                "round": latest.get("global_round"),
                "period": latest.get("period"),
                "model_digest": latest.get("global_model_digest"),
                "contributors": {
                    sender: included["sample_count"]
                    for sender, included in latest.get("included_updates", {}).items()
                },
                "decryptors": sorted(latest.get("decryption_shares", {})),
                "accuracy_history": [
                    {
                        "round": record["global_round"],
                        "period": record["period"],
                        "validation_accuracy": record["validation_accuracy"],
                    }
                    for record in records
                ],
            },
        )

    def _post_predict(self, message: HttpMessage, dialogue: HttpDialogue) -> None:
        """Check the image here, predict on the worker thread, answer from the loop when done; with
        ?proof=true, also queue a proof of the prediction and answer its job id."""
        with_proof = proof_requested(message.url)
        if with_proof is None:
            self._reply_json(
                message,
                dialogue,
                HTTPStatus.BAD_REQUEST,
                {"error": f"{PROOF_PARAMETER} must be one of {', '.join(PROOF_FLAGS)}"},
            )
            return
        try:
            pixels = images.decode_digit(
                message.body, request_content_type(message.headers)
            )
        except images.ImageInputError as error:
            self._reply_json(
                message, dialogue, HTTPStatus(error.status), {"error": str(error)}
            )
            return
        model, global_round = self._agent.global_model, self._agent.adopted_round
        if model is None or global_round == 0:
            self._reply_json(
                message,
                dialogue,
                HTTPStatus.SERVICE_UNAVAILABLE,
                {"error": "no global model has been accepted yet"},
            )
            return
        if self._pending_predictions >= MAX_PENDING_PREDICTIONS:
            self._reply_json(
                message,
                dialogue,
                HTTPStatus.SERVICE_UNAVAILABLE,
                {"error": "too many predictions queued; retry later"},
            )
            return
        extra: Dict[str, Any] = {}
        if with_proof:
            try:
                job_id = self._proofs.submit(
                    model, mnist_image(pixels.reshape(-1)), tag={"round": global_round}
                )
            except zk_jobs.ProofQueueFull as error:
                self._reply_json(
                    message, dialogue, HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(error)}
                )
                return
            except ZkInferenceError as error:
                self._reply_json(
                    message, dialogue, HTTPStatus.BAD_REQUEST, {"error": str(error)}
                )
                return
            extra["proof_job"] = {"id": job_id, "url": PROOFS_PATH + job_id}
        self._pending_predictions += 1
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, predict_digit, model, pixels
        )
        future.add_done_callback(
            partial(self._reply_prediction, message, dialogue, {"round": global_round, **extra})
        )

    def _reply_prediction(
        self,
        message: HttpMessage,
        dialogue: HttpDialogue,
        extra: Dict[str, Any],
        future: "asyncio.Future[Dict[str, Any]]",
    ) -> None:
        """Runs on the agent's loop when a prediction finishes: send its result, or a 500 if it failed."""
        self._pending_predictions -= 1
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self.context.logger.error(f"Prediction failed: {error!r}")
            self._reply_json(
                message,
                dialogue,
                HTTPStatus.INTERNAL_SERVER_ERROR,
                {"error": "prediction failed"},
            )
            return
        self._reply_json(message, dialogue, HTTPStatus.OK, {**future.result(), **extra})

    def _get_proof(self, message: HttpMessage, dialogue: HttpDialogue) -> None:
        """A proof job's state: queued, running, failed (with the error) or done (with the EZKL proof)."""
        job_id = urlsplit(message.url).path[len(PROOFS_PATH) :]
        job = self._proofs.get(job_id)
        if job is None:
            self._reply_json(
                message,
                dialogue,
                HTTPStatus.NOT_FOUND,
                {"error": f"no proof job {job_id!r} (unknown, or forgotten among older jobs)"},
            )
            return
        body: Dict[str, Any] = {"job_id": job.job_id, "status": job.status, **job.tag}
        if job.status == zk_jobs.FAILED:
            body["error"] = job.error
        if job.status == zk_jobs.DONE:
            proof = InferenceProof.from_json(cast(str, job.proof))
            body.update(
                digit=proof.digit(),
                weight_commitment=proof.weight_commitment().hex(),
                proof=proof.document,
            )
        self._reply_json(message, dialogue, HTTPStatus.OK, body)

    def _reply_json(
        self,
        message: HttpMessage,
        dialogue: HttpDialogue,
        status: HTTPStatus,
        data: Dict[str, Any],
        extra_headers: str = "",
    ) -> None:
        """Answer with a JSON body."""
        self._reply(
            message,
            dialogue,
            status,
            JSON_HEADERS + extra_headers,
            json.dumps(data).encode(),
        )

    def _reply(
        self,
        message: HttpMessage,
        dialogue: HttpDialogue,
        status: HTTPStatus,
        headers: str,
        body: bytes,
    ) -> None:
        """Send the RESPONSE back through the http_server connection."""
        response = dialogue.reply(
            performative=HttpMessage.Performative.RESPONSE,
            target_message=message,
            version=message.version,
            status_code=status.value,
            status_text=status.phrase,
            headers=headers,
            body=body,
        )
        self.context.outbox.put_message(message=response)


def proof_requested(url: str) -> Optional[bool]:
    """Whether the request asks for a proof (?proof=true); None for a value that is neither yes nor no."""
    values = parse_qs(urlsplit(url).query).get(PROOF_PARAMETER, ["false"])
    return PROOF_FLAGS.get(values[-1].lower())


def request_content_type(headers: str) -> str:
    """The Content-Type of a request, from its 'Name: value' header lines."""
    return HeaderParser().parsestr(headers).get("Content-Type", "")


def predict_digit(model: learning.MnistCnn, pixels: np.ndarray) -> Dict[str, Any]:
    """Runs on the worker thread: the digit, its ten probabilities and the digest of the model that gave them."""
    probabilities = learning.predict_probabilities(model, pixels[np.newaxis])[0]
    return {
        "digit": int(probabilities.argmax()),
        "probabilities": [float(p) for p in probabilities],
        "model_digest": learning.model_digest(model),
    }
