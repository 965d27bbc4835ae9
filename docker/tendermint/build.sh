#!/bin/bash
# `autonomy deploy build` runs this in the image: `bash /app/build.sh <validators> "<--hostname=... flags>" <uid>`,
# writing the testnet's node homes into /tendermint (the build folder's nodes/), owned by <uid>.
set -euo pipefail
# The node settings are in config-template.toml, which the Kubernetes init container uses too.
/usr/bin/tendermint testnet --config /etc/tendermint/config-template.toml --v "$1" --o . $2
chown "$3" -R /tendermint
