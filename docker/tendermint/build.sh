#!/bin/bash
# `autonomy deploy build` runs this in the image: `bash /app/build.sh <validators> "<--hostname=... flags>" <uid>`,
# writing the testnet's node homes into /tendermint (the build folder's nodes/), owned by <uid>.
set -euo pipefail
/usr/bin/tendermint testnet --v "$1" --o . $2
# As the local devnet (devnet/service.py) configures its nodes: a block a second; peers on the compose
# network's private addresses are kept in the address book.
sed -i -e 's/^create_empty_blocks_interval = .*/create_empty_blocks_interval = "1s"/' \
       -e 's/^timeout_commit = .*/timeout_commit = "1s"/' \
       -e 's/^addr_book_strict = .*/addr_book_strict = false/' node*/config/config.toml
chown "$3" -R /tendermint
