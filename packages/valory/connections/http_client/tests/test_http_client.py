"""Tests of the http_client stand-in against a real aiohttp server on 127.0.0.1."""

import asyncio
import json
import socket
from pathlib import Path
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Tuple

from aiohttp import web

from aea.configurations.base import ConnectionConfig
from aea.connections.base import Connection
from aea.identity.base import Identity
from aea.mail.base import Envelope
from aea.protocols.base import Message
from aea.protocols.dialogue.base import Dialogue

from packages.valory.connections.http_client.connection import (
    ERROR_STATUS_CODE,
    HTTPClientConnection,
    PUBLIC_ID,
)
from packages.valory.protocols.http.dialogues import HttpDialogue, HttpDialogues
from packages.valory.protocols.http.message import HttpMessage


PACKAGE_DIR = Path(__file__).resolve().parent.parent
AGENT_ADDRESS = "agent_address"
SKILL_ID = "valory/test_skill:0.1.0"


class ClientDialogues(HttpDialogues):
    """Dialogues of the agent side (client role)."""

    def __init__(self) -> None:
        """Initialise."""

        def role(
            message: Message, receiver_address: str
        ) -> Dialogue.Role:  # pylint: disable=unused-argument
            """The agent is the client."""
            return HttpDialogue.Role.CLIENT

        super().__init__(self_address=SKILL_ID, role_from_first_message=role)


def _free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _echo(request: web.Request) -> web.Response:
    """Echo method, a header and the body as JSON."""
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "x_test": request.headers.get("X-Test"),
            "body": body.decode(),
            "query": dict(request.query),
        },
        headers={"X-Reply": "yes"},
    )


async def _slow(
    request: web.Request,
) -> web.Response:  # pylint: disable=unused-argument
    """Answer after a delay longer than the connection timeout used in the tests."""
    await asyncio.sleep(3)
    return web.Response(text="late")


@asynccontextmanager
async def local_server() -> AsyncIterator[str]:
    """Run a local aiohttp server on 127.0.0.1; yield its base URL."""
    app = web.Application()
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/slow", _slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _make_connection(tmp_path: Path, **config: Any) -> Connection:
    """Load the connection from its package directory, optionally overriding config."""
    if not config:
        return Connection.from_dir(
            str(PACKAGE_DIR),
            Identity("agent", address=AGENT_ADDRESS, public_key="pk"),
            crypto_store=None,  # type: ignore
            data_dir=str(tmp_path),
        )
    configuration = ConnectionConfig(
        connection_id=PUBLIC_ID,
        restricted_to_protocols={HttpMessage.protocol_id},
        **config,
    )
    return HTTPClientConnection(
        configuration=configuration,
        data_dir=str(tmp_path),
        identity=Identity("agent", address=AGENT_ADDRESS, public_key="pk"),
    )


async def _request(
    connection: Connection, method: str, url: str, headers: str = "", body: bytes = b""
) -> Tuple[HttpMessage, HttpMessage]:
    """Send one request through the connection and wait for its response."""
    dialogues = ClientDialogues()
    request, dialogue = dialogues.create(
        counterparty=str(PUBLIC_ID),
        performative=HttpMessage.Performative.REQUEST,
        method=method,
        url=url,
        headers=headers,
        version="",
        body=body,
    )
    await connection.send(
        Envelope(to=request.to, sender=request.sender, message=request)
    )
    envelope = await asyncio.wait_for(connection.receive(), timeout=15)
    response = envelope.message
    assert isinstance(response, HttpMessage)
    assert dialogues.update(response) is dialogue, "response is not in the dialogue"
    return request, response


def test_get_and_post(tmp_path: Path) -> None:
    """GET and POST reach the server and come back as RESPONSEs."""
    asyncio.run(_get_and_post(tmp_path))


async def _get_and_post(tmp_path: Path) -> None:
    """Body of test_get_and_post."""
    async with local_server() as server:
        await _get_and_post_with(server, tmp_path)


async def _get_and_post_with(server: str, tmp_path: Path) -> None:
    """Run GET and POST through the connection against server."""
    connection = _make_connection(tmp_path)
    assert connection.connection_id == PUBLIC_ID
    await connection.connect()
    try:
        _, response = await _request(
            connection, "GET", f"{server}/echo?a=1", headers="X-Test: hello\r\n"
        )
        assert response.performative == HttpMessage.Performative.RESPONSE
        assert response.status_code == 200
        assert response.status_text == "OK"
        assert "X-Reply: yes" in response.headers
        data = json.loads(response.body)
        assert data == {
            "method": "GET",
            "x_test": "hello",
            "body": "",
            "query": {"a": "1"},
        }

        _, response = await _request(
            connection, "POST", f"{server}/echo", body=b'{"k": "v"}'
        )
        assert response.status_code == 200
        assert json.loads(response.body)["body"] == '{"k": "v"}'
        assert json.loads(response.body)["method"] == "POST"
    finally:
        await connection.disconnect()
    assert connection.is_disconnected


def test_error_gives_status_600(tmp_path: Path) -> None:
    """A refused connection is answered with status 600 and the error text."""
    asyncio.run(_error_gives_status_600(tmp_path))


async def _error_gives_status_600(tmp_path: Path) -> None:
    """Body of test_error_gives_status_600."""
    connection = _make_connection(tmp_path)
    await connection.connect()
    try:
        _, response = await _request(
            connection, "GET", f"http://127.0.0.1:{_free_port()}/nothing"
        )
        assert response.status_code == ERROR_STATUS_CODE
        assert response.status_text == "HTTPConnection request error."
        assert b"Cannot connect" in response.body or b"refused" in response.body.lower()
    finally:
        await connection.disconnect()


def test_timeout_gives_status_600(tmp_path: Path) -> None:
    """A request slower than the configured timeout ends with status 600."""
    asyncio.run(_timeout_gives_status_600(tmp_path))


async def _timeout_gives_status_600(tmp_path: Path) -> None:
    """Body of test_timeout_gives_status_600."""
    async with local_server() as server:
        await _timeout_with(server, tmp_path)


async def _timeout_with(server: str, tmp_path: Path) -> None:
    """Request a slow endpoint with a 1 s connection timeout."""
    connection = _make_connection(tmp_path, timeout=1)
    await connection.connect()
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        _, response = await _request(connection, "GET", f"{server}/slow")
        assert response.status_code == ERROR_STATUS_CODE
        assert b"timed out" in response.body
        assert loop.time() - start < 2.5
    finally:
        await connection.disconnect()
