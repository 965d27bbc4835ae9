"""HTTP server connection stand-in: serves HTTP on host:port and hands each request to a skill."""

import asyncio
import email.message
from email.parser import HeaderParser
from typing import Any, Dict, Optional

from aiohttp import web

from aea.configurations.base import PublicId
from aea.connections.base import Connection, ConnectionStates
from aea.mail.base import Envelope
from aea.protocols.base import Message
from aea.protocols.dialogue.base import Dialogue, DialogueLabel

from packages.valory.protocols.http.dialogues import HttpDialogue
from packages.valory.protocols.http.dialogues import HttpDialogues as BaseHttpDialogues
from packages.valory.protocols.http.message import HttpMessage


PUBLIC_ID = PublicId.from_str("valory/http_server:0.22.0")

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
REQUEST_TIMEOUT = 408
PAYLOAD_TOO_LARGE = 413
# Hop-by-hop and length headers that aiohttp computes itself for the body it sends.
SERVER_COMPUTED_HEADERS = {"content-length", "transfer-encoding", "connection"}


def format_headers(headers: Any) -> str:
    """Render request headers as 'Name: value' lines, as the original connection does."""
    message = email.message.Message()
    for name, value in headers.items():
        message[name] = value
    return message.as_string()


def parse_headers(raw: str) -> Dict[str, str]:
    """The skill's 'Name: value' header lines, minus the ones aiohttp computes itself."""
    parsed = HeaderParser().parsestr(raw or "")
    return {
        name: value
        for name, value in parsed.items()
        if name.lower() not in SERVER_COMPUTED_HEADERS
    }


def json_error(status: int, error: str) -> web.Response:
    """A JSON error answered by the connection itself."""
    return web.json_response({"error": error}, status=status)


class HttpDialogues(BaseHttpDialogues):
    """Dialogues kept by the connection on behalf of the HTTP clients it serves."""

    def __init__(self, self_address: str) -> None:
        """Initialise the dialogues for the given connection address."""

        def role_from_first_message(  # pylint: disable=unused-argument
            message: Message, receiver_address: str
        ) -> Dialogue.Role:
            """The connection speaks for the remote client, which sends the requests."""
            return HttpDialogue.Role.CLIENT

        super().__init__(
            self_address=self_address,
            role_from_first_message=role_from_first_message,
        )


class HTTPServerConnection(Connection):
    """Connection that serves HTTP and forwards each request to the target skill as a valory/http REQUEST."""

    connection_id = PUBLIC_ID

    def __init__(self, **kwargs: Any) -> None:
        """Initialise from the config: host, port, target_skill_id, timeout, max_body_bytes."""
        super().__init__(**kwargs)
        config = self.configuration.config
        for unsupported in ("api_spec_path", "ssl_cert", "ssl_key"):
            if config.get(unsupported):
                raise ValueError(
                    f"http_server stand-in: {unsupported} is not supported (see README)"
                )
        self.host = str(config["host"])
        self.port = int(config["port"])
        if not config.get("target_skill_id"):
            raise ValueError("http_server stand-in: target_skill_id must be set")
        self.target_skill_id = PublicId.from_str(str(config["target_skill_id"]))
        self.timeout = float(config.get("timeout") or DEFAULT_TIMEOUT)
        self.max_body_bytes = int(
            config.get("max_body_bytes") or DEFAULT_MAX_BODY_BYTES
        )
        self.dialogues = HttpDialogues(self_address=str(self.connection_id))
        self._runner: Optional[web.AppRunner] = None
        self._requests: Optional[asyncio.Queue] = None
        self._pending: Dict[DialogueLabel, asyncio.Future] = {}

    async def connect(self) -> None:
        """Start listening on host:port."""
        if self.is_connected:
            return
        with self._connect_context():
            self._requests = asyncio.Queue()
            app = web.Application(client_max_size=self.max_body_bytes)
            app.router.add_route("*", "/{path:.*}", self._serve)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.host, self.port).start()
            self.logger.info(f"HTTP server listening on http://{self.host}:{self.port}")

    async def disconnect(self) -> None:
        """Stop the server; requests still waiting for the skill are cancelled."""
        if self.is_disconnected:
            return
        self.state = ConnectionStates.disconnecting
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._requests = None
        self.state = ConnectionStates.disconnected

    async def send(self, envelope: Envelope) -> None:
        """Deliver the skill's RESPONSE to the HTTP request waiting for it."""
        self._ensure_connected()
        message = envelope.message
        if (
            not isinstance(message, HttpMessage)
            or message.performative != HttpMessage.Performative.RESPONSE
        ):
            self.logger.warning(
                f"http_server: dropping envelope that is not an HTTP RESPONSE: {envelope}"
            )
            return
        dialogue = self.dialogues.update(message)
        future = (
            None
            if dialogue is None
            else self._pending.pop(dialogue.incomplete_dialogue_label, None)
        )
        if future is None or future.done():
            self.logger.warning(
                f"http_server: no request waits for this response (late or unknown): {message}"
            )
            return
        future.set_result(message)

    async def receive(self, *args: Any, **kwargs: Any) -> Optional[Envelope]:
        """Return the next request envelope for the skill."""
        self._ensure_connected()
        if self._requests is None:
            return None
        try:
            return await self._requests.get()
        except asyncio.CancelledError:
            return None

    async def _serve(self, request: web.Request) -> web.Response:
        """Forward one HTTP request to the skill and wait (up to timeout) for its answer."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return json_error(
                PAYLOAD_TOO_LARGE,
                f"request body over {self.max_body_bytes} bytes",
            )
        if self._requests is None:
            raise web.HTTPServiceUnavailable()
        message, dialogue = self.dialogues.create(
            counterparty=str(self.target_skill_id),
            performative=HttpMessage.Performative.REQUEST,
            method=request.method,
            url=str(request.url),
            headers=format_headers(request.headers),
            version="",
            body=body,
        )
        label = dialogue.incomplete_dialogue_label
        future = asyncio.get_running_loop().create_future()
        self._pending[label] = future
        await self._requests.put(
            Envelope(to=message.to, sender=message.sender, message=message)
        )
        try:
            response = await asyncio.wait_for(future, self.timeout)
        except asyncio.TimeoutError:
            self._pending.pop(label, None)
            self.logger.warning(
                f"http_server: {request.method} {request.path} not answered within {self.timeout} s"
            )
            return json_error(
                REQUEST_TIMEOUT,
                f"the agent did not answer within {self.timeout} seconds",
            )
        return web.Response(
            status=response.status_code,
            reason=response.status_text or None,
            headers=parse_headers(response.headers),
            body=response.body,
        )
