"""A local EVM chain for the service: anvil, a Safe 1.3.0 of the agents and the ModelRegistry.

The Safe singleton, proxy factory and MultiSend come from the contract packages the open-autonomy wheel
ships, placed at their canonical addresses (where the gnosis_safe package and every public chain have
them); the Safe itself is a real proxy made by createProxyWithNonce. Used by `make run` (devnet.service),
the contract tests and the e2e tests. Plain web3: no agent code involved.
"""

import json
import time
from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

REPO_ROOT = Path(__file__).resolve().parent.parent
# Located through the open-autonomy distribution: `import packages` finds ./packages first.
WHEEL_CONTRACTS = Path(str(distribution("open-autonomy").locate_file("packages"))) / "valory" / "contracts"
REGISTRY_BUILD = (
    REPO_ROOT
    / "packages"
    / "valory"
    / "contracts"
    / "model_registry"
    / "build"
    / "ModelRegistry.json"
)
CHAIN_ID = 31337
ANVIL_READY_SECONDS = 30.0
# Canonical Safe 1.3.0 deployments (what valory's gnosis_safe package and public chains use).
SAFE_SINGLETON = "0xd9Db270c1B5E3Bd161E8c8503c55cEABeE709552"
PROXY_FACTORY = "0xa6B71E26C5e0845f74c812102Ca7114b6a896AB2"
MULTISEND = "0xA238CBeb142c10Ef7Ad8442C6D1f9E89e07e7761"
CANONICAL_CODE = {
    SAFE_SINGLETON: WHEEL_CONTRACTS / "gnosis_safe" / "build" / "GnosisSafe_V1_3_0.json",
    PROXY_FACTORY: WHEEL_CONTRACTS
    / "gnosis_safe_proxy_factory"
    / "build"
    / "ProxyFactory_V1_3_0.json",
    MULTISEND: WHEEL_CONTRACTS / "multisend" / "build" / "MultiSend.json",
}
NULL_ADDRESS = "0x" + "00" * 20
# anvil's first dev account (mnemonic "test test ... junk"): a public test key that pays for deployments.
DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
AGENT_FUNDING_WEI = 10**20
SAFE_FUNDING_WEI = 10**19  # what the Safe pays contributors' rewards from


def artifact(path: Path) -> Dict[str, Any]:
    """A build JSON (abi, bytecode, deployedBytecode)."""
    return json.loads(path.read_text())


def anvil_command(
    binary: str,
    port: int,
    state: Optional[Path] = None,
    chain_id: int = CHAIN_ID,
    host: str = "127.0.0.1",
) -> List[str]:
    """anvil on host:port, mining each transaction at once; with `state`, it survives a restart."""
    command = [
        binary,
        "--host",
        host,
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
    ]
    return command + (["--state", str(state)] if state is not None else [])


def rpc_url(port: int, host: str = "127.0.0.1") -> str:
    """The JSON-RPC address of anvil on host:port."""
    return f"http://{host}:{port}"


def wait_for_chain(url: str, alive: Callable[[], bool]) -> Web3:
    """Poll eth_chainId until anvil answers; fail if it is no longer `alive` or takes too long."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 5}))
    deadline = time.monotonic() + ANVIL_READY_SECONDS
    while True:
        try:
            w3.eth.chain_id  # pylint: disable=pointless-statement
            return w3
        except OSError:
            if not alive() or time.monotonic() > deadline:
                raise RuntimeError(f"anvil did not start at {url}") from None
            time.sleep(0.2)


def transact(w3: Web3, sender: LocalAccount, tx: Dict[str, Any]) -> Dict[str, Any]:
    """Sign, send and wait for a transaction; fail if it reverts. Returns the receipt."""
    tx = {
        "from": sender.address,
        "nonce": w3.eth.get_transaction_count(sender.address),
        "chainId": w3.eth.chain_id,
        **tx,
    }
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas(tx)
    if "maxFeePerGas" not in tx and "gasPrice" not in tx:
        tx["gasPrice"] = w3.eth.gas_price
    signed = sender.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30
    )
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction {receipt['transactionHash'].hex()} reverted")
    return dict(receipt)


def place_canonical_contracts(w3: Web3) -> None:
    """Put the wheel's Safe singleton, proxy factory and MultiSend code at their canonical addresses."""
    for address, path in CANONICAL_CODE.items():
        w3.provider.make_request(
            "anvil_setCode", [address, artifact(path)["deployedBytecode"]]
        )


def deploy_safe(
    w3: Web3, deployer: LocalAccount, owners: Sequence[str], threshold: int
) -> str:
    """A Safe proxy with these owners and threshold, through the canonical proxy factory."""
    singleton = w3.eth.contract(
        address=SAFE_SINGLETON, abi=artifact(CANONICAL_CODE[SAFE_SINGLETON])["abi"]
    )
    setup = singleton.encode_abi(
        "setup",
        [
            list(owners),
            threshold,
            NULL_ADDRESS,
            b"",
            NULL_ADDRESS,
            NULL_ADDRESS,
            0,
            NULL_ADDRESS,
        ],
    )
    factory = w3.eth.contract(
        address=PROXY_FACTORY, abi=artifact(CANONICAL_CODE[PROXY_FACTORY])["abi"]
    )
    call = factory.functions.createProxyWithNonce(
        SAFE_SINGLETON, bytes.fromhex(setup[2:]), int(time.time_ns())
    )
    receipt = transact(w3, deployer, call.build_transaction({"from": deployer.address}))
    event = factory.events.ProxyCreation().process_receipt(receipt, errors=DISCARD)[0]
    return Web3.to_checksum_address(event["args"]["proxy"])


def deploy_registry(w3: Web3, deployer: LocalAccount, safe: str) -> str:
    """The project's ModelRegistry, writable only by `safe`."""
    build = artifact(REGISTRY_BUILD)
    contract = w3.eth.contract(abi=build["abi"], bytecode=build["bytecode"])
    receipt = transact(
        w3, deployer, contract.constructor(safe).build_transaction({"from": deployer.address})
    )
    return Web3.to_checksum_address(receipt["contractAddress"])


def registry(w3: Web3, address: str) -> Any:
    """A web3 handle on a deployed ModelRegistry."""
    return w3.eth.contract(address=address, abi=artifact(REGISTRY_BUILD)["abi"])


def safe_contract(w3: Web3, address: str) -> Any:
    """A web3 handle on a Safe proxy (the singleton's ABI)."""
    return w3.eth.contract(
        address=address, abi=artifact(CANONICAL_CODE[SAFE_SINGLETON])["abi"]
    )


def fund(w3: Web3, deployer: LocalAccount, addresses: Sequence[str], wei: int) -> None:
    """Send `wei` to each address (gas money for the agents, rewards for the Safe)."""
    for address in addresses:
        transact(w3, deployer, {"to": address, "value": wei})


def execute_safe_transaction(  # pylint: disable=too-many-arguments
    w3: Web3,
    safe: str,
    owners: Sequence[LocalAccount],
    sender: LocalAccount,
    to: str,
    data: bytes,
    value: int = 0,
    operation: int = 0,
) -> Dict[str, Any]:
    """Execute a Safe transaction signed by `owners` (raw-hash signatures, sorted by owner); the receipt."""
    contract = safe_contract(w3, safe)
    nonce = contract.functions.nonce().call()
    tx_hash = contract.functions.getTransactionHash(
        to, value, data, operation, 0, 0, 0, NULL_ADDRESS, NULL_ADDRESS, nonce
    ).call()
    signatures = b"".join(
        bytes(Account.unsafe_sign_hash(tx_hash, owner.key).signature)
        for owner in sorted(owners, key=lambda owner: int(owner.address, 16))
    )
    call = contract.functions.execTransaction(
        to, value, data, operation, 0, 0, 0, NULL_ADDRESS, NULL_ADDRESS, signatures
    )
    return transact(w3, sender, call.build_transaction({"from": sender.address}))


@dataclass(frozen=True)
class ChainDeployment:
    """What the agents need to know about the chain: where it is and the service's contracts."""

    rpc: str
    chain_id: int
    safe: str
    registry: str
    # The EZKL-generated verifier of the agents' proof circuit, and the wrapper (contracts/InferenceVerifier.sol)
    # that accepts a proof only with the weight commitment `registry` settled for its round.
    halo2_verifier: str = ""
    inference_verifier: str = ""

    def to_json(self) -> str:
        """As written next to a run (scripts/registry.py reads it)."""
        return json.dumps(self.__dict__, indent=2)


def deploy_service_contracts(
    w3: Web3, owners: Sequence[str], threshold: int, url: str
) -> ChainDeployment:
    """Safe (owners, threshold) and its ModelRegistry on a fresh anvil; gas money for the owners, rewards for the Safe."""
    deployer = Account.from_key(DEPLOYER_KEY)
    place_canonical_contracts(w3)
    safe = deploy_safe(w3, deployer, owners, threshold)
    address = deploy_registry(w3, deployer, safe)
    fund(w3, deployer, owners, AGENT_FUNDING_WEI)
    fund(w3, deployer, [safe], SAFE_FUNDING_WEI)
    return ChainDeployment(rpc=url, chain_id=w3.eth.chain_id, safe=safe, registry=address)
