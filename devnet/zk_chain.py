"""Deploy and call the zk-inference contracts on a local anvil: the EZKL-generated verifier and our wrapper.

Contracts are compiled here with solc-js (`solcjs`, installed by `scripts/install.sh solc`) from their
sources: the generated Verifier.sol of a circuit and contracts/InferenceVerifier.sol.
"""

import os
import signal
import subprocess  # nosec
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractLogicError

from devnet.service import REPO_ROOT, ZK_ANVIL_PORT, run_checked, tool

WRAPPER_SOURCE = REPO_ROOT / "contracts" / "InferenceVerifier.sol"
WRAPPER_SELECTOR = function_signature_to_4byte_selector(
    "verifyInference(bytes,uint256[])"
)
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
        factory = self.web3.eth.contract(abi=contract.abi, bytecode=contract.bytecode)
        tx = factory.constructor(*args).transact(
            {"from": self.web3.eth.accounts[0], "gas": GAS_LIMIT}
        )
        receipt = self.web3.eth.wait_for_transaction_receipt(tx)
        if receipt.status != 1:
            raise RuntimeError("contract deployment failed")
        return receipt.contractAddress, receipt.gasUsed


@dataclass
class InferenceContracts:
    """The generated verifier and the wrapper bound to one weight commitment, deployed on one anvil."""

    anvil: Anvil
    verifier: str
    wrapper: str
    verifier_deploy_gas: int

    @classmethod
    def deploy(
        cls, anvil: Anvil, verifier_source: Path, commitment: bytes
    ) -> "InferenceContracts":
        """Compile and deploy both contracts; the first account owns the wrapper and sets the commitment."""
        (generated,) = compile_solidity(verifier_source).values()
        wrapper_contract = compile_solidity(WRAPPER_SOURCE)["InferenceVerifier"]
        verifier, verifier_gas = anvil.deploy(generated)
        owner = anvil.web3.eth.accounts[0]
        wrapper, _ = anvil.deploy(wrapper_contract, verifier, owner)
        contracts = cls(anvil, verifier, wrapper, verifier_gas)
        contracts.wrapper_contract(wrapper_contract).functions.setWeightCommitment(
            commitment
        ).transact({"from": owner})
        return contracts

    def wrapper_contract(self, compiled: CompiledContract):  # type: ignore[no-untyped-def]
        """web3 handle of the wrapper."""
        return self.anvil.web3.eth.contract(address=self.wrapper, abi=compiled.abi)

    def call_verifier(self, calldata: bytes) -> Tuple[bool, Optional[int]]:
        """(accepted, gas) of the generated verifier; a revert counts as refused (gas None)."""
        return self._call(self.verifier, calldata)

    def call_wrapper(self, calldata: bytes) -> Tuple[bool, Optional[int]]:
        """(accepted, gas) of the wrapper for the same `verifyProof` calldata."""
        return self._call(
            self.wrapper, WRAPPER_SELECTOR + calldata[VERIFY_PROOF_ARGS_OFFSET:]
        )

    def _call(self, address: str, calldata: bytes) -> Tuple[bool, Optional[int]]:
        """eth_call for the answer; the gas a real transaction uses for its cost.

        Not eth_estimateGas: with the wrapper's try/catch, an inner call that runs out of gas returns
        false without reverting, so the estimate would be the gas of a refusal.
        """
        web3 = self.anvil.web3
        tx = {"to": address, "data": Web3.to_hex(calldata), "gas": GAS_LIMIT}
        try:
            result = web3.eth.call(tx)
        except ContractLogicError:
            return False, None
        accepted = int.from_bytes(bytes(result[-32:]), "big") == 1 if result else False
        if not accepted:
            return False, None
        receipt = web3.eth.wait_for_transaction_receipt(
            web3.eth.send_transaction({**tx, "from": web3.eth.accounts[0]})
        )
        return True, receipt.gasUsed
