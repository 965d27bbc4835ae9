"""Run the service as Olas users deploy it: `autonomy deploy build` and the Docker Compose file it writes.

The 4 agents and their 4 Tendermint nodes run in containers from the images scripts/docker_images.sh builds
(`make docker-images`). kubo (IPFS) and anvil (the chain) run on the host, supervised as `make run` runs them:
they are plain binaries already built here, and the Safe and ModelRegistry must be deployed on the chain
before `deploy build` writes their addresses into the agents' environment. They listen on the Docker bridge's
gateway address only, which the containers reach as host.docker.internal (the compose file maps it).
Used by `make deploy` (scripts/deploy_service.py) and tests_docker/test_compose_deployment.py.
"""

import ipaddress
import json
import os
import subprocess  # nosec
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Dict, List, Optional

import yaml
from aea_ledger_ethereum import EthereumCrypto

from devnet import chain, zk_chain
from devnet.service import (
    IPFS_API_PORT,
    NUMBER_OF_AGENTS,
    REPO_ROOT,
    ZK_CACHE_DIR,
    prepare_proof_circuit,
    skill_param,
    init_ipfs_repository,
    run_checked,
    tool,
    wait_for_ipfs,
)
from devnet.supervisor import ProcessSpec, Supervisor

SERVICE_PUBLIC_ID = "valory/smpc_mnist"
COMPOSE_PROJECT = "smpc_mnist"
# The host services of the compose deployment: in the block below BASE_PORT, apart from `make run`'s.
COMPOSE_IPFS_PORT = IPFS_API_PORT + 4
COMPOSE_ANVIL_PORT = IPFS_API_PORT + 5
DOCKER_HOST_NAME = "host.docker.internal"  # the compose file maps it to the bridge gateway (host-gateway)
# A cap, not a reservation: torch, TenSEAL and the CKKS keys take ~1.3 GB and a proof of inference (in the agent's
# process) peaks at 1.9 GB more (scripts/bench_zk.py); open-autonomy's default (1024) is too small. About twice that.
AGENT_MEMORY_LIMIT_MB = 6144
# Where the engine keeps a container's peak memory: cgroup v1 (cgroupfs driver), then cgroup v2.
PEAK_MEMORY_FILES = (
    "/sys/fs/cgroup/memory/docker/{id}/memory.max_usage_in_bytes",
    "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.peak",
    "/sys/fs/cgroup/docker/{id}/memory.peak",
)
# The host's proof-circuit cache (SRS, keys) as the agents see it: service.yaml mounts ./zk-cache there.
ZK_CACHE_VOLUME = "zk-cache"
ZK_CACHE_IN_CONTAINER = "/zk-cache"
BUILD_FOLDER = "build"
AGENT_HTTP_PORT = 8000  # each agent's HTTP server in its container, on the deployment's network
IMAGE_AUTHOR = "valory"  # of the agent image scripts/docker_images.sh builds


def docker(*args: str) -> str:
    """Run a docker CLI command (the engine must run: scripts/docker_engine.sh start); its stdout."""
    return run_checked(["docker", *args], cwd=REPO_ROOT)


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: what host.docker.internal (host-gateway) resolves to.

    The engine lists it in the bridge's IPAM config, or (Docker 20.10) only the subnet, whose first host it is.
    """
    config = json.loads(docker("network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"))[0]
    if config.get("Gateway"):
        return config["Gateway"]
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def project_resources(project: str) -> Dict[str, List[str]]:
    """The containers, networks and volumes Docker still holds for a compose project."""
    label = f"label=com.docker.compose.project={project}"
    listings = {
        "containers": ["ps", "--all", "--filter", label, "--format", "{{.Names}}"],
        "networks": ["network", "ls", "--filter", label, "--format", "{{.Name}}"],
        "volumes": ["volume", "ls", "--filter", label, "--format", "{{.Name}}"],
    }
    return {kind: docker(*args).split() for kind, args in listings.items()}


def peak_memory_of(container_id: str) -> Optional[float]:
    """A container's peak memory in MiB, read from the first cgroup file the kernel has for it."""
    for template in PEAK_MEMORY_FILES:
        path = Path(template.format(id=container_id))
        if path.exists():
            return int(path.read_text()) / 2**20
    return None


@dataclass
class ComposeDeployment:
    """The service deployed under `run_dir` with `autonomy deploy build`; prepare(), start(), then stop()."""

    run_dir: Path
    supervisor: Supervisor = field(default_factory=Supervisor)
    deployment: Optional[chain.ChainDeployment] = None
    project: str = COMPOSE_PROJECT

    @property
    def service_dir(self) -> Path:
        """The service fetched from ./packages."""
        return self.run_dir / "service"

    @property
    def build_dir(self) -> Path:
        """What `autonomy deploy build` writes: docker-compose.yaml, env files, keys, node homes, logs."""
        return self.service_dir / BUILD_FOLDER

    @property
    def compose_file(self) -> Path:
        """The generated Docker Compose file."""
        return self.build_dir / "docker-compose.yaml"

    def log_path(self, index: int) -> Path:
        """Agent `index`'s log, written in its container to /logs (the build's persistent_data/logs)."""
        return self.build_dir / "persistent_data" / "logs" / f"aea_{index}.txt"

    def console_path(self, name: str) -> Path:
        """Where a host process' stdout and stderr go."""
        return self.run_dir / "logs" / f"{name}.console.log"

    @property
    def keys_file(self) -> Path:
        """The agents' keys, as `autonomy deploy build` reads them."""
        return self.service_dir / "keys.json"

    def addresses(self) -> List[str]:
        """The agents' addresses, in agent order."""
        return [key["address"] for key in json.loads(self.keys_file.read_text())]

    def prepare(self) -> None:
        """Fetch the service from ./packages and give every agent a fresh key."""
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        if not self.service_dir.exists():
            run_checked(
                [
                    tool("autonomy"),
                    "--registry-path",
                    str(REPO_ROOT / "packages"),
                    "fetch",
                    "--local",
                    "--service",
                    SERVICE_PUBLIC_ID,
                    "--alias",
                    self.service_dir.name,
                ],
                cwd=self.run_dir,
            )
        if not self.keys_file.exists():
            keys = [
                {"address": crypto.address, "private_key": crypto.private_key}
                for crypto in (EthereumCrypto() for _ in range(NUMBER_OF_AGENTS))
            ]
            self.keys_file.write_text(json.dumps(keys, indent=2))

    def start(self) -> None:
        """Start kubo and anvil on the host, deploy the contracts, build the deployment and bring it up."""
        gateway = bridge_gateway()
        verifier_source = prepare_proof_circuit(int(skill_param("model_seed")))
        self._start_chain(gateway, verifier_source)
        self._start_ipfs(gateway)
        self._build()
        self.compose("up", "--detach")

    def compose(self, *args: str) -> str:
        """Run `docker compose` on the generated file, under this deployment's project name."""
        return run_checked(
            ["docker", "compose", "--project-name", self.project, "--file", str(self.compose_file), *args],
            cwd=self.build_dir,
        )

    def _start_chain(self, gateway: str, verifier_source: Path) -> None:
        """anvil on the bridge gateway; the agents' Safe (3 of 4) and the ModelRegistry, funded; the proof verifiers."""
        self.supervisor.start(
            ProcessSpec(
                "anvil",
                chain.anvil_command(tool("anvil"), COMPOSE_ANVIL_PORT, host=gateway),
                self.run_dir,
                dict(os.environ),
                self.console_path("anvil"),
            )
        )
        self.supervisor.run()
        url = chain.rpc_url(COMPOSE_ANVIL_PORT, host=gateway)
        w3 = chain.wait_for_chain(url, partial(self.supervisor.running, "anvil"))
        self.deployment = zk_chain.deploy_service_with_verifier(
            w3, self.addresses(), url, verifier_source
        )
        (self.run_dir / "chain.json").write_text(self.deployment.to_json())

    def _start_ipfs(self, gateway: str) -> None:
        """kubo serving its HTTP API on the bridge gateway only."""
        repository = self.run_dir / "ipfs"
        if not repository.exists():
            init_ipfs_repository(repository, COMPOSE_IPFS_PORT, host=gateway)
        self.supervisor.start(
            ProcessSpec(
                "ipfs",
                [tool("ipfs"), "daemon", "--offline"],
                self.run_dir,
                {**os.environ, "IPFS_PATH": str(repository)},
                self.console_path("ipfs"),
            )
        )
        wait_for_ipfs(COMPOSE_IPFS_PORT, self.console_path("ipfs"), host=gateway)

    def build_environment(self) -> Dict[str, str]:
        """The service overrides `deploy build` reads from the environment: participants, chain, IPFS."""
        assert self.deployment is not None, "start the chain first"  # nosec
        return {
            **os.environ,
            "ALL_PARTICIPANTS": json.dumps(self.addresses()),
            "SAFE_CONTRACT_ADDRESS": self.deployment.safe,
            "MODEL_REGISTRY_ADDRESS": self.deployment.registry,
            "RPC_URL": f"http://{DOCKER_HOST_NAME}:{COMPOSE_ANVIL_PORT}",
            "CHAIN_ID": str(self.deployment.chain_id),
            "IPFS_API_URL": f"http://{DOCKER_HOST_NAME}:{COMPOSE_IPFS_PORT}",
            "IPFS_DOMAIN": f"/dns/{DOCKER_HOST_NAME}/tcp/{COMPOSE_IPFS_PORT}/http",  # the agents' ipfs connection
            "AUTONOMY_AGENT_MEMORY_LIMIT": str(AGENT_MEMORY_LIMIT_MB),
            "ZK_CACHE_DIR": ZK_CACHE_IN_CONTAINER,
            "HTTP_SERVER_PORT": str(AGENT_HTTP_PORT),
            # The Tendermint containers run as $UID (default 1000); the node homes and logs are this user's.
            "UID": str(os.getuid()),
        }

    def _build(self) -> None:
        """`autonomy deploy build keys.json` against the running engine."""
        if self.build_dir.exists():
            return
        run_checked(
            # --local-tm-setup: the 4-validator testnet generated in the Tendermint image (the skill does not
            # exchange Tendermint configs on startup).
            [tool("autonomy"), "deploy", "build", self.keys_file.name, "--o", BUILD_FOLDER, "--local-tm-setup",
             "--image-author", IMAGE_AUTHOR],
            cwd=self.service_dir,
            env=self.build_environment(),
        )
        # deploy build made ./zk-cache empty: bind the host's prepared circuit there instead of setting it up again.
        volume = self.build_dir / ZK_CACHE_VOLUME
        volume.rmdir()
        volume.symlink_to(ZK_CACHE_DIR, target_is_directory=True)

    def services(self) -> Dict[str, dict]:
        """The compose file's services."""
        return yaml.safe_load(self.compose_file.read_text())["services"]

    def states(self) -> Dict[str, str]:
        """Each container's state (running, restarting, exited ...), by container name."""
        output = self.compose("ps", "--all", "--format", "json")
        rows = [json.loads(line) for line in output.splitlines() if line.strip()]
        flat = [row for item in rows for row in (item if isinstance(item, list) else [item])]
        return {row["Name"]: row["State"] for row in flat}

    def agent_url(self, index: int) -> str:
        """Agent `index`'s HTTP server, at its container's address on the deployment's bridge network."""
        service = next(name for name in self.services() if "_abci_" in name and name.endswith(f"_{index}"))
        container = self.compose("ps", "--quiet", service).strip()
        address = docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container)
        return f"http://{address.strip()}:{AGENT_HTTP_PORT}"

    def peak_memory_mib(self) -> Dict[str, Optional[float]]:
        """Each running container's peak memory so far (MiB), from its cgroup; None where the kernel keeps none."""
        ids = self.compose("ps", "--quiet", "--no-trunc").split()
        names = docker("inspect", "--format", "{{.Name}}", *ids).split() if ids else []
        return {name.lstrip("/"): peak_memory_of(container) for name, container in zip(names, ids)}

    def stop(self) -> Dict[str, List[str]]:
        """Take the deployment down (containers, network, volumes), stop kubo and anvil; what Docker still holds."""
        if self.compose_file.exists():
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10")
        self.supervisor.stop(self.supervisor.names)
        self.supervisor.close()
        return project_resources(self.project)
