"""The Docker Compose deployment Olas users run: images built here, `autonomy deploy build`, `docker compose up`.

Docker and compose v2 come from `scripts/install.sh docker`, the engine from scripts/docker_engine.sh (started
when none runs), the images from scripts/docker_images.sh (cached: a rerun only checks them). The 4 agent and 4 Tendermint containers must accept
global models with the same digest on every agent, recorded on chain by the service's Safe, and the
teardown must leave no container, network or volume behind.
"""

import json
import re
import subprocess  # nosec
import time
from typing import Dict, Iterator, List, Sequence

import pytest
from web3 import Web3

from devnet import chain
from devnet.compose import ComposeDeployment, docker, project_resources
from devnet.service import NUMBER_OF_AGENTS, REPO_ROOT, ZK_CACHE_DIR
from packages.valory.skills.smpc_mnist_classifier.zk_inference import InferenceProof, mnist_circuit
from tests.test_prediction_api import call, mnist_digit, png_bytes, wait_for_proof

ACCEPTED = re.compile(r"Global round (?P<round>\d+) accepted: (?P<digest>[0-9a-f]+) ")
GLOBAL_ROUNDS = 2
DEADLINE_SECONDS = 1500.0
POLL_SECONDS = 5.0
RUNNING = "running"
PROVING_AGENT = 0
MEMORY_REPORT = "peak_memory_mib.json"  # in the build folder: each container's peak memory over the whole test

# The first test also sets up what the fixture builds: from scratch (compose v2 compiled, every image built) that
# takes over an hour, past pytest.ini's 30 min per test.
FROM_SCRATCH_SECONDS = 3 * 3600
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(FROM_SCRATCH_SECONDS)]


def run_script(*args: str) -> None:
    """Run one of the project's scripts, failing with its output."""
    result = subprocess.run(
        ["bash", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )  # nosec
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"


def engine_objects() -> Dict[str, List[str]]:
    """Every container, network and volume the engine holds, labelled or not (the deploy build runs one too)."""
    listings = {
        "containers": ["ps", "--all", "--quiet", "--no-trunc"],
        "networks": ["network", "ls", "--quiet", "--no-trunc"],
        "volumes": ["volume", "ls", "--quiet"],
    }
    return {kind: sorted(docker(*args).split()) for kind, args in listings.items()}


def accepted_digests(deployment: ComposeDeployment, index: int) -> Dict[int, str]:
    """The global rounds agent `index` logged as accepted, with their model digests."""
    log = deployment.log_path(index)
    text = log.read_text(errors="replace") if log.exists() else ""
    return {int(match["round"]): match["digest"] for match in ACCEPTED.finditer(text)}


def not_running(deployment: ComposeDeployment) -> List[str]:
    """Containers of the deployment that are not running (crashed, restarting, exited)."""
    return [name for name, state in deployment.states().items() if state != RUNNING]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeDeployment]:
    """The deployment brought up from freshly checked images; taken down (and checked empty) afterwards."""
    run_script("scripts/install.sh", "docker")
    run_script("scripts/docker_engine.sh", "start")
    run_script("scripts/docker_images.sh")
    before = engine_objects()
    service = ComposeDeployment(tmp_path_factory.mktemp("compose"))
    service.prepare()
    try:
        service.start()
        yield service
    finally:
        if service.compose_file.exists():
            (service.build_dir / MEMORY_REPORT).write_text(json.dumps(service.peak_memory_mib(), indent=2) + "\n")
        leftovers = service.stop()
        assert not any(leftovers.values()), f"left in Docker after teardown: {leftovers}"
        assert engine_objects() == before, "the deployment left containers, networks or volumes behind"


def test_compose_deployment_accepts_the_same_global_models_on_every_agent(
    deployment: ComposeDeployment,
) -> None:
    """Every agent container logs the same digests for the first global rounds; the registry holds them."""
    services = deployment.services()
    assert len([name for name in services if "_abci_" in name]) == NUMBER_OF_AGENTS
    assert len([name for name in services if "_tm_" in name]) == NUMBER_OF_AGENTS
    wait_for_accepted_rounds(deployment, range(NUMBER_OF_AGENTS), GLOBAL_ROUNDS)
    digests = [accepted_digests(deployment, i) for i in range(NUMBER_OF_AGENTS)]
    assert deployment.deployment is not None
    registry = chain.registry(
        Web3(Web3.HTTPProvider(deployment.deployment.rpc)), deployment.deployment.registry
    )
    for global_round in range(1, GLOBAL_ROUNDS + 1):
        assert len({agent[global_round] for agent in digests}) == 1, digests
        model_digest = registry.functions.getRound(global_round).call()[2]
        assert model_digest.hex() == digests[0][global_round]


def wait_for_accepted_rounds(deployment: ComposeDeployment, agents: Sequence[int], rounds: int) -> None:
    """Until every agent in `agents` logged `rounds` accepted global models (failing if a container goes down)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not all(len(accepted_digests(deployment, index)) >= rounds for index in agents):
        assert not not_running(deployment), f"containers down: {not_running(deployment)}"
        assert time.monotonic() < deadline, f"no {rounds} accepted rounds; logs in {deployment.build_dir}"
        time.sleep(POLL_SECONDS)


def test_a_container_serves_a_prediction_proven_against_the_settled_model(
    deployment: ComposeDeployment,
) -> None:
    """A user asks an agent's container, on the deployment's network, for a proven prediction: the proof, made
    inside the container under its memory cap, verifies against the weight commitment the Safe settled."""
    wait_for_accepted_rounds(deployment, [PROVING_AGENT], 1)
    pixels, _label = mnist_digit(1)
    status, _headers, answer = call(deployment, "POST", "/predict?proof=true", png_bytes(pixels), "image/png")
    assert status == 200, answer
    done = wait_for_proof(deployment, answer["proof_job"]["url"])
    assert done["digit"] == answer["digit"]
    assert deployment.deployment is not None
    registry = chain.registry(
        Web3(Web3.HTTPProvider(deployment.deployment.rpc)), deployment.deployment.registry
    )
    settled = b"".join(registry.functions.weightCommitment(done["round"]).call())
    proof = InferenceProof.from_json(json.dumps(done["proof"]))
    assert proof.weight_commitment() == settled
    assert mnist_circuit(ZK_CACHE_DIR).verify(proof, settled)


def test_every_container_stays_up(deployment: ComposeDeployment) -> None:
    """The 8 containers still run after the rounds: none crashed or restarts."""
    states = deployment.states()
    assert len(states) == 2 * NUMBER_OF_AGENTS, states
    assert not not_running(deployment), states


def test_the_deployment_logs_are_on_the_host(deployment: ComposeDeployment) -> None:
    """Every agent and node writes its log into the build folder (persistent_data/logs), as the compose file mounts it."""
    logs = deployment.build_dir / "persistent_data" / "logs"
    for index in range(NUMBER_OF_AGENTS):
        assert deployment.log_path(index).stat().st_size > 0
        assert (logs / f"node_{index}.txt").exists(), sorted(path.name for path in logs.iterdir())


def test_leftovers_are_listed_by_project(deployment: ComposeDeployment) -> None:
    """While it runs, Docker lists the deployment's containers and network under its compose project."""
    resources = project_resources(deployment.project)
    assert len(resources["containers"]) == 2 * NUMBER_OF_AGENTS
    assert len(resources["networks"]) == 1
