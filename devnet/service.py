"""Run the 4-agent service on this machine: real Tendermint nodes, real agents, no Docker.

`autonomy deploy build --localhost` supports a single agent only, so this module lays out what the
Docker deployment would (one Tendermint node per agent, agents fetched from the local registry with
`autonomy fetch --local`) with per-node ports on 127.0.0.1, and starts every process in its own
process group so that stopping is clean. Used by `make run` (scripts/run_service.py), the benchmarks and the e2e tests.

All ports sit in one block above SMPC_DEVNET_BASE_PORT (default 26650), so that two checkouts on one
machine can each run a service.
"""

import json
import os
import re
import shutil
import signal
import subprocess  # nosec
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from aea_ledger_ethereum import EthereumCrypto

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
VENV_BIN = Path(sys.executable).parent
AGENT_PUBLIC_ID = "valory/smpc_mnist:0.1.0"
SKILL_ENV_PREFIX = "SKILL_SMPC_MNIST_CLASSIFIER_MODELS_PARAMS_ARGS_"
NUMBER_OF_AGENTS = 4
BASE_PORT = int(os.environ.get("SMPC_DEVNET_BASE_PORT", "26650"))
PORTS_PER_NODE = 10
IPFS_API_PORT = BASE_PORT - PORTS_PER_NODE
ZK_ANVIL_PORT = BASE_PORT - PORTS_PER_NODE + 7  # the anvil of the zk-inference tests and benchmark
# A loopback address other than 127.0.0.1: aea's IPFS tool insists on an `ipfs` 0.6.0 binary for
# "local" daemons (localhost/127.0.0.1) but talks to any other address through the HTTP API only.
IPFS_API_HOST = "127.0.0.2"
IPFS_READY_SECONDS = 30.0
STOP_GRACE_SECONDS = 15.0
ROUND_ENTERED = re.compile(r"Entered in the '(\w+)' round for period (\d+)")


@dataclass(frozen=True)
class NodePorts:
    """The three Tendermint/ABCI ports of node i, all on 127.0.0.1."""

    p2p: int
    rpc: int
    abci: int

    @classmethod
    def of(cls, index: int) -> "NodePorts":
        """Ports of node `index`: a block of PORTS_PER_NODE ports per node above BASE_PORT."""
        base = BASE_PORT + PORTS_PER_NODE * index
        return cls(p2p=base + 6, rpc=base + 7, abci=base + 8)


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


def init_ipfs_repository(repository: Path, port: int) -> None:
    """A kubo repository whose API listens on IPFS_API_HOST:port, with no gateway and no bootstrap peers."""
    env = {**os.environ, "IPFS_PATH": str(repository)}
    run_checked(
        [tool("ipfs"), "init", "--profile", "test"], cwd=repository.parent, env=env
    )
    settings = {
        "Addresses.API": json.dumps(f"/ip4/{IPFS_API_HOST}/tcp/{port}"),
        "Addresses.Gateway": "[]",
        "Bootstrap": "[]",
    }
    for key, value in settings.items():
        run_checked(
            [tool("ipfs"), "config", "--json", key, value],
            cwd=repository.parent,
            env=env,
        )


def wait_for_ipfs(port: int, log: Path) -> None:
    """Wait until kubo answers on its API port."""
    deadline = time.monotonic() + IPFS_READY_SECONDS
    request = urllib.request.Request(
        f"http://{IPFS_API_HOST}:{port}/api/v0/id", method="POST"
    )
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
    """

    run_dir: Path
    skill_overrides: Dict[str, str] = field(default_factory=dict)
    agent_overrides: Dict[int, Dict[str, str]] = field(default_factory=dict)
    processes: Dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def agent_dirs(self) -> List[Path]:
        """One folder per agent."""
        return [self.run_dir / f"agent_{i}" for i in range(NUMBER_OF_AGENTS)]

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

    def _init_ipfs(self) -> None:
        """The kubo repository the agents share blobs through."""
        if not self.ipfs_dir.exists():
            init_ipfs_repository(self.ipfs_dir, IPFS_API_PORT)

    def _fetch_agents(self) -> None:
        """Fetch the agent once from ./packages, copy it per agent, and add a fresh key to each."""
        template = self.run_dir / "agent_template"
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
            run_checked([tool("aea"), "-s", "generate-key", "ethereum"], cwd=agent_dir)
            run_checked(
                [tool("aea"), "-s", "add-key", "ethereum", "ethereum_private_key.txt"],
                cwd=agent_dir,
            )

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
            **self.skill_overrides,
            **self.agent_overrides.get(index, {}),
        }
        env = dict(os.environ)
        # An agent runs exactly the packages fetched into its folder, never the repo's ./packages.
        env.pop("PYTHONPATH", None)
        env.update({SKILL_ENV_PREFIX + key: value for key, value in overrides.items()})
        env["CONNECTION_IPFS_CONFIG_IPFS_DOMAIN"] = ipfs_multiaddr(IPFS_API_PORT)
        env["CONNECTION_ABCI_CONFIG_HOST"] = "127.0.0.1"
        env["CONNECTION_ABCI_CONFIG_PORT"] = str(ports.abci)
        env["LOG_FILE"] = str(self.log_path(f"agent_{index}"))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> None:
        """Start IPFS and the agents (ABCI servers first), then the Tendermint nodes."""
        participants = self.addresses()
        self._spawn(
            "ipfs",
            ipfs_daemon_command(),
            self.run_dir,
            {**os.environ, "IPFS_PATH": str(self.ipfs_dir)},
        )
        self._wait_for_ipfs()
        for i, agent_dir in enumerate(self.agent_dirs):
            self._spawn(
                f"agent_{i}",
                [tool("aea"), "-s", "run"],
                agent_dir,
                self.agent_environment(i, participants),
            )
        time.sleep(5)
        for i, home in enumerate(self.node_dirs):
            self._spawn(
                f"node_{i}",
                [tool("tendermint"), "node", "--home", str(home)],
                self.run_dir,
                dict(os.environ),
            )

    def _wait_for_ipfs(self) -> None:
        """Wait until kubo answers on its API port."""
        wait_for_ipfs(IPFS_API_PORT, self.console_path("ipfs"))

    def _spawn(
        self, name: str, args: List[str], cwd: Path, env: Dict[str, str]
    ) -> None:
        """Start a process in its own session, its output appended to its own console log."""
        console = open(
            self.console_path(name), "ab"
        )  # pylint: disable=consider-using-with
        self.processes[name] = (
            subprocess.Popen(  # nosec # pylint: disable=consider-using-with
                args,
                cwd=cwd,
                env=env,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def take_offline(self, index: int) -> None:
        """Stop agent `index` and its Tendermint node (a node exits anyway when its agent is gone)."""
        self._stop_groups([f"agent_{index}", f"node_{index}"])

    def stop(self) -> None:
        """Stop everything started."""
        self._stop_groups(list(self.processes))

    def _stop_groups(self, names: List[str]) -> None:
        """SIGINT every group at once, wait for all up to the grace period, then SIGKILL what is left."""
        processes = [self.processes.pop(name) for name in names]
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def agent_output(self, index: int) -> Path:
        """Agent `index`'s own output folder (records, global models, audit files)."""
        return self.run_dir / "agents" / self.addresses()[index]

    def current_rounds(self) -> Dict[str, Optional[str]]:
        """The last round each agent entered, read from its log ('round @ period')."""
        return {
            f"agent_{i}": self._last_round(self.log_path(f"agent_{i}"))
            for i in range(NUMBER_OF_AGENTS)
        }

    @staticmethod
    def _last_round(log_path: Path) -> Optional[str]:
        """The last 'Entered in the X round for period N' of a log."""
        if not log_path.exists():
            return None
        matches = ROUND_ENTERED.findall(log_path.read_text(errors="replace"))
        return f"{matches[-1][0]} @ period {matches[-1][1]}" if matches else None

    def rounds_entered(self, index: int) -> Iterator[str]:
        """Every round agent `index` entered, in order."""
        log_path = self.log_path(f"agent_{index}")
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        return (name for name, _period in ROUND_ENTERED.findall(text))
