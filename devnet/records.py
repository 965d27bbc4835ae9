"""What the agents of a LocalService recorded and where they are, read from their output folders and logs.

Shared by the e2e tests and the chaos run (devnet/chaos.py): each accepted global round is one JSON
record per agent (`rounds/round_NNNN.json`), and each agent logs every round it enters with its period.
"""

import json
from typing import Any, Dict, List, Optional

from devnet.service import ROUND_ENTERED, LocalService, agent_name

Record = Dict[str, Any]


def records(service: LocalService, agent: int) -> List[Record]:
    """Every global round agent `agent` recorded, oldest first (a record being written is skipped)."""
    found = []
    for path in sorted((service.agent_output(agent) / "rounds").glob("round_*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            continue
    return found


def latest_record(service: LocalService, agent: int) -> Optional[Record]:
    """The newest global round agent `agent` recorded, if any."""
    found = records(service, agent)
    return found[-1] if found else None


def current_period(service: LocalService, agent: int) -> Optional[int]:
    """The period of the last round agent `agent` entered, per its log (None before the first)."""
    path = service.log_path(agent_name(agent))
    if not path.exists():
        return None
    periods = ROUND_ENTERED.findall(path.read_text(errors="replace"))
    return int(periods[-1][1]) if periods else None


def contributors(record: Record) -> List[str]:
    """The addresses whose updates are in a recorded round's agreed average."""
    return sorted(record["included_updates"])
