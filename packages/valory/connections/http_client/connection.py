"""HTTP client connection stand-in: serves HttpMessage REQUESTs with aiohttp and replies RESPONSEs."""

import asyncio
import traceback
from typing import Any, Dict, Optional, Set

import aiohttp
from multidict import CIMultiDict

from aea.configurations.base import PublicId
from aea.connections.base import Connection, ConnectionStates
from aea.mail.base import Envelope
from aea.protocols.base import Message
from aea.protocols.dialogue.base import Dialogue

from packages.valory.protocols.http.dialogues import HttpDialogue
from packages.valory.protocols.http.dialogues import HttpDialogues as BaseHttpDialogues
from packages.valory.protocols.http.message import HttpMessage


PUBLIC_ID = PublicId.from_str("valory/http_client:0.23.0")

# Status code of the RESPONSE sent back when the request itself failed (connection refused,
# timeout, invalid URL, ...): the body then holds the error text. abstract_round_abci
# treats any status other than 200 as a failed request.
ERROR_STATUS_CODE = 600
ERROR_STATUS_TEXT = "HTTPConnection request error."
DEFAULT_TIMEOUT = 300.0


def parse_headers(raw: str) -> CIMultiDict:
    """Parse 'Name: value' lines (separated by CRLF or LF) into a multidict."""
    headers: CIMultiDict = CIMultiDict()
    for line in raw.splitlines():
        if not line.strip() or ":" not in line:
            continue
        name, value = line.split(":", 1)
        headers.add(name.strip(), value.strip())
    return headers


def format_headers(headers: Any) -> str:
    """Render response headers as 'Name: value' lines."""
    return "".join(f"{name}: {value}\n" for name, value in headers.items())


class HttpDialogues(BaseHttpDialogues):
    """Dialogues kept by the connection, which plays the server role."""

    def __init__(self, self_address: str) -> None:
        """Initialise the dialogues for the given connection address."""

        def role_from_first_message(  # pylint: disable=unused-argument
            message: Message, receiver_address: str
        ) -> Dialogue.Role:
            """The connection answers requests, so it is always the server."""
            return HttpDialogue.Role.SERVER

        super().__init__(
            self_address=self_address,
            role_from_first_message=role_from_first_message,
        )


class HTTPClientConnection(Connection):
    """Connection that performs the HTTP requests it receives and returns the responses."""

    connection_id = PUBLIC_ID

    def __init__(self, **kwargs: Any) -> None:
        """Initialise the connection (config: timeout in seconds, ssl_verify)."""
        super().__init__(**kwargs)
        config = self.configuration.config
        self.timeout = float(config.get("timeout") or DEFAULT_TIMEOUT)
        self.ssl_verify = bool(config.get("ssl_verify", True))
        self.dialogues = HttpDialogues(self_address=str(self.connection_id))
        self._session: Optional[aiohttp.ClientSession] = None
        self._responses: Optional[asyncio.Queue] = None
        self._tasks: Set[asyncio.Task] = set()

    async def connect(self) -> None:
        """Open the aiohttp session."""
        if self.is_connected:
            return
        with self._connect_context():
            self._responses = asyncio.Queue()
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout)
            )

    async def disconnect(self) -> None:
        """Cancel pending requests and close the session."""
        if self.is_disconnected:
            return
        self.state = ConnectionStates.disconnecting
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._responses = None
        self.state = ConnectionStates.disconnected

    async def send(self, envelope: Envelope) -> None:
        """Start serving an HTTP request envelope in the background."""
        self._ensure_connected()
        message = envelope.message
        if (
            not isinstance(message, HttpMessage)
            or message.performative != HttpMessage.Performative.REQUEST
        ):
            self.logger.warning(
                f"http_client: dropping envelope that is not an HTTP REQUEST: {envelope}"
            )
            return
        dialogue = self.dialogues.update(message)
        if dialogue is None:
            self.logger.warning(f"http_client: could not update dialogue for {message}")
            return
        task = asyncio.ensure_future(self._serve(message, dialogue))
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

    async def _perform(self, request: HttpMessage) -> Dict[str, Any]:
        """Perform one request and return the response fields."""
        if self._session is None:
            raise RuntimeError("http_client is not connected")
        headers = parse_headers(request.headers) if request.headers else None
        async with self._session.request(
            method=request.method,
            url=request.url,
            headers=headers,
            data=request.body if request.body else None,
            ssl=None if self.ssl_verify else False,
        ) as response:
            body = await response.read()
            return {
                "status_code": response.status,
                "status_text": response.reason or "",
                "headers": format_headers(response.headers),
                "body": body,
            }

    async def _serve(self, request: HttpMessage, dialogue: HttpDialogue) -> None:
        """Perform the request (bounded by the timeout) and enqueue the reply."""
        try:
            fields = await asyncio.wait_for(self._perform(request), self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # pylint: disable=broad-except
            if isinstance(error, asyncio.TimeoutError):
                text = f"Request timed out after {self.timeout} seconds"
            else:
                text = "".join(traceback.format_exception_only(type(error), error))
            self.logger.debug(
                f"http_client: {request.method} {request.url} failed: {text}"
            )
            fields = {
                "status_code": ERROR_STATUS_CODE,
                "status_text": ERROR_STATUS_TEXT,
                "headers": "",
                "body": text.encode("utf-8"),
            }
        response = dialogue.reply(
            performative=HttpMessage.Performative.RESPONSE,
            target_message=request,
            version=request.version,
            **fields,
        )
        if self._responses is not None:
            await self._responses.put(
                Envelope(to=response.to, sender=response.sender, message=response)
            )
