"""Benchmark the verifiable key generation per agent for n = 4, 7, 10 (t = floor(2n/3) + 1).

An agent deals once, checks every dealing (commitment and public check) and opens and checks
its point of every dealing. Prints one JSON object on stdout and a table on stderr.
"""

import argparse
import json
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple, TypeVar

from nacl.public import PrivateKey

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import dealing, keygen

ROSTERS = ((4, 3), (7, 5), (10, 7))
SEED = b"bench key generation"

Result = TypeVar("Result")


def timed(function: Callable[[], Result], repeats: int) -> Tuple[float, Result]:
    """Median wall time over `repeats` runs, and the last result."""
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations), result


def measure(n_parties: int, threshold: int, repeats: int) -> Dict[str, float]:
    """Per-agent costs of one key generation with n parties (timed on dealer 1's dealing)."""
    box_keys = {i: PrivateKey.generate() for i in range(1, n_parties + 1)}
    public = {i: bytes(key.public_key) for i, key in box_keys.items()}
    deal_s, dealer = timed(
        lambda: keygen.Dealer(1, n_parties, threshold, SEED, public), repeats
    )
    blob = dealer.dealing.to_bytes()
    commitment = dealing.dealing_commitment(blob, SEED, 1)
    check_s, checked = timed(
        lambda: dealing.check_dealing(blob, commitment, 1, n_parties, threshold, SEED),
        repeats,
    )
    open_s, _ = timed(
        lambda: dealing.open_sub_share(checked, 2, box_keys[2], SEED), repeats
    )
    return {
        "n_parties": n_parties,
        "threshold": threshold,
        "deal_s": deal_s,
        "check_dealing_s": check_s,
        "open_point_s": open_s,
        "agent_total_s": deal_s + n_parties * (check_s + open_s),
        "dealing_bytes": len(blob),
    }


def table(rows: List[Dict[str, float]]) -> str:
    """The report as aligned text."""
    lines = [
        f"{'n/t':>6} {'deal':>9} {'check one':>10} {'open one':>9} "
        f"{'per agent':>10} {'dealing':>10}"
    ]
    for row in rows:
        lines.append(
            f"{row['n_parties']:>3}/{row['threshold']:<2} {row['deal_s'] * 1e3:>7.0f}ms "
            f"{row['check_dealing_s'] * 1e3:>8.0f}ms {row['open_point_s'] * 1e3:>7.0f}ms "
            f"{row['agent_total_s']:>9.2f}s {row['dealing_bytes'] / 2**20:>7.2f}MiB"
        )
    return "\n".join(lines)


def main() -> None:
    """Measure every roster and print JSON (stdout) and a table (stderr)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    rows = [measure(n, t, arguments.repeats) for n, t in ROSTERS]
    print(json.dumps({"key_generation": rows}, indent=2))
    print(table(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
