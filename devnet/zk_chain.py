"""Deploy and call the zk-inference contracts on a local anvil: the EZKL-generated verifier and our wrapper.

Contracts are compiled here with solc-js (`solcjs`, installed by `scripts/install.sh solc`) from their
sources: the generated Verifier.sol of a circuit and contracts/InferenceVerifier.sol. The wrapper checks a
proof's weight commitment against the one a ModelRegistry settled for a round.
"""

import os
import signal
import subprocess  # nosec
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from eth_abi import decode, encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractLogicError

from devnet import chain
from devnet.service import REPO_ROOT, SAFE_THRESHOLD, ZK_ANVIL_PORT, run_checked, tool

WRAPPER_SOURCE = REPO_ROOT / "contracts" / "InferenceVerifier.sol"
WRAPPER_SELECTOR = function_signature_to_4byte_selector(
    "verifyInference(uint256,bytes,uint256[])"
)
VERIFY_PROOF_TYPES = ["bytes", "uint256[]"]
VERIFY_PROOF_ARGS_OFFSET = 4  # the generated calldata is selector + abi.encode(bytes, uint256[])
ANVIL_READY_SECONDS = 30.0
# The generated verifier is close to EIP-170's 24,576-byte limit for large circuits: let anvil accept it.
ANVIL_CODE_SIZE_LIMIT = 1_000_000
GAS_LIMIT = 30_000_000


@dataclass(frozen=True)
class CompiledContract:
    """ABI (JSON text) and creation bytecode of one contract."""

    abi: str
    bytecode: str


def compile_solidity(source: Path) -> Dict[str, CompiledContract]:
    """Every contract of one Solidity file, compiled with solc-js (optimiser on)."""
    with tempfile.TemporaryDirectory() as out:
        run_checked(
            [tool("solcjs"), "--bin", "--abi", "--optimize", "-o", out, source.name],
            cwd=source.parent,
        )
        prefix = source.name.replace(".", "_") + "_"
        contracts = {}
        for bin_file in Path(out).glob(f"{prefix}*.bin"):
            name = bin_file.stem[len(prefix) :]
            code = bin_file.read_text().strip()
            if code:  # interfaces have no bytecode
                contracts[name] = CompiledContract(
                    abi=bin_file.with_suffix(".abi").read_text(), bytecode=code
                )
        return contracts


class Anvil:
    """A throwaway anvil node on ZK_ANVIL_PORT (use as a context manager)."""

    def __init__(self, port: int = ZK_ANVIL_PORT) -> None:
        """Remember the port; start() launches the node."""
        self.port = port
        self.process: Optional[subprocess.Popen] = None
        self.web3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))

    def __enter__(self) -> "Anvil":
        """Start anvil and wait until it answers."""
        self.process = subprocess.Popen(  # nosec # pylint: disable=consider-using-with
            [
                tool("anvil"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--code-size-limit",
                str(ANVIL_CODE_SIZE_LIMIT),
                "--gas-limit",
                str(GAS_LIMIT),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + ANVIL_READY_SECONDS
        while not self.web3.is_connected():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.__exit__(None, None, None)
                raise RuntimeError(f"anvil did not start on port {self.port}")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the node's process group."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait()

    def deploy(self, contract: CompiledContract, *args: object) -> Tuple[str, int]:
        """Deploy from the first unlocked account; returns the address and the gas used."""
        return deploy(self.web3, contract, *args)


def deploy(web3: Web3, contract: CompiledContract, *args: object) -> Tuple[str, int]:
    """Deploy from the node's first unlocked account (anvil's); returns the address and the gas used."""
    factory = web3.eth.contract(abi=contract.abi, bytecode=contract.bytecode)
    tx = factory.constructor(*args).transact(
        {"from": web3.eth.accounts[0], "gas": GAS_LIMIT}
    )
    receipt = web3.eth.wait_for_transaction_receipt(tx)
    if receipt.status != 1:
        raise RuntimeError("contract deployment failed")
    return receipt.contractAddress, receipt.gasUsed


def wrapper_calldata(round_number: int, verify_proof_calldata: bytes) -> bytes:
    """`verifyInference(round, proof, instances)` calldata from EZKL's `verifyProof(proof, instances)` calldata."""
    proof, instances = decode(
        VERIFY_PROOF_TYPES, verify_proof_calldata[VERIFY_PROOF_ARGS_OFFSET:]
    )
    return WRAPPER_SELECTOR + encode(
        ["uint256", *VERIFY_PROOF_TYPES], [round_number, proof, instances]
    )


def _verifier_call(address: str, calldata: bytes) -> Dict[str, Any]:
    """The call (or transaction) of a verifier: one place for its gas limit."""
    return {"to": address, "data": Web3.to_hex(calldata), "gas": GAS_LIMIT}


def accepts(web3: Web3, address: str, calldata: bytes) -> bool:
    """Whether a verifier call returns true (read-only: an eth_call); a revert counts as refused."""
    try:
        result = web3.eth.call(_verifier_call(address, calldata))
    except ContractLogicError:
        return False
    return bool(result) and int.from_bytes(bytes(result[-32:]), "big") == 1


def call_contract(web3: Web3, address: str, calldata: bytes) -> Tuple[bool, Optional[int]]:
    """(accepted, gas) of a verifier call: `accepts` for the answer, a real transaction's gas for its cost.

    A refusal has gas None. Not eth_estimateGas: with the wrapper's try/catch, an inner call that runs out
    of gas returns false without reverting, so the estimate would be a refusal's gas.
    """
    if not accepts(web3, address, calldata):
        return False, None
    receipt = web3.eth.wait_for_transaction_receipt(
        web3.eth.send_transaction({**_verifier_call(address, calldata), "from": web3.eth.accounts[0]})
    )
    return True, receipt.gasUsed


def verify_inference(
    web3: Web3, wrapper: str, round_number: int, verify_proof_calldata: bytes
) -> bool:
    """Whether the wrapper accepts the proof for the round (read-only: an eth_call)."""
    return accepts(web3, wrapper, wrapper_calldata(round_number, verify_proof_calldata))


def deploy_inference_verifier(
    web3: Web3, verifier_source: Path, registry: str
) -> Tuple[str, str, int]:
    """Compile and deploy the generated verifier and the wrapper reading `registry`: (verifier, wrapper, verifier gas)."""
    (generated,) = compile_solidity(verifier_source).values()
    wrapper_contract = compile_solidity(WRAPPER_SOURCE)["InferenceVerifier"]
    verifier, verifier_gas = deploy(web3, generated)
    wrapper, _ = deploy(web3, wrapper_contract, verifier, registry)
    return verifier, wrapper, verifier_gas


def deploy_service_with_verifier(
    web3: Web3, owners: Sequence[str], url: str, verifier_source: Path
) -> chain.ChainDeployment:
    """The service's Safe and ModelRegistry (chain.deploy_service_contracts), then the proof verifier and the
    wrapper reading that registry: everything a run's agents and users need on chain."""
    deployment = chain.deploy_service_contracts(web3, owners, SAFE_THRESHOLD, url)
    verifier, wrapper, _gas = deploy_inference_verifier(
        web3, verifier_source, deployment.registry
    )
    return replace(deployment, halo2_verifier=verifier, inference_verifier=wrapper)


def registry_with_commitment(web3: Web3, commitment: bytes) -> str:
    """A ModelRegistry whose 'Safe' is the node's first account, with round 1 settling `commitment` (for
    checks outside a running service: the CI test and the benchmark)."""
    owner = web3.eth.accounts[0]
    build = chain.artifact(chain.REGISTRY_BUILD)
    address, _ = deploy(web3, CompiledContract(abi=build["abi"], bytecode=build["bytecode"]), owner)
    registry = web3.eth.contract(address=address, abi=build["abi"])
    others = sorted((Account.create().address for _ in range(2)), key=lambda a: int(a, 16))
    record = (1, 0, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32,
              [commitment[:32], commitment[32:]], [others[0]], [others[1]], [], [])
    receipt = web3.eth.wait_for_transaction_receipt(
        registry.functions.recordRound(record).transact({"from": owner, "gas": GAS_LIMIT})
    )
    if receipt.status != 1:
        raise RuntimeError("recordRound failed")
    return address


@dataclass
class InferenceContracts:
    """The generated verifier and the wrapper reading one registry's commitments, deployed on one anvil."""

    anvil: Anvil
    verifier: str
    wrapper: str
    verifier_deploy_gas: int

    @classmethod
    def deploy(
        cls, anvil: Anvil, verifier_source: Path, registry: str
    ) -> "InferenceContracts":
        """Compile and deploy both contracts, the wrapper reading `registry`."""
        return cls(anvil, *deploy_inference_verifier(anvil.web3, verifier_source, registry))

    def call_verifier(self, calldata: bytes) -> Tuple[bool, Optional[int]]:
        """(accepted, gas) of the generated verifier; a revert counts as refused (gas None)."""
        return call_contract(self.anvil.web3, self.verifier, calldata)

    def call_wrapper(self, round_number: int, calldata: bytes) -> Tuple[bool, Optional[int]]:
        """(accepted, gas) of the wrapper for the same proof, checked against the round's commitment."""
        return call_contract(
            self.anvil.web3, self.wrapper, wrapper_calldata(round_number, calldata)
        )
