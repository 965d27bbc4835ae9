"""Benchmark threshold CKKS for n = 4, 7, 10 key holders against single-key TenSEAL CKKS and numpy.

One agent's crypto per round: encrypt its update (secret-key aggregation, a_r derived for the period),
check and aggregate the n revealed contributions, issue one sealed decryption share, and combine the
n shares (every key holder decrypts). Single-key TenSEAL runs the same round in the same process.
Prints one JSON object on stdout and a human-readable table on stderr.
"""

import argparse
import json
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple, TypeVar

import numpy as np
import tenseal as ts

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import (
    aggregation,
    decryption,
    encryption,
    simulation,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
)

LENET_PARAMETERS = 44_426  # conv 1->6 k5, conv 6->16 k5, fc 256->120->84->10
PARTY_COUNTS = (4, 7, 10)
GOAL_TIME_RATIO = 2.0
GOAL_BYTES_RATIO = 1.2
GOAL_ERROR = 1e-6
BASE_MODEL = bytes(32)

Result = TypeVar("Result")


def threshold_for(n_parties: int) -> int:
    """t = n - f with f = floor((n - 1) / 3) Byzantine parties tolerated."""
    return n_parties - (n_parties - 1) // 3


def timed(function: Callable[[], Result]) -> Tuple[float, Result]:
    """Wall time of one call, and its result."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def threshold_period(
    keys: simulation.SimulatedKeys,
    updates: List[np.ndarray],
    period: int,
    threshold: int,
) -> Dict[str, float]:
    """One period run by all n key holders; times are agent 1's, the error is against numpy."""
    n_parties = len(updates)
    context = encryption.PeriodContext(
        DEFAULT_PARAMETERS,
        keys.public_key.digest,
        0,
        period,
        BASE_MODEL,
        updates[0].size,
    )
    records = {i: encryption.IssuanceRecord() for i in range(1, n_parties + 1)}

    def encrypt(index: int) -> bytes:
        """Key holder `index` encrypts its update with weight 1."""
        return encryption.encrypt_update(
            updates[index - 1], 1, keys.key_shares[index], context, records[index]
        )

    encrypt_s, own = timed(lambda: encrypt(1))
    blobs = {1: own, **{i: encrypt(i) for i in range(2, n_parties + 1)}}
    commitments = {
        i: encryption.contribution_commitment(context, i, blob)
        for i, blob in blobs.items()
    }
    aggregate_s, outcome = timed(
        lambda: aggregation.aggregate_contributions(
            context, commitments, blobs, range(1, n_parties + 1), n_parties, threshold
        )
    )
    aggregate = outcome.aggregate

    def share(index: int) -> bytes:
        """Key holder `index`'s sealed share for U."""
        return decryption.issue_decryption_share(
            keys.key_shares[index],
            context,
            aggregate.contributors,
            records[index],
            keys.box_public_keys,
        )

    share_s, own_share = timed(lambda: share(1))
    sealed = [(1, own_share)] + [(i, share(i)) for i in range(2, n_parties + 1)]
    combine_s, result = timed(
        lambda: decryption.combine_decryption_shares(
            aggregate, sealed, 1, keys.box_keys[1], n_parties, threshold
        )
    )
    expected = np.mean(np.stack(updates).astype(np.float64), axis=0)
    chunks = context.chunk_count
    primes = len(aggregate.residues[0])
    degree = DEFAULT_PARAMETERS.poly_modulus_degree
    return {
        "encrypt_s": encrypt_s,
        "aggregate_s": aggregate_s,
        "share_s": share_s,
        "combine_s": combine_s,
        "agent_round_s": encrypt_s + aggregate_s + share_s + combine_s,
        "bytes_per_update": len(own),
        "raw_residue_bytes_u64": chunks * primes * degree * 8,
        "raw_residue_bytes_60bit": chunks * primes * degree * 60 // 8,
        "bytes_per_sealed_share": len(own_share),
        "chunks_per_update": chunks,
        "max_error": float(np.abs(result.values - expected).max()),
        "redundant": result.redundant,
    }


class SingleKeyRound:
    """The same round with single-key TenSEAL CKKS as NVIDIA FLARE configures it."""

    def __init__(self, updates: List[np.ndarray]) -> None:
        """Context and the other agents' serialized updates."""
        self.updates = updates
        self.context = ts.context(
            ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40]
        )
        self.context.global_scale = 2**40
        self.blobs = [
            ts.ckks_vector(self.context, update).serialize() for update in updates
        ]

    def run(self) -> Dict[str, float]:
        """Encrypt + serialize one update, deserialize and add all, decrypt."""
        encrypt_s, own = timed(
            lambda: ts.ckks_vector(self.context, self.updates[0]).serialize()
        )
        received_s, received = timed(
            lambda: [ts.ckks_vector_from(self.context, blob) for blob in self.blobs]
        )

        def add_all() -> ts.CKKSVector:
            """Sum of the received vectors."""
            total = received[0].copy()
            for vector in received[1:]:
                total += vector
            return total

        add_s, total = timed(add_all)
        decrypt_s, decrypted = timed(
            lambda: np.array(total.decrypt()) / len(self.updates)
        )
        expected = np.mean(np.stack(self.updates).astype(np.float64), axis=0)
        return {
            "encrypt_s": encrypt_s,
            "deserialize_add_s": received_s + add_s,
            "decrypt_s": decrypt_s,
            "agent_round_s": encrypt_s + received_s + add_s + decrypt_s,
            "bytes_per_update": len(own),
            "max_error": float(np.abs(decrypted - expected).max()),
        }


def compare(
    n_parties: int, updates: List[np.ndarray], repeats: int
) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Key generation, then `repeats` periods (each with a fresh a_r), each followed by a single-key
    round so both see the same machine load; medians of agent 1's times, worst errors."""
    threshold = threshold_for(n_parties)
    keygen_s, keys = timed(
        lambda: simulation.simulate_key_generation(
            n_parties, threshold, f"bench-ckks-{n_parties}".encode()
        )
    )
    single = SingleKeyRound(updates)
    threshold_period(keys, updates, 0, threshold)  # warm-up: one-time tables and caches
    single.run()
    ours_runs, single_runs = [], []
    for period in range(1, repeats + 1):
        ours_runs.append(threshold_period(keys, updates, period, threshold))
        single_runs.append(single.run())
    ours = {
        key: statistics.median(run[key] for run in ours_runs)
        for key in ours_runs[0]
        if key not in ("max_error", "redundant")
    }
    ours["max_error"] = max(run["max_error"] for run in ours_runs)
    ours["keygen_per_agent_s"] = keygen_s / n_parties
    ours["threshold"] = threshold
    single_key = {
        key: statistics.median(run[key] for run in single_runs)
        for key in single_runs[0]
    }
    single_key["max_error"] = max(run["max_error"] for run in single_runs)
    return ours, single_key


def table(report: Dict) -> str:
    """The report as aligned text, one column per n."""
    runs = report["runs"]
    columns = [f"n={n}, t={runs[str(n)]['threshold']['threshold']}" for n in PARTY_COUNTS]

    def row(label: str, cell: Callable[[Dict], str]) -> Tuple[str, ...]:
        """One line: the label and a cell per n."""
        return (label,) + tuple(cell(runs[str(n)]) for n in PARTY_COUNTS)

    def ms(value: float) -> str:
        """Milliseconds."""
        return f"{value * 1e3:.1f} ms"

    rows = [
        row("keygen per agent", lambda r: ms(r["threshold"]["keygen_per_agent_s"])),
        row("encrypt (a_r + encode + mask)", lambda r: ms(r["threshold"]["encrypt_s"])),
        row("check + aggregate n", lambda r: ms(r["threshold"]["aggregate_s"])),
        row("one sealed share", lambda r: ms(r["threshold"]["share_s"])),
        row("combine n shares", lambda r: ms(r["threshold"]["combine_s"])),
        row("agent round, threshold", lambda r: ms(r["threshold"]["agent_round_s"])),
        row("agent round, single-key", lambda r: ms(r["single_key"]["agent_round_s"])),
        row(
            f"time ratio (goal <= {GOAL_TIME_RATIO}x)",
            lambda r: f"{r['ratios']['agent_time_vs_single_key']:.2f}x",
        ),
        row("bytes per update", lambda r: f"{r['threshold']['bytes_per_update']:,}"),
        row("bytes single-key", lambda r: f"{r['single_key']['bytes_per_update']:,}"),
        row(
            f"bytes / raw u64 (60-bit), goal <= {GOAL_BYTES_RATIO}x",
            lambda r: f"{r['ratios']['bytes_vs_raw_u64']:.3f}x ({r['ratios']['bytes_vs_raw_60bit']:.3f}x)",
        ),
        row("bytes per sealed share", lambda r: f"{r['threshold']['bytes_per_sealed_share']:,}"),
        row(
            f"max error (goal <= {GOAL_ERROR})",
            lambda r: f"{r['threshold']['max_error']:.1e}",
        ),
        row("max error single-key", lambda r: f"{r['single_key']['max_error']:.1e}"),
    ]
    header = ("",) + tuple(columns)
    widths = [max(len(line[i]) for line in [header] + rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        )
        for line in [header] + rows
    )


def main() -> None:
    """Run the benchmark and print JSON to stdout and the table to stderr."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--length", type=int, default=LENET_PARAMETERS, help="floats per update"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="periods per n (median times)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random updates"
    )
    arguments = parser.parse_args()
    json_stream = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(
        sys.stderr.fileno(), sys.stdout.fileno()
    )  # TenSEAL's C++ warnings go to stderr
    generator = np.random.default_rng(arguments.seed)
    runs = {}
    for n_parties in PARTY_COUNTS:
        updates = [
            generator.normal(0, 0.1, arguments.length).astype(np.float32)
            for _ in range(n_parties)
        ]
        ours, single = compare(n_parties, updates, arguments.repeats)
        ratios = {
            "agent_time_vs_single_key": ours["agent_round_s"] / single["agent_round_s"],
            "bytes_vs_raw_u64": ours["bytes_per_update"] / ours["raw_residue_bytes_u64"],
            "bytes_vs_raw_60bit": ours["bytes_per_update"]
            / ours["raw_residue_bytes_60bit"],
            "bytes_vs_single_key": ours["bytes_per_update"] / single["bytes_per_update"],
        }
        runs[str(n_parties)] = {
            "threshold": ours,
            "single_key": single,
            "ratios": ratios,
            "goals_met": {
                "time": ratios["agent_time_vs_single_key"] <= GOAL_TIME_RATIO,
                "bytes": ratios["bytes_vs_raw_u64"] <= GOAL_BYTES_RATIO,
                "error": ours["max_error"] <= GOAL_ERROR,
            },
        }
        print(f"n={n_parties} done", file=sys.stderr, flush=True)
    plain_s, _ = timed(lambda: np.mean(np.stack(updates), axis=0))
    report = {
        "length": arguments.length,
        "repeats": arguments.repeats,
        "runs": runs,
        "plaintext_average_s": plain_s,
    }
    print(json.dumps(report), file=json_stream, flush=True)
    print(table(report), file=sys.stderr)


if __name__ == "__main__":
    main()
