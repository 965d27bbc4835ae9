"""Bad transactions for a running service's Tendermint RPC: the fuzz test and the chaos run send these.

Each kind is a maker returning a fresh transaction per call (so the mempool cache never answers for it):
random bytes, empty, truncated, oversized, a committed transaction with its signature flipped, payloads
signed by an outsider or impersonating a participant, an exact replay, and a participant's valid
signature on a payload of a round the service is not in.
"""

import base64
import hashlib
import json
import os
import urllib.error
import urllib.request
from typing import Callable, Dict

from aea_ledger_ethereum import EthereumCrypto

from devnet.service import LocalService, NodePorts
from packages.valory.skills.abstract_round_abci.base import Transaction
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    KeyExchangePayload,
    TrainingPayload,
)

RPC_TIMEOUT_SECONDS = 30.0  # CheckTx waits for the agent's main loop, which may be aggregating
OVERSIZED_BYTES = 32 * 1024  # above the skill's max_transaction_bytes, below Tendermint's 1 MiB
# The kinds every node must refuse at CheckTx (a replay and a wrong-round payload are refused later).
REFUSED_AT_CHECK_TX = (
    "random",
    "empty",
    "truncated",
    "oversized",
    "flipped signature",
    "outsider",
    "impersonating",
)
OUTSIDER_KINDS = ("outsider", "impersonating")

TxMaker = Callable[[], bytes]


def rpc(node: int, method: str, params: Dict) -> Dict:
    """One JSON-RPC call to node `node` on 127.0.0.1: its result, or its error as {'error': ...}."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(
        f"http://127.0.0.1:{NodePorts.of(node).rpc}",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=RPC_TIMEOUT_SECONDS) as response:  # nosec
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        return {"error": f"HTTP {error.code}"}
    except (TimeoutError, ConnectionError, urllib.error.URLError) as error:  # a busy or dead node
        return {"error": f"no answer: {error}"}
    return answer["result"] if "result" in answer else {"error": answer.get("error")}


def broadcast(node: int, tx: bytes) -> Dict:
    """broadcast_tx_sync: the CheckTx answer of node `node` for `tx`."""
    return rpc(node, "broadcast_tx_sync", {"tx": base64.b64encode(tx).decode()})


def committed_tx(node: int) -> bytes:
    """A transaction the service committed, from the most recent block that has one."""
    height = int(rpc(node, "status", {})["sync_info"]["latest_block_height"])
    for candidate in range(height, 0, -1):
        txs = rpc(node, "block", {"height": str(candidate)})["block"]["data"]["txs"]
        if txs:
            return base64.b64decode(txs[0])
    raise LookupError(f"node {node} committed no transaction yet")


def is_committed(node: int, tx: bytes) -> bool:
    """Whether Tendermint indexed `tx` in a block."""
    digest = hashlib.sha256(tx).hexdigest()
    return "error" not in rpc(node, "tx", {"hash": base64.b64encode(bytes.fromhex(digest)).decode()})


def sign(crypto: EthereumCrypto, payload: object) -> bytes:
    """A transaction carrying `payload` signed by `crypto`."""
    signature = crypto.sign_message(payload.encode())  # type: ignore
    return Transaction(payload, signature).encode()  # type: ignore


def flip_signature(tx: bytes) -> bytes:
    """A committed transaction with one hex character of its signature changed."""
    data = json.loads(tx)
    signature = data["signature"]
    data["signature"] = signature[:10] + ("1" if signature[10] != "1" else "2") + signature[11:]
    return json.dumps(data, sort_keys=True).encode()


def junk_makers(service: LocalService, real: bytes) -> Dict[str, TxMaker]:
    """Each kind of bad transaction, built around `real` (a committed transaction) and agent_0's key."""
    participant = EthereumCrypto(
        private_key_path=str(service.agent_dirs[0] / "ethereum_private_key.txt")
    )

    def outsider() -> bytes:
        crypto = EthereumCrypto()
        return sign(crypto, TrainingPayload(crypto.address, os.urandom(32).hex(), 100, "", os.urandom(32).hex()))

    def impersonating() -> bytes:
        payload = TrainingPayload(participant.address, os.urandom(32).hex(), 100, "", os.urandom(32).hex())
        return sign(EthereumCrypto(), payload)

    return {
        "random": lambda: os.urandom(64),
        "empty": lambda: b"",
        "truncated": lambda: real[: len(real) // 2] + os.urandom(4).hex().encode(),
        "oversized": lambda: sign(
            participant,
            TrainingPayload(participant.address, os.urandom(OVERSIZED_BYTES // 2).hex(), 1, "", os.urandom(32).hex()),
        ),
        "flipped signature": lambda: flip_signature(real),
        "outsider": outsider,
        "impersonating": impersonating,
        "replayed": lambda: real,
        "wrong round": lambda: sign(
            participant, KeyExchangePayload(participant.address, os.urandom(32).hex())
        ),
    }


def outcome(answer: Dict) -> str:
    """'accepted', 'code N' or the RPC error, for a tally."""
    if "error" in answer:
        return f"rpc error: {str(answer['error'])[:60]}"
    return "accepted" if answer["code"] == 0 else f"code {answer['code']}"
