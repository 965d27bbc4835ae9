#!/usr/bin/env python3
"""Copy the third-party Olas packages listed in packages/packages.json from the installed wheels.

open-autonomy ships its packages inside the wheel (site-packages/packages), so no registry is
needed: this copies each listed third-party package from there into ./packages. Packages the
wheels do not ship are the project's offline stand-ins (dev packages, committed). Afterwards
`autonomy packages lock` re-pins the copies to the stand-ins' hashes, which is deterministic:
the committed packages.json must not change (CI checks with `git diff --exit-code`).
"""

import json
import shutil
import sys
from importlib.metadata import distribution
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES_DIR = REPO_ROOT / "packages"
# Located through the open-autonomy distribution: `import packages` finds ./packages first (repo root on PYTHONPATH).
WHEEL_PACKAGES_DIR = Path(str(distribution("open-autonomy").locate_file("packages")))
TYPE_TO_FOLDER = {
    "protocol": "protocols",
    "connection": "connections",
    "contract": "contracts",
    "skill": "skills",
    "agent": "agents",
    "service": "services",
}


def third_party_paths() -> list:
    """Return author/type-folder/name paths of every third-party package in packages.json."""
    listing = json.loads((PACKAGES_DIR / "packages.json").read_text())
    paths = []
    for package_uri in listing["third_party"]:
        package_type, author, name, _version = package_uri.split("/")
        paths.append(Path(author, TYPE_TO_FOLDER[package_type], name))
    return paths


def sync(relative_path: Path) -> None:
    """Replace ./packages/<relative_path> with the wheel's copy (no caches)."""
    source = WHEEL_PACKAGES_DIR / relative_path
    if not source.is_dir():
        sys.exit(
            f"error: {relative_path} is listed as third party but no installed wheel ships it"
        )
    target = PACKAGES_DIR / relative_path
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for parent in (target.parent, target.parent.parent):
        (parent / "__init__.py").touch()


def write_ignore_file(relative_paths: list) -> None:
    """Keep the synced copies out of git; the ignore file lists itself, as it is derived too."""
    lines = [
        "# Written by scripts/sync_third_party.py: third-party copies, never committed.",
        ".gitignore",
    ]
    lines += [f"/{path.as_posix()}/" for path in relative_paths]
    (PACKAGES_DIR / ".gitignore").write_text("\n".join(lines) + "\n")


def main() -> None:
    """Sync every third-party package."""
    (PACKAGES_DIR / "__init__.py").touch()
    relative_paths = third_party_paths()
    for relative_path in relative_paths:
        sync(relative_path)
        print(f"synced {relative_path}")
    write_ignore_file(relative_paths)


if __name__ == "__main__":
    main()
