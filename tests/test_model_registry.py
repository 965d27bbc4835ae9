"""ModelRegistry against a real anvil: only the Safe writes, records round-trip, bad input reverts."""

import json
import subprocess  # nosec
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from aea_ledger_ethereum import EthereumApi
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from devnet import chain
from devnet.service import ANVIL_PORT, tool
from aea.contracts.base import Contract

from packages.valory.contracts.model_registry import contract as model_registry_contract

# anvil's dev accounts 1-4 (public test keys): the Safe's owners
OWNER_KEYS = [
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
]
DIGEST = "ab" * 32
DEAD = "0x000000000000000000000000000000000000dEaD"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Loading the package gives the contract class its ABI, as the agent's contract registry does.
ModelRegistryContract = type(
    Contract.from_dir(str(Path(model_registry_contract.__file__).parent))
)


@pytest.fixture(name="deployment", scope="module")
def deployment_fixture() -> Iterator[Tuple[Web3, chain.ChainDeployment, List[LocalAccount]]]:
    """anvil with the agents' Safe (4 owners, threshold 3) and a ModelRegistry."""
    port = ANVIL_PORT + 1  # not the port a running service uses
    process = subprocess.Popen(  # nosec
        chain.anvil_command(tool("anvil"), port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = chain.rpc_url(port)
        w3 = chain.wait_for_chain(url, lambda: process.poll() is None)
        owners = [Account.from_key(key) for key in OWNER_KEYS]
        deployed = chain.deploy_service_contracts(
            w3, [o.address for o in owners], 3, url
        )
        yield w3, deployed, owners
    finally:
        process.terminate()
        process.wait(timeout=10)


def record_args(round_number: int, owners: List[LocalAccount], **changes: Any) -> Dict:
    """Arguments of get_record_round_data for a plausible round (changes override)."""
    addresses = [o.address for o in owners]
    args: Dict[str, Any] = {
        "round_number": round_number,
        "period": 2 * round_number,
        "model_digest": f"{round_number:064x}",
        "aggregate_digest": DIGEST,
        "joint_key_digest": "cd" * 32,
        "weight_commitment": f"{round_number:0128x}",
        "contributors": addresses[:3],
        "decryptors": addresses[1:],
        "exclusions": {addresses[3]: 2},
    }
    args.update(changes)
    return args


def calldata(w3: Web3, registry: str, **args: Any) -> bytes:
    """recordRound calldata through the contract package, as the agents build it."""
    ledger_api = EthereumApi(address=w3.provider.endpoint_uri, chain_id=w3.eth.chain_id)
    data = ModelRegistryContract.get_record_round_data(ledger_api, registry, **args)["data"]
    return bytes.fromhex(data[2:])


def revert_reason(w3: Web3, sender: str, to: str, data: bytes) -> str:
    """The custom error a call reverts with, by name (from the registry's ABI)."""
    build = chain.artifact(chain.REGISTRY_BUILD)
    with pytest.raises(ContractCustomError) as raised:
        w3.eth.call({"from": sender, "to": to, "data": data})
    selector = str(raised.value.args[0])[2:10]
    for item in build["abi"]:
        if item["type"] == "error":
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            if Web3.keccak(text=signature)[:4].hex() == selector:
                return item["name"]
    raise AssertionError(f"unknown error selector {selector}")


def through_safe(w3: Web3, deployed: chain.ChainDeployment, owners: List[LocalAccount], data: bytes) -> Dict:
    """Execute data on the registry as a 3-of-4 Safe transaction."""
    return chain.execute_safe_transaction(
        w3, deployed.safe, owners[:3], owners[0], deployed.registry, data
    )


def test_only_the_safe_writes(deployment: Tuple) -> None:
    """A direct call from an owner (or anyone) reverts with NotSafe; the Safe's call records the round."""
    w3, deployed, owners = deployment
    registry = chain.registry(w3, deployed.registry)
    start = registry.functions.roundCount().call()
    data = calldata(w3, deployed.registry, **record_args(start + 1, owners))
    for caller in (owners[0].address, chain.NULL_ADDRESS):
        assert revert_reason(w3, caller, deployed.registry, data) == "NotSafe"
    with pytest.raises(RuntimeError, match="reverted"):
        chain.transact(w3, owners[0], {"to": deployed.registry, "data": data, "gas": 500_000})
    assert registry.functions.roundCount().call() == start
    receipt = through_safe(w3, deployed, owners, data)
    assert registry.functions.roundCount().call() == start + 1
    print(f"recordRound through the Safe: {receipt['gasUsed']} gas")


def test_record_round_trips(deployment: Tuple) -> None:
    """What goes in through the Safe comes back from getRound, and the contribution counts add up."""
    w3, deployed, owners = deployment
    ledger_api = EthereumApi(address=w3.provider.endpoint_uri, chain_id=w3.eth.chain_id)
    start = ModelRegistryContract.get_round_count(ledger_api, deployed.registry)["round_count"]
    before = [
        ModelRegistryContract.get_contribution(ledger_api, deployed.registry, o.address)
        for o in owners
    ]
    args = record_args(start + 1, owners)
    through_safe(w3, deployed, owners, calldata(w3, deployed.registry, **args))
    record = ModelRegistryContract.get_round(ledger_api, deployed.registry, start + 1)
    by_int = lambda addresses: sorted(addresses, key=lambda a: int(a, 16))  # noqa: E731
    assert record == {
        "round": start + 1,
        "period": args["period"],
        "model_digest": args["model_digest"],
        "aggregate_digest": DIGEST,
        "joint_key_digest": "cd" * 32,
        "weight_commitment": args["weight_commitment"],
        "contributors": by_int(args["contributors"]),
        "decryptors": by_int(args["decryptors"]),
        "excluded": [owners[3].address],
        "reasons": [2],
    }
    assert ModelRegistryContract.get_weight_commitment(ledger_api, deployed.registry, start + 1) == {
        "weight_commitment": args["weight_commitment"]
    }
    after = [
        ModelRegistryContract.get_contribution(ledger_api, deployed.registry, o.address)
        for o in owners
    ]
    for i in range(3):
        assert after[i]["rounds_included"] == before[i]["rounds_included"] + 1
    assert after[3]["rounds_included"] == before[3]["rounds_included"]
    assert (
        after[3]["rounds_excluded"]["update_rejected"]
        == before[3]["rounds_excluded"]["update_rejected"] + 1
    )


def test_unknown_round_is_refused(deployment: Tuple) -> None:
    """Round 0 and any round past the last recorded one revert with UnknownRound."""
    w3, deployed, _owners = deployment
    registry = chain.registry(w3, deployed.registry)
    count = registry.functions.roundCount().call()
    for round_number in (0, count + 1, 2**255):
        with pytest.raises(ContractLogicError, match="UnknownRound|0x"):
            registry.functions.getRound(round_number).call()
        with pytest.raises(ContractLogicError, match="UnknownRound|0x"):
            registry.functions.weightCommitment(round_number).call()


@pytest.mark.parametrize(
    "change,error",
    [
        ({"round_number_offset": 2}, "UnexpectedRound"),  # skips a round
        ({"round_number_offset": 0}, "UnexpectedRound"),  # repeats the last round
        ({"model_digest": "00" * 32}, "EmptyDigest"),
        ({"weight_commitment": "00" * 64}, "EmptyCommitment"),
        ({"contributors": []}, "NoContributors"),
        ({"decryptors": []}, "NoDecryptors"),
        ({"exclusions": {DEAD: 0}}, "BadReason"),  # 0 is no reason
        ({"exclusions": {DEAD: 4}}, "BadReason"),  # unknown reason
        ({"contributors_repeat": True}, "NotAscending"),
        ({"exclusions_of_contributor": True}, "ContributorExcluded"),
    ],
)
def test_bad_inputs_revert(deployment: Tuple, change: Dict[str, Any], error: str) -> None:
    """Each malformed record makes the Safe transaction revert and records nothing."""
    w3, deployed, owners = deployment
    registry = chain.registry(w3, deployed.registry)
    count = registry.functions.roundCount().call()
    args = record_args(count + 1, owners)
    offset = change.pop("round_number_offset", None)
    if offset is not None:
        args["round_number"] = count + offset
    if change.pop("contributors_repeat", False):
        args["contributors"] = [owners[0].address, owners[0].address]
    if change.pop("exclusions_of_contributor", False):
        args["exclusions"] = {owners[0].address: 1}
    args.update(change)
    data = calldata(w3, deployed.registry, **args)
    assert revert_reason(w3, deployed.safe, deployed.registry, data) == error
    # with safeTxGas 0 a failing inner call makes execTransaction itself revert (GS013)
    with pytest.raises(ContractLogicError, match="GS013"):
        through_safe(w3, deployed, owners, data)
    assert registry.functions.roundCount().call() == count


def test_digest_must_be_32_bytes() -> None:
    """The package refuses a digest of the wrong length before anything is sent."""
    with pytest.raises(ValueError, match="not 32 bytes"):
        ModelRegistryContract.get_record_round_data(
            None, "0x" + "11" * 20, **record_args(1, [Account.create() for _ in range(4)], model_digest="ab")  # type: ignore
        )


def test_weight_commitment_must_be_64_bytes() -> None:
    """The package refuses a weight commitment that is not one BN254 point (x || y) before anything is sent."""
    with pytest.raises(ValueError, match="not 64 bytes"):
        ModelRegistryContract.get_record_round_data(
            None, "0x" + "11" * 20, **record_args(1, [Account.create() for _ in range(4)], weight_commitment="ab" * 32)  # type: ignore
        )


def test_registry_script_prints_the_history(deployment: Tuple) -> None:
    """scripts/registry.py lists every recorded round with its settlement tx, as JSON and as a table."""
    w3, deployed, owners = deployment
    registry = chain.registry(w3, deployed.registry)
    receipt = through_safe(
        w3,
        deployed,
        owners,
        calldata(w3, deployed.registry, **record_args(registry.functions.roundCount().call() + 1, owners)),
    )
    command = [sys.executable, str(REPO_ROOT / "scripts" / "registry.py"), "--rpc", deployed.rpc, "--registry", deployed.registry]
    rounds = json.loads(subprocess.run(command + ["--json"], check=True, capture_output=True, text=True).stdout)
    assert [r["round"] for r in rounds] == list(range(1, registry.functions.roundCount().call() + 1))
    last = rounds[-1]
    assert last["tx_hash"] == "0x" + receipt["transactionHash"].hex().removeprefix("0x")
    assert last["exclusions"] == {owners[3].address: "update rejected"}
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    assert lines[0].split()[:3] == ["round", "period", "model"] and len(lines) == len(rounds) + 1
