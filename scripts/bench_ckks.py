"""Benchmark threshold CKKS (n=4, t=3) against single-key TenSEAL CKKS and plaintext averaging.

Prints one JSON object on stdout and a human-readable table on stderr.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple, TypeVar

import numpy as np
import tenseal as ts


from packages.valory.skills.smpc_mnist_classifier import (
    threshold_ckks as tc,
)

LENET_PARAMETERS = 44_426  # conv 1->6 k5, conv 6->16 k5, fc 256->120->84->10
N_PARTIES = 4
THRESHOLD = 3
GOAL_TIME_RATIO = 3.0
GOAL_BYTES_RATIO = 1.2
GOAL_ERROR = 1e-6

Result = TypeVar("Result")


def timed(function: Callable[[], Result], repeats: int) -> Tuple[float, Result]:
    """Median wall time over `repeats` runs, and the last result."""
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations), result


def key_generation(seed: bytes) -> Tuple[float, tc.JointPublicKey, Dict[int, bytes]]:
    """Run key generation; return the slowest agent's time, the joint key and key-share bytes."""
    start = time.perf_counter()
    parties = [
        tc.KeyGenerationParty(i, N_PARTIES, THRESHOLD, seed)
        for i in range(1, N_PARTIES + 1)
    ]
    box_keys = {party.index: party.box_public_key for party in parties}
    public_key_shares = [party.public_key_share() for party in parties]
    sub_shares = {
        party.index: party.encrypted_sub_shares(box_keys) for party in parties
    }
    public_key = tc.combine_public_key_shares(public_key_shares, THRESHOLD, seed)
    key_shares = {
        party.index: party.finalize(
            {
                s: boxed[party.index]
                for s, boxed in sub_shares.items()
                if s != party.index
            },
            box_keys,
            public_key,
        ).to_bytes()
        for party in parties
    }
    per_agent = (time.perf_counter() - start) / N_PARTIES
    return per_agent, public_key, key_shares


def threshold_round(
    updates: List[np.ndarray],
    public_key: tc.JointPublicKey,
    key_shares: Dict[int, bytes],
    repeats: int,
) -> Dict[str, float]:
    """Time one agent's steps of a threshold round; sizes and errors of the round."""
    encrypt_s, encrypted = timed(
        lambda: tc.encrypt_vector(updates[0], public_key), repeats
    )
    blobs = [tc.encrypt_vector(update, public_key).to_bytes() for update in updates]
    serialize_s, _ = timed(encrypted.to_bytes, repeats)
    deserialize_s, received = timed(
        lambda: [tc.EncryptedVector.from_bytes(b) for b in blobs], repeats
    )
    aggregate_s, aggregate = timed(lambda: tc.aggregate_encrypted(received), repeats)
    expected = np.mean(np.stack(updates).astype(np.float64), axis=0)
    metrics = {
        "encrypt_s": encrypt_s,
        "serialize_s": serialize_s,
        "deserialize_k_s": deserialize_s,
        "aggregate_s": aggregate_s,
        "bytes_per_update": len(blobs[0]),
        "raw_residue_bytes_u64": encrypted.residues.size * 8,
        "raw_residue_bytes_60bit": encrypted.residues.size * 60 // 8,
        "ciphertexts_per_update": encrypted.ciphertext_count,
    }
    for label, members in (("s_eq_t", (1, 2, 3)), ("s_eq_n", (1, 2, 3, 4))):
        # a key share serves a ciphertext once: restore an unissued one per timed run
        unissued = [
            tc.ThresholdKeyShare.from_bytes(key_shares[1]) for _ in range(repeats)
        ]
        share_s, own_shares = timed(
            lambda: unissued.pop().decryption_shares(aggregate, members), repeats
        )
        all_shares = own_shares + [
            share
            for index in members[1:]
            for share in tc.ThresholdKeyShare.from_bytes(
                key_shares[index]
            ).decryption_shares(aggregate, members)
        ]
        combine_s, result = timed(
            lambda: tc.combine_decryption_shares(
                aggregate, all_shares, members, public_key
            ),
            repeats,
        )
        metrics.update(
            {
                f"share_{label}_s": share_s,
                f"combine_{label}_s": combine_s,
                f"shares_per_agent_{label}": len(own_shares),
                f"share_bytes_per_agent_{label}": sum(
                    len(s.to_bytes()) for s in own_shares
                ),
                f"max_error_{label}": float(np.abs(result.values - expected).max()),
            }
        )
    metrics["bytes_per_share"] = len(own_shares[0].to_bytes())
    metrics["agent_round_s"] = sum(
        metrics[key]
        for key in (
            "encrypt_s",
            "serialize_s",
            "deserialize_k_s",
            "aggregate_s",
            "share_s_eq_t_s",
            "combine_s_eq_t_s",
        )
    )
    metrics["agent_round_s_eq_n_s"] = (
        metrics["agent_round_s"]
        - metrics["share_s_eq_t_s"]
        - metrics["combine_s_eq_t_s"]
        + metrics["share_s_eq_n_s"]
        + metrics["combine_s_eq_n_s"]
    )
    return metrics


def single_key_round(updates: List[np.ndarray], repeats: int) -> Dict[str, float]:
    """The same round with single-key TenSEAL CKKS as NVIDIA FLARE configures it."""
    context = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40])
    context.global_scale = 2**40
    encrypt_s, encrypted = timed(lambda: ts.ckks_vector(context, updates[0]), repeats)
    blobs = [ts.ckks_vector(context, update).serialize() for update in updates]
    serialize_s, _ = timed(encrypted.serialize, repeats)
    deserialize_s, received = timed(
        lambda: [ts.ckks_vector_from(context, b) for b in blobs], repeats
    )

    def add_all() -> ts.CKKSVector:
        total = received[0].copy()
        for vector in received[1:]:
            total += vector
        return total

    add_s, total = timed(add_all, repeats)
    decrypt_s, decrypted = timed(
        lambda: np.array(total.decrypt()) / len(updates), repeats
    )
    expected = np.mean(np.stack(updates).astype(np.float64), axis=0)
    metrics = {
        "encrypt_s": encrypt_s,
        "serialize_s": serialize_s,
        "deserialize_k_s": deserialize_s,
        "add_s": add_s,
        "decrypt_s": decrypt_s,
        "bytes_per_update": len(blobs[0]),
        "max_error": float(np.abs(decrypted - expected).max()),
    }
    metrics["agent_round_s"] = sum(
        metrics[key]
        for key in ("encrypt_s", "serialize_s", "deserialize_k_s", "add_s", "decrypt_s")
    )
    return metrics


def plaintext_round(updates: List[np.ndarray], repeats: int) -> Dict[str, float]:
    """Plain numpy averaging, the floor every scheme is compared to."""
    average_s, _ = timed(lambda: np.mean(np.stack(updates), axis=0), repeats)
    return {
        "average_s": average_s,
        "bytes_per_update": updates[0].astype(np.float32).nbytes,
    }


def table(report: Dict) -> str:
    """The report as aligned text."""
    ours, single, plain = report["threshold"], report["single_key"], report["plaintext"]
    ratios = report["ratios"]
    rows = [
        (
            "vector length / ciphertexts",
            f"{report['length']} / {ours['ciphertexts_per_update']}",
            "",
        ),
        ("keygen per agent", f"{ours['keygen_per_agent_s'] * 1e3:.1f} ms", "-"),
        (
            "encrypt",
            f"{ours['encrypt_s'] * 1e3:.1f} ms",
            f"{single['encrypt_s'] * 1e3:.1f} ms",
        ),
        (
            "serialize",
            f"{ours['serialize_s'] * 1e3:.1f} ms",
            f"{single['serialize_s'] * 1e3:.1f} ms",
        ),
        (
            "deserialize k=4",
            f"{ours['deserialize_k_s'] * 1e3:.1f} ms",
            f"{single['deserialize_k_s'] * 1e3:.1f} ms",
        ),
        (
            "aggregate / add",
            f"{ours['aggregate_s'] * 1e3:.1f} ms",
            f"{single['add_s'] * 1e3:.1f} ms",
        ),
        (
            "share |S|=3 (|S|=4)",
            f"{ours['share_s_eq_t_s'] * 1e3:.1f} ({ours['share_s_eq_n_s'] * 1e3:.1f}) ms",
            "-",
        ),
        (
            "combine / decrypt |S|=3 (|S|=4)",
            f"{ours['combine_s_eq_t_s'] * 1e3:.1f} ({ours['combine_s_eq_n_s'] * 1e3:.1f}) ms",
            f"{single['decrypt_s'] * 1e3:.1f} ms",
        ),
        (
            "agent round |S|=3 (|S|=4)",
            f"{ours['agent_round_s'] * 1e3:.1f} ({ours['agent_round_s_eq_n_s'] * 1e3:.1f}) ms",
            f"{single['agent_round_s'] * 1e3:.1f} ms",
        ),
        (
            "bytes per update",
            f"{ours['bytes_per_update']:,}",
            f"{single['bytes_per_update']:,}",
        ),
        (
            "raw residues u64 / 60-bit",
            f"{ours['raw_residue_bytes_u64']:,} / {ours['raw_residue_bytes_60bit']:,}",
            "",
        ),
        ("bytes per share", f"{ours['bytes_per_share']:,}", "-"),
        (
            "share bytes per agent |S|=3 (|S|=4)",
            f"{ours['share_bytes_per_agent_s_eq_t']:,} ({ours['share_bytes_per_agent_s_eq_n']:,})",
            "-",
        ),
        (
            "max abs error |S|=3 (|S|=4)",
            f"{ours['max_error_s_eq_t']:.2e} ({ours['max_error_s_eq_n']:.2e})",
            f"{single['max_error']:.2e}",
        ),
        (
            "plaintext average",
            f"{plain['average_s'] * 1e3:.2f} ms, {plain['bytes_per_update']:,} B",
            "",
        ),
        (
            "time ratio vs single-key |S|=3 (|S|=4)",
            f"{ratios['agent_time_vs_single_key']:.2f}x ({ratios['agent_time_vs_single_key_s_eq_n']:.2f}x)",
            f"goal <= {GOAL_TIME_RATIO}x",
        ),
        (
            "bytes ratio vs raw u64 (60-bit)",
            f"{ratios['bytes_vs_raw_u64']:.4f}x ({ratios['bytes_vs_raw_60bit']:.4f}x)",
            f"goal <= {GOAL_BYTES_RATIO}x",
        ),
        ("max error", f"{ratios['max_error']:.2e}", f"goal <= {GOAL_ERROR}"),
    ]
    width = max(len(row[0]) for row in rows)
    header = f"{'':{width}}  {'threshold CKKS':>34}  {'single-key TenSEAL':>20}"
    return "\n".join([header] + [f"{a:{width}}  {b:>34}  {c:>20}" for a, b, c in rows])


def main() -> None:
    """Run the benchmark and print JSON to stdout and the table to stderr."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--length", type=int, default=LENET_PARAMETERS, help="floats per update"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timing repetitions (median)"
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
    updates = [
        generator.normal(0, 0.1, arguments.length).astype(np.float32)
        for _ in range(N_PARTIES)
    ]

    keygen_s, public_key, key_shares = key_generation(b"bench-ckks")
    ours = {
        "keygen_per_agent_s": keygen_s,
        **threshold_round(updates, public_key, key_shares, arguments.repeats),
    }
    single = single_key_round(updates, arguments.repeats)
    plain = plaintext_round(updates, arguments.repeats)
    ratios = {
        "agent_time_vs_single_key": ours["agent_round_s"] / single["agent_round_s"],
        "agent_time_vs_single_key_s_eq_n": ours["agent_round_s_eq_n_s"]
        / single["agent_round_s"],
        "bytes_vs_raw_u64": ours["bytes_per_update"] / ours["raw_residue_bytes_u64"],
        "bytes_vs_raw_60bit": ours["bytes_per_update"]
        / ours["raw_residue_bytes_60bit"],
        "bytes_vs_single_key": ours["bytes_per_update"] / single["bytes_per_update"],
        "max_error": max(ours["max_error_s_eq_t"], ours["max_error_s_eq_n"]),
    }
    report = {
        "length": arguments.length,
        "n_parties": N_PARTIES,
        "threshold": ours,
        "threshold_t": THRESHOLD,
        "single_key": single,
        "plaintext": plain,
        "ratios": ratios,
        "goals_met": {
            "time": ratios["agent_time_vs_single_key"] <= GOAL_TIME_RATIO,
            "bytes": ratios["bytes_vs_raw_60bit"] <= GOAL_BYTES_RATIO,
            "error": ratios["max_error"] <= GOAL_ERROR,
        },
    }
    print(json.dumps(report), file=json_stream, flush=True)
    print(table(report), file=sys.stderr)


if __name__ == "__main__":
    main()
