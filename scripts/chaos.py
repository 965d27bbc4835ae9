#!/usr/bin/env python3
"""`make chaos`: run the 4-agent service with random faults; print a table and write the JSON report.

The run itself is devnet/chaos.py. Exits 1 if a fault was never recovered from, the supervisor gave
up on a process, or the agents that recorded the newest round disagree on its digest.
"""

import argparse
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from devnet.chaos import ChaosReport, ChaosRun, FaultReport
from devnet.service import REPO_ROOT, LocalService


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--periods", type=int, default=50, help="periods to run after the first accepted round")
    parser.add_argument("--faults", type=int, default=20, help="faults to inject, spread over the periods")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault schedule")
    parser.add_argument("--max-minutes", type=float, default=180.0, help="stop injecting and report after this long")
    parser.add_argument("--run-dir", type=Path, help="run folder (default: runs/chaos-<timestamp>)")
    parser.add_argument("--out", type=Path, help="JSON report (default: <run folder>/chaos.json)")
    return parser.parse_args()


def fault_table(report: ChaosReport) -> Table:
    """One row per fault."""
    table = Table(title="faults")
    for column in ("#", "fault", "target", "period", "recovered in", "periods lost", "agreeing", "lagging", "detail"):
        table.add_column(column)
    for number, fault in enumerate(report.faults, start=1):
        table.add_row(
            str(number),
            fault.kind,
            fault.target,
            str(fault.period),
            f"{fault.seconds_to_recover:.0f} s" if fault.recovered else "NOT RECOVERED",
            str(fault.periods_lost),
            f"{len(fault.agreeing)} ({fault.digests} digest{'s' if fault.digests != 1 else ''})",
            ", ".join(fault.lagging) or "-",
            fault.detail,
        )
    return table


def period_table(report: ChaosReport) -> Table:
    """One row per closed period."""
    table = Table(title="periods")
    for column in ("period", "outcome", "global round / reasons"):
        table.add_column(column)
    for period in report.periods:
        table.add_row(
            str(period.period),
            "accepted" if period.accepted else "incomplete",
            str(period.global_round) if period.accepted else "; ".join(period.reasons),
        )
    return table


def print_fault(console: Console, fault: FaultReport) -> None:
    """One line as each fault is measured."""
    recovered = f"recovered in {fault.seconds_to_recover} s" if fault.recovered else "NOT recovered"
    console.print(
        f"{fault.kind} on {fault.target} in period {fault.period}: {recovered}, "
        f"{fault.periods_lost} period(s) lost, agreeing {fault.agreeing}, lagging {fault.lagging}"
    )


def failed(report: ChaosReport) -> bool:
    """A fault never recovered from, a process given up on, or two digests for the newest round."""
    return any(not fault.recovered for fault in report.faults) or bool(report.gave_up) or report.final_digests > 1


def main() -> int:
    """Run, report, exit status."""
    args = parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    console = Console()
    run_dir = (args.run_dir or REPO_ROOT / "runs" / f"chaos-{datetime.now():%Y%m%d-%H%M%S}").resolve()
    out = args.out or run_dir / "chaos.json"
    run = ChaosRun(
        LocalService(run_dir),
        periods=args.periods,
        faults=args.faults,
        seed=args.seed,
        max_seconds=args.max_minutes * 60,
        on_fault=lambda fault: print_fault(console, fault),
    )
    report = run.run()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.to_json() + "\n")
    console.print(fault_table(report))
    console.print(period_table(report))
    console.print(report.summary())
    console.print(f"report: {out}")
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
