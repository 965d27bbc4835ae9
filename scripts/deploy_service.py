#!/usr/bin/env python3
"""`make deploy`: the service as a Docker Compose deployment (`autonomy deploy build`), live view until Ctrl-C.

`--stop` (`make deploy-stop`) stops a deployment started from another terminal (it signals that process, which
tears down as on Ctrl-C) or, if none runs, takes down what the latest deployment left. Either way it lists the
compose project's containers, networks and volumes afterwards: none may be left.
"""

import argparse
import logging
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional

from rich.console import Console

from devnet.compose import ComposeDeployment, project_resources
from devnet.live_view import watch
from devnet.service import NUMBER_OF_AGENTS, REPO_ROOT, agent_name
from devnet.status import AgentStatus, ServiceStatus

DEPLOY_RUNS = REPO_ROOT / "runs"
RUN_PREFIX = "deploy-"
PID_FILE = "deploy.pid"
STOP_POLL_SECONDS = 0.5


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, help="deployment folder (default: runs/deploy-<timestamp>)")
    parser.add_argument("--stop", action="store_true", help="stop the running (or latest) deployment")
    return parser.parse_args()


def latest_run() -> Optional[Path]:
    """The most recent deployment folder, if any."""
    runs = sorted(DEPLOY_RUNS.glob(f"{RUN_PREFIX}*"))
    return runs[-1] if runs else None


def report_leftovers(console: Console, leftovers: Dict[str, List[str]]) -> bool:
    """Print what Docker still holds for the project; True if nothing is left."""
    for kind, names in leftovers.items():
        console.print(f"{kind}: {', '.join(names) if names else 'none left'}")
    return not any(leftovers.values())


def alive(pid: int) -> bool:
    """Whether process `pid` still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_running(console: Console) -> bool:
    """Stop the deployment started by another `make deploy` (SIGTERM: it tears down itself), else the latest one."""
    run_dir = latest_run()
    pid_file = run_dir / PID_FILE if run_dir else None
    if pid_file is not None and pid_file.exists() and alive(int(pid_file.read_text())):
        pid = int(pid_file.read_text())
        console.print(f"Stopping the deployment in {run_dir} (process {pid})...")
        os.kill(pid, signal.SIGTERM)
        while alive(pid):
            time.sleep(STOP_POLL_SECONDS)
    elif run_dir is not None:
        console.print(f"Taking down what {run_dir} left...")
        ComposeDeployment(run_dir).stop()
    return report_leftovers(console, project_resources(ComposeDeployment(REPO_ROOT).project))


def deploy(run_dir: Path, console: Console) -> bool:
    """Deploy, show the live view until Ctrl-C or SIGTERM, tear down; True if nothing is left."""
    deployment = ComposeDeployment(run_dir.resolve())
    console.print(f"Fetching the service and making keys in {deployment.run_dir}")
    deployment.prepare()
    (deployment.run_dir / PID_FILE).write_text(str(os.getpid()))
    status = ServiceStatus(
        agents=[AgentStatus(agent_name(i), address) for i, address in enumerate(deployment.addresses())],
        log_paths=[deployment.log_path(i) for i in range(NUMBER_OF_AGENTS)],
    )
    try:
        console.print("Starting anvil and kubo on the host, `autonomy deploy build`, `docker compose up`...")
        deployment.start()
        console.print(f"Running: {', '.join(sorted(deployment.services()))}")
        console.print(f"Compose file and logs in {deployment.build_dir}. Ctrl-C (or make deploy-stop) stops.")
        watch(deployment.supervisor, status, console)
    except KeyboardInterrupt:
        console.print("Stopping (docker compose down, kubo, anvil)...")
    finally:
        leftovers = deployment.stop()
        (deployment.run_dir / PID_FILE).unlink(missing_ok=True)
    return report_leftovers(console, leftovers)


def main() -> None:
    """Deploy (or --stop); exit 1 if anything of the deployment is left in Docker."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    args = parse_args()
    console = Console()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.stop:
        clean = stop_running(console)
    else:
        run_dir = args.run_dir or DEPLOY_RUNS / f"{RUN_PREFIX}{datetime.now():%Y%m%d-%H%M%S}"
        clean = deploy(run_dir, console)
    sys.exit(0 if clean else 1)


if __name__ == "__main__":
    main()
