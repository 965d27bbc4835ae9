#!/usr/bin/env python3
"""`make bench-disk [PERIODS=100]`: run the 4-agent service for N periods and show that its store stays bounded.

Samples kubo's repository, each agent's folder and blob copies and the Tendermint homes once per period
(devnet/disk_usage.py), and writes disk_usage.json, disk_usage.md (a table) and disk_usage.png into the
run folder (rewritten after every period, so a stopped run keeps what it measured). --set NAME=VALUE
overrides a skill param for every agent (e.g. --set KEEP_PERIODS=3); stop early with Ctrl-C.
"""

import argparse
import json
import signal
from datetime import datetime
from pathlib import Path

import yaml

from devnet.disk_usage import DiskRun, table
from devnet.service import REPO_ROOT, LocalService

SKILL_YAML = REPO_ROOT / "packages" / "valory" / "skills" / "smpc_mnist_classifier" / "skill.yaml"


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--periods", type=int, default=100, help="periods to run (default %(default)s)")
    parser.add_argument("--hours", type=float, default=3.0, help="stop after this long in any case")
    parser.add_argument("--run-dir", type=Path, help="run folder (default: runs/disk-<timestamp>)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="skill param override (upper case)"
    )
    return parser.parse_args()


def overrides(pairs: list) -> dict:
    """NAME=VALUE pairs as a dict."""
    parsed = dict(pair.split("=", 1) for pair in pairs)
    return {name.upper(): value for name, value in parsed.items()}


def main() -> None:
    """Run, sample, report."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    args = parse_args()
    skill_overrides = overrides(args.set)
    default_keep = yaml.safe_load(SKILL_YAML.read_text())["models"]["params"]["args"]["keep_periods"]
    keep_periods = int(skill_overrides.get("KEEP_PERIODS", default_keep))
    run_dir = args.run_dir or REPO_ROOT / "runs" / f"disk-{datetime.now():%Y%m%d-%H%M%S}"
    service = LocalService(run_dir.resolve(), skill_overrides=skill_overrides)
    service.prepare()
    run = DiskRun(service, args.periods, args.hours * 3600, keep_periods, [])
    print(f"Running in {service.run_dir} for {args.periods} periods; disk_usage.* written there each period", flush=True)
    try:
        run.measure()
    except KeyboardInterrupt:
        print("Stopped early.", flush=True)
    report = run.write()
    print(json.dumps(report["summary"]))
    print(table(run.samples))


if __name__ == "__main__":
    main()
