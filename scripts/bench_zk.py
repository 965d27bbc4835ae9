"""Benchmark zero-knowledge proofs of inference (EZKL): costs of setup, proving, verifying, on-chain checks.

    python scripts/bench_zk.py [--circuit mnist|tiny] [--downsampling max-pool|stride] [--digits 1000]
                               [--out runs/bench_zk.json] [--inner-cols N] [--input-visibility public|hashed]
                               [--scale N] [--calibrate-only]

`mnist` is the service's MnistCnn (needs 4 GB available, 14 for max-pool: checked first), `tiny` the small CI circuit.
`--downsampling` picks MnistCnn's stride-2 convolutions (the service's) or max-pools (same parameters).
`--inner-cols`, `--input-visibility` and `--scale` (input and parameter fixed-point scale) override the default
CircuitConfig, to compare layouts and precision.
`--calibrate-only` exports, generates and calibrates the settings and reports the circuit's size (rows,
assigned cells, logrows) with the calibration's own time and memory: no SRS, keys or proofs, seconds not minutes.
Setup and each proof run in a fresh spawned process so that their peak memory (ru_maxrss) is their own;
EZKL uses every core. Wall and CPU seconds are both reported: on a shared machine wall time includes waiting.
Prints a table and writes JSON. The SRS is generated locally (INSECURE, benchmark only).
"""

import argparse
import functools
import json
import multiprocessing
import resource
import shutil
import subprocess  # nosec
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch

from devnet.zk_chain import Anvil, InferenceContracts, registry_with_commitment
from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier.learning import SERVICE_DOWNSAMPLING, Downsampling
from packages.valory.skills.smpc_mnist_classifier.zk_inference import (
    MNIST_INPUT_SHAPE,
    CircuitConfig,
    InferenceCircuit,
    InferenceProof,
    PK_FILE,
)
from tests.test_zk_inference import TinyCnn

REPO_ROOT = Path(__file__).resolve().parent.parent
# Memory a full MnistCnn run needs free (its measured proof peak, with headroom), per downsampling.
MIN_AVAILABLE_GB_FOR_MNIST = {Downsampling.STRIDE: 4, Downsampling.MAX_POOL: 14}
TRAIN_SEED = 0
TEST_FRACTION = 0.2
CALIBRATION_DIGITS = 20
Architecture = Callable[[], torch.nn.Module]
ARCHITECTURES: Dict[str, Architecture] = {
    "mnist": learning.MnistCnn,
    "tiny": TinyCnn,
}


def architecture(name: str, downsampling: Downsampling) -> Architecture:
    """The benchmarked architecture: `--downsampling` applies to MnistCnn only."""
    if name == "mnist":
        return functools.partial(learning.MnistCnn, downsampling)
    return ARCHITECTURES[name]


def available_gb() -> int:
    """`free -g`'s available column."""
    lines = subprocess.run(
        ["free", "-g"], capture_output=True, text=True, check=True
    ).stdout.splitlines()  # nosec
    return int(lines[1].split()[-1])


def trained_model(arch: Architecture, data: learning.MnistDataset) -> torch.nn.Module:
    """The architecture trained for 2 epochs (seeded), so agreement is measured on a realistic model."""
    torch.manual_seed(TRAIN_SEED)
    model = arch()
    trained = learning.train_local(
        model, data, learning.TrainingParams(epochs=2), TRAIN_SEED
    )
    return trained.eval()


def _measured(function: Callable[..., Any], *args: Any) -> Tuple[Any, Dict[str, float]]:
    """Run in this process: result, wall and CPU seconds, peak RSS in GB (the process is fresh)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result, {
        "wall_s": round(time.perf_counter() - wall, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        "peak_gb": round(peak_kb / 1024**2, 2),
    }


def _circuit(arch: Architecture, cache: Path, config: CircuitConfig) -> InferenceCircuit:
    """The benchmarked architecture's circuit under `config`."""
    return InferenceCircuit(arch, MNIST_INPUT_SHAPE, cache, config)


def _setup_step(
    arch: Architecture, cache: Path, config: CircuitConfig, model: torch.nn.Module, digits: np.ndarray
) -> Any:
    """Child process: set up the circuit."""
    circuit = _circuit(arch, cache, config)
    return _measured(circuit.setup, model, digits)[1]


def _calibrate_step(
    arch: Architecture, cache: Path, config: CircuitConfig, model: torch.nn.Module, digits: np.ndarray
) -> Any:
    """Child process: calibrate the settings only."""
    circuit = _circuit(arch, cache, config)
    settings, measures = _measured(circuit.calibrated_settings, model, digits)
    return circuit_size(settings), measures


def _prove_step(
    arch: Architecture, cache: Path, config: CircuitConfig, model: torch.nn.Module, image: np.ndarray
) -> Any:
    """Child process: one proof."""
    circuit = _circuit(arch, cache, config)
    proof, measures = _measured(circuit.prove, model, image)
    return proof.to_json(), measures


def circuit_size(settings: Dict[str, Any]) -> Dict[str, int]:
    """What sets a circuit's cost, from its calibrated EZKL settings."""
    return {
        "rows": int(settings["num_rows"]),
        "assigned_cells": int(settings["total_assignments"]),
        "logrows": int(settings["run_args"]["logrows"]),
        "shuffles": int(settings["num_shuffles"]),
    }


def in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """Run a step in a spawned process so its peak memory is measured alone."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def agreement(
    circuit: InferenceCircuit, model: torch.nn.Module, data: learning.MnistDataset
) -> Dict[str, float]:
    """Quantised circuit argmax (EZKL witness outputs) vs float argmax on every digit of `data`."""
    with torch.no_grad():
        float_logits = model(torch.from_numpy(data.images)).numpy()
    agree, max_error = 0, 0.0
    for image, expected in zip(data.images, float_logits):
        quantised = circuit.quantised_logits(model, image)
        agree += int(np.argmax(quantised) == np.argmax(expected))
        max_error = max(max_error, float(np.abs(quantised - expected).max()))
    return {"digits": len(data), "agreement": agree / len(data), "max_logit_error": max_error}


def on_chain(circuit: InferenceCircuit, proof: InferenceProof, commitment: bytes) -> Dict[str, Any]:
    """Deploy verifier and wrapper on anvil; gas of a verification through each."""
    calldata = circuit.evm_calldata(proof)
    with Anvil() as anvil:
        registry = registry_with_commitment(anvil.web3, commitment)
        contracts = InferenceContracts.deploy(anvil, circuit.verifier_solidity(), registry)
        verifier_ok, verifier_gas = contracts.call_verifier(calldata)
        wrapper_ok, wrapper_gas = contracts.call_wrapper(1, calldata)
    return {
        "calldata_bytes": len(calldata),
        "verifier_deploy_gas": contracts.verifier_deploy_gas,
        "verifier_gas": verifier_gas,
        "wrapper_gas": wrapper_gas,
        "accepted": verifier_ok and wrapper_ok,
    }


def run(
    name: str,
    downsampling: Downsampling,
    config: CircuitConfig,
    digits: int,
    cache: Path,
    calibrate_only: bool,
) -> Dict[str, Any]:
    """Every measurement for one architecture, each printed as soon as it is known (a late failure loses nothing)."""
    result: Dict[str, Any] = {
        "circuit": name,
        "downsampling": downsampling.value if name == "mnist" else None,
        "config": vars(config),
    }

    def record(key: str, value: Any) -> None:
        result[key] = value
        print(f"[bench_zk] {key}: {json.dumps(value)}", flush=True)

    arch = architecture(name, downsampling)
    dataset = learning.load_mnist()
    train, test = learning.split_train_test(dataset, TEST_FRACTION, TRAIN_SEED)
    model = trained_model(arch, train)
    calibration = test.images[:CALIBRATION_DIGITS]
    if calibrate_only:
        size, measures = in_fresh_process(_calibrate_step, arch, cache, config, model, calibration)
        record("size", size)
        record("calibrate", measures)
        return result
    record("setup", in_fresh_process(_setup_step, arch, cache, config, model, calibration))
    circuit = _circuit(arch, cache, config)
    record("size", circuit_size(circuit.settings()))
    record("proving_key_gb", round(circuit.path(PK_FILE).stat().st_size / 1024**3, 3))
    proof_json, prove = in_fresh_process(
        _prove_step, arch, cache, config, model, test.images[0]
    )
    record("prove", prove)
    proof = InferenceProof.from_json(proof_json)
    record("proof_bytes", len(proof.proof_bytes()))
    commitment = circuit.weight_commitment(model)
    start = time.perf_counter()
    record("verified", circuit.verify(proof, commitment))
    record("native_verify_s", round(time.perf_counter() - start, 2))
    record("on_chain", on_chain(circuit, proof, commitment))
    subset = test.subset(np.arange(min(digits, len(test))))
    record("quantisation", agreement(circuit, model, subset))
    return result


def table(result: Dict[str, Any]) -> str:
    """A human-readable summary (of the circuit's size only, after --calibrate-only)."""
    rows = [
        ("circuit", result["circuit"]),
        ("downsampling", result["downsampling"] or "-"),
        ("inner columns", result["config"]["num_inner_cols"]),
        ("input / param scale", "{input_scale} / {param_scale}".format(**result["config"])),
        ("rows / assigned cells", "{rows} / {assigned_cells}".format(**result["size"])),
        ("logrows", result["size"]["logrows"]),
    ]
    if "calibrate" in result:
        rows.append(
            ("calibrate wall / cpu s, peak GB", "{wall_s} / {cpu_s}, {peak_gb}".format(**result["calibrate"]))
        )
    else:
        rows += _proof_rows(result)
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def _proof_rows(result: Dict[str, Any]) -> List[Tuple[str, Any]]:
    """The table's lines of a full run: setup, proof, verification and agreement."""
    return [
        ("setup wall / cpu s, peak GB", "{wall_s} / {cpu_s}, {peak_gb}".format(**result["setup"])),
        ("prove wall / cpu s, peak GB", "{wall_s} / {cpu_s}, {peak_gb}".format(**result["prove"])),
        ("proving key GB", result["proving_key_gb"]),
        ("proof bytes", result["proof_bytes"]),
        ("native verify s", result["native_verify_s"]),
        ("verifier deploy gas", result["on_chain"]["verifier_deploy_gas"]),
        ("verifyProof gas (verifier)", result["on_chain"]["verifier_gas"]),
        ("verifyInference gas (wrapper)", result["on_chain"]["wrapper_gas"]),
        ("calldata bytes", result["on_chain"]["calldata_bytes"]),
        (
            "argmax agreement",
            "{agreement:.4f} on {digits} digits (max logit error {max_logit_error:.4f})".format(
                **result["quantisation"]
            ),
        ),
    ]


def main() -> None:
    """Parse arguments, check memory for the full circuit, run, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuit", choices=sorted(ARCHITECTURES), default="mnist")
    parser.add_argument(
        "--downsampling",
        choices=[choice.value for choice in Downsampling],
        default=SERVICE_DOWNSAMPLING.value,
        help="MnistCnn's downsampling (--circuit mnist only; default %(default)s, the service's)",
    )
    parser.add_argument(
        "--calibrate-only", action="store_true", help="report the circuit's size only: no SRS, keys or proofs"
    )
    parser.add_argument("--digits", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "bench_zk.json")
    parser.add_argument("--inner-cols", type=int, default=CircuitConfig.num_inner_cols)
    parser.add_argument(
        "--input-visibility", choices=("public", "hashed"), default=CircuitConfig.input_visibility
    )
    parser.add_argument("--scale", type=int, default=CircuitConfig.param_scale)
    args = parser.parse_args()
    config = CircuitConfig(
        input_scale=args.scale,
        param_scale=args.scale,
        num_inner_cols=args.inner_cols,
        input_visibility=args.input_visibility,
    )
    needed_gb = MIN_AVAILABLE_GB_FOR_MNIST[Downsampling(args.downsampling)]
    if args.circuit == "mnist" and not args.calibrate_only and available_gb() < needed_gb:
        sys.exit(
            f"only {available_gb()} GB available, the full circuit needs {needed_gb}: "
            "retry later or use --circuit tiny"
        )
    cache = Path(tempfile.mkdtemp(prefix="bench-zk-"))
    try:
        result = run(args.circuit, Downsampling(args.downsampling), config, args.digits, cache, args.calibrate_only)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
