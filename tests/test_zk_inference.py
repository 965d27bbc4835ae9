"""Zero-knowledge proofs of inference on a small circuit: prove, verify natively and on anvil, refuse forgeries.

A tiny CNN (one strided conv, one linear layer) on real 28x28 digits keeps setup and proving within CI time;
the service's MnistCnn runs through the same code in scripts/bench_zk.py.
"""

import copy
import time
from pathlib import Path
from typing import Iterator, Tuple

import numpy as np
import pytest
import torch
from torch import nn

from devnet.zk_chain import Anvil, InferenceContracts, registry_with_commitment
from packages.valory.skills.smpc_mnist_classifier.learning import (
    IMAGE_SIDE,
    NUM_CLASSES,
    load_mnist,
)
from packages.valory.skills.smpc_mnist_classifier.zk_inference import (
    COMMITMENT_BYTES,
    MNIST_INPUT_SHAPE,
    InferenceCircuit,
    InferenceProof,
    ZkInferenceError,
)
from packages.valory.skills.smpc_mnist_classifier.zk_jobs import (
    DONE,
    QUEUED,
    RUNNING,
    ProofJob,
    ProofJobs,
    ProofQueueFull,
)

pytestmark = pytest.mark.slow

TINY_CHANNELS = 2
TINY_KERNEL = 5
TINY_STRIDE = 3
TINY_FEATURES = TINY_CHANNELS * ((IMAGE_SIDE - TINY_KERNEL) // TINY_STRIDE + 1) ** 2
CALIBRATION_DIGITS = 8


class TinyCnn(nn.Module):
    """Small enough for a 2^15-row circuit, with the conv/ReLU/linear ops of the real model."""

    def __init__(self) -> None:
        """One strided convolution, one linear layer."""
        super().__init__()
        self.conv = nn.Conv2d(1, TINY_CHANNELS, TINY_KERNEL, stride=TINY_STRIDE)
        self.fc = nn.Linear(TINY_FEATURES, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.fc(torch.flatten(torch.relu(self.conv(images)), 1))


def tiny_model(seed: int) -> TinyCnn:
    """A seeded TinyCnn (untrained weights are enough to test soundness)."""
    torch.manual_seed(seed)
    return TinyCnn().eval()


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """Real standardised digits."""
    return load_mnist().images[:: 500][:CALIBRATION_DIGITS]


@pytest.fixture(scope="module")
def circuit(tmp_path_factory: pytest.TempPathFactory, digits: np.ndarray) -> InferenceCircuit:
    """The tiny circuit, set up once for the module."""
    circuit = InferenceCircuit(TinyCnn, MNIST_INPUT_SHAPE, tmp_path_factory.mktemp("zk"))
    circuit.setup(tiny_model(0), digits)
    return circuit


@pytest.fixture(scope="module")
def proof(circuit: InferenceCircuit, digits: np.ndarray) -> InferenceProof:
    """A proof of the agreed model on a real digit."""
    return circuit.prove(tiny_model(0), digits[3])


@pytest.fixture(scope="module")
def other_weights_proof(circuit: InferenceCircuit, digits: np.ndarray) -> InferenceProof:
    """A valid proof made with weights other than the agreed ones."""
    return circuit.prove(tiny_model(1), digits[3])


def tampered_byte(proof: InferenceProof) -> InferenceProof:
    """The proof with one transcript byte after the weight commitment flipped."""
    document = copy.deepcopy(proof.document)
    data = bytearray(proof.proof_bytes())
    data[COMMITMENT_BYTES + 10] ^= 0x01
    document["proof"] = list(data)
    document["hex_proof"] = "0x" + data.hex()
    return InferenceProof(document)


def tampered_output(proof: InferenceProof) -> InferenceProof:
    """The proof claiming a different last logit (its public instance changed by one unit)."""
    document = copy.deepcopy(proof.document)
    last = document["instances"][0][-1]
    value = int.from_bytes(bytes.fromhex(last), "little") ^ 1
    document["instances"][0][-1] = value.to_bytes(32, "little").hex()
    return InferenceProof(document)


def test_setup_is_cached(circuit: InferenceCircuit, digits: np.ndarray) -> None:
    """A second setup of the same architecture and config reuses the keys on disk."""
    pk_mtime = circuit.path("pk.key").stat().st_mtime_ns
    again = InferenceCircuit(TinyCnn, MNIST_INPUT_SHAPE, circuit.directory.parent)
    again.setup(tiny_model(5), digits)
    assert again.directory == circuit.directory
    assert again.path("pk.key").stat().st_mtime_ns == pk_mtime


def test_proof_verifies_and_matches_the_float_model(
    circuit: InferenceCircuit, proof: InferenceProof, digits: np.ndarray
) -> None:
    """The proof verifies, is bound to the model's commitment and proves the float model's answer."""
    commitment = circuit.weight_commitment(tiny_model(0))
    assert proof.weight_commitment() == commitment
    assert circuit.verify(proof, commitment)
    with torch.no_grad():
        expected = tiny_model(0)(torch.from_numpy(digits[3:4]))[0].numpy()
    assert np.abs(np.array(proof.logits()) - expected).max() < 0.1
    assert proof.digit() == int(np.argmax(expected))
    assert InferenceProof.from_json(proof.to_json()) == proof


def test_quantised_logits_are_the_proofs_logits(
    circuit: InferenceCircuit, proof: InferenceProof, digits: np.ndarray
) -> None:
    """The cheap check the benchmark runs on 1,000 digits computes exactly the logits a proof shows."""
    assert circuit.quantised_logits(tiny_model(0), digits[3]).tolist() == proof.logits()


def test_forgeries_are_refused_natively(
    circuit: InferenceCircuit, proof: InferenceProof, other_weights_proof: InferenceProof
) -> None:
    """A flipped proof byte or logit fails; a valid proof with other weights fails the commitment check."""
    commitment = circuit.weight_commitment(tiny_model(0))
    assert not circuit.verify(tampered_byte(proof), commitment)
    assert not circuit.verify(tampered_output(proof), commitment)
    assert circuit.verify(other_weights_proof)  # valid, but for other weights...
    assert other_weights_proof.weight_commitment() == circuit.weight_commitment(
        tiny_model(1)
    )
    assert not circuit.verify(other_weights_proof, commitment)  # ...so refused


def test_bad_input_gets_a_clear_error(circuit: InferenceCircuit) -> None:
    """Wrong shapes, non-finite pixels and foreign models are refused before EZKL runs."""
    with pytest.raises(ZkInferenceError, match="shape"):
        circuit.prove(tiny_model(0), np.zeros((27, 28), np.float32))
    with pytest.raises(ZkInferenceError, match="finite"):
        circuit.prove(tiny_model(0), np.full(MNIST_INPUT_SHAPE[1:], np.nan, np.float32))
    with pytest.raises(ZkInferenceError, match="TinyCnn"):
        circuit.prove(nn.Linear(2, 2), np.zeros(MNIST_INPUT_SHAPE[1:], np.float32))


@pytest.fixture(scope="module")
def contracts(circuit: InferenceCircuit) -> Iterator[InferenceContracts]:
    """Verifier and wrapper on a real anvil, the wrapper reading a registry that settled the agreed model's
    commitment for round 1."""
    with Anvil() as anvil:
        registry = registry_with_commitment(anvil.web3, circuit.weight_commitment(tiny_model(0)))
        yield InferenceContracts.deploy(anvil, circuit.verifier_solidity(), registry)


@pytest.mark.e2e
def test_on_chain_verification(
    circuit: InferenceCircuit,
    contracts: InferenceContracts,
    proof: InferenceProof,
    other_weights_proof: InferenceProof,
) -> None:
    """On anvil: the verifier and the wrapper accept the proof for the settled round; the wrapper refuses
    forgeries, other weights and rounds the registry does not know."""
    calldata = circuit.evm_calldata(proof)
    assert contracts.call_verifier(calldata)[0]
    assert contracts.call_wrapper(1, calldata)[0]
    assert not contracts.call_wrapper(2, calldata)[0]  # no such round settled
    for forged in (tampered_byte(proof), tampered_output(proof)):
        forged_calldata = circuit.evm_calldata(forged)
        assert not contracts.call_verifier(forged_calldata)[0]
        assert not contracts.call_wrapper(1, forged_calldata)[0]
    other_calldata = circuit.evm_calldata(other_weights_proof)
    assert contracts.call_verifier(other_calldata)[0]  # the bare verifier accepts any weights
    assert not contracts.call_wrapper(1, other_calldata)[0]


def test_proof_jobs_prove_off_thread_and_refuse_bad_input(
    circuit: InferenceCircuit, digits: np.ndarray
) -> None:
    """A job returns at once and ends with a verifying proof; bad input is refused at submit time."""
    jobs = ProofJobs(circuit, (tiny_model(0), digits), max_pending=1)
    try:
        job_id = jobs.submit(tiny_model(0), digits[5])
        assert jobs.get(job_id).status in (QUEUED, RUNNING)
        with pytest.raises(ProofQueueFull):
            jobs.submit(tiny_model(0), digits[5])
        with pytest.raises(ZkInferenceError, match="shape"):
            jobs.submit(tiny_model(0), np.zeros(3, np.float32))
        assert jobs.get("unknown") is None
        job = wait_for_job(jobs, job_id)
        assert job.status == DONE, job.error
        proof = InferenceProof.from_json(job.proof)
        assert circuit.verify(proof, circuit.weight_commitment(tiny_model(0)))
    finally:
        jobs.shutdown()


def wait_for_job(jobs: ProofJobs, job_id: str) -> ProofJob:
    """Poll until the job has finished."""
    while (job := jobs.get(job_id)).status in (QUEUED, RUNNING):
        time.sleep(1)
    return job
