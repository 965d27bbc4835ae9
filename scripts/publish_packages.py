#!/usr/bin/env python3
"""Publish every package of packages/packages.json (dev and third party) to the configured IPFS registry.

`autonomy push-all` pushes only dev packages; an agent fetched from the registry also needs the
third-party ones. `autonomy fetch` then checks every hash and fingerprint against what it downloads.
The IPFS node is the one in the aea CLI config (`aea init --remote --ipfs --ipfs-node <multiaddr>`).
"""

import json
import shutil
import sys

from aea.cli.push import push_item_ipfs
from aea.configurations.data_types import PackageId

from sync_third_party import PACKAGES_DIR, TYPE_TO_FOLDER


def main() -> None:
    """Push each listed package (without Python caches, which are not part of a package's hash)."""
    listing = json.loads((PACKAGES_DIR / "packages.json").read_text())
    for package_uri in [*listing["dev"], *listing["third_party"]]:
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
