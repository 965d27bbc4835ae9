"""Tests of the p2p_libp2p_client stand-in: it loads, connects, drops envelopes and disconnects."""

import asyncio
from pathlib import Path

from aea.connections.base import Connection
from aea.identity.base import Identity
from aea.mail.base import Envelope

from packages.valory.connections.p2p_libp2p_client.connection import (
    P2PLibp2pClientConnection,
    PUBLIC_ID,
)


PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _load(tmp_path: Path) -> Connection:
    """Load the connection from its package directory."""
    return Connection.from_dir(
        str(PACKAGE_DIR),
        Identity("agent", address="agent_address", public_key="pk"),
        crypto_store=None,  # type: ignore
        data_dir=str(tmp_path),
    )


def test_public_id() -> None:
    """The stand-in keeps the Olas public id."""
    assert str(PUBLIC_ID) == "valory/p2p_libp2p_client:0.1.0"
    assert P2PLibp2pClientConnection.connection_id == PUBLIC_ID


def test_connect_send_disconnect(tmp_path: Path) -> None:
    """Connect, drop an envelope, unblock a pending receive on disconnect."""

    async def scenario() -> None:
        connection = _load(tmp_path)
        assert isinstance(connection, P2PLibp2pClientConnection)
        await connection.connect()
        assert connection.is_connected
        await connection.send(
            Envelope(
                to="other_agent",
                sender="agent_address",
                protocol_specification_id="fetchai/default:1.0.0",
                message=b"payload",
            )
        )
        pending = asyncio.ensure_future(connection.receive())
        await asyncio.sleep(0.05)
        assert not pending.done()
        await connection.disconnect()
        assert connection.is_disconnected
        assert await asyncio.wait_for(pending, timeout=2) is None
        await connection.connect()
        assert connection.is_connected
        await connection.disconnect()

    asyncio.run(scenario())
