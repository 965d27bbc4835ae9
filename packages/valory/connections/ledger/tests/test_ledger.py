"""Tests of the ledger stand-in: real requests against a local anvil node, incl. a Safe transaction."""

import asyncio
import json
import os
import shutil
import socket
import subprocess  # nosec
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

from aea.configurations.base import ConnectionConfig
from aea.connections.base import Connection
from aea.contracts.base import Contract
from aea.helpers.transaction.base import SignedTransaction, Terms
from aea.identity.base import Identity
from aea.mail.base import Envelope
from aea.protocols.base import Message
from aea.protocols.dialogue.base import Dialogue
from aea_ledger_ethereum import EthereumCrypto

from packages.valory.connections.ledger.connection import LedgerConnection, PUBLIC_ID
from packages.valory.protocols.contract_api.dialogues import (
    ContractApiDialogue,
    ContractApiDialogues,
)
from packages.valory.protocols.contract_api.message import ContractApiMessage
from packages.valory.protocols.ledger_api.dialogues import (
    LedgerApiDialogue,
    LedgerApiDialogues,
)
from packages.valory.protocols.ledger_api.message import LedgerApiMessage


ROOT = Path(__file__).resolve().parents[5]
PACKAGE_DIR = Path(__file__).resolve().parent.parent
SKILL_ID = "valory/test_skill:0.1.0"
CHAIN_ID = 31337
# anvil's default dev accounts (mnemonic "test test ... junk"), public test keys
KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
]
# addresses the gnosis_safe contract package expects the Safe singleton and factory at
SAFE_SINGLETON = "0xd9Db270c1B5E3Bd161E8c8503c55cEABeE709552"
PROXY_FACTORY = "0xa6B71E26C5e0845f74c812102Ca7114b6a896AB2"


def _anvil_binary() -> Optional[str]:
    """Find anvil in the project's tools or on PATH."""
    local = ROOT / ".tools" / "bin" / "anvil"
    if local.exists():
        return str(local)
    return shutil.which("anvil")


def _free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rpc(url: str, method: str, params: list) -> Any:
    """Make one JSON-RPC call."""
    request = urllib.request.Request(
        url,
        data=json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # nosec
        return json.loads(response.read())["result"]


@pytest.fixture(scope="module")
def anvil_url() -> Iterator[str]:
    """Run anvil on 127.0.0.1 for the module; skip when the binary is absent."""
    binary = _anvil_binary()
    if binary is None:
        pytest.skip(
            "anvil not found at .tools/bin/anvil or on PATH (npm @foundry-rs/anvil)"
        )
    port = _free_port()
    process = subprocess.Popen(  # nosec
        [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chain-id",
            str(CHAIN_ID),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _rpc(url, "eth_chainId", [])
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("anvil did not start")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _contract_dir(name: str) -> Path:
    """Locate a contract package: the synced copy in packages/, else the wheel's."""
    local = ROOT / "packages" / "valory" / "contracts" / name
    if (local / "contract.yaml").exists():
        return local
    import aea  # pylint: disable=import-outside-toplevel

    site = Path(aea.__file__).resolve().parent.parent
    return site / "packages" / "valory" / "contracts" / name


class _Skill:
    """The agent side: dialogues that talk to the connection like a skill does."""

    def __init__(self) -> None:
        """Initialise ledger and contract dialogues (agent role)."""

        def ledger_role(
            message: Message, receiver: str
        ) -> Dialogue.Role:  # pylint: disable=unused-argument
            """The skill is the agent."""
            return LedgerApiDialogue.Role.AGENT

        def contract_role(
            message: Message, receiver: str
        ) -> Dialogue.Role:  # pylint: disable=unused-argument
            """The skill is the agent."""
            return ContractApiDialogue.Role.AGENT

        self.ledger = LedgerApiDialogues(SKILL_ID, role_from_first_message=ledger_role)
        self.contract = ContractApiDialogues(
            SKILL_ID, role_from_first_message=contract_role
        )


async def _ask(connection: Connection, dialogues: Any, **contents: Any) -> Any:
    """Send one request and return the reply (checked to belong to the dialogue)."""
    request, dialogue = dialogues.create(counterparty=str(PUBLIC_ID), **contents)
    await connection.send(
        Envelope(to=request.to, sender=request.sender, message=request)
    )
    envelope = await asyncio.wait_for(connection.receive(), timeout=60)
    assert dialogues.update(envelope.message) is dialogue
    return envelope.message


def _connection(url: str, tmp_path: Path) -> LedgerConnection:
    """Build the connection for the anvil node."""
    configuration = ConnectionConfig(
        connection_id=PUBLIC_ID,
        ledger_apis={"ethereum": {"address": url, "chain_id": CHAIN_ID}},
        retry_attempts=30,
        retry_timeout=0.5,
    )
    return LedgerConnection(
        configuration=configuration,
        data_dir=str(tmp_path),
        identity=Identity("agent", address="agent_address", public_key="pk"),
    )


def _crypto(tmp_path: Path, index: int) -> EthereumCrypto:
    """Return the EthereumCrypto of anvil account `index`."""
    key_file = tmp_path / f"key_{index}.txt"
    key_file.write_text(KEYS[index])
    return EthereumCrypto(private_key_path=str(key_file))


async def _settle(
    connection: Connection, skill: _Skill, crypto: EthereumCrypto, raw: Dict
) -> Tuple[str, Dict]:
    """Sign a raw transaction, send it and wait for its receipt; return digest and receipt."""
    signed = crypto.sign_transaction(raw)
    reply = await _ask(
        connection,
        skill.ledger,
        performative=LedgerApiMessage.Performative.SEND_SIGNED_TRANSACTION,
        signed_transaction=SignedTransaction("ethereum", signed),
        kwargs=LedgerApiMessage.Kwargs({"chain_id": "ethereum"}),
    )
    assert reply.performative == LedgerApiMessage.Performative.TRANSACTION_DIGEST, reply
    digest = reply.transaction_digest.body
    reply = await _ask(
        connection,
        skill.ledger,
        performative=LedgerApiMessage.Performative.GET_TRANSACTION_RECEIPT,
        transaction_digest=LedgerApiMessage.TransactionDigest("ethereum", digest),
        retry_timeout=1,
        retry_attempts=20,
    )
    assert (
        reply.performative == LedgerApiMessage.Performative.TRANSACTION_RECEIPT
    ), reply
    assert reply.transaction_receipt.receipt["status"] == 1
    return digest, reply.transaction_receipt.receipt


def test_connection_loads_from_its_package(tmp_path: Path) -> None:
    """The package's connection.yaml loads, connects and disconnects (no node needed)."""

    async def scenario() -> None:
        connection = Connection.from_dir(
            str(PACKAGE_DIR),
            Identity("agent", address="agent_address", public_key="pk"),
            crypto_store=None,  # type: ignore
            data_dir=str(tmp_path),
        )
        assert connection.connection_id == PUBLIC_ID
        assert "ethereum" in connection.api_configs  # type: ignore
        await connection.connect()
        assert connection.is_connected
        await connection.disconnect()
        assert connection.is_disconnected

    asyncio.run(scenario())


@pytest.mark.e2e
def test_ledger_api_on_anvil(anvil_url: str, tmp_path: Path) -> None:
    """Balance, block state, transfer + receipt, and errors against anvil."""

    async def scenario() -> None:
        connection = _connection(anvil_url, tmp_path)
        skill = _Skill()
        sender = _crypto(tmp_path, 0)
        receiver = _crypto(tmp_path, 1)
        await connection.connect()
        try:
            reply = await _ask(
                connection,
                skill.ledger,
                performative=LedgerApiMessage.Performative.GET_BALANCE,
                ledger_id="ethereum",
                address=receiver.address,
            )
            assert reply.performative == LedgerApiMessage.Performative.BALANCE, reply
            start_balance = reply.balance
            assert start_balance == 10_000 * 10**18

            reply = await _ask(
                connection,
                skill.ledger,
                performative=LedgerApiMessage.Performative.GET_STATE,
                ledger_id="ethereum",
                callable="get_block",
                args=(),
                kwargs=LedgerApiMessage.Kwargs(
                    {"block_identifier": "latest", "chain_id": "ethereum"}
                ),
            )
            assert reply.performative == LedgerApiMessage.Performative.STATE, reply
            assert isinstance(reply.state.body["hash"], str)

            terms = Terms(
                ledger_id="ethereum",
                sender_address=sender.address,
                counterparty_address=receiver.address,
                amount_by_currency_id={"ETH": -(10**18)},
                quantities_by_good_id={},
                nonce="",
                is_sender_payable_tx_fee=True,
                fee_by_currency_id={"ETH": 21_000},
                chain_id=CHAIN_ID,
            )
            reply = await _ask(
                connection,
                skill.ledger,
                performative=LedgerApiMessage.Performative.GET_RAW_TRANSACTION,
                terms=terms,
            )
            assert (
                reply.performative == LedgerApiMessage.Performative.RAW_TRANSACTION
            ), reply
            raw = reply.raw_transaction.body
            _, receipt = await _settle(connection, skill, sender, raw)
            assert receipt["to"].lower() == receiver.address.lower()

            reply = await _ask(
                connection,
                skill.ledger,
                performative=LedgerApiMessage.Performative.GET_BALANCE,
                ledger_id="ethereum",
                address=receiver.address,
            )
            assert reply.balance == start_balance + 10**18

            # replaying the same signed transaction fails: the error text reaches the skill
            reply = await _ask(
                connection,
                skill.ledger,
                performative=LedgerApiMessage.Performative.SEND_SIGNED_TRANSACTION,
                signed_transaction=SignedTransaction(
                    "ethereum", sender.sign_transaction(raw)
                ),
                kwargs=LedgerApiMessage.Kwargs({}),
            )
            assert reply.performative == LedgerApiMessage.Performative.ERROR
            assert reply.code == 500 and "nonce" in reply.message.lower(), reply

            reply = await _ask(
                connection,
                skill.ledger,
                performative=LedgerApiMessage.Performative.GET_STATE,
                ledger_id="ethereum",
                callable="get_block",
                args=(),
                kwargs=LedgerApiMessage.Kwargs({"chain_id": "gnosis"}),
            )
            assert reply.performative == LedgerApiMessage.Performative.ERROR
            assert "No ledger_apis config for 'gnosis'" in reply.message
        finally:
            await connection.disconnect()

    asyncio.run(scenario())


@pytest.mark.e2e
def test_safe_transaction_settlement_on_anvil(anvil_url: str, tmp_path: Path) -> None:
    """The transaction_settlement_abci contract calls: deploy a Safe, hash, sign, execute, verify."""
    factory_dir = _contract_dir("gnosis_safe_proxy_factory")
    safe_dir = _contract_dir("gnosis_safe")
    Contract.from_dir(str(factory_dir))
    safe_contract = Contract.from_dir(str(safe_dir))
    # put the Safe v1.3.0 singleton and proxy factory at the addresses the package expects
    for address, artifact in (
        (SAFE_SINGLETON, safe_dir / "build" / "GnosisSafe_V1_3_0.json"),
        (PROXY_FACTORY, factory_dir / "build" / "ProxyFactory_V1_3_0.json"),
    ):
        code = json.loads(artifact.read_text())["deployedBytecode"]
        _rpc(anvil_url, "anvil_setCode", [address, code])
    safe_id = str(safe_contract.configuration.public_id)

    async def scenario() -> None:
        connection = _connection(anvil_url, tmp_path)
        skill = _Skill()
        owners = [_crypto(tmp_path, i) for i in range(4)]
        keeper = owners[0]
        owner_addresses = tuple(o.address for o in owners)
        await connection.connect()
        try:
            reply = await _ask(
                connection,
                skill.contract,
                performative=ContractApiMessage.Performative.GET_DEPLOY_TRANSACTION,
                ledger_id="ethereum",
                contract_id=safe_id,
                callable="get_deploy_transaction",
                kwargs=ContractApiMessage.Kwargs(
                    {
                        "deployer_address": keeper.address,
                        "owners": list(owner_addresses),
                        "threshold": 3,
                        "salt_nonce": 42,
                        "chain_id": "ethereum",
                    }
                ),
            )
            assert (
                reply.performative == ContractApiMessage.Performative.RAW_TRANSACTION
            ), reply
            deploy_tx = dict(reply.raw_transaction.body)
            safe_address = deploy_tx.pop("contract_address")
            await _settle(connection, skill, keeper, deploy_tx)

            async def state(callable_name: str, **kwargs: Any) -> Dict:
                """GET_STATE on the Safe."""
                reply = await _ask(
                    connection,
                    skill.contract,
                    performative=ContractApiMessage.Performative.GET_STATE,
                    ledger_id="ethereum",
                    contract_id=safe_id,
                    contract_address=safe_address,
                    callable=callable_name,
                    kwargs=ContractApiMessage.Kwargs(
                        {**kwargs, "chain_id": "ethereum"}
                    ),
                )
                assert (
                    reply.performative == ContractApiMessage.Performative.STATE
                ), reply
                return reply.state.body

            assert (await state("verify_contract"))["verified"] is True
            assert (await state("get_safe_nonce"))["safe_nonce"] == 0
            # ABI fall-back for a plain read
            assert (await state("get_threshold"))["get_threshold_result"] == 3

            # fund the Safe, then pay 1 wei from it through an owner-signed Safe tx
            target = "0x000000000000000000000000000000000000dEaD"
            _rpc(anvil_url, "anvil_setBalance", [safe_address, hex(10**18)])
            tx_params = {"to_address": target, "value": 1, "data": b"", "operation": 0}
            safe_tx_hash = (
                await state("get_raw_safe_transaction_hash", **tx_params, safe_tx_gas=0)
            )["tx_hash"]
            signatures = {
                owner.address: owner.sign_message(
                    bytes.fromhex(safe_tx_hash[2:]), is_deprecated_mode=True
                )[2:]
                for owner in owners[:3]
            }
            reply = await _ask(
                connection,
                skill.contract,
                performative=ContractApiMessage.Performative.GET_RAW_TRANSACTION,
                ledger_id="ethereum",
                contract_id=safe_id,
                contract_address=safe_address,
                callable="get_raw_safe_transaction",
                kwargs=ContractApiMessage.Kwargs(
                    {
                        **tx_params,
                        "sender_address": keeper.address,
                        "owners": owner_addresses,
                        "signatures_by_owner": signatures,
                        "safe_tx_gas": 0,
                        "chain_id": "ethereum",
                    }
                ),
            )
            assert (
                reply.performative == ContractApiMessage.Performative.RAW_TRANSACTION
            ), reply
            digest, _ = await _settle(
                connection, skill, keeper, reply.raw_transaction.body
            )

            verified = await state(
                "verify_tx",
                tx_hash=digest,
                owners=owner_addresses,
                signatures_by_owner=signatures,
                safe_tx_gas=0,
                **tx_params,
            )
            assert verified["verified"] is True, verified
            assert (await state("get_safe_nonce"))["safe_nonce"] == 1

            # an unknown callable is an ERROR reply, not a crash
            reply = await _ask(
                connection,
                skill.contract,
                performative=ContractApiMessage.Performative.GET_RAW_TRANSACTION,
                ledger_id="ethereum",
                contract_id=safe_id,
                contract_address=safe_address,
                callable="no_such_callable",
                kwargs=ContractApiMessage.Kwargs({}),
            )
            assert reply.performative == ContractApiMessage.Performative.ERROR
            assert "no_such_callable" in reply.message
        finally:
            await connection.disconnect()

    asyncio.run(scenario())
