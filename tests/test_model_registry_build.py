"""The committed ModelRegistry build JSON is exactly what the install's solc-js compile produces."""

import subprocess  # nosec
from pathlib import Path

from devnet.chain import REGISTRY_BUILD

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLC_DIR = REPO_ROOT / ".tools" / "solc" / "node_modules" / "solc"


def test_install_compile_reproduces_the_committed_build(tmp_path: Path) -> None:
    """scripts/install.sh's contracts step, run into a temporary file, gives the committed bytes."""
    output = tmp_path / "ModelRegistry.json"
    subprocess.run(  # nosec
        [
            "node",
            str(REPO_ROOT / "scripts" / "compile_contract.js"),
            str(SOLC_DIR),
            str(REPO_ROOT / "contracts" / "ModelRegistry.sol"),
            "ModelRegistry",
            str(output),
        ],
        check=True,
    )
    assert output.read_bytes() == REGISTRY_BUILD.read_bytes()
