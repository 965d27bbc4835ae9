"""End to end: kubo stops for OUTAGE_SECONDS mid-run; the period it hits still completes.

IPFS reads and writes retry with backoff within the round's budget, so the agents wait for kubo to come
back instead of sitting out. The test stops kubo as soon as every agent recorded global round 1 (the
next period's training is starting), restarts it OUTAGE_SECONDS later on the same repository, and
expects global round 2 to be accepted in the very next period, with one digest. With keep_periods 1,
the agents then unpin the blobs of the periods before and kubo garbage-collects them.
"""

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devnet.service import IPFS_API_HOST, IPFS_API_PORT, NUMBER_OF_AGENTS, LocalService
from tests.test_service_e2e import record_path, rounds_recorded, wait_for

OUTAGE_SECONDS = 30.0  # the length of the fault injected, not a wait for readiness


def pinned(cid: str) -> bool:
    """Whether kubo still pins `cid` (its pin/ls answers 500 for what it does not pin)."""
    request = urllib.request.Request(
        f"http://{IPFS_API_HOST}:{IPFS_API_PORT}/api/v0/pin/ls?arg={cid}", method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # nosec
            return response.status == 200
    except urllib.error.HTTPError:
        return False


def oldest_kept_period(service: LocalService) -> int:
    """The oldest period any agent still keeps blob copies of (a large number if none)."""
    periods = [
        int(folder.name.split("_")[1])
        for agent in range(NUMBER_OF_AGENTS)
        for folder in (service.agent_output(agent) / "blobs").glob("period_*")
    ]
    return min(periods, default=1 << 30)


def all_logged(service: LocalService, text: str) -> bool:
    """Whether every agent's log has `text`."""
    return all(
        text in service.log_path(f"agent_{agent}").read_text(errors="replace")
        for agent in range(NUMBER_OF_AGENTS)
    )


@pytest.mark.e2e
def test_a_kubo_outage_costs_no_period(tmp_path: Path) -> None:
    """Global round 2 comes from the period right after round 1, although kubo was down for 30 s in it."""
    service = LocalService(tmp_path / "run", skill_overrides={"KEEP_PERIODS": "1"})
    service.prepare()
    agents = range(NUMBER_OF_AGENTS)
    try:
        service.start()
        wait_for(service, rounds_recorded(service, agents, 1), "a first round")
        service.stop_ipfs()
        outage_started = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        service.start_ipfs()
        wait_for(service, rounds_recorded(service, agents, 2), "a round after the outage")
        recovered_after = time.monotonic() - outage_started
        wait_for(
            service,
            lambda: all_logged(service, "Unpinned") and oldest_kept_period(service) >= 2,
            "the blobs of periods 0 and 1 dropped",
        )
        updates = [
            item["cid"]
            for global_round in (1, 2)
            for item in json.loads(record_path(service, 0, global_round).read_text())[
                "included_updates"
            ].values()
        ]
        still_pinned = [cid for cid in updates if pinned(cid)]
    finally:
        service.stop()
    first, second = (
        [json.loads(record_path(service, agent, global_round).read_text()) for agent in agents]
        for global_round in (1, 2)
    )
    print(
        json.dumps(
            {
                "outage_seconds": OUTAGE_SECONDS,
                "round_2_recorded_seconds_after_outage_start": round(recovered_after, 1),
                "periods": [first[0]["period"], second[0]["period"]],
            }
        )
    )
    assert len({record["global_model_digest"] for record in second}) == 1
    assert second[0]["period"] == first[0]["period"] + 1, "the outage cost a period"
    logs = "".join(service.log_path(f"agent_{agent}").read_text(errors="replace") for agent in agents)
    assert "retrying in" in logs, "kubo's outage did not reach the agents"
    assert not still_pinned, f"updates of periods 0 and 1 still pinned: {still_pinned}"
