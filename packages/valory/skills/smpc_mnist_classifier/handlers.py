"""Handlers: the abstract_round_abci handlers serve every protocol this skill speaks; HttpHandler also serves the prediction API."""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from email.parser import HeaderParser
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable, Dict, Optional, cast
from urllib.parse import urlsplit

import numpy as np
from aea.protocols.base import Message

from packages.valory.connections.http_server.connection import (
    PUBLIC_ID as HTTP_SERVER_PUBLIC_ID,
)
from packages.valory.protocols.http.message import HttpMessage
from packages.valory.skills.abstract_round_abci import handlers as base
from packages.valory.skills.smpc_mnist_classifier import images, learning
from packages.valory.skills.smpc_mnist_classifier.behaviours import RECORDS_FOLDER
from packages.valory.skills.smpc_mnist_classifier.dialogues import HttpDialogue
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
JSON_HEADERS = "Content-Type: application/json\n"
# Predictions waiting for the worker beyond this are refused (503) rather than queued without bound.
MAX_PENDING_PREDICTIONS = 8

ABCIHandler = base.ABCIRoundHandler
SigningHandler = base.SigningHandler
LedgerApiHandler = base.LedgerApiHandler
ContractApiHandler = base.ContractApiHandler
TendermintHandler = base.TendermintHandler
IpfsHandler = base.IpfsHandler


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
        """Check the image here, predict on the worker thread, answer from the loop when done."""
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
        self._pending_predictions += 1
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, predict_digit, model, pixels
        )
        future.add_done_callback(
            partial(self._reply_prediction, message, dialogue, global_round)
        )

    def _reply_prediction(
        self,
        message: HttpMessage,
        dialogue: HttpDialogue,
        global_round: int,
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
        self._reply_json(
            message, dialogue, HTTPStatus.OK, {**future.result(), "round": global_round}
        )

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
