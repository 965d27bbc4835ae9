#!/usr/bin/env python3
"""Print the ModelRegistry's on-chain history: one line per recorded round, or JSON with --json.

    python scripts/registry.py runs/<run>               # the chain.json a local run wrote
    python scripts/registry.py --rpc URL --registry 0x...  # any EVM chain
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

from web3 import Web3

from devnet import chain

REASONS = {1: "no update", 2: "update rejected", 3: "not key holder"}
COLUMNS = ("round", "period", "model digest", "contributors", "excluded", "tx")


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", type=Path, help="a run folder holding chain.json")
    parser.add_argument("--rpc", help="JSON-RPC address of the chain")
    parser.add_argument("--registry", help="ModelRegistry address")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.run_dir is None and not (args.rpc and args.registry):
        parser.error("give a run folder, or --rpc and --registry")
    return args


def round_transactions(w3: Web3, registry: Any) -> Dict[int, str]:
    """The transaction that recorded each round (from the RoundRecorded events)."""
    events = registry.events.RoundRecorded().get_logs(from_block=0)
    return {event["args"]["round"]: "0x" + event["transactionHash"].hex().removeprefix("0x") for event in events}


def history(w3: Web3, address: str) -> List[Dict[str, Any]]:
    """Every recorded round with its settlement transaction."""
    registry = chain.registry(w3, address)
    transactions = round_transactions(w3, registry)
    rounds = []
    for number in range(1, registry.functions.roundCount().call() + 1):
        values = registry.functions.getRound(number).call()
        _round, period, model, aggregate, joint_key, commitment, contributors, decryptors, excluded, reasons = values
        rounds.append(
            {
                "round": number,
                "period": period,
                "model_digest": model.hex(),
                "aggregate_digest": aggregate.hex(),
                "joint_key_digest": joint_key.hex(),
                "weight_commitment": b"".join(commitment).hex(),
                "contributors": contributors,
                "decryptors": decryptors,
                "exclusions": {agent: REASONS.get(reason, str(reason)) for agent, reason in zip(excluded, reasons)},
                "tx_hash": transactions.get(number, ""),
            }
        )
    return rounds


def table(rounds: List[Dict[str, Any]]) -> str:
    """A plain aligned table (addresses and hashes shortened)."""

    def short(value: str) -> str:
        """0x1234..abcd."""
        return value if len(value) <= 12 else f"{value[:6]}..{value[-4:]}"

    rows = [
        (
            str(r["round"]),
            str(r["period"]),
            short(r["model_digest"]),
            " ".join(short(a) for a in r["contributors"]),
            " ".join(f"{short(a)} ({why})" for a, why in r["exclusions"].items()) or "-",
            short(r["tx_hash"]),
        )
        for r in rounds
    ]
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in [COLUMNS, *rows]]
    return "\n".join(lines)


def main() -> None:
    """Read the registry and print its history."""
    args = parse_args()
    if args.run_dir is not None:
        deployment = json.loads((args.run_dir / "chain.json").read_text())
        rpc, address = deployment["rpc"], deployment["registry"]
    else:
        rpc, address = args.rpc, args.registry
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 10}))
    if not w3.is_connected():
        sys.exit(f"error: no chain answers at {rpc}")
    rounds = history(w3, Web3.to_checksum_address(address))
    print(json.dumps(rounds, indent=2) if args.json else table(rounds))


if __name__ == "__main__":
    main()
