"""The packages go through a real IPFS registry: published to a kubo node, fetched back with `autonomy fetch`."""

import json
import os
import signal
import subprocess  # nosec
import sys
from pathlib import Path
from typing import Dict, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

from devnet.service import (
    BASE_PORT,
    PORTS_PER_NODE,
    init_ipfs_repository,
    ipfs_daemon_command,
    ipfs_multiaddr,
    wait_for_ipfs,
)

REGISTRY_PORT = BASE_PORT - 2 * PORTS_PER_NODE  # apart from the service's own IPFS node
LISTING = json.loads((REPO_ROOT / "packages" / "packages.json").read_text())


def run(args: list, cwd: Path, env: Dict[str, str]) -> None:
    """Run a command, failing with its output."""
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )  # nosec
    assert (
        result.returncode == 0
    ), f"{' '.join(map(str, args))}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def registry_env(tmp_path: Path) -> Iterator[Dict[str, str]]:
    """A running kubo node and an aea CLI configured (in a private HOME) to use it as its registry."""
    repository = tmp_path / "ipfs"
    init_ipfs_repository(repository, REGISTRY_PORT)
    log = tmp_path / "ipfs.log"
    daemon = subprocess.Popen(  # nosec # pylint: disable=consider-using-with
        ipfs_daemon_command(),
        env={**os.environ, "IPFS_PATH": str(repository)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_ipfs(REGISTRY_PORT, log)
        env = {**os.environ, "HOME": str(tmp_path / "home")}
        (tmp_path / "home").mkdir()
        run(
            [
                "aea",
                "init",
                "--remote",
                "--ipfs",
                "--ipfs-node",
                ipfs_multiaddr(REGISTRY_PORT),
                "--author",
                "valory",
            ],
            cwd=tmp_path,
            env=env,
        )
        yield env
    finally:
        os.killpg(daemon.pid, signal.SIGINT)
        daemon.wait(timeout=15)


@pytest.mark.e2e
def test_published_agent_and_service_are_fetched_back(
    tmp_path: Path, registry_env: Dict[str, str]
) -> None:
    """Every package is published; the agent and the service come back by hash, verified by autonomy."""
    run(
        [sys.executable, str(REPO_ROOT / "scripts" / "publish_packages.py")],
        cwd=REPO_ROOT,
        env=registry_env,
    )
    agent_hash = LISTING["dev"]["agent/valory/smpc_mnist/0.1.0"]
    service_hash = LISTING["dev"]["service/valory/smpc_mnist/0.1.0"]
    run(
        [
            "autonomy",
            "fetch",
            "--remote",
            f"valory/smpc_mnist:0.1.0:{agent_hash}",
            "--alias",
            "agent",
        ],
        cwd=tmp_path,
        env=registry_env,
    )
    run(
        [
            "autonomy",
            "fetch",
            "--remote",
            f"valory/smpc_mnist:0.1.0:{service_hash}",
            "--service",
            "--alias",
            "service",
        ],
        cwd=tmp_path,
        env=registry_env,
    )
    skill = Path("vendor", "valory", "skills", "smpc_mnist_classifier", "rounds.py")
    repo_skill = (
        REPO_ROOT
        / "packages"
        / "valory"
        / "skills"
        / "smpc_mnist_classifier"
        / "rounds.py"
    )
    assert (tmp_path / "agent" / skill).read_text() == repo_skill.read_text()
    assert (tmp_path / "service" / "service.yaml").is_file()
