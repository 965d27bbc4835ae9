"""The agent's connection exception policy: a connection that fails to send does not stop the agent.

When a Tendermint node dies while its agent writes an ABCI response, the synced `valory/abci`
connection's send raises `ConnectionResetError: Connection lost` (asyncio's StreamWriter.drain). Under
aea's default policy (`propagate`) that ends the multiplexer's send loop ("Error in the sending loop")
and with it the agent. The agent's aea-config sets `connection_exception_policy: just_log`: the failed
envelope is logged and dropped (the node that asked for it is gone; a restarted node asks again) and
every later envelope is still sent. This runs aea's own multiplexer under the policy the agent declares.
"""

import asyncio
from pathlib import Path
from typing import Any, List, Optional

import yaml
from aea.configurations.base import ConnectionConfig, PublicId
from aea.connections.base import Connection, ConnectionStates
from aea.helpers.exception_policy import ExceptionPolicyEnum
from aea.mail.base import Envelope
from aea.multiplexer import AsyncMultiplexer

from packages.valory.protocols.abci.message import AbciMessage

AGENT_CONFIG = (
    Path(__file__).resolve().parent.parent
    / "packages" / "valory" / "agents" / "smpc_mnist" / "aea-config.yaml"
)
FLAKY_CONNECTION = PublicId("test", "flaky", "0.1.0")
SETTLE_SECONDS = 5.0


class NodeDiesOnFirstSend(Connection):
    """A connection whose first send fails as the ABCI connection's does when its node dies mid-write."""

    connection_id = FLAKY_CONNECTION

    def __init__(self, **kwargs: Any) -> None:
        """Nothing sent yet."""
        super().__init__(**kwargs)
        self.sent: List[Envelope] = []
        self.attempts = 0

    async def connect(self) -> None:
        """Ready at once."""
        self.state = ConnectionStates.connected

    async def disconnect(self) -> None:
        """Closed at once."""
        self.state = ConnectionStates.disconnected

    async def send(self, envelope: Envelope) -> None:
        """Fail the first send with asyncio's error for a reset peer; keep the others."""
        self.attempts += 1
        if self.attempts == 1:
            raise ConnectionResetError("Connection lost")
        self.sent.append(envelope)

    async def receive(self, *args: Any, **kwargs: Any) -> Optional[Envelope]:
        """Nothing ever arrives."""
        await asyncio.Event().wait()
        return None  # pragma: no cover


def declared_policy() -> ExceptionPolicyEnum:
    """The connection exception policy the agent's aea-config declares (aea's default if none)."""
    agent_config = next(yaml.safe_load_all(AGENT_CONFIG.read_text()))
    return ExceptionPolicyEnum(
        agent_config.get("connection_exception_policy", ExceptionPolicyEnum.propagate.value)
    )


def echo_response(text: str) -> Envelope:
    """An ABCI response envelope for the flaky connection."""
    message = AbciMessage(performative=AbciMessage.Performative.RESPONSE_ECHO, message=text)
    message.to, message.sender = "node", "agent"
    return Envelope(to="node", sender="agent", message=message)


async def send_two_responses(policy: ExceptionPolicyEnum) -> NodeDiesOnFirstSend:
    """Run aea's multiplexer under `policy` and send two envelopes; the first send fails."""
    connection = NodeDiesOnFirstSend(
        configuration=ConnectionConfig("flaky", "test", "0.1.0"),
        data_dir="",
    )
    multiplexer = AsyncMultiplexer(
        [connection], exception_policy=policy, protocols=[AbciMessage]
    )
    multiplexer.set_loop(asyncio.get_running_loop())
    await multiplexer.connect()
    try:
        for text in ("lost with the node", "to the restarted node"):
            multiplexer.put(echo_response(text))
        deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
        while connection.attempts < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert multiplexer.is_connected, "the multiplexer stopped"
    finally:
        await multiplexer.disconnect()
    return connection


def test_the_agent_declares_a_policy_under_which_a_lost_node_connection_is_logged_not_fatal() -> None:
    """Under the agent's policy the send loop outlives a reset connection and sends the next envelope."""
    connection = asyncio.run(send_two_responses(declared_policy()))
    assert [envelope.message.message for envelope in connection.sent] == [  # type: ignore[union-attr]
        "to the restarted node"
    ]


def test_under_aeas_default_policy_the_same_reset_stops_the_send_loop() -> None:
    """The failure the policy guards against: under `propagate` the second envelope is never sent."""
    connection = asyncio.run(send_two_responses(ExceptionPolicyEnum.propagate))
    assert connection.sent == []
