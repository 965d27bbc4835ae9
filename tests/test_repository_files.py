"""Repository files that restate a fact elsewhere stay equal to it."""

import re
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]+)(\[(?P<extras>[^\]]+)\])?(?P<spec>.*)$"
)


def normalise(name: str) -> str:
    """PyPI names compare case- and separator-insensitively."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict:
    """requirements.txt as {name: (version spec, extras)}."""
    parsed = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = REQUIREMENT.match(line.strip())
            assert match, line
            extras = (
                sorted((match["extras"] or "").split(",")) if match["extras"] else []
            )
            parsed[normalise(match["name"])] = (match["spec"].strip() or "*", extras)
    return parsed


def pipfile_packages() -> dict:
    """Pipfile's [packages] in the same shape."""
    packages = tomllib.loads((REPO_ROOT / "Pipfile").read_text())["packages"]
    parsed = {}
    for name, spec in packages.items():
        version, extras = (
            (spec, [])
            if isinstance(spec, str)
            else (spec["version"], sorted(spec.get("extras", [])))
        )
        parsed[normalise(name)] = (version, extras)
    return parsed


def test_pipfile_lists_the_requirements() -> None:
    """Pipfile and requirements.txt name the same packages, versions and extras."""
    assert pipfile_packages() == requirements()


def test_root_agent_config_is_the_packaged_one() -> None:
    """aea-config.yaml at the root is the packaged agent's configuration."""
    root_config = REPO_ROOT / "aea-config.yaml"
    packaged = (
        REPO_ROOT / "packages" / "valory" / "agents" / "smpc_mnist" / "aea-config.yaml"
    )
    assert root_config.read_text() == packaged.read_text()
