"""Verify a proof of a prediction on chain, against the weight commitment the service settled for its round.

    python scripts/verify_prediction.py proof.json [--run runs/<ts>]

proof.json is an agent's answer to `GET /proofs/<id>` once done (it names the round and holds the EZKL proof).
The run's chain.json names the chain, the ModelRegistry and the InferenceVerifier wrapper (default: the
latest run under runs/). Prints the proof's and the settled commitments and the wrapper's verdict; exits 0
if the wrapper accepts the proof, 1 if not.
"""

import argparse
import json
import sys
from pathlib import Path

from web3 import Web3
from web3.exceptions import ContractLogicError

from devnet import chain, zk_chain
from devnet.service import REPO_ROOT, ZK_CACHE_DIR
from packages.valory.skills.smpc_mnist_classifier.zk_inference import (
    InferenceProof,
    ZkInferenceError,
    mnist_circuit,
)


def latest_run() -> Path:
    """The newest run folder with a chain.json."""
    runs = sorted((REPO_ROOT / "runs").glob("*/chain.json"))
    if not runs:
        sys.exit("no run with a chain.json under runs/: start the service with `make run`, or pass --run")
    return runs[-1].parent


def main() -> None:
    """Read the proof and the run's chain, ask the wrapper, print the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proof", type=Path, help="the JSON answer of GET /proofs/<id>")
    parser.add_argument("--run", type=Path, default=None, help="the run folder (default: the latest)")
    args = parser.parse_args()
    answer = json.loads(args.proof.read_text())
    try:
        round_number = int(answer["round"])
        proof = InferenceProof.from_json(json.dumps(answer["proof"]))
    except (KeyError, TypeError, ValueError) as error:
        sys.exit(f"{args.proof} is not a finished GET /proofs/<id> answer: {error}")
    deployment = chain.ChainDeployment(**json.loads(((args.run or latest_run()) / "chain.json").read_text()))
    web3 = Web3(Web3.HTTPProvider(deployment.rpc))
    try:
        settled = b"".join(
            chain.registry(web3, deployment.registry).functions.weightCommitment(round_number).call()
        )
    except ContractLogicError:
        sys.exit(f"round {round_number} is not settled in the ModelRegistry {deployment.registry}")
    calldata = mnist_circuit(ZK_CACHE_DIR).evm_calldata(proof)
    accepted = zk_chain.verify_inference(web3, deployment.inference_verifier, round_number, calldata)
    print(f"round {round_number}, digit {proof.digit()}, logits {[round(v, 3) for v in proof.logits()]}")
    print(f"proof's weight commitment   {proof.weight_commitment().hex()}")
    print(f"settled weight commitment   {settled.hex()}")
    print(f"InferenceVerifier {deployment.inference_verifier}: {'ACCEPTED' if accepted else 'REFUSED'}")
    sys.exit(0 if accepted else 1)


if __name__ == "__main__":
    try:
        main()
    except ZkInferenceError as error:
        sys.exit(f"bad proof: {error}")
