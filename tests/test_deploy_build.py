"""`autonomy deploy build` turns the packaged service into a 4-agent Docker Compose deployment.

The generator asks a Docker engine one question, which subnets existing networks use, before it
writes docker-compose.yaml. This fast unit test answers that question ("none") on a unix socket
speaking the two Docker Engine API calls the generator makes, so it needs no engine; everything else
is the real Olas tooling on this repository's packages. `make test-deploy` builds the deployment against
the real engine (with --local-tm-setup, which runs the Tendermint image) and runs it.
"""

import json
import os
import socketserver
import subprocess  # nosec
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from aea_ledger_ethereum import EthereumCrypto

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKER_API_VERSION = "1.41"
NUMBER_OF_AGENTS = 4
SKILL_PARAMS_PREFIX = "SKILL_SMPC_MNIST_CLASSIFIER_MODELS_PARAMS_ARGS_"


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


@pytest.fixture
def docker_host(tmp_path: Path) -> Iterator[str]:
    """A DOCKER_HOST address whose engine reports no networks."""
    socket_path = tmp_path / "docker.sock"
    server = UnixHttpServer(str(socket_path), NoNetworksDockerApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"unix://{socket_path}"
    server.shutdown()
    server.server_close()


def run(args: list, cwd: Path, env: dict) -> None:
    """Run an Olas CLI command, failing with its output."""
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )  # nosec
    assert (
        result.returncode == 0
    ), f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def test_deploy_build_writes_a_four_agent_compose_file(
    tmp_path: Path, docker_host: str
) -> None:
    """Fetched from ./packages and built: 4 agents, 4 Tendermint nodes, the service's params in the env."""
    env = {**os.environ, "DOCKER_HOST": docker_host}
    run(
        [
            "autonomy",
            "--registry-path",
            str(REPO_ROOT / "packages"),
            "fetch",
            "--local",
            "--service",
            "valory/smpc_mnist",
            "--alias",
            "service",
        ],
        cwd=tmp_path,
        env=env,
    )
    service_dir = tmp_path / "service"
    keys = [
        {"address": crypto.address, "private_key": crypto.private_key}
        for crypto in (EthereumCrypto() for _ in range(NUMBER_OF_AGENTS))
    ]
    (service_dir / "keys.json").write_text(json.dumps(keys))
    addresses = [key["address"] for key in keys]
    build_env = {
        **env,
        "ALL_PARTICIPANTS": json.dumps(addresses),
    }  # as an operator sets it before building
    run(
        ["autonomy", "deploy", "build", "keys.json", "--o", "build"],
        cwd=service_dir,
        env=build_env,
    )

    build = service_dir / "build"
    services = yaml.safe_load((build / "docker-compose.yaml").read_text())["services"]
    agents = sorted(name for name in services if "_abci_" in name)
    nodes = sorted(name for name in services if "_tm_" in name)
    assert len(agents) == NUMBER_OF_AGENTS and len(nodes) == NUMBER_OF_AGENTS, sorted(
        services
    )
    for index, agent in enumerate(agents):
        env_file = build / services[agent]["env_file"]
        variables = dict(
            line.split("=", 1)
            for line in env_file.read_text().splitlines()
            if "=" in line
        )
        assert variables[SKILL_PARAMS_PREFIX + "DECRYPTION_THRESHOLD"] == "3", agent
        assert (
            json.loads(variables[SKILL_PARAMS_PREFIX + "SETUP_ALL_PARTICIPANTS"])
            == addresses
        ), agent
        assert (build / "agent_keys" / f"agent_{index}").is_dir()
