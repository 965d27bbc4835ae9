"""Run the 4-agent service on this machine: real Tendermint nodes, real agents, no Docker.

`autonomy deploy build --localhost` supports a single agent only, so this module lays out what the
Docker deployment would (one Tendermint node per agent, agents fetched from the local registry with
`autonomy fetch --local`) with per-node ports on 127.0.0.1, and starts every process in its own
process group so that stopping is clean. Used by `make run` (scripts/run_service.py), the benchmarks and the e2e tests.

All ports sit in one block above SMPC_DEVNET_BASE_PORT (default 26650), so that two checkouts on one
machine can each run a service.
"""

import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess  # nosec
import sys
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

import yaml
from aea.test_tools.utils import wait_for_condition
from aea_ledger_ethereum import EthereumCrypto
from aea_test_autonomy.helpers.base import tendermint_health_check

from devnet.supervisor import ProcessSpec, Supervisor

from devnet import chain

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
VENV_BIN = Path(sys.executable).parent
AGENT_PUBLIC_ID = "valory/smpc_mnist:0.1.0"
OFFENDERS_MODULE = REPO_ROOT / "tests" / "offenders.py"
SKILL_CONFIG = REPO_ROOT / "packages" / "valory" / "skills" / "smpc_mnist_classifier" / "skill.yaml"
# The proof-of-inference circuit's SRS and keys: made once per machine (minutes), shared by every run's agents.
ZK_CACHE_DIR = REPO_ROOT / ".tools" / "zk"
SKILL_ENV_PREFIX = "SKILL_SMPC_MNIST_CLASSIFIER_MODELS_PARAMS_ARGS_"
BENCHMARK_LOG_DIR_ENV = "SKILL_SMPC_MNIST_CLASSIFIER_MODELS_BENCHMARK_TOOL_ARGS_LOG_DIR"
NUMBER_OF_AGENTS = 4
BASE_PORT = int(os.environ.get("SMPC_DEVNET_BASE_PORT", "26650"))
PORTS_PER_NODE = 10
IPFS_API_PORT = BASE_PORT - PORTS_PER_NODE
ANVIL_PORT = IPFS_API_PORT + 1
ZK_ANVIL_PORT = BASE_PORT - PORTS_PER_NODE + 7  # the anvil of the zk-inference tests and benchmark
# A loopback address other than 127.0.0.1: aea's IPFS tool insists on an `ipfs` 0.6.0 binary for
# "local" daemons (localhost/127.0.0.1) but talks to any other address through the HTTP API only.
IPFS_API_HOST = "127.0.0.2"
IPFS_READY_SECONDS = 30.0
READY_SECONDS = 180.0
READY_POLL_SECONDS = 0.5
AGENT_PREFIX = "agent_"
NODE_PREFIX = "node_"
AGENTS_FILE = "agents.json"
TEMPLATE_AGENT_NAME = "agent_template"
SAFE_THRESHOLD = 3  # of NUMBER_OF_AGENTS owners, as Tendermint's and the decryption's quorum
LEDGER_ENV_PREFIX = "CONNECTION_LEDGER_CONFIG_LEDGER_APIS_ETHEREUM_"
ROUND_ENTERED = re.compile(r"Entered in the '(\w+)' round for period (\d+)")


def agent_name(index: int) -> str:
    """The one name of agent `index`: aea agent name, log prefix, agent folder, log file, live view row."""
    return f"{AGENT_PREFIX}{index}"


def node_name(index: int) -> str:
    """The name of agent `index`'s Tendermint node (process and console log)."""
    return f"{NODE_PREFIX}{index}"


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def node_healthy(rpc_port: int) -> bool:
    """Whether a Tendermint node answers /health (one try: the caller polls)."""
    return tendermint_health_check(
        f"http://127.0.0.1:{rpc_port}", max_retries=1, sleep_interval=0
    )


@dataclass(frozen=True)
class NodePorts:
    """The Tendermint/ABCI ports of node i and its agent's HTTP port, all on 127.0.0.1."""

    p2p: int
    rpc: int
    abci: int
    http: int

    @classmethod
    def of(cls, index: int) -> "NodePorts":
        """Ports of node `index`: a block of PORTS_PER_NODE ports per node above BASE_PORT."""
        base = BASE_PORT + PORTS_PER_NODE * index
        return cls(p2p=base + 6, rpc=base + 7, abci=base + 8, http=base + 9)


def tool(name: str) -> str:
    """Path of a tool installed by scripts/install.sh (project folder first, then PATH)."""
    for folder in (TOOLS_BIN, VENV_BIN):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: run scripts/install.sh first")
    return found


def run_checked(
    args: List[str], cwd: Path, env: Optional[Dict[str, str]] = None
) -> str:
    """Run a setup command and return its stdout; fail with its output if it fails."""
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )  # nosec
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed in {cwd}:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def ipfs_multiaddr(port: int) -> str:
    """The multiaddr of a kubo HTTP API on IPFS_API_HOST."""
    return f"/ip4/{IPFS_API_HOST}/tcp/{port}/http"


def ipfs_daemon_command() -> List[str]:
    """kubo serving only its HTTP API: no peers, no network."""
    return [tool("ipfs"), "daemon", "--offline"]


def init_ipfs_repository(repository: Path, port: int, host: str = IPFS_API_HOST) -> None:
    """A kubo repository whose API listens on host:port, with no gateway and no bootstrap peers."""
    env = {**os.environ, "IPFS_PATH": str(repository)}
    run_checked(
        [tool("ipfs"), "init", "--profile", "test"], cwd=repository.parent, env=env
    )
    settings = {
        "Addresses.API": json.dumps(f"/ip4/{host}/tcp/{port}"),
        "Addresses.Gateway": "[]",
        "Bootstrap": "[]",
    }
    for key, value in settings.items():
        run_checked(
            [tool("ipfs"), "config", "--json", key, value],
            cwd=repository.parent,
            env=env,
        )


def rename_agent(config_path: Path, name: str) -> None:
    """Give a copied agent its own name (`aea config set` refuses agent_name): it prefixes every log line."""
    text = config_path.read_text()
    old = f"agent_name: {TEMPLATE_AGENT_NAME}\n"
    if not text.startswith(old):
        raise RuntimeError(f"{config_path} does not start with {old!r}")
    config_path.write_text(f"agent_name: {name}\n" + text[len(old) :])


def install_offender(agent_dir: Path, behaviour: str) -> None:
    """Make a fetched agent run `behaviour` of tests/offenders.py instead of the skill's own round behaviour.

    The module goes into the agent's copy of the skill (aea loads every module of a skill and instantiates
    the class its skill.yaml names); agents run with -s, so the changed copy is not refused.
    """
    skill_dir = agent_dir / "vendor" / "valory" / "skills" / "smpc_mnist_classifier"
    shutil.copy(OFFENDERS_MODULE, skill_dir / OFFENDERS_MODULE.name)
    config_path = skill_dir / "skill.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["behaviours"]["main"]["class_name"] = behaviour
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))


def skill_param(name: str) -> Any:
    """A param's default in the skill's skill.yaml."""
    config = yaml.safe_load(SKILL_CONFIG.read_text())
    return config["models"]["params"]["args"][name]


def prepare_verifier_source(cache_dir: Path, model_seed: int) -> Path:
    """The service's proof circuit set up in cache_dir (if not cached) and its generated Solidity verifier."""
    # pylint: disable=import-outside-toplevel # EZKL and torch only in the process that sets up
    from packages.valory.skills.smpc_mnist_classifier.zk_jobs import prepare_mnist_circuit

    return prepare_mnist_circuit(cache_dir, model_seed).verifier_solidity()


def prepare_proof_circuit(model_seed: int) -> Path:
    """Set up the agents' proof circuit in ZK_CACHE_DIR unless cached, in a spawned process (its gigabytes go
    with it); returns the circuit's generated Solidity verifier. The agents need it to vote (weight commitments)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(prepare_verifier_source, ZK_CACHE_DIR, model_seed).result()


def wait_for_ipfs(port: int, log: Path, host: str = IPFS_API_HOST) -> None:
    """Wait until kubo answers on its API port."""
    deadline = time.monotonic() + IPFS_READY_SECONDS
    request = urllib.request.Request(f"http://{host}:{port}/api/v0/id", method="POST")
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(request, timeout=2)  # nosec
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"IPFS did not start; see {log}")


@dataclass
class LocalService:
    """A 4-agent service laid out under `run_dir`; start(), then stop() (also on Ctrl-C).

    skill_overrides set skill params (by upper-case name) for every agent, agent_overrides per agent index.
    offenders (tests only) name, per agent index, a round behaviour of tests/offenders.py that agent runs.
    held_back names agents that start() leaves out with their nodes, for start_held_back() to start later (an
    agent that comes late to registration, see REGISTRATION_MIN_AGENTS).
    """

    run_dir: Path
    skill_overrides: Dict[str, str] = field(default_factory=dict)
    agent_overrides: Dict[int, Dict[str, str]] = field(default_factory=dict)
    offenders: Dict[int, str] = field(default_factory=dict)
    held_back: FrozenSet[int] = frozenset()
    supervisor: Supervisor = field(default_factory=Supervisor)
    deployment: Optional[chain.ChainDeployment] = None
    verifier_source: Optional[Path] = None  # the proof circuit's generated Solidity verifier (prepare sets it)

    @property
    def agent_dirs(self) -> List[Path]:
        """One folder per agent, named like the agent."""
        return [self.run_dir / agent_name(i) for i in range(NUMBER_OF_AGENTS)]

    @property
    def node_dirs(self) -> List[Path]:
        """One Tendermint home per node."""
        return [self.run_dir / "nodes" / f"node{i}" for i in range(NUMBER_OF_AGENTS)]

    def log_path(self, name: str) -> Path:
        """An agent's own log (its logging config writes there)."""
        return self.run_dir / "logs" / f"{name}.log"

    def console_path(self, name: str) -> Path:
        """Where a process' stdout and stderr go."""
        return self.run_dir / "logs" / f"{name}.console.log"

    @property
    def ipfs_dir(self) -> Path:
        """The local IPFS (kubo) repository the agents share blobs through."""
        return self.run_dir / "ipfs"

    def prepare(self) -> None:
        """Fetch the agents, give each a key, generate the 4 Tendermint nodes and the IPFS repository."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        self._fetch_agents()
        self._generate_nodes()
        self._init_ipfs()
        self.verifier_source = self._prepare_proof_circuit()

    def _prepare_proof_circuit(self) -> Path:
        """The proof circuit of this run's initial model seed (set up unless cached); its Solidity verifier."""
        return prepare_proof_circuit(
            int(self.skill_overrides.get("MODEL_SEED", skill_param("model_seed")))
        )

    def _init_ipfs(self) -> None:
        """The kubo repository the agents share blobs through."""
        if not self.ipfs_dir.exists():
            init_ipfs_repository(self.ipfs_dir, IPFS_API_PORT)

    def _fetch_agents(self) -> None:
        """Fetch the agent once from ./packages, copy it per agent, and add a fresh key to each."""
        template = self.run_dir / TEMPLATE_AGENT_NAME
        if not template.exists():
            run_checked(
                [
                    tool("autonomy"),
                    "--registry-path",
                    str(REPO_ROOT / "packages"),
                    "fetch",
                    "--local",
                    "--agent",
                    AGENT_PUBLIC_ID,
                    "--alias",
                    template.name,
                ],
                cwd=self.run_dir,
            )
        for agent_dir in self.agent_dirs:
            if agent_dir.exists():
                continue
            shutil.copytree(template, agent_dir, symlinks=True)
            rename_agent(agent_dir / "aea-config.yaml", agent_dir.name)
            run_checked([tool("aea"), "-s", "generate-key", "ethereum"], cwd=agent_dir)
            run_checked(
                [tool("aea"), "-s", "add-key", "ethereum", "ethereum_private_key.txt"],
                cwd=agent_dir,
            )
        for index, behaviour in self.offenders.items():
            install_offender(self.agent_dirs[index], behaviour)

    def addresses(self) -> List[str]:
        """The agents' addresses, in agent order."""
        return [
            EthereumCrypto(
                private_key_path=str(agent_dir / "ethereum_private_key.txt")
            ).address
            for agent_dir in self.agent_dirs
        ]

    def _generate_nodes(self) -> None:
        """A 4-validator testnet with per-node ports; peers dial each other on 127.0.0.1."""
        nodes_root = self.run_dir / "nodes"
        if nodes_root.exists():
            return
        run_checked(
            [
                tool("tendermint"),
                "testnet",
                "--v",
                str(NUMBER_OF_AGENTS),
                "--o",
                str(nodes_root),
                "--populate-persistent-peers=false",
            ],
            cwd=self.run_dir,
        )
        node_ids = [
            run_checked(
                [tool("tendermint"), "show-node-id", "--home", str(home)],
                cwd=self.run_dir,
            ).strip()
            for home in self.node_dirs
        ]
        peers = ",".join(
            f"{node_id}@127.0.0.1:{NodePorts.of(i).p2p}"
            for i, node_id in enumerate(node_ids)
        )
        for i, home in enumerate(self.node_dirs):
            self._configure_node(
                home / "config" / "config.toml", NodePorts.of(i), peers
            )

    @staticmethod
    def _configure_node(config_path: Path, ports: NodePorts, peers: str) -> None:
        """Set the node's ports and peers; allow several nodes on one IP."""
        settings = {
            "proxy_app": f'"tcp://127.0.0.1:{ports.abci}"',
            "persistent_peers": f'"{peers}"',
            "addr_book_strict": "false",
            "allow_duplicate_ip": "true",
            "create_empty_blocks_interval": '"1s"',
            "timeout_commit": '"1s"',
        }
        lines = []
        section = ""
        for line in config_path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("["):
                section = stripped
            key = stripped.split("=")[0].strip()
            if key == "laddr" and section == "[rpc]":
                line = f'laddr = "tcp://127.0.0.1:{ports.rpc}"'
            elif key == "laddr" and section == "[p2p]":
                line = f'laddr = "tcp://127.0.0.1:{ports.p2p}"'
            elif key in settings:
                line = f"{key} = {settings[key]}"
            lines.append(line)
        config_path.write_text("\n".join(lines) + "\n")

    def agent_environment(self, index: int, participants: List[str]) -> Dict[str, str]:
        """The environment of agent `index`: its node's ports, the participants and the run folder."""
        ports = NodePorts.of(index)
        overrides = {
            "TENDERMINT_URL": f"http://127.0.0.1:{ports.rpc}",
            "TENDERMINT_P2P_URL": f"127.0.0.1:{ports.p2p}",
            "SETUP_ALL_PARTICIPANTS": json.dumps(participants),
            "RUN_DIR": str(self.run_dir / "agents"),
            "IPFS_API_URL": f"http://{IPFS_API_HOST}:{IPFS_API_PORT}",
            "ZK_CACHE_DIR": str(ZK_CACHE_DIR),
            **self.chain_overrides(),
            **self.skill_overrides,
            **self.agent_overrides.get(index, {}),
        }
        env = dict(os.environ)
        # An agent runs exactly the packages fetched into its folder, never the repo's ./packages.
        env.pop("PYTHONPATH", None)
        env.update(self.ledger_environment())
        env.update({SKILL_ENV_PREFIX + key: value for key, value in overrides.items()})
        env["CONNECTION_IPFS_CONFIG_IPFS_DOMAIN"] = ipfs_multiaddr(IPFS_API_PORT)
        env["CONNECTION_ABCI_CONFIG_HOST"] = "127.0.0.1"
        env["CONNECTION_ABCI_CONFIG_PORT"] = str(ports.abci)
        env["CONNECTION_HTTP_SERVER_CONFIG_HOST"] = "127.0.0.1"
        env["CONNECTION_HTTP_SERVER_CONFIG_PORT"] = str(ports.http)
        env["LOG_FILE"] = str(self.log_path(agent_name(index)))
        # valory's benchmark tool writes each period's timings under log_dir (/logs, the containers' log volume).
        env[BENCHMARK_LOG_DIR_ENV] = str(self.run_dir / "benchmarks")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def chain_overrides(self) -> Dict[str, str]:
        """Skill params naming the service's Safe and ModelRegistry (none before the chain is up)."""
        if self.deployment is None:
            return {}
        return {
            "SETUP_SAFE_CONTRACT_ADDRESS": self.deployment.safe,
            "MODEL_REGISTRY_ADDRESS": self.deployment.registry,
        }

    def ledger_environment(self) -> Dict[str, str]:
        """The ledger connection's RPC and chain id (the ledger_apis.ethereum entry)."""
        if self.deployment is None:
            return {}
        return {
            LEDGER_ENV_PREFIX + "ADDRESS": self.deployment.rpc,
            LEDGER_ENV_PREFIX + "CHAIN_ID": str(self.deployment.chain_id),
        }

    @property
    def chain_file(self) -> Path:
        """Where the run's chain deployment is written (scripts/registry.py reads it)."""
        return self.run_dir / "chain.json"

    def start_chain(self) -> None:
        """anvil on ANVIL_PORT; on first start the agents' Safe (3 of 4) and the ModelRegistry, funded."""
        self.supervisor.start(
            ProcessSpec(
                "anvil",
                chain.anvil_command(
                    tool("anvil"), ANVIL_PORT, state=self.run_dir / "anvil_state.json"
                ),
                self.run_dir,
                dict(os.environ),
                self.console_path("anvil"),
            )
        )
        url = chain.rpc_url(ANVIL_PORT)
        w3 = chain.wait_for_chain(url, partial(self.supervisor.running, "anvil"))
        if self.chain_file.exists():
            self.deployment = chain.ChainDeployment(
                **json.loads(self.chain_file.read_text())
            )
            return
        from devnet import zk_chain  # pylint: disable=import-outside-toplevel # zk_chain imports this module

        self.deployment = zk_chain.deploy_service_with_verifier(
            w3,
            self.addresses(),
            url,
            self.verifier_source or self._prepare_proof_circuit(),
        )
        self.chain_file.write_text(self.deployment.to_json())

    def stop_chain(self) -> None:
        """Stop anvil, unsupervised (a chain outage, for tests); it dumps its state, so start_chain resumes the same chain."""
        self.supervisor.stop(["anvil"])

    def start(self) -> None:
        """Start the chain and kubo, then the agents, then (once every agent serves ABCI) the Tendermint nodes; supervise them.

        Readiness is polled, as open-autonomy's own end-to-end base does: kubo's API, each agent's ABCI
        port, each node's /health. A node is only ever (re)started while its agent serves ABCI, so no node
        retries a refused connection.
        """
        self.write_agents_file()
        self.start_chain()
        self.start_ipfs()
        started = [i for i in range(NUMBER_OF_AGENTS) if i not in self.held_back]
        for i in started:
            self.supervisor.start(self.agent_spec(i))
        self.supervisor.run()
        self._start_nodes(started)

    def start_held_back(self, index: int) -> None:
        """Start held-back agent `index`, then its node once the agent serves ABCI (it catches up from its peers)."""
        self.supervisor.start(self.agent_spec(index))
        self._start_nodes([index])

    def _start_nodes(self, indices: Sequence[int]) -> None:
        """Wait until the agents `indices` serve ABCI, start their nodes, wait until those answer /health."""
        self._wait_until(
            lambda i: port_open(NodePorts.of(i).abci), "serve ABCI", agent_name, indices
        )
        for i in indices:
            self.supervisor.start(self.node_spec(i))
        self._wait_until(
            lambda i: node_healthy(NodePorts.of(i).rpc), "answer /health", node_name, indices
        )

    def agent_spec(self, index: int) -> ProcessSpec:
        """How agent `index` runs: `aea -s run` in its folder, with its environment."""
        return ProcessSpec(
            agent_name(index),
            [tool("aea"), "-s", "run"],
            self.agent_dirs[index],
            self.agent_environment(index, self.addresses()),
            self.console_path(agent_name(index)),
        )

    def node_spec(self, index: int) -> ProcessSpec:
        """How node `index` runs: (re)started only while its agent serves ABCI."""
        return ProcessSpec(
            node_name(index),
            [tool("tendermint"), "node", "--home", str(self.node_dirs[index])],
            self.run_dir,
            dict(os.environ),
            self.console_path(node_name(index)),
            ready=partial(port_open, NodePorts.of(index).abci),
        )

    def kill_node(self, index: int) -> None:
        """kill -9 node `index`, unsupervised (a node outage, for tests and chaos runs); start_node brings it back."""
        self.supervisor.stop([node_name(index)], signal_number=signal.SIGKILL)

    def start_node(self, index: int) -> None:
        """Start node `index` again, supervised, on its home (it replays its WAL and catches up from its peers)."""
        self.supervisor.start(self.node_spec(index))

    def start_ipfs(self) -> None:
        """Start kubo on the run's repository, supervised, and wait until it answers (again, after stop_ipfs)."""
        self.supervisor.start(
            ProcessSpec(
                "ipfs",
                ipfs_daemon_command(),
                self.run_dir,
                {**os.environ, "IPFS_PATH": str(self.ipfs_dir)},
                self.console_path("ipfs"),
            )
        )
        wait_for_ipfs(IPFS_API_PORT, self.console_path("ipfs"))

    def stop_ipfs(self) -> None:
        """Stop kubo, unsupervised (an IPFS outage, for tests); start_ipfs brings it back with the same blobs."""
        self.supervisor.stop(["ipfs"])

    def _wait_until(
        self,
        ready: Callable[[int], bool],
        what: str,
        name: Callable[[int], str],
        indices: Sequence[int],
    ) -> None:
        """Poll until `ready(i)` holds for every index in `indices`; fail naming the ones that never got there."""

        def all_ready() -> bool:
            """Every process ready; fail at once if the supervisor gave up on one."""
            gave_up = self.supervisor.gave_up()
            if gave_up:
                raise RuntimeError(
                    f"{gave_up} kept crashing; see their console logs in {self.run_dir / 'logs'}"
                )
            return all(ready(i) for i in indices)

        try:
            wait_for_condition(
                all_ready,
                timeout=READY_SECONDS,
                period=READY_POLL_SECONDS,
            )
        except TimeoutError as error:
            late = [name(i) for i in indices if not ready(i)]
            raise RuntimeError(
                f"{late} did not {what} within {READY_SECONDS} s; see {self.run_dir / 'logs'}"
            ) from error

    @property
    def processes(self) -> List[str]:
        """The processes still supervised (not yet stopped)."""
        return self.supervisor.names

    def take_offline(self, index: int) -> None:
        """Stop agent `index` and its Tendermint node, for good (no restart)."""
        self.supervisor.stop([node_name(index), agent_name(index)])

    def stop(self) -> None:
        """Stop everything started, in an order that logs no errors: freeze the nodes, stop the agents, kill the nodes.

        Tendermint 0.34 logs some 40 error lines when a 4-node net stops gracefully (every node reports each peer
        and its RPC server closing), and an agent whose node dies while it writes an ABCI response logs that its
        send loop lost the connection. So the nodes are frozen (SIGSTOP) first: the agents then stop on SIGINT
        with nothing closing under them, and the frozen nodes are killed, which they never notice. A node is
        crash-safe (its WAL and stores replay on restart). kubo and anvil stop last, on SIGINT.
        """
        names = self.supervisor.names
        nodes = [name for name in names if name.startswith(NODE_PREFIX)]
        self.supervisor.freeze(nodes)
        for kind in (AGENT_PREFIX, NODE_PREFIX, "ipfs", "anvil"):
            self.supervisor.stop(
                [name for name in names if name.startswith(kind)],
                signal_number=signal.SIGKILL if kind == NODE_PREFIX else signal.SIGINT,
            )
        self.supervisor.close()

    def write_agents_file(self) -> None:
        """runs/<ts>/agents.json: each agent's name, address and folders, and the params the run overrides."""
        agents = {
            agent_name(i): {
                "address": address,
                "agent_folder": self.agent_dirs[i].name,
                "output_folder": str(self.agent_output(i).relative_to(self.run_dir)),
                "log": str(self.log_path(agent_name(i)).relative_to(self.run_dir)),
                "skill_overrides": {
                    **self.skill_overrides,
                    **self.agent_overrides.get(i, {}),
                },
            }
            for i, address in enumerate(self.addresses())
        }
        (self.run_dir / AGENTS_FILE).write_text(json.dumps(agents, indent=2) + "\n")

    @staticmethod
    def agent_url(index: int) -> str:
        """Where agent `index` serves its web page and prediction API."""
        return f"http://127.0.0.1:{NodePorts.of(index).http}"

    @staticmethod
    def block_heights(index: int) -> Tuple[int, int]:
        """Node `index`'s earliest and latest stored block (Tendermint /status): pruning raises the earliest."""
        url = f"http://127.0.0.1:{NodePorts.of(index).rpc}/status"
        with urllib.request.urlopen(url, timeout=5) as response:  # nosec
            sync_info = json.load(response)["result"]["sync_info"]
        return int(sync_info["earliest_block_height"]), int(sync_info["latest_block_height"])

    def agent_output(self, index: int) -> Path:
        """Agent `index`'s own output folder (records, global models, audit files)."""
        return self.run_dir / "agents" / self.addresses()[index]

    def rounds_entered(self, index: int) -> Iterator[str]:
        """Every round agent `index` entered, in order."""
        log_path = self.log_path(agent_name(index))
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        return (name for name, _period in ROUND_ENTERED.findall(text))
