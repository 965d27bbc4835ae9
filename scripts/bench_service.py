#!/usr/bin/env python3
"""Benchmark the running service: key generation and per-round times of the real 4-agent service.

Starts the local service (devnet/service.py), waits for --rounds accepted global rounds, stops it,
and reads the times from agent_0's log: key generation (key exchange -> first training) and each period
(training -> next training), split into training and the encrypted update plus the reset pause. Prints JSON, then a table.
"""

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Dict, List


from devnet.service import NUMBER_OF_AGENTS, LocalService

LOG_LINE = re.compile(r"^\[(?P<time>[\d\- :,]+)\] \[\w+\] \[[^\]]+\] (?P<message>.*)$")
ENTERED = re.compile(r"Entered in the '(\w+)' round for period (\d+)")
POLL_SECONDS = 5
DEADLINE_SECONDS = 1800


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rounds", type=int, default=3, help="accepted global rounds to wait for"
    )
    return parser.parse_args()


def round_entries(log: Path) -> List[tuple]:
    """(time, round name, period) of every round agent_0 entered."""
    entries = []
    for line in log.read_text(errors="replace").splitlines():
        match = LOG_LINE.match(line)
        entered = ENTERED.search(match["message"]) if match else None
        if entered:
            moment = datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f")
            entries.append((moment, entered[1], int(entered[2])))
    return entries


def first(entries: List[tuple], name: str, period: int) -> datetime:
    """When agent_0 first entered round `name` in `period`."""
    return next(
        moment
        for moment, round_name, round_period in entries
        if (round_name, round_period) == (name, period)
    )


def timings(entries: List[tuple], rounds: int) -> Dict[str, object]:
    """Key generation time and, per period, training / update / whole-period seconds."""
    key_generation = (
        first(entries, "training_round", 0) - first(entries, "key_exchange_round", 0)
    ).total_seconds()
    periods = []
    for period in range(rounds):
        start = first(entries, "training_round", period)
        update = first(entries, "submit_update_round", period)
        end = first(entries, "training_round", period + 1)
        periods.append(
            {
                "period": period,
                "training_s": (update - start).total_seconds(),
                "update_and_reset_s": (end - update).total_seconds(),
                "period_s": (end - start).total_seconds(),
            }
        )
    return {
        "agents": NUMBER_OF_AGENTS,
        "key_generation_s": key_generation,
        "periods": periods,
    }


def main() -> None:
    """Run the service until enough rounds are accepted, then report."""
    args = parse_args()
    with tempfile.TemporaryDirectory() as folder:
        service = LocalService(Path(folder) / "run")
        service.prepare()
        deadline = time.monotonic() + DEADLINE_SECONDS
        try:
            service.start()
            record = (
                service.agent_output(0) / "rounds" / f"round_{args.rounds:04d}.json"
            )
            while not record.exists():
                if time.monotonic() > deadline:
                    sys.exit(
                        f"no {args.rounds} accepted rounds within {DEADLINE_SECONDS}s"
                    )
                time.sleep(POLL_SECONDS)
        finally:
            service.stop()
        result = timings(round_entries(service.log_path("agent_0")), args.rounds)
    print(json.dumps(result))
    print(f"key generation: {result['key_generation_s']:.1f} s")
    print(f"{'period':>6} {'training s':>11} {'update+reset s':>15} {'period s':>9}")
    for row in result["periods"]:
        print(
            f"{row['period']:>6} {row['training_s']:>11.1f} {row['update_and_reset_s']:>15.1f} {row['period_s']:>9.1f}"
        )


if __name__ == "__main__":
    main()
