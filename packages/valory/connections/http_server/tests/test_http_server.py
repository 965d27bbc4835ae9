"""Tests of the http_server stand-in: real HTTP requests on 127.0.0.1, answered by a minimal skill loop."""

import asyncio
import json
import socket
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import aiohttp

from aea.configurations.base import ConnectionConfig
from aea.identity.base import Identity
from aea.mail.base import Envelope
from aea.protocols.base import Message
from aea.protocols.dialogue.base import Dialogue

from packages.valory.connections.http_server.connection import (
    HTTPServerConnection,
    PUBLIC_ID,
)
from packages.valory.protocols.http.dialogues import HttpDialogue, HttpDialogues
from packages.valory.protocols.http.message import HttpMessage


SKILL_ID = "valory/test_skill:0.1.0"


class SkillDialogues(HttpDialogues):
    """Dialogues of the skill side, which answers the requests."""

    def __init__(self) -> None:
        """Initialise."""

        def role(  # pylint: disable=unused-argument
            message: Message, receiver_address: str
        ) -> Dialogue.Role:
            """The skill serves the requests."""
            return HttpDialogue.Role.SERVER

        super().__init__(self_address=SKILL_ID, role_from_first_message=role)


def _free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _connection(tmp_path: Path, port: int, **config: Any) -> HTTPServerConnection:
    """The connection on 127.0.0.1:port, sending requests to SKILL_ID."""
    configuration = ConnectionConfig(
        connection_id=PUBLIC_ID,
        restricted_to_protocols={HttpMessage.protocol_id},
        host="127.0.0.1",
        port=port,
        target_skill_id=SKILL_ID,
        **config,
    )
    return HTTPServerConnection(
        configuration=configuration,
        data_dir=str(tmp_path),
        identity=Identity("agent", address="agent_address", public_key="pk"),
    )


async def _echo_skill(connection: HTTPServerConnection, requests: int) -> None:
    """Answer `requests` requests with a JSON echo of what the skill received."""
    dialogues = SkillDialogues()
    for _ in range(requests):
        envelope = await connection.receive()
        assert envelope is not None
        request = envelope.message
        assert isinstance(request, HttpMessage)
        assert envelope.to == SKILL_ID
        assert envelope.sender == str(PUBLIC_ID)
        dialogue = dialogues.update(request)
        assert dialogue is not None
        echo = {
            "method": request.method,
            "url": request.url,
            "headers": request.headers,
            "body": request.body.decode(),
        }
        response = dialogue.reply(
            performative=HttpMessage.Performative.RESPONSE,
            target_message=request,
            version=request.version,
            status_code=201,
            status_text="Created",
            headers="Content-Type: application/json\nX-Reply: yes\nContent-Length: 1\n",
            body=json.dumps(echo).encode(),
        )
        await connection.send(
            Envelope(to=response.to, sender=response.sender, message=response)
        )


async def _with_server(
    tmp_path: Path,
    client: Callable[[str], Awaitable[None]],
    skill: Optional[Callable[[HTTPServerConnection], Awaitable[None]]] = None,
    **config: Any,
) -> None:
    """Run the connection, optionally a skill loop, and the client against it."""
    port = _free_port()
    connection = _connection(tmp_path, port, **config)
    await connection.connect()
    assert connection.is_connected
    skill_task = asyncio.ensure_future(skill(connection)) if skill else None
    try:
        await client(f"http://127.0.0.1:{port}")
        if skill_task is not None:
            await asyncio.wait_for(skill_task, 5)
    finally:
        if skill_task is not None and not skill_task.done():
            skill_task.cancel()
        await connection.disconnect()
    assert connection.is_disconnected


def test_requests_reach_the_skill_and_its_responses_come_back(tmp_path: Path) -> None:
    """GET with a query and POST with a body arrive as REQUESTs; status, headers and body return."""

    async def client(base: str) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{base}/model?x=1", headers={"X-Test": "hi"}
            ) as got:
                assert got.status == 201
                assert got.reason == "Created"
                assert got.headers["X-Reply"] == "yes"
                echo = await got.json()
            assert echo["method"] == "GET"
            assert echo["url"] == f"{base}/model?x=1"
            assert "X-Test: hi" in echo["headers"]
            async with session.post(f"{base}/predict", data=b"[1, 2]") as posted:
                echo = await posted.json()
            assert echo["method"] == "POST"
            assert echo["body"] == "[1, 2]"

    asyncio.run(_with_server(tmp_path, client, lambda c: _echo_skill(c, 2)))


def test_unanswered_request_times_out_with_408(tmp_path: Path) -> None:
    """No skill answers: the client gets 408 and a JSON error after `timeout` seconds."""

    async def client(base: str) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthcheck") as got:
                assert got.status == 408
                assert "did not answer" in (await got.json())["error"]

    asyncio.run(_with_server(tmp_path, client, timeout=0.5))


def test_body_over_the_limit_is_refused_with_413(tmp_path: Path) -> None:
    """A body over max_body_bytes never reaches the skill; the next request still does."""

    async def client(base: str) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/predict", data=b"x" * 2000) as refused:
                assert refused.status == 413
                assert "over 1000 bytes" in (await refused.json())["error"]
            async with session.post(f"{base}/predict", data=b"ok") as served:
                assert (await served.json())["body"] == "ok"

    asyncio.run(
        _with_server(tmp_path, client, lambda c: _echo_skill(c, 1), max_body_bytes=1000)
    )
