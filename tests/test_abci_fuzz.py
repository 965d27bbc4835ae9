"""End to end: junk transactions sent to every node's RPC while the real 4-agent service runs.

Random, empty, truncated, oversized, flipped-signature, outsider-signed, impersonating, replayed and
wrong-round transactions go to each node's `broadcast_tx_sync` on 127.0.0.1 (a bounded number, with a
bounded time per request). The agents must keep accepting global models with one digest, log no
traceback, and commit none of the outsiders' transactions.
"""

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from devnet.junk import (
    OUTSIDER_KINDS,
    REFUSED_AT_CHECK_TX,
    TxMaker,
    broadcast,
    committed_tx,
    is_committed,
    junk_makers,
    outcome,
)
from devnet.service import NUMBER_OF_AGENTS, LocalService
from tests.test_service_e2e import rounds_recorded, record_path, wait_for

ROUNDS_PER_KIND_AND_NODE = 8  # 9 kinds x 8 x 4 nodes = 288 transactions
FUZZ_SECONDS = 420.0
MIN_TRANSACTIONS_SENT = 250


def fuzz_node(node: int, makers: Dict[str, TxMaker], deadline: float) -> Tuple[Dict[str, Counter], List[bytes]]:
    """Send every kind of junk to one node, ROUNDS_PER_KIND_AND_NODE times, until the deadline."""
    tally: Dict[str, Counter] = {kind: Counter() for kind in makers}
    sent_by_outsiders: List[bytes] = []
    for _ in range(ROUNDS_PER_KIND_AND_NODE):
        for kind, make in makers.items():
            if time.monotonic() > deadline:
                return tally, sent_by_outsiders
            tx = make()
            tally[kind][outcome(broadcast(node, tx))] += 1
            if kind in OUTSIDER_KINDS:
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
