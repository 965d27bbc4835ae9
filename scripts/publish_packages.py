#!/usr/bin/env python3
"""Publish every package of packages/packages.json (dev and third party) to the configured IPFS registry.

`autonomy push-all` pushes only dev packages; an agent fetched from the registry also needs the
third-party ones. Each push must yield the hash packages.json records, else this fails.
The IPFS node is the one in the aea CLI config (`aea init --remote --ipfs --ipfs-node <multiaddr>`).
"""

import json
import shutil
import sys
from pathlib import Path

from aea.cli.push import push_item_ipfs
from aea.configurations.data_types import PackageId

PACKAGES_DIR = Path(__file__).resolve().parent.parent / "packages"
TYPE_TO_FOLDER = {
    "protocol": "protocols",
    "connection": "connections",
    "contract": "contracts",
    "skill": "skills",
    "agent": "agents",
    "service": "services",
}


def main() -> None:
    """Push each listed package and check the hash the registry reports."""
    listing = json.loads((PACKAGES_DIR / "packages.json").read_text())
    for package_uri, expected in {**listing["dev"], **listing["third_party"]}.items():
        package_id = PackageId.from_uri_path(package_uri)
        path = (
            PACKAGES_DIR
            / package_id.author
            / TYPE_TO_FOLDER[package_id.package_type.value]
            / package_id.name
        )
        for cache in path.rglob("__pycache__"):
            shutil.rmtree(cache)
        push_item_ipfs(path, package_id.public_id)
    print(
        f"published {len(listing['dev']) + len(listing['third_party'])} packages",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
