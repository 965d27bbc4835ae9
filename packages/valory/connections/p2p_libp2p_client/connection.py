"""No-op stand-in of the ACN client connection: exports PUBLIC_ID, connects and disconnects."""

import asyncio
from typing import Any, Optional

from aea.configurations.base import PublicId
from aea.connections.base import Connection, ConnectionStates
from aea.mail.base import Envelope


PUBLIC_ID = PublicId.from_str("valory/p2p_libp2p_client:0.1.0")


class P2PLibp2pClientConnection(Connection):
    """A connection that never reaches the ACN: envelopes sent to it are dropped."""

    connection_id = PUBLIC_ID

    def __init__(self, **kwargs: Any) -> None:
        """Initialise the connection."""
        super().__init__(**kwargs)
        self._stopped: Optional[asyncio.Event] = None

    async def connect(self) -> None:
        """Mark the connection as connected (nothing to reach)."""
        if self.is_connected:
            return
        with self._connect_context():
            self._stopped = asyncio.Event()

    async def disconnect(self) -> None:
        """Mark the connection as disconnected and release pending receivers."""
        if self.is_disconnected:
            return
        self.state = ConnectionStates.disconnecting
        if self._stopped is not None:
            self._stopped.set()
        self.state = ConnectionStates.disconnected

    async def send(self, envelope: Envelope) -> None:
        """Drop the envelope: this stand-in has no ACN to deliver it to."""
        self._ensure_connected()
        self.logger.warning(
            "p2p_libp2p_client stand-in: the ACN is not available, dropping envelope "
            f"to={envelope.to} protocol={envelope.protocol_specification_id}"
        )

    async def receive(self, *args: Any, **kwargs: Any) -> Optional[Envelope]:
        """Wait until disconnection: nothing ever arrives from the ACN."""
        self._ensure_connected()
        if self._stopped is not None:
            await self._stopped.wait()
        return None
