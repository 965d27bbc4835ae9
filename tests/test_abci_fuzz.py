"""End to end: junk transactions sent to every node's RPC while the real 4-agent service runs.

Random, empty, truncated, oversized, flipped-signature, outsider-signed, impersonating, replayed and
wrong-round transactions go to each node's `broadcast_tx_sync` on 127.0.0.1 (a bounded number, with a
bounded time per request). The agents must keep accepting global models with one digest, log no
traceback, and commit none of the outsiders' transactions.
"""

import base64
import hashlib
import json
import os
import urllib.error
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pytest
from aea_ledger_ethereum import EthereumCrypto

from devnet.service import NUMBER_OF_AGENTS, LocalService, NodePorts
from packages.valory.skills.abstract_round_abci.base import Transaction
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    KeyExchangePayload,
    TrainingPayload,
)
from tests.test_service_e2e import rounds_recorded, record_path, wait_for

ROUNDS_PER_KIND_AND_NODE = 8  # 9 kinds x 8 x 4 nodes = 288 transactions
RPC_TIMEOUT_SECONDS = 30.0  # CheckTx waits for the agent's main loop, which may be aggregating
FUZZ_SECONDS = 420.0
MIN_TRANSACTIONS_SENT = 250
OVERSIZED_BYTES = 32 * 1024  # above the skill's max_transaction_bytes, below Tendermint's 1 MiB
REFUSED_AT_CHECK_TX = (
    "random",
    "empty",
    "truncated",
    "oversized",
    "flipped signature",
    "outsider",
    "impersonating",
)


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
    except (TimeoutError, urllib.error.URLError) as error:  # a node busy with its agent's CheckTx queue
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
    raise AssertionError("no committed transaction")


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


def junk_makers(service: LocalService, real: bytes) -> Dict[str, Callable[[], bytes]]:
    """Each kind of bad transaction, a fresh one per call (so the mempool cache does not answer for it)."""
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
        # a participant's valid signature on a payload of a round the service is not in
        "wrong round": lambda: sign(
            participant, KeyExchangePayload(participant.address, os.urandom(32).hex())
        ),
    }


def outcome(answer: Dict) -> str:
    """'accepted', 'code N' or the RPC error, for the tally."""
    if "error" in answer:
        return f"rpc error: {str(answer['error'])[:60]}"
    return "accepted" if answer["code"] == 0 else f"code {answer['code']}"


def fuzz_node(node: int, makers: Dict[str, Callable[[], bytes]], deadline: float) -> Tuple[Dict[str, Counter], List[bytes]]:
    """Send every kind of junk to one node, ROUNDS_PER_KIND_AND_NODE times, until the deadline."""
    tally: Dict[str, Counter] = {kind: Counter() for kind in makers}
    sent_by_outsiders: List[bytes] = []
    for _ in range(ROUNDS_PER_KIND_AND_NODE):
        for kind, make in makers.items():
            if time.monotonic() > deadline:
                return tally, sent_by_outsiders
            tx = make()
            tally[kind][outcome(broadcast(node, tx))] += 1
            if kind in ("outsider", "impersonating"):
                sent_by_outsiders.append(tx)
    return tally, sent_by_outsiders


def fuzz(service: LocalService) -> Tuple[Dict[str, Counter], List[bytes]]:
    """Junk to every node at once (one sender each); the tally of answers per kind, and what outsiders sent."""
    makers = junk_makers(service, committed_tx(0))
    deadline = time.monotonic() + FUZZ_SECONDS
    with ThreadPoolExecutor(NUMBER_OF_AGENTS) as pool:
        results = list(pool.map(lambda node: fuzz_node(node, makers, deadline), range(NUMBER_OF_AGENTS)))
    tally: Dict[str, Counter] = {kind: Counter() for kind in makers}
    sent_by_outsiders: List[bytes] = []
    for node_tally, node_outsiders in results:
        for kind, counts in node_tally.items():
            tally[kind].update(counts)
        sent_by_outsiders.extend(node_outsiders)
    return tally, sent_by_outsiders


def tracebacks(service: LocalService) -> Dict[str, int]:
    """How many tracebacks each agent's log and console show."""
    counts = {}
    for index in range(NUMBER_OF_AGENTS):
        for path in (service.log_path(f"agent_{index}"), service.console_path(f"agent_{index}")):
            text = path.read_text(errors="replace") if path.exists() else ""
            counts[path.name] = text.count("Traceback")
    return counts


def last_recorded_round(service: LocalService) -> int:
    """The highest global round every agent has recorded."""
    recorded: Optional[int] = None
    for agent in range(NUMBER_OF_AGENTS):
        rounds = sorted((service.agent_output(agent) / "rounds").glob("round_*.json"))
        latest = int(rounds[-1].stem.split("_")[1]) if rounds else 0
        recorded = latest if recorded is None else min(recorded, latest)
    return recorded or 0


@pytest.mark.e2e
def test_junk_transactions_cannot_stop_or_split_the_service(tmp_path: Path) -> None:
    """A few hundred bad transactions on every node: models keep coming, one digest, no traceback."""
    service = LocalService(tmp_path / "run")
    service.prepare()
    try:
        service.start()
        wait_for(service, rounds_recorded(service, range(NUMBER_OF_AGENTS), 1), "a first round")
        tally, sent_by_outsiders = fuzz(service)
        print(json.dumps({kind: dict(counts) for kind, counts in tally.items()}, indent=1))
        after = last_recorded_round(service) + 1
        wait_for(
            service,
            rounds_recorded(service, range(NUMBER_OF_AGENTS), after),
            f"round {after} after the junk",
        )
        outsiders_committed = [tx for tx in sent_by_outsiders if is_committed(0, tx)]
        index_answers = is_committed(0, committed_tx(0))  # the lookup above finds what was committed
        found_tracebacks = tracebacks(service)  # before stopping: shutdown noise is not the junk's doing
    finally:
        service.stop()
    for kind in REFUSED_AT_CHECK_TX:
        assert "accepted" not in tally[kind], (kind, tally[kind])
    assert sum(sum(counts.values()) for counts in tally.values()) >= MIN_TRANSACTIONS_SENT
    assert index_answers and not outsiders_committed
    digests = {
        json.loads(record_path(service, agent, after).read_text())["global_model_digest"]
        for agent in range(NUMBER_OF_AGENTS)
    }
    assert len(digests) == 1, digests
    assert not any(found_tracebacks.values()), found_tracebacks
