"""`autonomy deploy build` turns the packaged service into a 4-agent Docker Compose or Kubernetes deployment.

The compose generator asks a Docker engine one question, which subnets existing networks use, before it
writes docker-compose.yaml. These tests ask the real engine (scripts/docker_engine.sh starts one when it can);
only where none can run (no dockerd, not root, no cgroups) a stand-in answers that question ("none") on a unix
socket speaking the two Docker Engine API calls the generator makes. Everything else is the real Olas tooling
on this repository's packages. tests_docker/ runs the deployment against the real engine (with
--local-tm-setup, which runs the Tendermint image).
The Kubernetes manifests (`--kubernetes`) need no engine to build; no cluster runs here, so they are checked
against the compose deployment and the images `make docker-images` builds, not applied.
"""

import json
import os
import re
import shlex
import socketserver
import subprocess  # nosec
import threading
import tomllib
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set
from urllib.parse import urlparse

import pytest
import yaml
from aea_ledger_ethereum import EthereumCrypto

from devnet.compose import IMAGE_AUTHOR, SERVICE_PUBLIC_ID
from devnet.service import NUMBER_OF_AGENTS, REPO_ROOT, tool

DOCKER_API_VERSION = "1.41"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
KEYS_FILE = "keys.json"
SKILL_PARAMS_PREFIX = "SKILL_SMPC_MNIST_CLASSIFIER_MODELS_PARAMS_ARGS_"
# The skill params the generator sets to each deployment's own network layout (containers vs. a shared pod).
TENDERMINT_ADDRESS_PARAMS = {
    SKILL_PARAMS_PREFIX + name for name in ("TENDERMINT_URL", "TENDERMINT_COM_URL", "TENDERMINT_P2P_URL")
}
SERVICE_OVERRIDE = re.compile(r"\$\{(?P<name>[A-Z_]+):")  # ${NAME:type:default} in service.yaml
TENDERMINT_IMAGE_CONTEXT = REPO_ROOT / "docker" / "tendermint"


class NoNetworksDockerApi(BaseHTTPRequestHandler):
    """Answers GET /version and GET /networks as an engine with no networks would."""

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        """Serve the two calls; anything else is a 404 so an unexpected call fails the build loudly."""
        path = self.path.split("?")[0]
        if path == "/version":
            body = {
                "ApiVersion": DOCKER_API_VERSION,
                "Version": "stand-in",
                "MinAPIVersion": "1.24",
            }
        elif path.endswith("/networks"):
            body = []
        else:
            self.send_error(
                404, f"this stand-in answers only /version and /networks, not {path}"
            )
            return
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def address_string(self) -> str:
        """Unix sockets have no client address."""
        return "docker-client"

    def log_message(self, *_args: object) -> None:  # pylint: disable=arguments-differ
        """Keep the test output quiet."""


class UnixHttpServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """HTTP over a unix socket, as the Docker engine serves it."""

    daemon_threads = True


def real_engine_host() -> Optional[str]:
    """The DOCKER_HOST of the engine scripts/docker_engine.sh uses or starts; None if it cannot start one."""
    started = subprocess.run(
        ["bash", "scripts/docker_engine.sh", "start"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )  # nosec
    return os.environ.get("DOCKER_HOST", DEFAULT_DOCKER_HOST) if started.returncode == 0 else None


@pytest.fixture(scope="module")
def docker_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real engine's DOCKER_HOST or, as a fallback where none can run here, a stand-in reporting no networks."""
    real = real_engine_host()
    if real is not None:
        yield real
        return
    socket_path = tmp_path_factory.mktemp("engine") / "docker.sock"
    server = UnixHttpServer(str(socket_path), NoNetworksDockerApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"unix://{socket_path}"
    server.shutdown()
    server.server_close()


def run(args: list, cwd: Path, env: dict) -> str:
    """Run a command, failing with its output; its stdout."""
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )  # nosec
    assert (
        result.returncode == 0
    ), f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The service fetched from ./packages, with a fresh key for each agent in keys.json."""
    run_dir = tmp_path_factory.mktemp("deploy")
    run(
        [
            "autonomy",
            "--registry-path",
            str(REPO_ROOT / "packages"),
            "fetch",
            "--local",
            "--service",
            SERVICE_PUBLIC_ID,
            "--alias",
            "service",
        ],
        cwd=run_dir,
        env=dict(os.environ),
    )
    keys = [
        {"address": crypto.address, "private_key": crypto.private_key}
        for crypto in (EthereumCrypto() for _ in range(NUMBER_OF_AGENTS))
    ]
    (run_dir / "service" / KEYS_FILE).write_text(json.dumps(keys))
    return run_dir / "service"


def agent_keys(service_dir: Path) -> List[dict]:
    """The agents' keys, in agent order."""
    return json.loads((service_dir / KEYS_FILE).read_text())


@pytest.fixture(scope="module")
def build_env(service_dir: Path) -> Dict[str, str]:
    """The service overrides an operator sets before building: the participants, the Safe, the registry, IPFS."""
    return {
        **os.environ,
        "ALL_PARTICIPANTS": json.dumps([key["address"] for key in agent_keys(service_dir)]),
        "SAFE_CONTRACT_ADDRESS": EthereumCrypto().address,
        "MODEL_REGISTRY_ADDRESS": EthereumCrypto().address,
        "IPFS_DOMAIN": "/dns/ipfs/tcp/5001/http",
    }


def deploy_build(service_dir: Path, env: Dict[str, str], output: str, *options: str) -> Path:
    """`autonomy deploy build keys.json` with the agent image's author `make docker-images` builds; the build folder."""
    run(
        ["autonomy", "deploy", "build", KEYS_FILE, "--o", output, "--image-author", IMAGE_AUTHOR, *options],
        cwd=service_dir,
        env=env,
    )
    return service_dir / output


@pytest.fixture(scope="module")
def compose_build(service_dir: Path, build_env: Dict[str, str], docker_host: str) -> Path:
    """The Docker Compose deployment: docker-compose.yaml, one env file per agent."""
    return deploy_build(service_dir, {**build_env, "DOCKER_HOST": docker_host}, "build")


@pytest.fixture(scope="module")
def kubernetes_build(service_dir: Path, build_env: Dict[str, str]) -> Path:
    """The Kubernetes deployment: build.yaml (services, deployments, volume claims), agent_keys/ (secrets)."""
    return deploy_build(service_dir, build_env, "build-kubernetes", "--kubernetes")


def compose_services(build: Path) -> Dict[str, dict]:
    """The compose file's services."""
    return yaml.safe_load((build / "docker-compose.yaml").read_text())["services"]


def compose_agent_env(build: Path) -> List[Dict[str, str]]:
    """Each agent's environment, from its env file, in agent order."""
    services = compose_services(build)
    return [
        dict(
            line.split("=", 1)
            for line in (build / services[agent]["env_file"]).read_text().splitlines()
            if "=" in line
        )
        for agent in sorted(name for name in services if "_abci_" in name)
    ]


def manifests(build: Path) -> List[dict]:
    """Every document of every manifest the Kubernetes build wrote (build.yaml and the key secrets)."""
    files = [build / "build.yaml", *sorted((build / "agent_keys").glob("*.yaml"))]
    return [
        document
        for path in files
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


def of_kind(documents: List[dict], kind: str) -> Dict[str, dict]:
    """The documents of one kind, by name."""
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def pod_specs(build: Path) -> List[dict]:
    """The pod template of every agent Deployment, in agent order."""
    deployments = of_kind(manifests(build), "Deployment")
    return [deployments[name]["spec"]["template"]["spec"] for name in sorted(deployments)]


def containers(pod: dict) -> Dict[str, dict]:
    """A pod's containers, by name."""
    return {container["name"]: container for container in pod["containers"]}


def kubernetes_agent_env(build: Path) -> List[Dict[str, str]]:
    """Each agent container's environment, in agent order."""
    return [
        {variable["name"]: variable["value"] for variable in containers(pod)["aea"]["env"]}
        for pod in pod_specs(build)
    ]


def override_variables(service_dir: Path) -> Set[str]:
    """The variables the service's overrides read (`${NAME:type:default}` in service.yaml), as an operator sets them."""
    return set(SERVICE_OVERRIDE.findall((service_dir / "service.yaml").read_text()))


def service_overrides(variables: Dict[str, str], override_names: Set[str]) -> Dict[str, str]:
    """An agent's skill params and service override variables, as its deployment passes them (Tendermint's
    addresses apart: they differ by design)."""
    return {
        name: value
        for name, value in variables.items()
        if (name.startswith(SKILL_PARAMS_PREFIX) or name in override_names) and name not in TENDERMINT_ADDRESS_PARAMS
    }


def tendermint_testnet_command(script: str) -> List[str]:
    """The `tendermint testnet` command in an init container's shell script (continued over lines)."""
    match = re.search(r"^\s*(\S*tendermint testnet(?:[^\n]*\\\n)*[^\n]*)", script, re.MULTILINE)
    assert match is not None, script
    return shlex.split(match.group(1).replace("\\\n", " "))


def test_deploy_build_writes_a_four_agent_compose_file(compose_build: Path, service_dir: Path) -> None:
    """Fetched from ./packages and built: 4 agents, 4 Tendermint nodes, the service's params in the env."""
    services = compose_services(compose_build)
    agents = sorted(name for name in services if "_abci_" in name)
    nodes = sorted(name for name in services if "_tm_" in name)
    assert len(agents) == NUMBER_OF_AGENTS and len(nodes) == NUMBER_OF_AGENTS, sorted(services)
    addresses = [key["address"] for key in agent_keys(service_dir)]
    for index, variables in enumerate(compose_agent_env(compose_build)):
        assert variables[SKILL_PARAMS_PREFIX + "DECRYPTION_THRESHOLD"] == "3", index
        assert json.loads(variables[SKILL_PARAMS_PREFIX + "SETUP_ALL_PARTICIPANTS"]) == addresses, index
        assert (compose_build / "agent_keys" / f"agent_{index}").is_dir()


def test_kubernetes_manifests_run_four_agents_each_with_its_tendermint_node(
    kubernetes_build: Path, service_dir: Path
) -> None:
    """Every manifest parses; one Deployment per agent runs the agent beside its node, with that agent's key."""
    documents = manifests(kubernetes_build)
    pods = pod_specs(kubernetes_build)
    assert len(pods) == NUMBER_OF_AGENTS, sorted(of_kind(documents, "Deployment"))
    secrets = of_kind(documents, "Secret")
    for index, (pod, key) in enumerate(zip(pods, agent_keys(service_dir))):
        assert set(containers(pod)) == {"aea", f"node{index}"}, index
        secret_name = next(v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v)
        assert list(secrets[secret_name]["stringData"].values()) == [key["private_key"]], index
    assert len(secrets) == NUMBER_OF_AGENTS


def test_kubernetes_images_are_the_compose_images_all_built_here(
    kubernetes_build: Path, compose_build: Path
) -> None:
    """The agents and nodes run the compose deployment's images; every image (init containers too) is one
    `make docker-images` builds, as no registry is reachable."""
    pods = pod_specs(kubernetes_build)
    running = {container["image"] for pod in pods for container in pod["containers"]}
    initialising = {container["image"] for pod in pods for container in pod["initContainers"]}
    assert running == {service["image"] for service in compose_services(compose_build).values()}
    built_here = set(run(["bash", "scripts/docker_images.sh", "--tags"], cwd=REPO_ROOT, env=dict(os.environ)).split())
    assert running | initialising <= built_here, (running | initialising) - built_here


def test_kubernetes_agents_carry_the_compose_service_overrides(
    kubernetes_build: Path, compose_build: Path, service_dir: Path, build_env: Dict[str, str]
) -> None:
    """The skill's params and the operator's overrides reach each agent with the same values in both deployments,
    the IPFS node's address its ipfs connection too; each agent talks to the Tendermint node in its own pod."""
    override_names = override_variables(service_dir)
    kubernetes_env = kubernetes_agent_env(kubernetes_build)
    compose_env = compose_agent_env(compose_build)
    kubernetes = [service_overrides(env, override_names) for env in kubernetes_env]
    assert kubernetes == [service_overrides(env, override_names) for env in compose_env]
    for name in ("ALL_PARTICIPANTS", "SAFE_CONTRACT_ADDRESS", "MODEL_REGISTRY_ADDRESS", "IPFS_DOMAIN"):
        assert all(env[name] == build_env[name] for env in kubernetes), name
    for env in [*kubernetes_env, *compose_env]:
        assert env["CONNECTION_IPFS_CONFIG_IPFS_DOMAIN"] == build_env["IPFS_DOMAIN"]
    for env in kubernetes_env:
        for name in ("TENDERMINT_URL", "TENDERMINT_COM_URL"):
            assert urlparse(env[SKILL_PARAMS_PREFIX + name]).hostname == "localhost", env[SKILL_PARAMS_PREFIX + name]


def test_kubernetes_volume_claims_parse_and_back_every_mounted_volume(kubernetes_build: Path) -> None:
    """Every claim a pod mounts is a PersistentVolumeClaim in the manifests, with a storage request."""
    claims = of_kind(manifests(kubernetes_build), "PersistentVolumeClaim")
    mounted = {
        volume["persistentVolumeClaim"]["claimName"]
        for pod in pod_specs(kubernetes_build)
        for volume in pod["volumes"]
        if "persistentVolumeClaim" in volume
    }
    assert mounted and mounted <= set(claims), mounted - set(claims)
    for name, claim in claims.items():
        assert claim["spec"]["resources"]["requests"]["storage"], name


def test_kubernetes_init_container_generates_the_testnet_from_the_image_config(
    kubernetes_build: Path, tmp_path: Path
) -> None:
    """The init container's `tendermint testnet --config <template>` works with the template the Tendermint image
    holds (docker/tendermint/config-template.toml): its settings in every node, peers named as the agents' Services."""
    documents = manifests(kubernetes_build)
    init = {c["name"]: c for c in pod_specs(kubernetes_build)[0]["initContainers"]}
    command = tendermint_testnet_command(init["generate-tendermint-config"]["args"][0])
    template_in_image = command[command.index("--config") + 1]
    assert (
        f"COPY config-template.toml {template_in_image}" in (TENDERMINT_IMAGE_CONTEXT / "Dockerfile").read_text()
    )
    template = TENDERMINT_IMAGE_CONTEXT / "config-template.toml"
    command[0] = tool("tendermint")
    command[command.index("--config") + 1] = str(template)
    command[command.index("--o") + 1] = str(tmp_path)
    run(command, cwd=tmp_path, env=dict(os.environ))
    settings = tomllib.loads(template.read_text())
    for index in range(NUMBER_OF_AGENTS):
        config = tomllib.loads((tmp_path / f"node{index}" / "config" / "config.toml").read_text())
        for section, values in settings.items():
            assert {key: config[section][key] for key in values} == values, (index, section)
        peers = {peer.split("@")[1].split(":")[0] for peer in config["p2p"]["persistent_peers"].split(",")}
        assert peers == set(of_kind(documents, "Service")), index
